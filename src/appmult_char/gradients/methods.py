"""Gradient methods of an approximate multiplier for AppMult-aware retraining.

``grad_a[a][b]`` estimates d(product)/d(a) at ``(a, b)``; tables have the LUT's shape and
indexing (raw bit patterns). Windows, differences and slopes run along the operands'
numeric order (signed: ``-2^(n-1) … 2^(n-1)-1``), never along raw patterns.

- `ste`: the exact multiplier's gradient, ``grad_a = b``, ``grad_b = a``.
- `window` ("LUT-2D", difference-window): moving average of half width ``W`` along the
  operand, central difference of the smoothed surface inside the band
  ``W+1 <= x <= N-2-W``, and outside it the row's (or column's) range over ``N``. Float32
  arithmetic, as the reference files: exact integer window sums, division by the window
  length in float32. ``boundary="reference"`` reproduces the published files, whose rule for
  ``grad_a`` reads row ``b`` of the LUT; ``"symmetric"`` (default) reads column ``b``.
- `lut1d` ("LUT-1D"): ``g_a[b]`` (a function of ``b`` only) and ``g_b[a]``. Variant
  ``"slope"``: the least-squares slope of ``f(., b)`` over ``a``; with ``half_window=W`` the
  slope of the window-smoothed column over the rows where the window is complete.
  Variant ``"mean"``: the mean over the interior band of the 2-D window table (``W`` >= 1).
  All are computed from exact integer sums, so the exact multiplier gives exactly
  ``g_a[b] = b``.

The table types, STE and the fixed-point storage are in `tables`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .._errors import AppMultError
from ..lut import ProductLUT, to_numeric_order
from .tables import Gradient1D, GradientTables, numeric_values, raw_order

__all__ = ["check_half_window", "window", "lut1d", "prediction_error", "smoothed"]


def check_half_window(half_window: int, bits: int) -> None:
    """Refuse ``W`` < 1 or a ``W`` that leaves no interior band for ``2^bits`` values."""
    if half_window < 1:
        raise AppMultError(f"half window must be at least 1, got {half_window}")
    count = 1 << bits
    if 2 * half_window + 3 > count:
        raise AppMultError(f"half window {half_window} is too large for {bits}-bit operands "
                           f"(at most {(count - 3) // 2}: the band W+1..N-2-W must not be empty)")


def _window_sums(f: np.ndarray, half_window: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact window sums along `axis` (windows clipped at the ends) and window lengths."""
    count = f.shape[axis]
    zero = np.zeros_like(np.take(f, [0], axis=axis))
    cs = np.concatenate([zero, np.cumsum(f, axis=axis)], axis=axis)
    idx = np.arange(count)
    lo = np.maximum(0, idx - half_window)
    hi = np.minimum(count, idx + half_window + 1)
    return np.take(cs, hi, axis=axis) - np.take(cs, lo, axis=axis), hi - lo


def _smooth(f: np.ndarray, half_window: int, axis: int) -> np.ndarray:
    """Float32 moving average along `axis` (exact sums divided by the window length)."""
    sums, lengths = _window_sums(f, half_window, axis)
    shape = [1, 1]
    shape[axis] = -1
    return sums.astype(np.float32) / lengths.astype(np.float32).reshape(shape)


def smoothed(lut: ProductLUT, half_window: int, axis: int) -> np.ndarray:
    """The LUT's moving average along operand `axis` (0: a, 1: b), in numeric order."""
    return _smooth(lut.to_numeric_order().astype(np.int64), half_window, axis)


