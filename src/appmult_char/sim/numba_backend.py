"""Numba simulation back end: compiled kernels, parallel over chunks of pattern words,
compiled on first use and cached on disk.

All kernels run a `Program` over chunks of ``cw`` pattern words held in a per-chunk
register file ``R[slot, word]``, in parallel over chunks. Patterns are numbered
``p = 64 * word + lane``; in exhaustive mode input ``i`` takes bit ``in_bits[i]`` of ``p``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from ..metrics import ErrorSums
from ..metrics_kernels import accumulate, new_blocks, sums_from_blocks
from .backend import Layout
from .program import LANE_MASKS

__all__ = ["NumbaBackend", "lut_exhaustive", "lut_pairs", "metrics_exhaustive"]

ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, nogil=True)
def _run(ops, masks, R, cw):
    for i in range(ops.shape[0]):
        kind = ops[i, 0]
        d = R[ops[i, 1]]
        x = R[ops[i, 2]]
        y = R[ops[i, 3]]
        mo = masks[i, 2]
        if kind == 0:
            mx = masks[i, 0]
            my = masks[i, 1]
            for w in range(cw):
                d[w] = ((x[w] ^ mx) & (y[w] ^ my)) ^ mo
        elif kind == 1:
            for w in range(cw):
                d[w] = x[w] ^ y[w] ^ mo
        else:
            for w in range(cw):
                d[w] = mo


@njit(cache=True, nogil=True)
def _fill_exhaustive(R, in_slots, in_bits, w0, cw):
    for i in range(in_slots.shape[0]):
        r = R[in_slots[i]]
        bit = in_bits[i]
        if bit < 6:
            m = LANE_MASKS[bit]
            for w in range(cw):
                r[w] = m
        else:
            for w in range(cw):
                r[w] = ONES if ((w0 + w) >> (bit - 6)) & 1 else uint64(0)


@njit(cache=True, nogil=True)
def _extract(R, out_slots, w, signed, vals):
    """Product value of each of the 64 lanes of word `w` (sign-extended when signed)."""
    nout = out_slots.shape[0]
    for lane in range(64):
        vals[lane] = 0
    for j in range(nout):
        word = R[out_slots[j], w]
        for lane in range(64):
            vals[lane] |= np.int64((word >> uint64(lane)) & uint64(1)) << j
    if signed and nout > 0:
        for lane in range(64):
            vals[lane] -= ((vals[lane] >> (nout - 1)) & 1) << nout


@njit(cache=True, nogil=True)
def _store(R, out_slots, signed, w0, n, npat, vals, out):
    """Write the products of the chunk's `n` words (patterns from ``64 * w0``) to `out`."""
    for w in range(n):
        _extract(R, out_slots, w, signed, vals)
        base = (w0 + w) * 64
        for lane in range(min(64, npat - base)):
            out[base + lane] = vals[lane]


@njit(cache=True, parallel=True)
def lut_exhaustive(ops, masks, nslots, in_slots, in_bits, out_slots, signed, npat, cw, out):
    """Write the output value of every pattern ``p < npat`` to ``out[p]``."""
    nwords = (npat + 63) // 64
    nchunks = (nwords + cw - 1) // cw
    for c in prange(nchunks):
        R = np.empty((nslots, cw), np.uint64)
        vals = np.empty(64, np.int64)
        w0 = c * cw
        n = min(cw, nwords - w0)
        _fill_exhaustive(R, in_slots, in_bits, w0, n)
        _run(ops, masks, R, n)
        _store(R, out_slots, signed, w0, n, npat, vals, out)


