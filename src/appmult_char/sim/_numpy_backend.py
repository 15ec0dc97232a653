"""Plain-NumPy bit-parallel evaluation of a `Program`: no JIT to pay, one array op per
instruction. The baseline the Numba kernels are measured against, and the back end for
small jobs where compiling or loading kernels would cost more than it saves."""

from __future__ import annotations

import numpy as np

from .program import AND, LANE_MASKS, XOR, Program

__all__ = ["run_words", "exhaustive_words", "pack_words", "unpack_values"]

_LANES = np.arange(64, dtype=np.uint64)
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def run_words(program: Program, input_words: np.ndarray) -> np.ndarray:
    """Output words (one row per primary output) for input words (one row per input)."""
    width = input_words.shape[1]
    R = np.empty((program.nslots, width), dtype=np.uint64)
    R[program.input_slots] = input_words
    for (kind, d, x, y), (mx, my, mo) in zip(program.ops.tolist(), program.masks):
        if kind == AND:
            np.bitwise_and(R[x] ^ mx, R[y] ^ my, out=R[d])
            R[d] ^= mo
        elif kind == XOR:
            np.bitwise_xor(R[x], R[y], out=R[d])
            R[d] ^= mo
        else:
            R[d] = mo
    return R[program.output_slots]


def exhaustive_words(in_bits: np.ndarray, w_begin: int, w_end: int) -> np.ndarray:
    """Input words of patterns ``64*w_begin .. 64*w_end-1``: input i takes bit in_bits[i]."""
    words = np.empty((len(in_bits), w_end - w_begin), dtype=np.uint64)
    index = np.arange(w_begin, w_end, dtype=np.uint64)
    for i, bit in enumerate(in_bits):
        if bit < 6:
            words[i] = LANE_MASKS[bit]
        else:
            words[i] = ((index >> np.uint64(bit - 6)) & np.uint64(1)) * _ONES
    return words


def pack_words(bits: np.ndarray) -> np.ndarray:
    """Pack rows of 0/1 values (one row per input, one column per pattern) into words."""
    npat = bits.shape[1]
    padded = np.zeros((bits.shape[0], -(-npat // 64) * 64), dtype=np.uint64)
    padded[:, :npat] = bits
    return (padded.reshape(bits.shape[0], -1, 64) << _LANES).sum(axis=2, dtype=np.uint64)


def unpack_values(out_words: np.ndarray, signed: bool) -> np.ndarray:
    """Product value of every pattern lane from output words (rows LSB first)."""
    nout, width = out_words.shape
    values = np.zeros(width * 64, dtype=np.int64)
    for j in range(nout):
        bits = ((out_words[j][:, None] >> _LANES) & np.uint64(1)).astype(np.int64).ravel()
        values |= bits << j
    if signed and nout:
        values -= ((values >> (nout - 1)) & 1) << nout
    return values
