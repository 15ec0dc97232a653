"""Retraining experiments: what each gradient (and the HTP forward) buys, per multiplier,
dataset and seed, with equal budgets. Regenerates the results section of
docs/retraining.md and docs/retraining.png.

Run: ``python benchmarks/bench_retraining.py [--quick] [--seeds N]``. Every run is cached
in ``benchmarks/.retraining/`` (results by run key, float models by dataset and seed), so
an interrupted run continues and a re-run only redoes what changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
import warnings

from _common import REFDATA, ROOT

from appmult_char import read_blif, simulate
from appmult_char.generators import multiplier
from appmult_char.gradients import sweep
from appmult_char.nn.recipes import RetrainConfig, retrain
from appmult_char.surrogates import drum_lut, mitchell_lut

warnings.simplefilter("ignore")
CACHE = ROOT / "benchmarks" / ".retraining"
DOC = ROOT / "docs" / "retraining.md"
DATASETS = {  # equal budgets for every method: float, QAT with the exact multiplier, retraining
    "digits": dict(model="cnn", float_epochs=15, qat_epochs=1, epochs=3, lr=1e-3),
    "mnist1d": dict(model="cnn1d", float_epochs=30, qat_epochs=1, epochs=3, lr=3e-3),
}
WINDOWS = [1, 2, 4, 8, 16]


def multipliers(quick: bool) -> dict:
    """name -> ProductLUT: the reference circuits, truncated and logarithmic designs."""
    luts = {}
    if not quick:
        for path in sorted(REFDATA.glob("*_sop.blif")):
            luts[path.name.removesuffix("_sop.blif")] = simulate(read_blif(path))
    for bits, t in ((7, 8), (7, 9), (8, 9), (8, 10)):
        luts[f"trunc{bits}x{bits}_t{t}"] = simulate(multiplier(bits, bits, False, t))
    luts["mitchell7_k3"] = mitchell_lut(7, 3)
    luts["drum7_k3"] = drum_lut(7, 3)
    luts["mitchell8_k4"] = mitchell_lut(8, 4)
    luts["drum8_k3"] = drum_lut(8, 3)
    return luts


def best_window(lut) -> int:
    """The half window with the lowest first-order prediction error (the CLI's heuristic)."""
    return min(sweep(lut, "window", WINDOWS), key=lambda e: e.score).half_window


def run(lut, dataset: str, seed: int, gradient: str, forward: str = "lut", weight_quant: str = "per_channel") -> dict:
    config = RetrainConfig(dataset=dataset, gradient=gradient, forward=forward, seed=seed, weight_quant=weight_quant,
                           **DATASETS[dataset])
    key = hashlib.sha256(json.dumps([lut.hash, repr(config)]).encode()).hexdigest()[:20]
    path = CACHE / "runs" / f"{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    float_cache = CACHE / "float" / f"{dataset}_{config.model}_s{seed}_e{config.float_epochs}.pt"
    float_cache.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = retrain(lut, config, float_cache=float_cache)["accuracy"]
    result["seconds"] = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return result


def fmt(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="generated multipliers only")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    seeds = range(args.seeds)
    luts = multipliers(args.quick)
    started = time.perf_counter()
    rows = []
    methods = {"STE": lambda w: ("ste", "lut"), "window W*": lambda w: (f"window:{w}", "lut"),
               "LUT-1D": lambda w: ("lut1d", "lut"), "HTP fwd + window W*": lambda w: (f"window:{w}", "htp")}
    for dataset in DATASETS:
        # MNIST-1D: the generated designs (the reference circuits cost almost nothing on digits)
        names = list(luts) if dataset == "digits" else [n for n in luts if n.startswith(("trunc", "mitchell", "drum"))]
        for name in names:
            lut = luts[name]
            w = best_window(lut)
            cells = {}
            for method, spec in methods.items():
                gradient, forward = spec(w)
                base = [run(lut, dataset, s, gradient, forward) for s in seeds]
                cells[method] = [r["approx_after"] for r in base]
                print(f"{dataset:8s} {name:36s} {method:20s} {fmt(cells[method])}", flush=True)
            row = {"dataset": dataset, "multiplier": name, "W": w, "MED": float(abs(lut.error()).mean()),
                   "float": [r["float"] for r in base], "exact_quant": [r["exact_quant"] for r in base],
                   "before": [r["approx_before"] for r in base], **cells}
            rows.append(row)
    # per-tensor against per-channel weights, and a half-window sweep, on digits
    quant_rows = []
    for name in [n for n in luts if n.startswith("trunc")]:
        for gradient in ("ste", f"window:{best_window(luts[name])}"):
            per_tensor = [run(luts[name], "digits", s, gradient, weight_quant="per_tensor") for s in seeds]
            per_channel = [run(luts[name], "digits", s, gradient) for s in seeds]
            quant_rows.append((name, gradient, [r["approx_before"] for r in per_tensor],
                               [r["approx_after"] for r in per_tensor], [r["approx_before"] for r in per_channel],
                               [r["approx_after"] for r in per_channel]))
            print("quant", name, gradient, fmt(quant_rows[-1][3]), fmt(quant_rows[-1][5]), flush=True)
    sweep_rows = []
    for name in ("trunc7x7_t9", "mitchell7_k3"):
        accs = {w: [run(luts[name], "digits", s, f"window:{w}")["approx_after"] for s in seeds] for w in WINDOWS}
        sweep_rows.append((name, best_window(luts[name]), accs))
        print("sweep", name, {w: fmt(a) for w, a in accs.items()}, flush=True)
    elapsed = time.perf_counter() - started
    write_doc(rows, quant_rows, sweep_rows, list(methods), len(seeds), elapsed)
    plot(rows, list(methods))


def write_doc(rows, quant_rows, sweep_rows, methods, seeds, elapsed) -> None:
    lines = [f"Test accuracy (%), mean ± standard deviation over {seeds} seeds (0..{seeds - 1}); every layer "
             "approximate, 7/8-bit affine activations per tensor, weights per channel. *Before*: the QAT model "
             "with the multiplier swapped in; the method columns: after retraining, measured with the LUT "
             "forward. W* is the half window with the lowest first-order prediction error. "
             f"Regenerated by `python benchmarks/bench_retraining.py` in {elapsed / 60:.0f} min of this run "
             "(cached runs not counted).", ""]
    for dataset, setting in DATASETS.items():
        lines += [f"### {dataset} ({setting['model']}: {setting['float_epochs']} float epochs, {setting['qat_epochs']} "
                  f"QAT, {setting['epochs']} retraining epochs, Adam lr {setting['lr']})", "",
                  "| multiplier | MED | W* | float | exact quantized | before | " + " | ".join(methods) + " |",
                  "|---|---:|---:|---:|---:|---:|" + "---:|" * len(methods)]
        for r in (r for r in rows if r["dataset"] == dataset):
            best = max(methods, key=lambda m: statistics.mean(r[m]))
            cells = [(f"**{fmt(r[m])}**" if m == best else fmt(r[m])) for m in methods]
            lines.append(f"| {r['multiplier']} | {r['MED']:.1f} | {r['W']} | {fmt(r['float'])} | {fmt(r['exact_quant'])} "
                         f"| {fmt(r['before'])} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["### Per-tensor against per-channel weights (digits)", "",
              "| multiplier | gradient | per tensor: before | after | per channel: before | after |",
              "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {n} | {g} | {fmt(a)} | {fmt(b)} | {fmt(c)} | {fmt(d)} |" for n, g, a, b, c, d in quant_rows]
    lines += ["", "### Half-window sweep (digits, window gradient)", "",
              "| multiplier | W* | " + " | ".join(f"W={w}" for w in WINDOWS) + " |", "|---|---:|" + "---:|" * len(WINDOWS)]
    lines += [f"| {n} | {w} | " + " | ".join(fmt(a[x]) for x in WINDOWS) + " |" for n, w, a in sweep_rows]
    text = DOC.read_text()
    start, end = "<!-- results: generated by benchmarks/bench_retraining.py -->", "<!-- /results -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    DOC.write_text(head + start + "\n\n" + "\n".join(lines) + "\n\n" + end + tail)


def plot(rows, methods) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(len(DATASETS), 1, figsize=(13, 4.5 * len(DATASETS)), constrained_layout=True)
    for ax, dataset in zip(np.atleast_1d(axes), DATASETS):
        subset = [r for r in rows if r["dataset"] == dataset]
        x = np.arange(len(subset))
        series = ["before"] + methods
        width = 0.8 / len(series)
        for i, key in enumerate(series):
            ax.bar(x + i * width, [statistics.mean(r[key]) for r in subset], width,
                   yerr=[statistics.stdev(r[key]) if len(r[key]) > 1 else 0 for r in subset], label=key)
        ax.plot(x + 0.4, [statistics.mean(r["exact_quant"]) for r in subset], "k_", markersize=14,
                label="exact quantized")
        ax.set_xticks(x + 0.4, [r["multiplier"] for r in subset], rotation=30, ha="right", fontsize=8)
        ax.set(ylabel="test accuracy (%)", title=dataset)
        ax.legend(fontsize=7, ncol=3)
    fig.savefig(ROOT / "docs" / "retraining.png", dpi=80)


if __name__ == "__main__":
    sys.exit(main())
