"""CUDA simulation back end against the Numba CPU back end, measured in the same run.

Run (on a machine with a CUDA GPU): ``python benchmarks/bench_sim_cuda.py [--sizes
12,16,20]``. Per size n (an exact n x n multiplier, and one with the partial products of
weight below 2^(n-2) truncated): the full LUT (n <= 12), 100,000 given pairs and the
streamed exact metrics, on both back ends, with their ratio. The CPU is not run on
2^40 patterns (hours); for 20x20 its time is extrapolated from 2^34 patterns, and the
line says so. Kernel compilation is timed separately (once per circuit and process).
Targets on one H200: 16x16 metrics <= 0.5 s, 20x20 <= 60 s, 12x12 LUT <= 20 ms.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import best_of

from appmult_char.generators import multiplier
from appmult_char.metrics import histogram_bins
from appmult_char.sim import simulator


def _metrics_time(sim, words: int | None = None) -> float:
    """Seconds for the streamed metrics (of the first `words` pattern words only, if given)."""
    if words is None:
        return best_of(sim.metrics, repeat=1)
    from appmult_char.sim.backend import resolve

    backend = resolve(sim.backend, 1 << 30)
    bins = histogram_bins(sim.a_bits, sim.b_bits, sim.output_bits)
    t0 = time.perf_counter()
    for w0 in range(0, words, backend.words_per_call):
        backend.stream_metrics(sim.layout, w0, min(words, w0 + backend.words_per_call), bins)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="12,16,20")
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        for t in (0, n - 2):
            net = multiplier(n, n, False, t)
            cpu, gpu = simulator(net, backend="numba"), simulator(net, backend="cuda")
            t0 = time.perf_counter()
            gpu.evaluate(np.zeros(1, np.int64), np.zeros(1, np.int64))  # compiles the pairs kernel
            compile_s = time.perf_counter() - t0
            print(f"{net.name}: {gpu.program.size} instructions, {gpu.program.nslots} slots; "
                  f"compiling the pairs kernel {compile_s:.2f} s", flush=True)
            if n <= 12:
                gpu.lut()
                g, c = best_of(gpu.lut, 5), best_of(cpu.lut, 3, warm_up=True)
                same = np.array_equal(gpu.lut().table, cpu.lut().table)
                print(f"  LUT 2^{2 * n}: cuda {g * 1e3:.2f} ms, numba {c * 1e3:.1f} ms, x{c / g:.1f}, equal {same}",
                      flush=True)
            a, b = np.random.default_rng(0).integers(0, 1 << n, (2, 100_000))
            g = best_of(lambda: gpu.evaluate(a, b), 5)
            c = best_of(lambda: cpu.evaluate(a, b), 3, warm_up=True)
            print(f"  100,000 pairs: cuda {g * 1e3:.2f} ms, numba {c * 1e3:.1f} ms, x{c / g:.1f}, "
                  f"equal {np.array_equal(gpu.evaluate(a, b), cpu.evaluate(a, b))}", flush=True)
            t0 = time.perf_counter()
            _metrics_time(gpu, 64)  # compiles the metrics kernel
            print(f"  compiling the metrics kernel {time.perf_counter() - t0:.2f} s", flush=True)
            g = _metrics_time(gpu)
            words = 1 << (2 * n - 6)
            if n <= 16:
                c = _metrics_time(cpu)
                note = ""
            else:
                part = 1 << 28
                c = _metrics_time(cpu, part) * words / part
                note = f" (extrapolated from 2^{28 + 6} patterns)"
            print(f"  metrics 2^{2 * n}: cuda {g:.3f} s, numba {c:.2f} s{note}, x{c / g:.0f}", flush=True)


if __name__ == "__main__":
    main()
