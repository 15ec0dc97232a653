"""Surrogate models: the fidelity table of the reference circuits, fit time, and
prediction throughput of an HTP model against a LUT gather.

Run: ``python benchmarks/bench_surrogates.py``. Prints the Markdown table recorded in
docs/surrogates.md (MAE and terms per circuit for HTP, linear and noise, all pairs), then
timings: the full-grid HTP fit of an 8-bit circuit (target <= 2 s) and, on the same 2^24
operand pairs, HTP ``predict`` (float64 NumPy) against ``lut.table[a, b]`` (a NumPy
gather), the baseline measured in the same run.
"""

from __future__ import annotations


import numpy as np

from _common import REFDATA, best_of

from appmult_char import HTPModel, simulate
from appmult_char.lut import operand_values
from appmult_char.surrogates import fidelity_report, training_pairs





def main():
    print("| circuit | HTP MAE | HTP terms | HTP (l, k) | linear MAE | noise MAE | HTP error rate |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for blif in sorted(REFDATA.glob("*_sop.blif")):
        report, models = fidelity_report(simulate(blif))
        r = report["models"]
        htp = models["htp"]
        print(f"| {blif.name.removesuffix('_sop.blif')} | {r['htp']['mae']:.2f} | {r['htp']['terms']} | "
              f"({htp.l_}, {htp.k_}) | {r['linear']['mae']:.2f} | {r['noise']['mae']:.2f} | "
              f"{r['htp']['error_rate']:.4f} |")

    lut = simulate(REFDATA / "mul8u_2NDH_sop.blif")
    X, y = training_pairs(lut)
    fit = best_of(lambda: HTPModel(a_bits=8, b_bits=8).fit(X, y))
    tied = best_of(lambda: HTPModel(tie=True, a_bits=8, b_bits=8).fit(X, y))
    print(f"\nHTP fit, 8-bit mul8u_2NDH, all 65,536 pairs: full 8x8 grid {fit:.3f} s, tied grid {tied:.3f} s")

    model = HTPModel(a_bits=8, b_bits=8).fit(X, y)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, 1 << 24)
    b = rng.integers(0, 256, 1 << 24)
    pairs = np.stack([operand_values(8, False).astype(np.float64)[v] for v in (a, b)], axis=1)
    t_htp = best_of(lambda: model.predict(pairs))
    t_lut = best_of(lambda: lut.table[a, b])
    print(f"predict 2^24 pairs: HTP ({len(model.terms)} terms) {t_htp * 1e3:.0f} ms "
          f"({(1 << 24) / t_htp / 1e6:.0f} M/s), LUT gather {t_lut * 1e3:.0f} ms "
          f"({(1 << 24) / t_lut / 1e6:.0f} M/s): HTP/LUT time ratio {t_htp / t_lut:.2f}")


if __name__ == "__main__":
    main()
