"""Gradient tables of approximate multipliers for AppMult-aware retraining: the table
types (`tables`), the methods (`methods`: STE, difference-window LUT-2D, LUT-1D) and
sweeps over half windows (`sweep`)."""

from __future__ import annotations

import warnings

from .methods import check_half_window, lut1d, prediction_error, smoothed, window
from .sweep import METHODS, SweepEntry, gradient_name, gradient_tables, half_windows, sweep
from .tables import GRADIENT_SCALE, Gradient1D, GradientTables, numeric_values, ste, to_fixed_point

__all__ = ["GradientTables", "Gradient1D", "ste", "window", "lut1d", "to_fixed_point", "check_half_window",
           "prediction_error", "numeric_values", "smoothed", "GRADIENT_SCALE", "METHODS", "gradient_tables",
           "gradient_name", "half_windows", "sweep", "SweepEntry"]


def __getattr__(name: str):
    if name == "quantize":  # the fixed-point storage had the same name as the layers' quantization
        warnings.warn("appmult_char.gradients.quantize is deprecated; use to_fixed_point", DeprecationWarning,
                      stacklevel=2)
        return to_fixed_point
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
