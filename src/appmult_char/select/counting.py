"""Gradient-weighted counting matrices (FAMES, Eq. 10) and plain code-pair counts.

For a layer ``y[r, c] = s[c] * sum_k f(x[r, k], w[c, k])`` (codes ``x``, ``w``; `s` the
product of the activation and weight scales of output column c), replacing the exact
product by a multiplier with error matrix ``E`` changes the output by
``s[c] * sum_k E[x[r, k], w[c, k]]``, so the first-order loss change is
``<G, E>`` with

    G[a, b] = sum over (r, c, k) with x[r, k] = a, w[c, k] = b of dL/dy[r, c] * s[c].

`counting_matrix` accumulates it in one pass over the layer's products (a Numba kernel:
rows split into a fixed number of parts, each summed in order, so the result does not
depend on the number of threads); `counting_matrix_torch` is the same sum by
``index_add_`` on any torch device. Codes index by their low bits (the raw patterns a
LUT is indexed by), so signed codes work as they are.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["counting_matrix", "counting_matrix_torch", "layer_counting_matrix", "code_counts", "group_parts", "PARTS"]

#: Row blocks of the CPU kernel, each with its own partial matrix (fixed: results are the
#: same on any number of threads).
PARTS = 8


@numba.njit(parallel=True, cache=True)
def _accumulate(x, w, g, a_mask, b_mask, parts):  # pragma: no cover - compiled
    R, K = x.shape
    C = w.shape[0]
    T = parts.shape[0]
    for t in numba.prange(T):
        G = parts[t]
        for r in range(t * R // T, (t + 1) * R // T):
            for c in range(C):
                v = g[r, c]
                if v != 0.0:
                    for k in range(K):
                        G[x[r, k] & a_mask, w[c, k] & b_mask] += v


def counting_matrix(x: np.ndarray, w: np.ndarray, g: np.ndarray, a_bits: int, b_bits: int) -> np.ndarray:
    """``G (2^a_bits, 2^b_bits)`` float64 of activation codes ``x (R, K)``, weight codes
    ``w (C, K)`` and weighted output gradients ``g (R, C)`` (see the module docstring)."""
    x = np.ascontiguousarray(x, dtype=np.int64)
    w = np.ascontiguousarray(w, dtype=np.int64)
    g = np.ascontiguousarray(g, dtype=np.float64)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1] or g.shape != (x.shape[0], w.shape[0]):
        raise ValueError(f"shapes x {x.shape}, w {w.shape}, g {g.shape}: want (R, K), (C, K), (R, C)")
    parts = np.zeros((PARTS, 1 << a_bits, 1 << b_bits))
    _accumulate(x, w, g, (1 << a_bits) - 1, (1 << b_bits) - 1, parts)
    return parts.sum(axis=0)


def counting_matrix_torch(x, w, g, a_bits: int, b_bits: int):
    """`counting_matrix` of torch tensors on their device (float64 result)."""
    import torch

    A, B = 1 << a_bits, 1 << b_bits
    xa, wb = x.long() & (A - 1), w.long() & (B - 1)
    g = g.double()
    G = torch.zeros(A * B, dtype=torch.float64, device=g.device)
    for k in range(x.shape[1]):
        G.index_add_(0, (xa[:, k, None] * B + wb[None, :, k]).reshape(-1), g.reshape(-1))
    return G.reshape(A, B)


def code_counts(x, w, a_bits: int, b_bits: int) -> np.ndarray:
    """How many of the layer's products multiply each code pair: ``N[a, b]`` (float64,
    exact below 2^53) for codes ``x (R, K)``, ``w (C, K)`` (NumPy arrays or torch tensors,
    counted on the tensors' device): ``sum_k hx_k[a] hw_k[b]`` with the per-column code
    histograms."""
    import torch

    x = torch.as_tensor(x)
    w = torch.as_tensor(w, device=x.device)

    def histograms(codes, bits: int):  # (K, 2^bits): per column, how often each code occurs
        size = 1 << bits
        column = torch.arange(codes.shape[1], device=codes.device) * size
        flat = ((codes.long() & (size - 1)) + column).reshape(-1)
        return torch.bincount(flat, minlength=codes.shape[1] * size).reshape(codes.shape[1], size).double()

    return (histograms(x, a_bits).T @ histograms(w, b_bits)).cpu().numpy()


def group_parts(x, w, groups: int) -> list[tuple]:
    """``(x_g (R, K), w_g (C/groups, K), output columns)`` of each group of a layer's codes
    ``x (R, K * groups)`` and ``w (C, K)`` (torch tensors)."""
    K, per = w.shape[1], w.shape[0] // groups
    return [(x[:, g * K:(g + 1) * K], w[g * per:(g + 1) * per], slice(g * per, (g + 1) * per)) for g in range(groups)]


def layer_counting_matrix(parts: list[tuple], g, a_bits: int, b_bits: int):
    """`counting_matrix` of a layer's `group_parts` and weighted output gradients
    ``g (R, C)`` summed over the groups, as a float64 torch tensor on ``g``'s device
    (the Numba kernel on the CPU, `counting_matrix_torch` elsewhere)."""
    import torch

    if g.is_cuda:
        return sum(counting_matrix_torch(xg, wg, g[:, cols], a_bits, b_bits) for xg, wg, cols in parts)
    return torch.from_numpy(sum(counting_matrix(xg.numpy(), wg.numpy(), g[:, cols].numpy(), a_bits, b_bits)
                                for xg, wg, cols in parts))
