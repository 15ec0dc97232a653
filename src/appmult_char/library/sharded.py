"""The streamed metrics of one wide circuit, sharded by pattern range over an `Executor`.

The pattern words are cut into chunks (the back end's `words_per_call`, or
`chunk_words`); each task simulates a contiguous run of chunks and returns each chunk's
exact `ErrorSums`; the sums are added in chunk order, as `Simulator.metrics` adds them,
so the result equals the single-process run bit for bit (the float relative-error sum
included) whatever the number of workers. The netlist travels with the tasks as BLIF
text: workers need no shared file system.
"""

from __future__ import annotations

from typing import Any

from ..io.blif import format_blif, parse_blif
from ..metrics import ErrorMetrics, ErrorSums, histogram_bins
from ..sim import load_circuit, simulator
from ..sim.backend import resolve
from .executors import Executor, LocalExecutor

__all__ = ["sharded_metrics"]


def _chunk_sums(item: tuple[int, int], blif: str, words: int, chunk: int, signed: bool, backend: str,
                mapping: dict) -> list[ErrorSums]:
    """The `ErrorSums` of chunks ``[first, last)`` of `chunk` words each."""
    first, last = item
    sim = simulator(parse_blif(blif), signed=signed, backend=backend, **mapping)
    engine = resolve(backend, sim.layout.patterns)
    bins = histogram_bins(sim.a_bits, sim.b_bits, sim.output_bits)
    return [engine.stream_metrics(sim.layout, c * chunk, min(words, (c + 1) * chunk), bins) for c in range(first, last)]


def sharded_metrics(circuit: Any, executor: Executor | None = None, *, shards: int | None = None,
                    chunk_words: int | None = None, signed: bool = False, backend: str = "numba",
                    progress=None, **mapping: Any) -> ErrorMetrics:
    """Exact error metrics of `circuit` (a `Netlist` or a BLIF/Verilog path) computed on
    `executor` in `shards` tasks (default: four per worker); `progress(patterns)` hears
    each finished task."""
    netlist = load_circuit(circuit)
    sim = simulator(netlist, signed=signed, backend=backend, **mapping)
    words = -(-sim.layout.patterns // 64)
    chunk = chunk_words or resolve(backend, sim.layout.patterns).words_per_call
    chunks = -(-words // chunk)
    executor = executor or LocalExecutor()
    shards = min(chunks, shards or 4 * executor.workers)
    bounds = [(s * chunks // shards, (s + 1) * chunks // shards) for s in range(shards)]
    parts: dict[int, list[ErrorSums]] = {}
    for i, result in executor.map(_chunk_sums, bounds, format_blif(netlist), words, chunk, signed, backend, mapping):
        if isinstance(result, BaseException):
            raise result
        parts[i] = result
        if progress is not None:
            progress(sum(p.pairs for p in result))
    sums = ErrorSums()
    for i in range(len(bounds)):
        for part in parts[i]:
            sums = sums + part
    return ErrorMetrics.from_sums(sums, sim.a_bits, sim.b_bits, signed, sim.output_bits)
