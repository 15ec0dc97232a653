"""Multiplier selection on the retraining recipes' networks: how well the first-order
estimates rank the measured loss changes, and what the selected assignments keep.

Run: ``python benchmarks/bench_selection.py [--datasets digits,mnist1d] [--seeds 0,1,2]
[--budgets 0.08,0.12,0.2,0.3,0.5]`` (CPU, under a minute on 2 cores; writes the raw
results to ``benchmarks/.selection.json`` and the scatter plot to ``docs/selection.png``). Per dataset and seed: a float model (`cnn` on digits,
`cnn1d` on MNIST-1D) trained for ``--float-epochs``, converted to 8x8-bit exact
quantization (per-channel weights, every layer) and trained ``--qat-epochs`` more
(`nn.recipes.exact_quantized`: Adam, learning rate 1e-3, batch 64); one calibration
batch of 256 training samples. Then:

- for every (layer, candidate) pair of the library (the generated exact, truncated and
  broken-array 8x8 multipliers, DRUM-k and Mitchell-k): the first-order estimate
  ``<G, E>`` and the loss change measured with that one layer approximate, on the
  calibration batch; Spearman rank correlations (signed values, and magnitudes);
- the same with the second-order term (top eigenpair of the error-vector Hessian,
  20 power steps on the calibration batch);
- at each energy budget (energy: the netlist activity estimate, so only candidates with
  a netlist take part): test accuracy with the program's choice (first-order magnitude;
  first-order magnitude plus the second-order term; first plus second order signed, as
  published; the second also after `calibrate_substitution` on 1024 training samples, and
  instead retrained for ``--retrain-epochs`` on the whole training set, LUT forward and
  window gradients, each timed),
  the best uniform choice
  (one multiplier everywhere, the least estimated change that fits) and the program with
  each candidate's MRED as the cost (ranking by a metric instead of the layer's
  gradients); no calibration or retraining after the substitution;
- seconds for the statistics, the estimates of every pair, and the program.

``--speed N [--model cnn|resnet20|resnet18] [--device cuda] [--batch B]`` only times
statistics, estimates and the program for an N-candidate library on the digits CNN or a
CIFAR-shaped ResNet with random weights.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from scipy.stats import spearmanr

from appmult_char import drum_lut, mitchell_lut
from appmult_char.nn.recipes import RetrainConfig, evaluate, exact_quantized
from appmult_char.select import (Candidate, activity_pdp, assign, calibrate_substitution, first_order,
                                 generated_library, layer_statistics, second_order, solve, top_eigenpairs)

BITS = 8
MODELS = {"digits": "cnn", "mnist1d": "cnn1d"}


def library() -> list[Candidate]:
    cands = generated_library(BITS, BITS)
    cands += [Candidate(lut.name, lut) for lut in [drum_lut(BITS, k) for k in (3, 4, 5, 6)]
              + [mitchell_lut(BITS, k) for k in (3, 4, 5, 6, 8)]]
    return cands


def loss_of(model, batch) -> float:
    model.eval()
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(model(batch[0]), batch[1]))


def run(dataset: str, seed: int, args, cands: list[Candidate]) -> dict:
    config = RetrainConfig(dataset=dataset, model=MODELS[dataset], float_epochs=args.float_epochs,
                           qat_epochs=args.qat_epochs, seed=seed)
    q, data = exact_quantized(config, BITS, BITS)
    pick = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(100 + seed))[:256]
    batch = (data.x_train[pick], data.y_train[pick])
    t0 = time.perf_counter()
    stats = layer_statistics(q, [batch])
    t1 = time.perf_counter()
    estimates = first_order(stats, cands)
    t2 = time.perf_counter()
    second = second_order(top_eigenpairs(q, batch), estimates, cands)
    t_second = time.perf_counter() - t2
    base = loss_of(assign(q, {}), batch)
    est, both, meas = [], [], []
    for layer, (names, values) in estimates.items():
        for name, value, extra in zip(names, values, second[layer][1]):
            lut = next(c.lut for c in cands if c.name == name)
            est.append(value)
            both.append(value + extra)
            meas.append(loss_of(assign(q, {layer: lut}), batch) - base)
    est, both, meas = np.array(est), np.array(both), np.array(meas)
    result = {"dataset": dataset, "seed": seed, "layers": len(stats), "pairs": len(est),
              "accuracy_exact_quantized": evaluate(q, data),
              "spearman_signed": float(spearmanr(est, meas).statistic),
              "spearman_magnitude": float(spearmanr(np.abs(est), np.abs(meas)).statistic),
              "spearman_second_order": float(spearmanr(both, meas).statistic),
              "seconds_statistics": t1 - t0, "seconds_estimates": t2 - t1, "seconds_second_order": t_second,
              "pairs_est_meas": [est.tolist(), meas.tolist()], "pairs_both": both.tolist()}
    # selection at equal budgets, candidates with a netlist (the activity estimate needs one)
    hw = [c for c in cands if c.netlist is not None]
    layers = list(stats)
    pdp = {(l, c.name): activity_pdp(c.netlist, stats[l].counts) for l in layers for c in hw}
    energy = [np.array([pdp[l, c.name] * stats[l].multiplications for c in hw]) for l in layers]
    exact_energy = sum(e[0] for e in energy)  # generated_library puts the exact multiplier first
    est_by = {l: dict(zip(*estimates[l])) for l in layers}
    both_by = {l: dict(zip(estimates[l][0], estimates[l][1] + second[l][1])) for l in layers}
    cost_est = [np.abs([est_by[l][c.name] for c in hw]) for l in layers]
    cost_both = [np.array([both_by[l][c.name] for c in hw]) for l in layers]  # signed, as published
    cost_bound = [np.abs([est_by[l][c.name] for c in hw]) + np.array([both_by[l][c.name] - est_by[l][c.name] for c in hw])
                  for l in layers]  # |first| + second
    mred = np.array([c.lut.metrics().mred for c in hw])
    rows = []
    for budget in args.budgets:
        t3 = time.perf_counter()
        chosen = solve(cost_est, energy, budget * exact_energy)
        t4 = time.perf_counter()
        with_second = solve(cost_bound, energy, budget * exact_energy)
        signed_second = solve(cost_both, energy, budget * exact_energy)
        by_mred = solve([mred] * len(layers), energy, budget * exact_energy)
        fits = [k for k in range(len(hw)) if sum(e[k] for e in energy) <= budget * exact_energy]
        uniform = min(fits, key=lambda k: sum(c[k] for c in cost_est)) if fits else None
        row = {"budget": budget, "seconds_program": t4 - t3}
        for label, choice in (("program", chosen), ("program_2nd", with_second),
                              ("program_2nd_signed", signed_second), ("mred_rank", by_mred),
                              ("uniform", None if uniform is None else [uniform] * len(layers))):
            if choice is None:
                row[label] = None
                continue
            model = assign(q, {l: hw[k].lut for l, k in zip(layers, choice)})
            row[label] = {"accuracy": evaluate(model, data), "energy_ratio": sum(e[k] for e, k in zip(energy, choice))
                          / exact_energy, "assignment": [hw[k].name for k in choice]}
            if label == "program_2nd":  # and after calibration on 1024 training samples
                t5 = time.perf_counter()
                calibrate_substitution(model, assign(q, {}), [data.x_train[i:i + 256] for i in range(0, 1024, 256)])
                row["calibrated"] = {"accuracy": evaluate(model, data), "seconds": time.perf_counter() - t5}
                row["retrained"] = _retrained(q, {l: hw[k].lut for l, k in zip(layers, choice)}, data, seed,
                                              args.retrain_epochs)
        rows.append(row)
    result["selection"] = rows
    return result


def _perturbed_library(size: int, rng) -> list[Candidate]:
    """The generated designs plus perturbed copies of the exact LUT up to `size`."""
    from appmult_char import ProductLUT

    cands = generated_library(BITS, BITS)
    exact = ProductLUT.exact(BITS, BITS).table.astype(np.int64)
    while len(cands) < size:
        table = exact + rng.integers(-40, 41, exact.shape) * (rng.random(exact.shape) < 0.3)
        cands.append(Candidate(f"perturbed{len(cands)}", ProductLUT(table, BITS, BITS)))
    return cands


def _resnet(name: str, device: str, batch_size: int):
    """A CIFAR-shaped ResNet with random weights, 8x8-bit exact quantization on every
    layer, activation ranges observed on one random batch; and a random batch."""
    from appmult_char import ProductLUT
    from appmult_char.nn import Multiplier, approximate, calibrate
    from appmult_char.nn.models import build_model

    torch.manual_seed(0)
    model = build_model(name, (3, 32, 32)).to(device)
    q = approximate(model, Multiplier(ProductLUT.exact(BITS, BITS), name="exact"), forward="exact", gradient="ste")
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    calibrate(q, [x])
    return q, (x, torch.randint(0, 10, (batch_size,), device=device))


def _retrained(q, assignment: dict, data, seed: int, epochs: int) -> dict:
    """The substitution retrained instead of calibrated: `epochs` over the whole training
    set with the LUT forward and window gradients (the retraining recipe's defaults:
    Adam, learning rate 1e-3, batch 64)."""
    from appmult_char.nn import set_mode
    from appmult_char.nn.recipes import train_epoch

    t0 = time.perf_counter()
    model = set_mode(assign(q, assignment), "lut", "window")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        train_epoch(model, optimizer, data, generator, 64)
    return {"accuracy": evaluate(model, data), "seconds": time.perf_counter() - t0}


def speed(size: int, model_name: str, device: str, batch_size: int) -> None:
    """Seconds for statistics, estimates and the program with a `size`-candidate library
    (the generated designs plus perturbed copies of the exact LUT, with made-up energies
    from a table: the timing, not the choice, is the point): on the digits CNN (trained
    briefly) or a CIFAR-shaped ResNet with random weights and data."""
    from appmult_char.select import Selection

    if model_name == "cnn":
        config = RetrainConfig(dataset="digits", model="cnn", float_epochs=3, qat_epochs=1, seed=0)
        q, data = exact_quantized(config, BITS, BITS, device=device)
        batch = (data.x_train[:batch_size].to(device), data.y_train[:batch_size].to(device))
    else:
        q, batch = _resnet(model_name, device, batch_size)
    rng = np.random.default_rng(0)
    cands = _perturbed_library(size, rng)
    energy = {c.name: (1.0 if i == 0 else float(rng.uniform(0.05, 1.0))) for i, c in enumerate(cands)}
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for second in (False, True, False):  # the first run also compiles and warms up
        sync()
        t0 = time.perf_counter()
        selection = Selection(q, cands, [batch], energy_table=energy, second_order=second)
        sync()
        t1 = time.perf_counter()
        selection.plan(0.3)
        t2 = time.perf_counter()
        print(f"{model_name} on {device}, batch {batch_size}: {len(cands)} candidates, {len(selection.layers)} layers, "
              f"second order {second}: statistics and estimates {t1 - t0:.2f} s, program {1e3 * (t2 - t1):.0f} ms",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="digits,mnist1d")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--float-epochs", type=int, default=15)
    parser.add_argument("--qat-epochs", type=int, default=2)
    parser.add_argument("--budgets", default="0.08,0.12,0.2,0.3,0.5")
    parser.add_argument("--retrain-epochs", type=int, default=3, help="epochs of the retraining column")
    parser.add_argument("-o", "--output", default="benchmarks/.selection.json")
    parser.add_argument("--plot", default="docs/selection.png", help="scatter plot of estimates ('' for none)")
    parser.add_argument("--speed", type=int, default=0, help="only time a library of this many candidates")
    parser.add_argument("--model", default="cnn", choices=["cnn", "resnet20", "resnet18"],
                        help="with --speed: the network (ResNets CIFAR-shaped, random weights and data)")
    parser.add_argument("--device", default="cpu", help="with --speed: cpu or cuda")
    parser.add_argument("--batch", type=int, default=256, help="with --speed: calibration batch size")
    args = parser.parse_args()
    if args.speed:
        speed(args.speed, args.model, args.device, args.batch)
        return
    args.budgets = [float(b) for b in args.budgets.split(",")]
    cands = library()
    print(f"library: {len(cands)} {BITS}x{BITS} multipliers ({sum(c.netlist is not None for c in cands)} with netlists)")
    results = []
    for dataset in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            r = run(dataset, seed, args, cands)
            results.append(r)
            print(f"{dataset} seed {seed}: exact-quantized {r['accuracy_exact_quantized']:.1f} %, {r['pairs']} pairs, "
                  f"Spearman signed {r['spearman_signed']:.3f}, magnitude {r['spearman_magnitude']:.3f}, "
                  f"with 2nd order {r['spearman_second_order']:.3f}; statistics {r['seconds_statistics']:.2f} s, "
                  f"estimates {r['seconds_estimates'] * 1e3:.1f} ms, 2nd order {r['seconds_second_order']:.2f} s",
                  flush=True)
            for row in r["selection"]:
                cells = []
                for label in LABELS:
                    v = row[label]
                    at = f" at {v['energy_ratio']:.2f}" if v and "energy_ratio" in v else ""
                    cells.append(f"{label} " + ("—" if v is None else f"{v['accuracy']:.1f} %{at}"))
                print(f"  budget {row['budget']:.2f}: " + ", ".join(cells)
                      + f" (program {row['seconds_program'] * 1e3:.0f} ms)", flush=True)
    with open(args.output, "w") as fh:
        json.dump(results, fh)
    summary(results)
    if args.plot:
        plot(results, args.plot)


LABELS = ("program", "program_2nd", "calibrated", "retrained", "program_2nd_signed", "mred_rank", "uniform")


def _ms(values: list[float]) -> str:
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}" if values else "—"


def summary(results: list[dict]) -> None:
    """Markdown tables: Spearman correlations and accuracies, mean ± std over seeds."""
    print("\n| dataset | seeds | exact-quantized % | Spearman first order | Spearman magnitudes | Spearman with 2nd order |")
    print("|---|---:|---:|---:|---:|---:|")
    for dataset in sorted({r["dataset"] for r in results}):
        rs = [r for r in results if r["dataset"] == dataset]
        cells = [_ms([r[k] for r in rs]).replace(".1f", "") for k in ("accuracy_exact_quantized",)]
        sp = [f"{np.mean([r[k] for r in rs]):.2f} ± {np.std([r[k] for r in rs]):.2f}"
              for k in ("spearman_signed", "spearman_magnitude", "spearman_second_order")]
        print(f"| {dataset} | {len(rs)} | {cells[0]} | " + " | ".join(sp) + " |")
    print("\n| dataset | budget | " + " | ".join(LABELS) + " |")
    print("|---|---:|" + "---:|" * len(LABELS))
    for dataset in sorted({r["dataset"] for r in results}):
        rs = [r for r in results if r["dataset"] == dataset]
        for i, row in enumerate(rs[0]["selection"]):
            cells = [_ms([r["selection"][i][label]["accuracy"] for r in rs if r["selection"][i].get(label)])
                     for label in LABELS]
            print(f"| {dataset} | {row['budget']:.2f} | " + " | ".join(cells) + " |")
    print("\n| dataset | calibration s, median (range) | retraining s, median (range) |")
    print("|---|---:|---:|")
    for dataset in sorted({r["dataset"] for r in results}):
        rows = [row for r in results if r["dataset"] == dataset for row in r["selection"]]
        times = [[row[k]["seconds"] for row in rows if row.get(k)] for k in ("calibrated", "retrained")]
        cells = [f"{np.median(t):.1f} ({min(t):.1f}–{max(t):.1f})" if t else "—" for t in times]
        print(f"| {dataset} | " + " | ".join(cells) + " |")


def plot(results: list[dict], path: str) -> None:
    """Estimated against measured loss change of every (layer, candidate) pair, one panel
    per dataset, seeds pooled (symmetric-log axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in results})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.5), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for r in (r for r in results if r["dataset"] == dataset):
            est, meas = r["pairs_est_meas"]
            ax.scatter(est, meas, s=10, alpha=0.6, label=f"seed {r['seed']} (Spearman {r['spearman_signed']:.2f})")
        ax.set_xscale("symlog", linthresh=1e-4)
        ax.set_yscale("symlog", linthresh=1e-4)
        lim = max(max(map(abs, r["pairs_est_meas"][0] + r["pairs_est_meas"][1])) for r in results
                  if r["dataset"] == dataset)
        ax.plot([-lim, lim], [-lim, lim], color="gray", lw=0.8, ls=":")
        ax.set(xlabel="first-order estimate <G, E>", ylabel="measured loss change",
               title=f"{dataset}: one layer approximate, {BITS}x{BITS}-bit library")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
