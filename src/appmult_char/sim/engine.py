"""The simulator: a netlist compiled once, run exhaustively or on given operand pairs.

`Simulator` validates requests, shapes arrays and hands the work to a back end
(`backend.SimBackend`): ``"numba"`` (compiled, parallel over chunks of pattern words,
kernels cached on disk after the first process compiles them), ``"numpy"`` (no
compilation at all, one array operation per instruction), or ``"auto"``: NumPy for jobs
of at most `AUTO_NUMPY_MAX_PATTERNS` patterns, where starting Numba costs more than it
saves, and Numba for everything larger.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import numpy as np

from .._compat import renamed_attribute
from .._errors import AppMultError, AppMultWarning
from ..lut import ProductLUT, lut_dtype
from ..metrics import ErrorMetrics, ErrorSums, histogram_bins
from ..netlist import Netlist
from ..operands import OperandMap, signed_hint
from .backend import AUTO_NUMPY_MAX_PATTERNS, Layout, SimBackend, backend_names, resolve
from .program import Program, compile_netlist

__all__ = ["Simulator", "AUTO_NUMPY_MAX_PATTERNS", "MAX_EXHAUSTIVE_BITS"]

#: Exhaustive streaming stops here (2^40 patterns is days of work on a CPU).
MAX_EXHAUSTIVE_BITS = 40


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


class Simulator:
    """A netlist compiled with its operand map; see the module docstring for back ends."""

    def __init__(self, netlist: Netlist, operands: OperandMap | None = None, signed: bool = False,
                 backend: str = "auto", progress: Callable[[int], None] | None = None):
        """`progress`, if given, is called with the number of nodes compiled since its last call."""
        if backend not in backend_names():
            raise AppMultError(f"unknown backend {backend!r} ({', '.join(backend_names())})")
        self.netlist = netlist
        self.operands = operands or OperandMap.infer(netlist)
        self.signed = signed
        self.backend = backend
        self.program: Program = compile_netlist(netlist, progress)
        self.layout = Layout.of(netlist, self.program, self.operands, signed)
        self.a_bits, self.b_bits = self.layout.a_bits, self.layout.b_bits
        hint = None if signed else signed_hint(netlist)
        if hint is not None:
            warnings.warn(AppMultWarning(f"{self._where()}: the name {hint!r} suggests a signed multiplier, simulated "
                                         "as unsigned (--signed, or signed=True, reads two's complement)"), stacklevel=2)

    n = renamed_attribute("a_bits", "n")
    m = renamed_attribute("b_bits", "m")

    @property
    def output_bits(self) -> int:
        return self.layout.output_bits

    def _backend(self, patterns: int) -> SimBackend:
        return resolve(self.backend, patterns)

    def _where(self) -> str:
        return self.netlist.source or self.netlist.name

    def lut(self) -> ProductLUT:
        """The full product LUT, by exhaustive simulation."""
        bits = self.a_bits + self.b_bits
        dtype = lut_dtype(self.output_bits, self.signed)
        need = (1 << bits) * dtype.itemsize
        if bits > MAX_EXHAUSTIVE_BITS or need > _memory_bytes() // 2:
            raise AppMultError(
                f"a {self.a_bits}x{self.b_bits} LUT has 2^{bits} entries ({need / 2**30:.1f} GiB), more than memory "
                "allows; use `appmult-char metrics` for streamed error metrics", self._where())
        out = np.empty(1 << bits, dtype=dtype)
        self._backend(out.size).exhaustive(self.layout, out)
        return ProductLUT(out.reshape(1 << self.a_bits, 1 << self.b_bits), self.a_bits, self.b_bits, self.signed,
                          self.output_bits, self.netlist.name, self.netlist.source)

    def evaluate(self, a, b) -> np.ndarray:
        """Circuit output for operand bit patterns ``a[i]``, ``b[i]`` (any equal shapes)."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        if a.shape != b.shape:
            raise AppMultError(f"operand arrays differ in shape: {a.shape} vs {b.shape}")
        for name, arr, bits in (("a", a, self.a_bits), ("b", b, self.b_bits)):
            if arr.size and (arr.min() < 0 or arr.max() >= 1 << bits):
                raise AppMultError(f"operand {name} has values outside the {bits}-bit patterns 0..{(1 << bits) - 1}")
        out = np.empty(a.size, dtype=np.int64)
        if a.size:
            self._backend(a.size).pairs(self.layout, np.ascontiguousarray(a.ravel()), np.ascontiguousarray(b.ravel()),
                                        out)
        return out.reshape(a.shape)

    def metrics(self, progress: Callable[[int], None] | None = None) -> ErrorMetrics:
        """Exact error metrics over all pairs, streamed in chunks without building a LUT.

        `progress`, if given, is called with the number of patterns done after each call
        of the back end (2^26 patterns at a time on Numba).
        """
        bits = self.a_bits + self.b_bits
        if bits > MAX_EXHAUSTIVE_BITS:
            raise AppMultError(f"2^{bits} patterns are too many to enumerate (at most 2^{MAX_EXHAUSTIVE_BITS})",
                               self._where())
        backend = self._backend(1 << bits)
        nwords = -(-(1 << bits) // 64)
        bins = histogram_bins(self.a_bits, self.b_bits, self.output_bits)
        sums = ErrorSums()
        for w0 in range(0, nwords, backend.words_per_call):
            part = backend.stream_metrics(self.layout, w0, min(nwords, w0 + backend.words_per_call), bins)
            sums = sums + part
            if progress is not None:
                progress(part.pairs)
        return ErrorMetrics.from_sums(sums, self.a_bits, self.b_bits, self.signed, self.output_bits)
