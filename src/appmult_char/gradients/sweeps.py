"""One call for any gradient method, the AppMult file names of its tables, and sweeps
over several half windows (what ``appmult-char gradient`` runs)."""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import AppMultError
from ..lut import ProductLUT
from .methods import check_half_window, lut1d, prediction_error, window
from .tables import Gradient1D, GradientTables, ste

__all__ = ["METHODS", "gradient_tables", "gradient_name", "half_windows", "SweepEntry", "sweep"]

METHODS = ("ste", "window", "lut1d")


def half_windows(method: str, requested: list[int] | None) -> list[int]:
    """The half windows a run of `method` uses: `requested`, else the method's default
    (window: 4; lut1d: 0, no smoothing; ste: none, shown as 0). Idempotent: the result is
    accepted again."""
    if method not in METHODS:
        raise AppMultError(f"unknown gradient method {method!r} ({', '.join(METHODS)})")
    if method == "ste":
        if requested and requested != [0]:
            raise AppMultError("a half window does not apply to the ste method")
        return [0]
    if requested is not None and not requested:
        raise AppMultError("the list of half windows is empty")
    return list(requested) if requested else [4 if method == "window" else 0]


def gradient_tables(lut: ProductLUT, method: str = "window", half_window: int = 4, boundary: str = "symmetric",
              variant: str = "slope") -> GradientTables | Gradient1D:
    """The tables of `method`: ``ste``, ``window`` (LUT-2D) or ``lut1d``."""
    if method == "window":
        return window(lut, half_window, boundary)
    if method == "lut1d":
        return lut1d(lut, half_window, variant)
    if method == "ste":
        return ste(lut)
    raise AppMultError(f"unknown gradient method {method!r} ({', '.join(METHODS)})")


def gradient_name(stem: str, method: str, half_window: int, variant: str = "slope") -> str:
    """File stem of a table: ``STEM_lutfp+bp_avg_W_W`` as the published window files,
    ``STEM_lut1d_VARIANT[_W]`` and ``STEM_lutfp+bp_ste``."""
    if method == "window":
        return f"{stem}_lutfp+bp_avg_{half_window}_{half_window}"
    if method == "lut1d":
        return f"{stem}_lut1d_{variant}" + (f"_{half_window}" if half_window else "")
    return f"{stem}_lutfp+bp_ste"


@dataclass(frozen=True)
class SweepEntry:
    """One table of a sweep: its half window, file stem, tables and W heuristic score."""

    half_window: int
    name: str
    tables: GradientTables | Gradient1D
    score: float


def _check_all(lut: ProductLUT, method: str, windows: list[int], variant: str) -> None:
    """Refuse a bad half window before any table of the sweep is computed."""
    if method == "window" or (method == "lut1d" and (variant == "mean" or windows != [0])):
        for w in windows:
            check_half_window(w, min(lut.a_bits, lut.b_bits))


def sweep(lut: ProductLUT, method: str, windows: list[int] | None = None, *, stem: str = "", boundary: str = "symmetric",
          variant: str = "slope") -> list[SweepEntry]:
    """The tables of `method` for every half window, each scored with `prediction_error`
    (lower is smoother-yet-faithful: a heuristic for choosing W)."""
    windows = half_windows(method, windows)
    _check_all(lut, method, windows, variant)
    out = []
    for w in windows:
        tables = gradient_tables(lut, method, w, boundary, variant)
        out.append(SweepEntry(w, gradient_name(stem, method, w, variant), tables, prediction_error(tables.expand())))
    return out
