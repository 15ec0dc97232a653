"""`LutGemm`: matrix products through a multiplier's LUT, forward and backward, on a
back end chosen by name (`backend.BACKENDS`: ``"cpu"``, ``"cuda"``).

Operands are integer operand **codes**; a code's low `a_bits` (`b_bits`) bits are the raw
bit pattern that indexes the LUT (so unsigned codes ``0..2^bits-1`` and two's-complement
signed codes ``-2^(bits-1)..2^(bits-1)-1`` both work as they are). Shapes:
``A (M, K) @ B (K, N)``, batched ``A (Z, M, K) @ B (Z, K, N)``, or ``A (..., M, K) @ B (K, N)``
(leading dimensions of ``A`` folded into ``M``).

Backward through 2-D gradient tables uses their stored fixed-point form
``round(16 g) / 16`` (what the AppMult gradient files hold); LUT-1D and straight-through
backward (``grad_a = b``, ``grad_b = a``), and any 2-D tables whose rows (columns) are
all alike, are separable: an element-wise lookup
followed by ordinary matrix products. Without gradient tables the backward pass is
straight-through; tables are built when first needed.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import numpy as np

from .._errors import AppMultError
from ..arrays import Array
from ..gradients.tables import GRADIENT_SCALE, Gradient1D, GradientTables, ste
from ..lut import ProductLUT
from .backend import GemmBackend, create

__all__ = ["LutGemm", "lut_gemm"]


class LutGemm:
    """A multiplier's LUT, and optionally its gradient tables, ready for GEMMs.

    `gradients` is a `GradientTables` (2-D backward) or `Gradient1D` (LUT-1D backward);
    without it the backward pass uses straight-through tables.
    """

    def __init__(self, lut: ProductLUT, gradients: GradientTables | Gradient1D | None = None,
                 backend: str = "cpu"):
        if gradients is not None and gradients.lut.shape != lut.shape:
            raise AppMultError("gradient tables belong to a LUT of another shape")
        self.lut = lut
        self.backend = backend
        self.a_bits, self.b_bits = lut.a_bits, lut.b_bits
        self.a_mask, self.b_mask = (1 << lut.a_bits) - 1, (1 << lut.b_bits) - 1
        self.table = np.ascontiguousarray(lut.table, dtype=np.int64).ravel()
        self.max_abs = int(np.abs(self.table).max(initial=0))
        self._gradients = gradients
        self.impl: GemmBackend = create(backend, self)

    @property
    def gradients(self) -> GradientTables | Gradient1D:
        """The tables of the backward pass (straight-through unless given)."""
        if self._gradients is None:
            self._gradients = ste(self.lut)
        return self._gradients

    @property
    def one_dimensional(self) -> bool:
        """Whether the backward pass is separable, ``grad_a = g_a[b]`` and ``grad_b = g_b[a]``
        (LUT-1D tables, or straight-through ones, ``g_a[b] = b``): then it is a lookup and
        two ordinary matrix products instead of two table-weighted ones."""
        return isinstance(self._gradients, Gradient1D) or self._separable

    @cached_property
    def _separable(self) -> bool:
        """2-D tables whose fixed-point rows (of grad_a) and columns (of grad_b) are all alike."""
        qa, qb = self.fixed_point_tables()
        return bool((qa == qa[:1]).all() and (qb == qb[:, :1]).all())

    @cached_property
    def _fixed_point(self) -> tuple[np.ndarray, np.ndarray]:
        return self.gradients.quantized()

    def fixed_point_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """The 2-D tables as int16 ``round(16 g)``, each of the LUT's shape."""
        return self._fixed_point

    @cached_property
    def _vectors(self) -> tuple[np.ndarray, np.ndarray]:
        g = self.gradients
        if isinstance(g, Gradient1D):
            return g.g_a.astype(np.float32), g.g_b.astype(np.float32)
        qa, qb = self.fixed_point_tables()  # separable 2-D tables: their fixed-point values, exactly
        return (qa[0].astype(np.float32) / GRADIENT_SCALE, np.ascontiguousarray(qb[:, 0]).astype(np.float32) / GRADIENT_SCALE)

    def vectors_1d(self) -> tuple[np.ndarray, np.ndarray]:
        """Float32 vectors of a separable backward pass (`one_dimensional`): ``g_a`` per raw
        pattern of b, ``g_b`` per raw pattern of a."""
        return self._vectors

    # -- shapes -----------------------------------------------------------------------------
    @staticmethod
    def fold(A: Any, B: Any) -> tuple[Any, Any, tuple[int, ...]]:
        """(A3, B3, output shape): 3-D views with A's leading dimensions folded when B is 2-D."""
        a_shape, b_shape = tuple(A.shape), tuple(B.shape)
        if len(b_shape) == 2 and len(a_shape) >= 2:
            if a_shape[-1] != b_shape[0]:
                raise AppMultError(f"inner dimensions differ: A {a_shape} @ B {b_shape}")
            rows = math.prod(a_shape[:-1])
            return A.reshape(1, rows, a_shape[-1]), B.reshape(1, *b_shape), (*a_shape[:-1], b_shape[1])
        if len(a_shape) == 3 and len(b_shape) == 3 and a_shape[0] == b_shape[0] and a_shape[2] == b_shape[1]:
            return A, B, (a_shape[0], a_shape[1], b_shape[2])
        raise AppMultError(f"cannot multiply A {a_shape} by B {b_shape}: want (M,K)@(K,N), (...,M,K)@(K,N) "
                           "or (Z,M,K)@(Z,K,N)")

    @staticmethod
    def codes(x: np.ndarray) -> np.ndarray:
        """Contiguous integer operand codes (any integer dtype; the kernels take the low bits)."""
        if x.dtype.kind not in "iu":
            raise AppMultError(f"operand codes must be integers, not {x.dtype}")
        return np.ascontiguousarray(x)

    def accumulator(self, K: int) -> np.dtype:
        """int32 when ``K * max|lut|`` fits, else int64."""
        return np.dtype(np.int32 if K * self.max_abs < 2**31 else np.int64)

    # -- products ---------------------------------------------------------------------------
    def forward(self, A: Array, B: Array) -> Array:
        """``C[..., i, j] = sum_k lut[A[..., i, k], B[..., k, j]]`` (integer, exact)."""
        return self.impl.forward(A, B)

    def backward(self, A: Array, B: Array, grad_C: Array) -> tuple[Array, Array]:
        """``(grad_A, grad_B)`` as float32, through the gradient tables."""
        return self.impl.backward(A, B, grad_C)


def lut_gemm(A: Array, B: Array, lut: ProductLUT, backend: str = "cpu") -> Array:
    """One forward LUT GEMM (see `LutGemm.forward`); build a `LutGemm` to reuse tables."""
    return LutGemm(lut, backend=backend).forward(A, B)
