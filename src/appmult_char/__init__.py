"""appmult-char: characterize approximate multipliers from their gate-level netlists.

Parse a BLIF netlist, simulate it exhaustively into an exact product lookup table
(`ProductLUT`), compute its error metrics, derive gradient tables for
approximate-multiplier-aware retraining, fit fast floating-point surrogates, and run DNN
layers through the LUT on CPU and GPU (`appmult_char.gemm`).

Every name is imported from its module on first use, so that ``import appmult_char`` and
the command line start fast; type checkers see them through the `TYPE_CHECKING` imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import AppMultError, AppMultWarning, InternalError

if TYPE_CHECKING:
    from .gemm import LutGemm, lut_gemm
    from .gradients import Gradient1D, GradientTables, lut1d, prediction_error, ste, window
    from .io import load_gradients, load_lut, save_gradients, save_lut
    from .io.appmult_text import read_gradient_text, read_lut_text, write_gradient_text, write_lut_text
    from .io import read_circuit, write_circuit
    from .io.blif import format_blif, parse_blif, read_blif, write_blif
    from .io.verilog import format_verilog, read_verilog, write_verilog
    from .lut import ProductLUT, exact_table, operand_values
    from .metrics import ErrorMetrics, ErrorSums
    from .nn import Multiplier, approximate, calibrate
    from .netlist import Netlist, Node
    from .operands import OperandMap
    from .select import generated_library, load_library, select_multipliers
    from .sim import Simulator, circuit_metrics, evaluate, load_circuit, simulate
    from .surrogates import (DrumHTP, HTPModel, LinearModel, MitchellHTP, NoiseModel, drum_lut, fidelity_report,
                             mitchell_lut, model_from_dict)

#: Every public name but the errors, and the module that defines it (imported on first use).
_LAZY = {
    "Netlist": "netlist", "Node": "netlist", "OperandMap": "operands", "ProductLUT": "lut",
    "exact_table": "lut", "operand_values": "lut", "ErrorMetrics": "metrics", "ErrorSums": "metrics",
    "read_blif": "io.blif", "parse_blif": "io.blif", "write_blif": "io.blif", "format_blif": "io.blif",
    "read_verilog": "io.verilog", "write_verilog": "io.verilog", "format_verilog": "io.verilog",
    "read_circuit": "io", "write_circuit": "io",
    "load_lut": "io", "save_lut": "io", "load_gradients": "io", "save_gradients": "io",
    "read_lut_text": "io.appmult_text", "write_lut_text": "io.appmult_text",
    "read_gradient_text": "io.appmult_text", "write_gradient_text": "io.appmult_text",
    "Simulator": "sim", "simulate": "sim", "evaluate": "sim", "circuit_metrics": "sim", "load_circuit": "sim",
    "GradientTables": "gradients", "Gradient1D": "gradients", "ste": "gradients", "window": "gradients",
    "lut1d": "gradients", "prediction_error": "gradients",
    "HTPModel": "surrogates", "LinearModel": "surrogates", "NoiseModel": "surrogates", "MitchellHTP": "surrogates",
    "DrumHTP": "surrogates", "mitchell_lut": "surrogates", "drum_lut": "surrogates",
    "fidelity_report": "surrogates", "model_from_dict": "surrogates",
    "LutGemm": "gemm", "lut_gemm": "gemm",
    "Multiplier": "nn", "approximate": "nn", "calibrate": "nn",  # need PyTorch
    "select_multipliers": "select", "generated_library": "select", "load_library": "select",  # PyTorch, SciPy
}

__all__ = ["AppMultError", "AppMultWarning", "InternalError", *_LAZY]


def _version() -> str:
    """The installed distribution's version (read on first use: importlib.metadata costs
    more start-up time than the rest of the command line)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("appmult-char")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


#: Deprecated names, resolved (with a warning) by the module that still holds them.
_DEPRECATED = {"lut_matmul": "gemm"}


def __getattr__(name: str):
    from importlib import import_module

    if name == "__version__":
        return _version()
    if name in _DEPRECATED:
        return getattr(import_module(f".{_DEPRECATED[name]}", __name__), name)
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, the submodules already imported and the module's dunders."""
    import types

    modules = {n for n, v in globals().items() if isinstance(v, types.ModuleType) and not n.startswith("_")}
    return sorted(set(__all__) | modules | {"__version__"} | {n for n in globals() if n.startswith("__")})