def _smoothed_difference(f: np.ndarray, half_window: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 central difference of the moving average along `axis`, and the interior mask."""
    smooth = _smooth(f, half_window, axis)
    shape = [1, 1]
    shape[axis] = -1
    count = f.shape[axis]
    idx = np.arange(count)
    interior = (idx >= half_window + 1) & (idx <= count - 2 - half_window)
    up = np.take(smooth, np.minimum(idx + 1, count - 1), axis=axis)
    down = np.take(smooth, np.maximum(idx - 1, 0), axis=axis)
    return (up - down) / np.float32(2), interior.reshape(shape)


def window(lut: ProductLUT, half_window: int, boundary: str = "symmetric") -> GradientTables:
    """Difference-window ("LUT-2D") tables with half window `half_window`."""
    if boundary not in ("symmetric", "reference"):
        raise AppMultError(f"unknown boundary rule {boundary!r} (symmetric or reference)")
    check_half_window(half_window, lut.a_bits)
    check_half_window(half_window, lut.b_bits)
    if boundary == "reference" and lut.a_bits != lut.b_bits:
        raise AppMultError(f"the reference boundary rule reads row b of the LUT and needs a square LUT, "
                           f"not {lut.a_bits}x{lut.b_bits}; use boundary='symmetric'")
    f = lut.to_numeric_order().astype(np.int64)
    n_a, n_b = f.shape
    row_range = (f.max(axis=1) - f.min(axis=1)).astype(np.float32)  # per a
    col_range = (f.max(axis=0) - f.min(axis=0)).astype(np.float32)  # per b

    diff_b, inner_b = _smoothed_difference(f, half_window, axis=1)
    edge_b = (row_range / np.float32(n_b))[:, None]
    grad_b = np.where(inner_b, diff_b, edge_b).astype(np.float32)

    diff_a, inner_a = _smoothed_difference(f, half_window, axis=0)
    edge_a = (row_range if boundary == "reference" else col_range) / np.float32(n_a)
    grad_a = np.where(inner_a, diff_a, edge_a[None, :]).astype(np.float32)

    return GradientTables(lut, raw_order(grad_a, lut), raw_order(grad_b, lut), "window", half_window, boundary)


def _slopes(f: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Least-squares slope of each column of `f` over `x` (rows), from exact integer sums."""
    k = len(x)
    sx, sxx = int(x.sum()), int((x * x).sum())
    sf = f.sum(axis=0)
    sxf = x @ f
    den = k * sxx - sx * sx
    return np.array([float(Fraction(k * int(a) - sx * int(b), den)) for a, b in zip(sxf, sf)])


def lut1d(lut: ProductLUT, half_window: int = 0, variant: str = "slope") -> Gradient1D:
    """LUT-1D tables ``g_a[b]``, ``g_b[a]`` (see the module docstring for the variants)."""
    if variant not in ("slope", "mean"):
        raise AppMultError(f"unknown LUT-1D variant {variant!r} (slope or mean)")
    if variant == "mean" or half_window:
        check_half_window(half_window, lut.a_bits)
        check_half_window(half_window, lut.b_bits)
    f = lut.to_numeric_order().astype(np.int64)
    a, b = numeric_values(lut.a_bits, lut.signed), numeric_values(lut.b_bits, lut.signed)

    def along(values: np.ndarray, table: np.ndarray) -> np.ndarray:
        """g over the rows of `table` (operand `values` along axis 0), one per column."""
        w = half_window
        count = len(values)
        if variant == "slope" and not w:
            return _slopes(table, values)
        sums, _ = _window_sums(table, w, axis=0)  # integer window sums, full where w <= x < count-w
        if variant == "slope":  # slope of (window sum / (2W+1)) over the complete windows
            return _slopes(sums[w:count - w], values[w:count - w]) / (2 * w + 1)
        # mean over the band W+1..N-2-W of (S[x+1] - S[x-1]) / (2 (2W+1)); telescopes exactly
        lo, hi = w + 1, count - 2 - w
        total = sums[hi + 1] + sums[hi] - sums[lo] - sums[lo - 1]
        return np.array([float(Fraction(int(t), 2 * (2 * w + 1) * (hi - lo + 1))) for t in total])

    g_a = along(a, f)  # per b, numeric order
    g_b = along(b, f.T)  # per a, numeric order

    def raw(g, bits):
        return np.roll(g, -(1 << (bits - 1))) if lut.signed else g

    return Gradient1D(lut, raw(g_a, lut.b_bits), raw(g_b, lut.a_bits), variant, half_window)


def prediction_error(tables: GradientTables, steps=(1, 2, 4, 8, 16)) -> float:
    """Heuristic for choosing ``W``: how well the gradient predicts the LUT a few steps away.

    Mean over steps ``s`` and both operands of the RMS of
    ``(f[x+s] - f[x] - s * g[x]) / s`` (product units per operand step), in numeric order.
    Too small a window gives noisy gradients, too large a biased one; the sweep's minimum
    is a reasonable starting point, not a guarantee of the best retraining accuracy.
    """
    lut = tables.lut
    f = lut.to_numeric_order().astype(np.float64)
    ga = to_numeric_order(tables.grad_a, lut.a_bits, lut.b_bits, lut.signed).astype(np.float64)
    gb = to_numeric_order(tables.grad_b, lut.a_bits, lut.b_bits, lut.signed).astype(np.float64)
    errors = []
    for s in steps:
        if s < f.shape[0]:
            errors.append(np.sqrt(np.mean(((f[s:] - f[:-s]) / s - ga[:-s]) ** 2)))
        if s < f.shape[1]:
            errors.append(np.sqrt(np.mean(((f[:, s:] - f[:, :-s]) / s - gb[:, :-s]) ** 2)))
    return float(np.mean(errors))

