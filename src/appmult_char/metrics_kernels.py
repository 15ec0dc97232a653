"""Compiled (Numba) accumulation of exact error sums, shared by the streamed simulation
kernels and the metrics of a stored table.

Integer sums are 128-bit (hi/lo ``uint64`` pairs, `ACC_FIELDS`); each of `BLOCKS` blocks
accumulates a fixed part of the patterns, so the float sums do not depend on the thread
count. `sums_from_blocks` turns the per-block arrays into `ErrorSums`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from .metrics import ErrorSums

__all__ = ["BLOCKS", "N_ACC", "accumulate", "new_blocks", "sums_from_blocks", "table_sums"]

#: Integer accumulators, by index.
ERRORS, ABS_HI, ABS_LO, SQ_HI, SQ_LO, POS_HI, POS_LO, NEG_HI, NEG_LO, MAX_ABS, NONZERO = range(11)
N_ACC = 11
BLOCKS = 64


@njit(cache=True, nogil=True, inline="always")
def _add128(acc, hi, lo, v):
    old = acc[lo]
    acc[lo] = old + v
    if acc[lo] < old:
        acc[hi] += uint64(1)


@njit(cache=True, nogil=True)
def _add_square(acc, x):
    """acc[SQ] += x*x exactly in 128 bits, for x < 2**63."""
    xl = x & uint64(0xFFFFFFFF)
    xh = x >> uint64(32)
    _add128(acc, SQ_HI, SQ_LO, xl * xl)
    t = uint64(2) * xh * xl
    acc[SQ_HI] += (t >> uint64(32)) + xh * xh
    _add128(acc, SQ_HI, SQ_LO, t << uint64(32))


@njit(cache=True, nogil=True, inline="always")
def accumulate(a_acc, f_acc, h, hmid, value, exact):
    """Add the error of one pair (`value` against `exact`) to one block's sums."""
    e = value - exact
    if exact != 0:
        a_acc[NONZERO] += uint64(1)
    if e == 0:
        h[hmid] += 1
        return
    ae = uint64(e if e > 0 else -e)
    a_acc[ERRORS] += uint64(1)
    _add128(a_acc, ABS_HI, ABS_LO, ae)
    _add_square(a_acc, ae)
    if e > 0:
        _add128(a_acc, POS_HI, POS_LO, ae)
    else:
        _add128(a_acc, NEG_HI, NEG_LO, ae)
    if ae > a_acc[MAX_ABS]:
        a_acc[MAX_ABS] = ae
    if exact != 0:
        rel = np.float64(ae) / abs(np.float64(exact))
        f_acc[0] += rel
        if rel > f_acc[1]:
            f_acc[1] = rel
    bits = 0
    t = ae
    while t:
        bits += 1
        t >>= uint64(1)
    h[hmid + bits if e > 0 else hmid - bits] += 1


@njit(cache=True, parallel=True)
def table_sums(flat, a_bits, b_bits, signed, acc, facc, hist):
    """Accumulate the errors of a table ``flat[b + (a << b_bits)]`` of raw operand
    patterns against the exact products, block ``k`` into ``acc[k]``, ``facc[k]``, ``hist[k]``."""
    nblocks = acc.shape[0]
    total = flat.shape[0]
    hmid = (hist.shape[1] - 1) // 2
    for k in prange(nblocks):
        for p in range(k * total // nblocks, (k + 1) * total // nblocks):
            av = p >> b_bits
            bv = p & ((1 << b_bits) - 1)
            if signed:
                av -= ((av >> (a_bits - 1)) & 1) << a_bits
                bv -= ((bv >> (b_bits - 1)) & 1) << b_bits
            accumulate(acc[k], facc[k], hist[k], hmid, np.int64(flat[p]), av * bv)


def new_blocks(bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zeroed per-block integer, float and histogram accumulators."""
    return (np.zeros((BLOCKS, N_ACC), dtype=np.uint64), np.zeros((BLOCKS, 2), dtype=np.float64),
            np.zeros((BLOCKS, bins), dtype=np.int64))


def sums_from_blocks(pairs: int, acc: np.ndarray, facc: np.ndarray, hist: np.ndarray) -> ErrorSums:
    """The `ErrorSums` of per-block accumulators (128-bit sums combined as Python ints)."""
    rows = [[int(v) for v in row] for row in acc]

    def total(hi: int, lo: int) -> int:
        return sum((r[hi] << 64) + r[lo] for r in rows)

    return ErrorSums(
        pairs=pairs, error_count=sum(r[ERRORS] for r in rows),
        sum_abs=total(ABS_HI, ABS_LO), sum_sq=total(SQ_HI, SQ_LO),
        sum_err=total(POS_HI, POS_LO) - total(NEG_HI, NEG_LO), max_abs=max(r[MAX_ABS] for r in rows),
        nonzero_exact=sum(r[NONZERO] for r in rows), sum_rel=float(facc[:, 0].sum()),
        max_rel=float(facc[:, 1].max()), histogram=tuple(int(c) for c in hist.sum(axis=0)),
    )
