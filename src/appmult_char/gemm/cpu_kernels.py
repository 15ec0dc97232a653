"""Numba CPU kernels of the LUT GEMM (compiled on first use, cached on disk).

All take 3-D operands ``(batch, rows, cols)``; a second operand with batch 1 is
broadcast. Codes are raw operand bit patterns; ``stride`` is the LUT's row length
``2^m`` (the table is passed flat, so operand widths are run-time values).
"""

from __future__ import annotations

from numba import njit, prange

__all__ = ["lut_gemm", "table_weighted_gemm"]


@njit(cache=True, parallel=True)
def lut_gemm(A, B, lut, stride, amask, bmask, out):
    """``out[z, i, j] = sum_k lut[(A[z, i, k] & amask) * stride + (B[z, k, j] & bmask)]``."""
    batch, M, K = A.shape
    N = B.shape[2]
    for zi in prange(batch * M):
        z = zi // M
        i = zi % M
        acc = out[z, i]
        for j in range(N):
            acc[j] = 0
        for k in range(K):
            base = (A[z, i, k] & amask) * stride
            row = B[z, k]
            for j in range(N):
                acc[j] += lut[base + (row[j] & bmask)]


@njit(cache=True, parallel=True)
def table_weighted_gemm(X, F, V, table, stride, scale, out):
    """``out[z, p, q] = scale * sum_l X[z, p, l] * table[F[z, p, q] * stride + V[z', q, l]]``.

    With ``X = grad_C``, ``F = A``, ``V = B`` this is ``grad_A``; with ``X = grad_C^T``,
    ``F = B^T``, ``V = A^T`` and the transposed table it is ``grad_B^T``. `F` and `V` may
    have batch 1 (broadcast).
    """
    batch, P, L = X.shape
    Q = F.shape[2]
    for zp in prange(batch * P):
        z = zp // P
        p = zp % P
        zf = z if F.shape[0] > 1 else 0
        zv = z if V.shape[0] > 1 else 0
        x = X[z, p]
        for q in range(Q):
            base = F[zf, p, q] * stride
            v = V[zv, q]
            s = 0.0
            for l in range(L):
                s += x[l] * table[base + v[l]]
            out[z, p, q] = s * scale
