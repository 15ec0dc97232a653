"""The CPU GEMM back end: parallel Numba loops (`cpu_kernels`), row-parallel, LUT gathers
from cache; LUT-1D backward as a table lookup and NumPy matrix products."""

from __future__ import annotations

import numpy as np

from ..gradients.tables import GRADIENT_SCALE
from . import cpu_kernels
from .backend import GemmTables

__all__ = ["CpuGemm"]


class CpuGemm:
    name = "cpu"

    def __init__(self, gemm: GemmTables):
        self.gemm = gemm

    def forward(self, A, B) -> np.ndarray:
        g = self.gemm
        A3, B3, shape = g.fold(np.asarray(A), np.asarray(B))
        out = np.empty((A3.shape[0], A3.shape[1], B3.shape[2]), dtype=g.accumulator(A3.shape[2]))
        cpu_kernels.lut_gemm(g.codes(A3), g.codes(B3), g.table, 1 << g.b_bits, g.a_mask, g.b_mask, out)
        return out.reshape(shape)

    def backward(self, A, B, grad_C) -> tuple[np.ndarray, np.ndarray]:
        g = self.gemm
        A, B = np.asarray(A), np.asarray(B)
        A3, B3, _ = g.fold(A, B)
        G3 = np.ascontiguousarray(np.asarray(grad_C, dtype=np.float32).reshape(A3.shape[0], A3.shape[1], B3.shape[2]))
        Am = g.codes(A3).astype(np.int64) & g.a_mask
        Bm = g.codes(B3).astype(np.int64) & g.b_mask
        if g.one_dimensional:
            g_a, g_b = g.vectors_1d()
            grad_A = G3 @ np.swapaxes(g_a[Bm], 1, 2)
            grad_B = np.swapaxes(g_b[Am], 1, 2) @ G3
        else:
            qa, qb = g.fixed_point_tables()
            grad_A = np.empty(A3.shape, dtype=np.float32)
            cpu_kernels.table_weighted_gemm(G3, Am, Bm, qa.ravel().astype(np.float32), 1 << g.b_bits,
                                            np.float32(1 / GRADIENT_SCALE), grad_A)
            grad_Bt = np.empty((B3.shape[0], B3.shape[2], B3.shape[1]), dtype=np.float32)
            cpu_kernels.table_weighted_gemm(np.ascontiguousarray(np.swapaxes(G3, 1, 2)),
                                            np.ascontiguousarray(np.swapaxes(Bm, 1, 2)),
                                            np.ascontiguousarray(np.swapaxes(Am, 1, 2)),
                                            np.ascontiguousarray(qb.T).ravel().astype(np.float32),
                                            1 << g.a_bits, np.float32(1 / GRADIENT_SCALE), grad_Bt)
            grad_B = np.swapaxes(grad_Bt, 1, 2)
        return np.ascontiguousarray(grad_A).reshape(A.shape), np.ascontiguousarray(grad_B).reshape(B.shape)
