"""Core engine benchmark: Numba kernels against a plain-NumPy bit-parallel baseline.

Run: ``python benchmarks/bench_core.py [--skip-16]``. Prints one row per measurement with
the NumPy baseline measured in the same run and the ratio between them, then whole
``appmult-char`` processes (median wall time, peak RSS) beside the import floor and the
library call. Targets (see docs/performance.md): 8-bit LUT <= 5 ms in-process, 12x12
LUT <= 1 s and <= 300 MB, 16x16 streamed metrics <= 5 min on 2 cores; whole commands:
12x12 to .npz <= 1 s and <= 300 MB, to text <= 3 s and <= 300 MB, one 8-bit circuit
within 50 ms of ``python -c "import numpy, click"``.
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

from _common import REFDATA, ROOT, best_of

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
    backend, bins = NumpyBackend(), histogram_bins(sim.a_bits, sim.b_bits, sim.output_bits)
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


#: Runs a Python command line (``-c CODE`` or ``-m MODULE``, then its arguments) and, at
#: exit, writes the process's peak RSS to the file named by APPMULT_CHAR_BENCH_HWM. The
#: kernel's peak counter is reset first, so the peak inherited through fork is not counted.
_PEAK_RUNNER = """
import atexit, os, runpy, sys
open('/proc/self/clear_refs', 'w').write('5')
def _peak():
    status = open('/proc/self/status').read()
    open(os.environ['APPMULT_CHAR_BENCH_HWM'], 'w').write(status.split('VmHWM:')[1].split()[0])
atexit.register(_peak)
mode, target, *sys.argv[1:] = sys.argv[1:]
if mode == '-c':
    sys.argv[0] = '-c'
    exec(compile(target, '<string>', 'exec'), {'__name__': '__main__'})
else:
    sys.argv[0] = target
    runpy.run_module(target, run_name='__main__', alter_sys=True)
"""


def run_command(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one whole ``python ARGS`` process."""
    with tempfile.NamedTemporaryFile("r") as hwm:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: cached bytecode
        env["APPMULT_CHAR_BENCH_HWM"] = hwm.name
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _PEAK_RUNNER, *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env)
        elapsed = time.perf_counter() - t0
        if proc.returncode:
            raise SystemExit(f"failed ({proc.returncode}): python {' '.join(args)}")
        return elapsed, int(hwm.read() or 0) / 1024


def command_median(cmd: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time and the largest peak RSS over `repeat` runs (after one warm-up run)."""
    run_command(cmd)
    runs = [run_command(cmd) for _ in range(repeat)]
    return statistics.median(t for t, _ in runs), max(m for _, m in runs)


def huge_covers(folder: str, nodes: int, cubes: int) -> str:
    """A BLIF of `nodes` outputs, each one cover of `cubes` random cubes over 16 inputs."""
    rng = np.random.default_rng(1)
    inputs = [f"a[{i}]" for i in range(8)] + [f"b[{i}]" for i in range(8)]
    lines = [".model huge", ".inputs " + " ".join(inputs), ".outputs " + " ".join(f"p[{j}]" for j in range(nodes))]
    for j in range(nodes):
        lines.append(".names " + " ".join(inputs) + f" p[{j}]")
        codes = np.array(list("01--"))[rng.integers(0, 4, (cubes, 16))]
        lines += ["".join(row) + " 1" for row in codes]
    path = os.path.join(folder, "huge.blif")
    with open(path, "w") as fh:
        fh.write("\n".join(lines + [".end"]) + "\n")
    return path


def minterm_multiplier(folder: str, bits: int) -> str:
    """An exact bits x bits multiplier written as one minterm cover per product bit."""
    inputs = [f"a[{i}]" for i in range(bits)] + [f"b[{i}]" for i in range(bits)]
    lines = [".model lut", ".inputs " + " ".join(inputs), ".outputs " + " ".join(f"p[{j}]" for j in range(2 * bits))]
    a, b = np.divmod(np.arange(1 << (2 * bits)), 1 << bits)
    patterns = [format(int(x), f"0{bits}b")[::-1] + format(int(y), f"0{bits}b")[::-1] for x, y in zip(a, b)]
    for j in range(2 * bits):
        lines.append(".names " + " ".join(inputs) + f" p[{j}]")
        lines += [f"{p} 1" for p, v in zip(patterns, a * b) if v >> j & 1]
    path = os.path.join(folder, "minterms.blif")
    with open(path, "w") as fh:
        fh.write("\n".join(lines + [".end"]) + "\n")
    return path


#: Whole-command figures before this round of work (same machine, idle): seconds, MB.
BEFORE = {"8npz": (0.265, None), "8txt": (0.30, None), "12npz": (8.6, 1080), "12txt": (14.0, 2800),
          "16metrics": (45.0, None)}


def whole_commands(skip_16: bool) -> None:
    """Whole `appmult-char` processes as a user runs them, beside the import floor and the
    library call measured in the same run."""
    exe = ["-m", "appmult_char.cli"]
    floor, floor_mb = command_median(["-c", "import numpy, click"], 7)
    row("floor: python -c 'import numpy, click'", floor, None, extra=f"peak {floor_mb:.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        trunc6 = ROOT / "circuits" / "mul8x8u_trunc6.blif"
        exact12 = ROOT / "circuits" / "mul12x12u_exact.blif"
        for key, blif, suffix, repeat in (("8npz", trunc6, "npz", 7), ("8txt", trunc6, "txt", 7),
                                          ("12npz", exact12, "npz", 3), ("12txt", exact12, "txt", 3)):
            t, mb = command_median([*exe, "simulate", str(blif), "-o", os.path.join(tmp, f"x.{suffix}")], repeat)
            before_t, before_mb = BEFORE[key]
            was = f"was {before_t} s" + (f", {before_mb} MB" if before_mb else "")
            row(f"simulate {blif.stem} -o .{suffix} (whole process)", t, None,
                extra=f"peak {mb:.0f} MB; floor + {1000 * (t - floor):.0f} ms; {was}")
        sim = Simulator(exact_multiplier(12, 12), backend="numba")
        sim.lut().metrics()
        t = best_of(lambda: sim.lut().metrics(), 3)
        row("  library: 12x12 LUT + metrics, warm", t, None)
        covers = {"16 random covers x 20,000 cubes of 16 fanins": huge_covers(tmp, 16, 20_000),
                  "8x8 LUT as minterm covers (16 x ~27,000 cubes)": minterm_multiplier(tmp, 8)}
        for what, path in covers.items():
            t, mb = run_command([*exe, "info", path])
            row(f"info: {what}", t, None, extra=f"peak {mb:.0f} MB; was about 300 s for the first")
    if not skip_16:
        t, mb = run_command([*exe, "metrics", str(ROOT / "circuits" / "mul16x16u_trunc14.blif")])
        row("metrics mul16x16u_trunc14 (whole process)", t, None,
            extra=f"peak {mb:.0f} MB; was {BEFORE['16metrics'][0]} s")


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
    whole_commands(args.skip_16)


if __name__ == "__main__":
    main()
