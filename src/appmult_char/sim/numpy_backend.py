"""Plain-NumPy simulation back end: no JIT to pay, one array operation per instruction.

The baseline the Numba back end is measured against, and the back end for small jobs
where compiling or loading kernels would cost more than it saves.
"""

from __future__ import annotations

import numpy as np

from ..lut import operand_values
from ..metrics import ErrorSums
from .backend import Layout
from .program import AND, LANE_MASKS, XOR, Program

__all__ = ["NumpyBackend", "run_words", "exhaustive_words", "pack_words", "unpack_values"]

_LANES = np.arange(64, dtype=np.uint64)
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def run_words(program: Program, input_words: np.ndarray) -> np.ndarray:
    """Output words (one row per primary output) for input words (one row per input)."""
    R = np.empty((program.nslots, input_words.shape[1]), dtype=np.uint64)
    R[program.input_slots] = input_words
    return _execute(program, R)[program.output_slots]


def _execute(program: Program, R: np.ndarray) -> np.ndarray:
    """Run `program` on the register file ``R[slot, word]`` (inputs filled in); returns `R`."""
    for (kind, d, x, y), (mx, my, mo) in zip(program.ops.tolist(), program.masks):
        if kind == AND:
            np.bitwise_and(R[x] ^ mx, R[y] ^ my, out=R[d])
            R[d] ^= mo
        elif kind == XOR:
            np.bitwise_xor(R[x], R[y], out=R[d])
            R[d] ^= mo
        else:
            R[d] = mo
    return R


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
    if nout == 0:
        return np.zeros(width * 64, dtype=np.int64)
    lanes = np.unpackbits(np.ascontiguousarray(out_words, dtype="<u8").view(np.uint8).reshape(nout, -1), axis=1,
                          bitorder="little")  # (output bit, pattern), lane k of a word is its bit k
    packed = np.zeros((width * 64, 8), dtype=np.uint8)  # each pattern's bits as one little-endian int64
    packed[:, : -(-nout // 8)] = np.packbits(lanes.T, axis=1, bitorder="little")
    values = packed.view("<i8").reshape(-1).astype(np.int64)
    if signed and nout:
        values -= ((values >> (nout - 1)) & 1) << nout
    return values


class NumpyBackend:
    """One NumPy array operation per instruction over all pattern words at once."""

    name = "numpy"
    words_per_call = 1 << 12

    @staticmethod
    def _run(layout: Layout, input_words: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Product of every lane of `input_words`, row ``i`` placed on slot ``slots[i]``."""
        p = layout.program
        R = np.empty((p.nslots, input_words.shape[1]), dtype=np.uint64)
        R[slots] = input_words
        return unpack_values(_execute(p, R)[layout.out_slots], layout.signed)

    def exhaustive(self, layout: Layout, out: np.ndarray) -> None:
        words = exhaustive_words(layout.in_bits, 0, -(-out.size // 64))
        out[:] = self._run(layout, words, layout.program.input_slots)[:out.size]

    def pairs(self, layout: Layout, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        bits = np.array([(a >> j) & 1 for j in range(layout.a_bits)] + [(b >> j) & 1 for j in range(layout.b_bits)],
                        dtype=np.uint64).reshape(layout.a_bits + layout.b_bits, a.size)
        slots = np.concatenate([layout.a_slots, layout.b_slots])
        out[:] = self._run(layout, pack_words(bits), slots)[:a.size]

    def stream_metrics(self, layout: Layout, w_begin: int, w_end: int, bins: int) -> ErrorSums:
        values = self._run(layout, exhaustive_words(layout.in_bits, w_begin, w_end), layout.program.input_slots)
        patterns = np.arange(64 * w_begin, min(64 * w_end, layout.patterns), dtype=np.int64)
        a = operand_values(layout.a_bits, layout.signed)[patterns >> layout.b_bits]
        b = operand_values(layout.b_bits, layout.signed)[patterns & ((1 << layout.b_bits) - 1)]
        return ErrorSums.of(values[:patterns.size], a * b, bins)
