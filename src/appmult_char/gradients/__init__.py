"""Gradient tables of approximate multipliers for AppMult-aware retraining: the table
types (`tables`), the methods (`methods`: STE, difference-window LUT-2D, LUT-1D) and
sweeps over half windows (`sweeps`).

The table types load with the package (the readers and writers of `appmult_char.io`
need them); the methods and sweeps on first use.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import TYPE_CHECKING

from .tables import GRADIENT_SCALE, Gradient1D, GradientTables, numeric_values, ste, to_fixed_point

if TYPE_CHECKING:
    from .methods import check_half_window, lut1d, prediction_error, smoothed, window
    from .sweeps import METHODS, SweepEntry, gradient_name, gradient_tables, half_windows, sweep

_LAZY = {name: "methods" for name in ("check_half_window", "lut1d", "prediction_error", "smoothed", "window")}
_LAZY.update({name: "sweeps" for name in ("METHODS", "SweepEntry", "gradient_name", "gradient_tables", "half_windows",
                                         "sweep")})

__all__ = ["GradientTables", "Gradient1D", "ste", "to_fixed_point", "numeric_values", "GRADIENT_SCALE", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name == "quantize":  # the fixed-point storage had the same name as the layers' quantization
        warnings.warn("appmult_char.gradients.quantize is deprecated; use to_fixed_point", DeprecationWarning,
                      stacklevel=2)
        return to_fixed_point
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
