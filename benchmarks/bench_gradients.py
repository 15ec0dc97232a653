"""Gradient-table benchmark: vectorized tables against the per-entry definition.

Run: ``python benchmarks/bench_gradients.py``. For an 8-bit reference circuit, times the
difference-window tables for W in {2, 4, 8, 16, 32}, STE and LUT-1D in-process, beside a
straightforward per-entry Python implementation of the same definition
(``tests/gradient_reference.py``) run here too, and the whole `appmult-char gradient`
process (simulation and writing the text file included). Targets: <= 20 ms per 8-bit
table in-process, >= 100x the per-entry version.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from _common import REFDATA, ROOT, best_of

from appmult_char import lut1d, simulate, ste, window

sys.path.insert(0, str(ROOT))
from tests.gradient_reference import window_per_entry  # noqa: E402  (the per-entry definition the tests use)





def main():
    blif = REFDATA / "mul8u_2NDH_sop.blif"
    lut = simulate(blif)
    print(f"{'table (8-bit, mul8u_2NDH)':34s} {'ours ms':>9s} {'per-entry ms':>13s} {'speed-up':>9s}")
    for w in (2, 4, 8, 16, 32):
        ours = best_of(lambda: window(lut, w, "reference"), 10)
        t0 = time.perf_counter()
        ref_a, ref_b = window_per_entry(lut.table, w, "reference")
        per_entry = time.perf_counter() - t0
        tables = window(lut, w, "reference")
        assert np.array_equal(tables.grad_a, ref_a) and np.array_equal(tables.grad_b, ref_b)
        print(f"{f'window W={w} (both tables)':34s} {ours * 1e3:9.2f} {per_entry * 1e3:13.0f} {per_entry / ours:8.0f}x")
    print(f"{'ste (both tables)':34s} {best_of(lambda: ste(lut)) * 1e3:9.2f}")
    for variant, w in (("slope", 0), ("slope", 8), ("mean", 8)):
        print(f"{f'lut1d {variant} W={w}':34s} {best_of(lambda: lut1d(lut, w, variant)) * 1e3:9.2f}")
    print(f"{'quantize round(16 g) (both)':34s} {best_of(lambda: tables.quantized()) * 1e3:9.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["appmult-char", "gradient", str(blif), "-o", os.path.join(tmp, "g.txt"), "--half-window", "8"]
        subprocess.run(cmd, check=True, capture_output=True)
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            runs.append(time.perf_counter() - t0)
    print(f"{'CLI gradient W=8, whole process':34s} {statistics.median(runs) * 1e3:9.0f}   "
          "(parse + simulate + tables + 3 x 65,536-line text file)")


if __name__ == "__main__":
    main()
