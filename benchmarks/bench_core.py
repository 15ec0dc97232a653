"""Core engine benchmark: Numba kernels against a plain-NumPy bit-parallel baseline.

Run: ``python benchmarks/bench_core.py [--skip-16]``. Prints one row per measurement with
the NumPy baseline measured in the same run and the ratio between them. Targets (see
docs/performance.md): 8-bit LUT <= 5 ms in-process, 12x12 LUT <= 1 s and <= 300 MB,
16x16 streamed metrics <= 5 min on 2 cores, CLI for one 8-bit circuit near 0.15 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from _common import REFDATA, best_of

from appmult_char import Simulator, read_blif
from appmult_char.generators import exact_multiplier, truncated_multiplier
from appmult_char.metrics import histogram_bins
from appmult_char.sim.numpy_backend import NumpyBackend


def numpy_lut(sim: Simulator) -> np.ndarray:
    """Baseline: the same program, one NumPy array operation per instruction."""
    out = np.empty(1 << (sim.a_bits + sim.b_bits), dtype=np.int64)
    NumpyBackend().exhaustive(sim.layout, out)
    return out


def numpy_metrics_fraction(sim: Simulator, words: int) -> float:
    """Baseline for streamed metrics: seconds for the first `words` pattern words on the
    NumPy back end (the same exact sums as the Numba kernels)."""
    backend, bins = NumpyBackend(), histogram_bins(sim.a_bits, sim.b_bits)
    t0 = time.perf_counter()
    for w0 in range(0, words, backend.words_per_call):
        backend.stream_metrics(sim.layout, w0, min(words, w0 + backend.words_per_call), bins)
    return time.perf_counter() - t0


rows = []


def row(what, ours, baseline=None, unit="s", extra=""):
    ratio = f"{baseline / ours:8.1f}x" if baseline else "        -"
    base = f"{baseline:10.4f}" if baseline else "         -"
    rows.append(f"{what:44s} {ours:10.4f} {base} {ratio}  {unit} {extra}")
    print(rows[-1], flush=True)


def peak_rss_12x12() -> tuple[float, float]:
    """(RSS after warm-up, peak RSS after the 12x12 LUT) of a fresh process, in MB."""
    code = (
        "open('/proc/self/clear_refs', 'w').write('5')  # forget the peak inherited through fork\n"
        "import resource, numpy as np\n"
        "from appmult_char import Simulator\n"
        "from appmult_char.generators import exact_multiplier\n"
        "Simulator(exact_multiplier(4, 4), backend='numba').lut()\n"
        "peak = lambda: int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
        "before = peak()\n"
        "sim = Simulator(exact_multiplier(12, 12), backend='numba')\n"
        "lut = sim.lut()\n"
        "after = peak()\n"
        "print(before / 1024, after / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after = map(float, out.split())
    return before, after


def cli_time(blif, repeat=7) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["appmult-char", "simulate", str(blif), "-o", os.path.join(tmp, "x.npz")]
        subprocess.run(cmd, check=True, capture_output=True)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-16", action="store_true", help="skip the 16x16 streamed metrics (about a minute)")
    args = parser.parse_args()
    print(f"{'measurement':44s} {'ours':>10s} {'numpy':>10s} {'speed-up':>9s}", flush=True)

    blif = REFDATA / "mul8u_1DMU_sop.blif"
    sim = Simulator(read_blif(blif), backend="numba")
    sim.lut()  # warm-up: loads (or compiles) the kernels
    t = best_of(sim.lut, 20)
    tb = best_of(lambda: numpy_lut(sim), 5)
    gate_evals = sim.program.size * (1 << 16)
    row("8-bit LUT in-process (mul8u_1DMU)", t, tb, extra=f"{gate_evals / t / 1e9:.2f} G gate-patterns/s")

    circuits = sorted(REFDATA.glob("*_sop.blif"))
    t0 = time.perf_counter()
    for path in circuits:
        Simulator(read_blif(path), backend="numba").lut()
    t = time.perf_counter() - t0
    t0 = time.perf_counter()
    for path in circuits:
        numpy_lut(Simulator(read_blif(path), backend="numpy"))
    tb = time.perf_counter() - t0
    row(f"batch of {len(circuits)} reference circuits (parse+sim)", t, tb)

    for n in (10, 12):
        sim = Simulator(exact_multiplier(n, n), backend="numba")
        t = best_of(sim.lut, 3)
        tb = best_of(lambda: numpy_lut(sim), 1)
        gate_evals = sim.program.size * (1 << (2 * n))
        row(f"{n}x{n} exact full LUT", t, tb, extra=f"{gate_evals / t / 1e9:.2f} G gate-patterns/s")
    before, after = peak_rss_12x12()
    row("12x12 LUT peak RSS (MB), fresh process", after, None, "MB",
        f"(RSS after import+warm-up {before:.0f} MB; LUT itself 64 MB)")

    t = cli_time(REFDATA / "mul8u_1DMU_sop.blif")
    base = statistics.median(
        [best_of(lambda: subprocess.run([sys.executable, "-c", "import numpy, click"], check=True), 1)
         for _ in range(5)])
    row("CLI simulate one 8-bit circuit (whole process)", t, None,
        extra=f"(python -c 'import numpy, click' alone: {base:.3f} s)")

    if not args.skip_16:
        netlist = truncated_multiplier(16, 16, 14)
        sim = Simulator(netlist, backend="numba")
        Simulator(truncated_multiplier(8, 8, 6), backend="numba").metrics()  # warm-up
        t0 = time.perf_counter()
        metrics = sim.metrics()
        t = time.perf_counter() - t0
        fraction_words = 1 << 14  # 2^20 patterns
        tb = numpy_metrics_fraction(sim, fraction_words) * ((1 << 26) / fraction_words)
        gate_evals = sim.program.size * (1 << 32)
        row("16x16 streamed metrics (trunc14, 2 cores)", t, tb,
            extra=f"{gate_evals / t / 1e9:.2f} G gate-patterns/s; numpy extrapolated from 2^20 patterns; "
                  f"ER {metrics.er:.6f} MED {metrics.med:.3f}")


if __name__ == "__main__":
    main()
