"""Candidate multipliers: read from files or generated, with their error matrices."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .._errors import AppMultError
from ..lut import ProductLUT

__all__ = ["Candidate", "load_library", "generated_library", "error_matrix", "SUFFIXES"]

#: Files a library folder may hold: circuits and LUTs.
SUFFIXES = (".blif", ".v", ".sv", ".npz", ".txt", ".txt.gz")


@dataclass
class Candidate:
    """One multiplier of a library: its LUT, and its netlist when it came from one."""

    name: str
    lut: ProductLUT
    netlist: Any = None
    source: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def widths(self) -> tuple[int, int, bool]:
        return self.lut.a_bits, self.lut.b_bits, self.lut.signed


def error_matrix(lut: ProductLUT) -> np.ndarray:
    """``E = lut - a*b`` (float64), indexed like the LUT by the operands' raw bit patterns."""
    return lut.error().astype(np.float64)


def _read(path: str, signed: bool, widths: tuple[int, int] | None) -> Candidate | None:
    """The candidate in `path`, or None when its operand widths are not `widths`
    (checked on the netlist before simulating it)."""
    from ..io import is_circuit_file, read_circuit

    if is_circuit_file(path):
        from ..operands import OperandMap
        from ..sim import simulate

        netlist = read_circuit(path)
        ops = OperandMap.infer(netlist)
        if widths is not None and (ops.a_bits, ops.b_bits) != tuple(widths):
            return None
        return Candidate(Path(path).stem, simulate(netlist, signed=signed), netlist, path)
    from ..io import load_lut

    lut = load_lut(path)
    if widths is not None and (lut.a_bits, lut.b_bits) != tuple(widths):
        return None
    name = Path(path).name
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    return Candidate(name, lut, None, path)


def load_library(paths: str | os.PathLike | Iterable[str | os.PathLike], *, signed: bool = False,
                 widths: tuple[int, int] | None = None) -> list[Candidate]:
    """Candidates from a folder (every BLIF, ``.npz`` and AppMult text file in it) or a
    list of files; BLIFs are simulated (`signed` as `appmult_char.simulate` takes it).
    With `widths` ``(a_bits, b_bits)``, files of other widths are skipped (BLIFs before
    simulation, so a folder may hold wide circuits)."""
    if isinstance(paths, (str, os.PathLike)):
        folder = Path(paths)
        if not folder.is_dir():
            raise AppMultError("not a folder of multipliers", os.fspath(folder))
        paths = sorted(os.fspath(p) for p in folder.iterdir() if p.name.endswith(SUFFIXES))
        if not paths:
            raise AppMultError(f"no multiplier files ({', '.join(SUFFIXES)}) in the folder", os.fspath(folder))
    candidates = [c for c in (_read(os.fspath(p), signed, widths) for p in paths) if c is not None]
    stems = [c.name for c in candidates]  # one design as BLIF and Verilog: named by the whole file name
    candidates = [replace(c, name=Path(c.source).name) if stems.count(c.name) > 1 else c for c in candidates]
    names = [c.name for c in candidates]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise AppMultError(f"two candidates named {clash[0]} (names come from the file names)")
    return candidates


def generated_library(a_bits: int, b_bits: int, signed: bool = False, *, truncations: Iterable[int] | None = None,
                      breaks: Iterable[tuple[int, int]] | None = None) -> list[Candidate]:
    """The exact multiplier, truncated multipliers (partial products of weight below
    ``2^t`` dropped, for each `truncations` t; default 1 .. a_bits + b_bits - 2) and
    broken-array multipliers (`breaks`: (vertical, horizontal) levels; default every
    vertical level below ``max(a_bits, b_bits)`` with one and two broken rows), as netlists
    simulated here."""
    from ..generators import multiplier
    from ..sim import simulate

    width = a_bits + b_bits
    truncations = range(1, width - 1) if truncations is None else truncations
    if breaks is None:
        breaks = [(v, h) for h in (1, 2) if h < b_bits for v in range(0, max(a_bits, b_bits))]
    specs = [(0, 0)] + [(t, 0) for t in truncations] + [(v, h) for v, h in breaks]
    out, seen = [], set()
    for v, h in specs:
        netlist = multiplier(a_bits, b_bits, signed, v, break_rows=h)
        if netlist.name in seen:
            continue
        seen.add(netlist.name)
        lut = simulate(netlist, signed=signed)
        out.append(Candidate(netlist.name, lut, netlist, None, {"vertical": v, "horizontal": h}))
    return out
