"""Readers and writers: BLIF netlists, Verilog (through yosys), AppMult text LUTs and
gradient files, `.npz` archives, and the LUT layouts of other frameworks (`io.foreign`).

The file format follows the name's suffix: ``.npz`` (lossless archive) or ``.txt`` /
``.txt.gz`` (the AppMult text formats).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .._errors import AppMultError

if TYPE_CHECKING:  # each format's module is imported when a file of that format is read or written
    from ..gradients.tables import Gradient1D, GradientTables
    from ..lut import ProductLUT
    from ..metrics import ErrorMetrics

__all__ = ["save_lut", "load_lut", "save_gradients", "load_gradients", "lut_format", "CIRCUIT_SUFFIXES",
           "is_circuit_file", "read_circuit", "write_circuit"]

#: Circuit files: BLIF, and Verilog synthesised by yosys.
CIRCUIT_SUFFIXES = (".blif", ".v", ".sv")


def is_circuit_file(path) -> bool:
    """A netlist (BLIF or Verilog) rather than a LUT file, by suffix."""
    return os.fspath(path).endswith(CIRCUIT_SUFFIXES)


def read_circuit(path, *, tie_undriven: bool = False, top: str | None = None, yosys: str | None = None):
    """The `Netlist` of a BLIF file, or of a Verilog file synthesised by yosys (`top`,
    `yosys`: see `io.verilog`)."""
    name = os.fspath(path)
    if name.endswith((".v", ".sv")):
        from .verilog import read_verilog

        return read_verilog(path, top=top, yosys=yosys, tie_undriven=tie_undriven)
    if top is not None or yosys is not None:
        raise AppMultError("--top and --yosys apply to Verilog input only", name)
    from .blif import read_blif

    return read_blif(path, tie_undriven=tie_undriven)


def write_circuit(netlist, path) -> None:
    """Write a netlist as BLIF or, for a ``.v`` name, structural Verilog."""
    if os.fspath(path).endswith((".v", ".sv")):
        from .verilog import write_verilog

        write_verilog(netlist, path)
    else:
        from .blif import write_blif

        write_blif(netlist, path)


def lut_format(path) -> str:
    """``npz``, ``text`` or ``foreign`` (TorchApprox ``.npy``, TFApprox ``.bin``, AdaPT
    ``.h``: `io.foreign`), from the file name's suffix."""
    name = os.fspath(path)
    if name.endswith(".npz"):
        return "npz"
    if name.endswith((".txt", ".txt.gz")):
        return "text"
    if name.endswith((".npy", ".bin", ".h")):
        return "foreign"
    raise AppMultError("unknown LUT format: use a .npz, .txt, .txt.gz, .npy, .bin or .h file name", name)


def save_lut(lut: ProductLUT, path, tied=(), metrics: ErrorMetrics | None = None) -> None:
    """Save `lut` as `.npz` or AppMult text, by suffix (`tied`: nets the reader tied to 0,
    listed in the text header as the reference simulator does; `metrics`: the LUT's
    metrics when already computed, for the text header)."""
    fmt = lut_format(path)
    if fmt == "npz":
        from .npz import save_npz

        save_npz(lut, path)
    elif fmt == "foreign":
        from .foreign import save_foreign

        save_foreign(lut, path)
    else:
        from .appmult_text import write_lut_text

        write_lut_text(lut, path, tied, metrics)


def load_lut(path, signed: bool = False) -> ProductLUT:
    """Load a LUT from `.npz`, AppMult text or a foreign layout, by suffix (`signed`
    applies to text and ``.npy``, which do not record it)."""
    fmt = lut_format(path)
    if fmt == "npz":
        from .npz import load_npz

        return load_npz(path)
    if fmt == "foreign":
        from .foreign import load_foreign

        return load_foreign(path, signed)
    from .appmult_text import read_lut_text

    return read_lut_text(path, signed)


def save_gradients(tables: GradientTables | Gradient1D, path, source: str = "") -> None:
    """Save gradient tables as `.npz` (LUT-1D vectors kept as such) or in the AppMult
    gradient text format (LUT-1D expanded to 2-D), by suffix; `source` names the input
    in the text header."""
    if lut_format(path) == "foreign":
        raise AppMultError("gradient tables are written as .npz or AppMult text (.txt, .txt.gz)", os.fspath(path))
    if lut_format(path) == "npz":
        from .npz import save_gradients_npz

        save_gradients_npz(tables, path)
    else:
        from .appmult_text import write_gradient_text

        write_gradient_text(tables.expand(), path, source)


def load_gradients(path, signed: bool = False) -> GradientTables | Gradient1D:
    """Load what `save_gradients` wrote, by suffix (`signed` applies to text only)."""
    if lut_format(path) == "foreign":
        raise AppMultError("gradient tables are read from .npz or AppMult text (.txt, .txt.gz)", os.fspath(path))
    if lut_format(path) == "npz":
        from .npz import load_gradients_npz

        return load_gradients_npz(path)
    from .appmult_text import read_gradient_text

    return read_gradient_text(path, signed)
