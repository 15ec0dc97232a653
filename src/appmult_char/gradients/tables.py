"""Gradient table types: 2-D tables (`GradientTables`), LUT-1D vectors (`Gradient1D`), the
straight-through tables and the AppMult format's fixed-point storage, ``round(16 g)`` in
int16 (round half to even).

``grad_a[a][b]`` estimates d(product)/d(a) at ``(a, b)``; tables have the LUT's shape and
indexing (raw bit patterns). The methods that compute them are in `methods`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import AppMultError
from ..lut import ProductLUT, from_numeric_order

__all__ = ["GradientTables", "Gradient1D", "ste", "to_fixed_point", "numeric_values", "GRADIENT_SCALE"]

#: Fixed-point scale of stored gradients.
GRADIENT_SCALE = 16


def to_fixed_point(g: np.ndarray) -> np.ndarray:
    """``round(16 * g)`` with round-half-to-even, as int16; refuses values that do not fit."""
    scaled = np.round(np.asarray(g, dtype=np.float32) * np.float32(GRADIENT_SCALE))
    if not np.all(np.isfinite(scaled)) or np.abs(scaled).max(initial=0) > 32767:
        raise AppMultError(f"gradient x {GRADIENT_SCALE} reaches {np.abs(scaled).max():g}, "
                           "beyond int16 (the AppMult gradient format)")
    return scaled.astype(np.int16)


@dataclass(frozen=True, eq=False)
class GradientTables:
    """2-D gradient tables (float32, the LUT's shape and indexing) and how they were made."""

    lut: ProductLUT
    grad_a: np.ndarray
    grad_b: np.ndarray
    method: str
    half_window: int | None = None
    boundary: str | None = None

    def quantized(self) -> tuple[np.ndarray, np.ndarray]:
        """The int16 ``round(16 * g)`` tables of the AppMult format."""
        return to_fixed_point(self.grad_a), to_fixed_point(self.grad_b)

    def expand(self) -> "GradientTables":
        """The 2-D tables themselves (as `Gradient1D.expand` gives them)."""
        return self


@dataclass(frozen=True, eq=False)
class Gradient1D:
    """LUT-1D tables: ``g_a`` indexed by the raw pattern of ``b``, ``g_b`` by that of ``a``."""

    lut: ProductLUT
    g_a: np.ndarray
    g_b: np.ndarray
    variant: str
    half_window: int

    def expand(self) -> GradientTables:
        """The equivalent 2-D tables (``grad_a[a][b] = g_a[b]``)."""
        shape = self.lut.shape
        grad_a = np.broadcast_to(self.g_a.astype(np.float32)[None, :], shape).copy()
        grad_b = np.broadcast_to(self.g_b.astype(np.float32)[:, None], shape).copy()
        return GradientTables(self.lut, grad_a, grad_b, "lut1d", self.half_window, self.variant)


def numeric_values(bits: int, signed: bool) -> np.ndarray:
    """Operand values in numeric order (int64)."""
    return np.arange(-(1 << (bits - 1)), 1 << (bits - 1)) if signed else np.arange(1 << bits)


def ste(lut: ProductLUT) -> GradientTables:
    """Straight-through tables: the exact multiplier's gradient, ``grad_a = b``, ``grad_b = a``."""
    a = numeric_values(lut.a_bits, lut.signed).astype(np.float32)
    b = numeric_values(lut.b_bits, lut.signed).astype(np.float32)
    grad_a = np.broadcast_to(b[None, :], lut.shape)
    grad_b = np.broadcast_to(a[:, None], lut.shape)
    return GradientTables(lut, raw_order(grad_a, lut), raw_order(grad_b, lut), "ste")


def raw_order(table: np.ndarray, lut: ProductLUT) -> np.ndarray:
    """A numeric-order table back in the LUT's raw-pattern indexing."""
    return from_numeric_order(np.ascontiguousarray(table), lut.a_bits, lut.b_bits, lut.signed)