@njit(cache=True, parallel=True)
def lut_pairs(ops, masks, nslots, a_slots, b_slots, out_slots, signed, a, b, cw, out):
    """Output value for each given operand pair ``(a[p], b[p])`` (raw bit patterns)."""
    npat = a.shape[0]
    nwords = (npat + 63) // 64
    nchunks = (nwords + cw - 1) // cw
    for c in prange(nchunks):
        R = np.zeros((nslots, cw), np.uint64)
        vals = np.empty(64, np.int64)
        w0 = c * cw
        n = min(cw, nwords - w0)
        for w in range(n):
            base = (w0 + w) * 64
            for lane in range(min(64, npat - base)):
                av = a[base + lane]
                bv = b[base + lane]
                for j in range(a_slots.shape[0]):
                    R[a_slots[j], w] |= uint64((av >> j) & 1) << uint64(lane)
                for j in range(b_slots.shape[0]):
                    R[b_slots[j], w] |= uint64((bv >> j) & 1) << uint64(lane)
        _run(ops, masks, R, n)
        _store(R, out_slots, signed, w0, n, npat, vals, out)


@njit(cache=True, parallel=True)
def metrics_exhaustive(ops, masks, nslots, in_slots, in_bits, out_slots, signed, n_a, n_b,
                       w_begin, w_end, cw, acc, facc, hist):
    """Accumulate error statistics of pattern words ``[w_begin, w_end)`` against ``a*b``.

    Patterns are laid out ``p = b + (a << n_b)``. Block ``k`` of ``acc.shape[0]`` blocks
    adds its integer sums to ``acc[k]`` (128-bit sums as hi/lo pairs), its relative-error
    sum and maximum to ``facc[k]`` and its signed log2 error histogram to ``hist[k]``.
    """
    nblocks = acc.shape[0]
    nwords = w_end - w_begin
    nchunks = (nwords + cw - 1) // cw
    npat_total = 1 << (n_a + n_b)
    hmid = (hist.shape[1] - 1) // 2
    for k in prange(nblocks):
        R = np.empty((nslots, cw), np.uint64)
        vals = np.empty(64, np.int64)
        a_acc = acc[k]
        f_acc = facc[k]
        h = hist[k]
        for c in range(k * nchunks // nblocks, (k + 1) * nchunks // nblocks):
            w0 = w_begin + c * cw
            n = min(cw, w_end - w0)
            _fill_exhaustive(R, in_slots, in_bits, w0, n)
            _run(ops, masks, R, n)
            for w in range(n):
                _extract(R, out_slots, w, signed, vals)
                base = (w0 + w) * 64
                for lane in range(min(64, npat_total - base)):
                    p = base + lane
                    av = p >> n_b
                    bv = p & ((1 << n_b) - 1)
                    if signed:
                        av -= ((av >> (n_a - 1)) & 1) << n_a
                        bv -= ((bv >> (n_b - 1)) & 1) << n_b
                    accumulate(a_acc, f_acc, h, hmid, vals[lane], av * bv)


class NumbaBackend:
    """The compiled kernels above, parallel over chunks of `Layout.chunk_words` words."""

    name = "numba"
    words_per_call = 1 << 20  # 2^26 patterns: the progress granularity of streamed metrics

    def exhaustive(self, layout: Layout, out: np.ndarray) -> None:
        p = layout.program
        lut_exhaustive(p.ops, p.masks, p.nslots, p.input_slots, layout.in_bits, layout.out_slots, layout.signed,
                       out.size, min(layout.chunk_words, -(-out.size // 64)), out)

    def pairs(self, layout: Layout, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        p = layout.program
        lut_pairs(p.ops, p.masks, p.nslots, layout.a_slots, layout.b_slots, layout.out_slots, layout.signed,
                  a, b, min(layout.chunk_words, -(-a.size // 64)), out)

    def stream_metrics(self, layout: Layout, w_begin: int, w_end: int, bins: int) -> ErrorSums:
        p = layout.program
        acc, facc, hist = new_blocks(bins)
        metrics_exhaustive(p.ops, p.masks, p.nslots, p.input_slots, layout.in_bits, layout.out_slots, layout.signed,
                           layout.a_bits, layout.b_bits, w_begin, w_end, min(layout.chunk_words, w_end - w_begin),
                           acc, facc, hist)
        return sums_from_blocks(min(64 * w_end, layout.patterns) - 64 * w_begin, acc, facc, hist)
