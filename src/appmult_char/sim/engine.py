"""The simulator: a netlist compiled once, run exhaustively or on given operand pairs.

Two back ends behind one call: ``"numba"`` (compiled, parallel over chunks of pattern
words, kernels cached on disk after the first process compiles them) and ``"numpy"`` (no
compilation at all, one array operation per instruction). ``"auto"`` takes NumPy for jobs
of at most `NUMPY_MAX_PATTERNS` patterns, where starting Numba costs more than it saves,
and Numba for everything larger.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from .._errors import AppMultError
from ..lut import ProductLUT, lut_dtype
from ..metrics import ErrorMetrics, histogram_bins
from ..netlist import Netlist
from ..operands import OperandMap
from . import _numpy_backend as npb
from .program import Program, compile_netlist

__all__ = ["Simulator", "NUMPY_MAX_PATTERNS", "MAX_EXHAUSTIVE_BITS"]

#: Largest job (in patterns) that ``backend="auto"`` runs on NumPy.
NUMPY_MAX_PATTERNS = 1 << 16
#: Exhaustive streaming stops here (2^40 patterns is days of work).
MAX_EXHAUSTIVE_BITS = 40
_CACHE_BYTES = 128 * 1024
_WORDS_PER_CALL = 1 << 20  # streamed metrics: progress granularity
_BLOCKS = 64  # streamed metrics: fixed partition, so float sums do not depend on threads


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


class Simulator:
    """A netlist compiled with its operand map; see the module docstring for back ends."""

    def __init__(self, netlist: Netlist, operands: OperandMap | None = None, signed: bool = False,
                 backend: str = "auto"):
        if backend not in ("auto", "numba", "numpy"):
            raise AppMultError(f"unknown backend {backend!r} (auto, numba or numpy)")
        self.netlist = netlist
        self.operands = operands or OperandMap.infer(netlist)
        self.signed = signed
        self.backend = backend
        self.program: Program = compile_netlist(netlist)
        ops = self.operands
        self.n, self.m = ops.n, ops.m
        in_bits = np.empty(len(netlist.inputs), dtype=np.int64)
        in_bits[list(ops.a_inputs)] = self.m + np.arange(self.n)
        in_bits[list(ops.b_inputs)] = np.arange(self.m)
        self.in_bits = in_bits  # LUT layout: pattern p = b + (a << m)
        self.out_slots = self.program.output_slots[list(ops.outputs)]
        self.a_slots = self.program.input_slots[list(ops.a_inputs)]
        self.b_slots = self.program.input_slots[list(ops.b_inputs)]
        cw = _CACHE_BYTES // (8 * self.program.nslots)
        self.chunk_words = int(min(256, max(8, 1 << max(cw, 1).bit_length() - 1)))

    @property
    def output_bits(self) -> int:
        return len(self.operands.outputs)

    def _use_numba(self, patterns: int) -> bool:
        return self.backend == "numba" or (self.backend == "auto" and patterns > NUMPY_MAX_PATTERNS)

    def lut(self) -> ProductLUT:
        """The full product LUT, by exhaustive simulation."""
        bits = self.n + self.m
        dtype = lut_dtype(self.output_bits, self.signed)
        need = (1 << bits) * dtype.itemsize
        if bits > MAX_EXHAUSTIVE_BITS or need > _memory_bytes() // 2:
            raise AppMultError(
                f"a {self.n}x{self.m} LUT has 2^{bits} entries ({need / 2**30:.1f} GiB), more than memory allows; "
                "use `appmult-char metrics` for streamed error metrics", self.netlist.source or self.netlist.name)
        npat = 1 << bits
        out = np.empty(npat, dtype=dtype)
        p = self.program
        if self._use_numba(npat):
            from . import _kernels

            _kernels.lut_exhaustive(p.ops, p.masks, p.nslots, p.input_slots, self.in_bits, self.out_slots,
                                    self.signed, npat, min(self.chunk_words, -(-npat // 64)), out)
        else:
            words = npb.exhaustive_words(self.in_bits, 0, -(-npat // 64))
            out[:] = self._unpack(npb.run_words(p, words))[:npat]
        return ProductLUT(out.reshape(1 << self.n, 1 << self.m), self.n, self.m, self.signed, self.output_bits,
                          self.netlist.name, self.netlist.source)

    def _unpack(self, out_words: np.ndarray) -> np.ndarray:
        return npb.unpack_values(out_words[list(self.operands.outputs)], self.signed)

    def evaluate(self, a, b) -> np.ndarray:
        """Circuit output for operand bit patterns ``a[i]``, ``b[i]`` (any equal shapes)."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        if a.shape != b.shape:
            raise AppMultError(f"operand arrays differ in shape: {a.shape} vs {b.shape}")
        for name, arr, bits in (("a", a, self.n), ("b", b, self.m)):
            if arr.size and (arr.min() < 0 or arr.max() >= 1 << bits):
                raise AppMultError(f"operand {name} has values outside the {bits}-bit patterns 0..{(1 << bits) - 1}")
        flat_a, flat_b = a.ravel(), b.ravel()
        out = np.empty(flat_a.size, dtype=np.int64)
        if flat_a.size == 0:
            return out.reshape(a.shape)
        p = self.program
        if self._use_numba(flat_a.size):
            from . import _kernels

            _kernels.lut_pairs(p.ops, p.masks, p.nslots, self.a_slots, self.b_slots, self.out_slots, self.signed,
                               flat_a, flat_b, min(self.chunk_words, -(-flat_a.size // 64)), out)
        else:
            bits = np.zeros((len(self.netlist.inputs), flat_a.size), dtype=np.uint64)
            for j, pos in enumerate(self.operands.a_inputs):
                bits[pos] = (flat_a >> j) & 1
            for j, pos in enumerate(self.operands.b_inputs):
                bits[pos] = (flat_b >> j) & 1
            out[:] = self._unpack(npb.run_words(p, npb.pack_words(bits)))[:flat_a.size]
        return out.reshape(a.shape)

    def metrics(self, progress: Callable[[int], None] | None = None) -> ErrorMetrics:
        """Exact error metrics over all pairs, streamed in chunks without building a LUT.

        `progress`, if given, is called with the number of patterns done after each call
        of the kernel (2^26 patterns at a time).
        """
        from . import _kernels

        bits = self.n + self.m
        if bits > MAX_EXHAUSTIVE_BITS:
            raise AppMultError(f"2^{bits} patterns are too many to enumerate (at most 2^{MAX_EXHAUSTIVE_BITS})",
                               self.netlist.source or self.netlist.name)
        nwords = -(-(1 << bits) // 64)
        acc = np.zeros((_BLOCKS, _kernels.N_ACC), dtype=np.uint64)
        facc = np.zeros((_BLOCKS, 2), dtype=np.float64)
        hist = np.zeros((_BLOCKS, histogram_bins(self.n, self.m)), dtype=np.int64)
        p = self.program
        cw = min(self.chunk_words, nwords)
        for w0 in range(0, nwords, _WORDS_PER_CALL):
            w1 = min(nwords, w0 + _WORDS_PER_CALL)
            _kernels.metrics_exhaustive(p.ops, p.masks, p.nslots, p.input_slots, self.in_bits, self.out_slots,
                                        self.signed, self.n, self.m, w0, w1, cw, acc, facc, hist)
            if progress is not None:
                progress(min(1 << bits, (w1 - w0) * 64))
        return _metrics_from_blocks(acc, facc, hist, self.n, self.m, self.signed, self.output_bits)


def _metrics_from_blocks(acc, facc, hist, n, m, signed, output_bits) -> ErrorMetrics:
    from ._kernels import ABS_HI, ABS_LO, ERRORS, MAX_ABS, NEG_HI, NEG_LO, NONZERO, POS_HI, POS_LO, SQ_HI, SQ_LO

    rows = [[int(v) for v in row] for row in acc]

    def total(hi, lo):
        return sum((r[hi] << 64) + r[lo] for r in rows)

    return ErrorMetrics(
        n=n, m=m, signed=signed, output_bits=output_bits, pairs=1 << (n + m),
        error_count=sum(r[ERRORS] for r in rows), sum_abs=total(ABS_HI, ABS_LO), sum_sq=total(SQ_HI, SQ_LO),
        sum_err=total(POS_HI, POS_LO) - total(NEG_HI, NEG_LO), max_abs=max(r[MAX_ABS] for r in rows),
        nonzero_exact=sum(r[NONZERO] for r in rows), sum_rel=float(facc[:, 0].sum()),
        max_rel=float(facc[:, 1].max()), histogram=tuple(int(c) for c in hist.sum(axis=0)),
    )
