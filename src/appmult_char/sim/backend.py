"""The simulation back-end interface, and the placement of operands on a compiled program.

A back end runs a `Layout` (a compiled `Program` with the operands' inputs and the
product's outputs placed on its slots) in one of three ways:

- `SimBackend.exhaustive`: the product of every pattern ``p = b + (a << b_bits)``;
- `SimBackend.pairs`: the product of given raw operand patterns;
- `SimBackend.stream_metrics`: exact `ErrorSums` of the pattern words ``[w_begin, w_end)``
  (64 patterns a word), without keeping the products.

Back ends are known by name (`BACKENDS`, module and class, imported on first use so that
small jobs never load Numba); `resolve` maps a name (or ``"auto"``) and a job size to one. `Simulator` validates and shapes, then hands off to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import ClassVar, Protocol

import numpy as np

from .._errors import AppMultError
from ..metrics import ErrorSums
from ..netlist import Netlist
from ..operands import OperandMap
from .program import Program

__all__ = ["Layout", "SimBackend", "BACKENDS", "resolve", "backend_names", "AUTO_NUMPY_MAX_PATTERNS"]

#: ``backend="auto"`` runs jobs of at most this many patterns on NumPy (no JIT to load).
AUTO_NUMPY_MAX_PATTERNS = 1 << 16
_CACHE_BYTES = 128 * 1024


@dataclass(frozen=True, eq=False)
class Layout:
    """A compiled program with operand `a`, operand `b` and the product placed on its slots."""

    program: Program
    a_bits: int
    b_bits: int
    signed: bool
    in_bits: np.ndarray  # per primary input: its bit of the exhaustive pattern p = b + (a << b_bits), or -1
    a_slots: np.ndarray  # slot of each bit of a, LSB first
    b_slots: np.ndarray
    out_slots: np.ndarray  # slot of each product bit, LSB first
    chunk_words: int  # pattern words per chunk: every live slot of a chunk stays in cache

    @classmethod
    def of(cls, netlist: Netlist, program: Program, operands: OperandMap, signed: bool) -> "Layout":
        a_bits, b_bits = operands.a_bits, operands.b_bits
        in_bits = np.full(len(netlist.inputs), -1, dtype=np.int64)
        in_bits[list(operands.a_inputs)] = b_bits + np.arange(a_bits)
        in_bits[list(operands.b_inputs)] = np.arange(b_bits)
        cw = _CACHE_BYTES // (8 * program.nslots)
        return cls(program, a_bits, b_bits, signed, in_bits,
                   program.input_slots[list(operands.a_inputs)], program.input_slots[list(operands.b_inputs)],
                   program.output_slots[list(operands.outputs)],
                   int(min(256, max(8, 1 << max(cw, 1).bit_length() - 1))))

    @property
    def patterns(self) -> int:
        return 1 << (self.a_bits + self.b_bits)

    @property
    def output_bits(self) -> int:
        return len(self.out_slots)


class SimBackend(Protocol):
    """What a simulation back end implements (see the module docstring)."""

    name: ClassVar[str]
    #: Pattern words per `stream_metrics` call that `Simulator.metrics` asks for.
    words_per_call: ClassVar[int]

    def exhaustive(self, layout: Layout, out: np.ndarray) -> None:
        """``out[p]`` = product of pattern ``p`` for every ``p < out.size``."""

    def pairs(self, layout: Layout, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        """``out[i]`` = product of raw patterns ``a[i]``, ``b[i]`` (1-D int64 arrays)."""

    def stream_metrics(self, layout: Layout, w_begin: int, w_end: int, bins: int) -> ErrorSums:
        """Exact error sums over the patterns of words ``[w_begin, w_end)`` (clipped to the
        last pattern), with a `bins`-bucket signed log2 histogram."""


#: Back-end name -> (module of this package, class).
BACKENDS = {"numpy": ("numpy_backend", "NumpyBackend"), "numba": ("numba_backend", "NumbaBackend"),
            "cuda": ("cuda_backend", "CudaBackend")}


def backend_names() -> list[str]:
    return ["auto", *BACKENDS]


def resolve(name: str, patterns: int) -> SimBackend:
    """The back end called `name`; ``"auto"`` picks NumPy for small jobs, Numba otherwise
    (never the GPU: ``"cuda"`` is asked for by name)."""
    if name == "auto":
        name = "numpy" if patterns <= AUTO_NUMPY_MAX_PATTERNS else "numba"
    if name not in BACKENDS:
        raise AppMultError(f"unknown backend {name!r} ({', '.join(backend_names())})")
    module, cls = BACKENDS[name]
    return getattr(import_module(f".{module}", __package__), cls)()
