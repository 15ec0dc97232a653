"""The ``select`` command: one multiplier per layer under an energy budget (FAMES)."""

from __future__ import annotations

import json
import os

import click

from ._common import user_errors
from ._progress import Progress

__all__ = ["select"]


@click.command()
@click.option("--library", "library_dir", type=click.Path(), default=None,
              help="Folder of candidate multipliers (BLIF, .npz, AppMult text) [default: the generated exact, "
                   "truncated and broken-array multipliers of --bits].")
@click.option("--bits", type=click.IntRange(2, 8), default=8, show_default=True,
              help="Operand widths of the quantized model (both operands).")
@click.option("--signed", is_flag=True, help="Signed (two's-complement) codes and multipliers.")
@click.option("--budget", type=float, required=True, help="Energy budget: a ratio of the exact multipliers' energy.")
@click.option("--energy", "energy_csv", type=click.Path(dir_okay=False), default=None,
              help="CSV of name,energy or name,power,delay per multiplier [default: the netlist activity estimate].")
@click.option("--second-order", is_flag=True, help="Add the top-eigenpair second-order term to the estimates.")
@click.option("--objective", type=click.Choice(["abs", "signed"]), default="abs", show_default=True,
              help="abs: |first order| + second order; signed: the estimates as they are.")
@click.option("--dataset", type=click.Choice(["digits", "mnist1d"]), default="digits", show_default=True)
@click.option("--model", "model_name", type=click.Choice(["mlp", "cnn", "cnn1d"]), default=None,
              help="Model [default: cnn for digits, cnn1d for mnist1d].")
@click.option("--float-epochs", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--qat-epochs", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--samples", type=click.IntRange(min=1), default=256, show_default=True,
              help="Calibration samples the estimates come from.")
@click.option("--calibrate", "calibrate", is_flag=True,
              help="Calibrate after the substitution (activation ranges, learnable weight clipping) on 1024 "
                   "training samples and report the accuracy after it too.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="PNG of the Pareto front (estimated loss change against energy ratio).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the plan as JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@user_errors
def select(library_dir: str | None, bits: int, signed: bool, budget: float, energy_csv: str | None, second_order: bool,
           objective: str, dataset: str, model_name: str | None, float_epochs: int, qat_epochs: int, seed: int,
           samples: int, calibrate: bool, plot_path: str | None, output: str | None, as_json: bool) -> None:
    """Choose a multiplier for every layer of a quantized network under an energy budget.

    Trains the network (float, then exact quantization on every layer), estimates each
    candidate's loss change per layer from a calibration batch, picks the assignment with
    the least estimated change whose energy fits the budget, and reports the test
    accuracy with it (after calibration too with --calibrate; never retrained).

    \b
    Examples:
      appmult-char select --budget 0.1 --float-epochs 3 --qat-epochs 1 --calibrate
      appmult-char select --library circuits --bits 8 --budget 0.5 --second-order -o plan.json
    """
    import torch

    from .._errors import AppMultError
    from ..nn.recipes import RetrainConfig, evaluate, exact_quantized
    from ..select import Selection, generated_library, load_library, read_energy_table

    if not budget > 0:
        raise AppMultError(f"the energy budget must be a ratio > 0, got {budget}")
    if plot_path is not None:
        from ..plotting import prepare_plots

        prepare_plots(os.path.dirname(os.path.abspath(plot_path)))
    table = read_energy_table(energy_csv) if energy_csv else None
    if library_dir is not None:
        candidates = [c for c in load_library(library_dir, signed=signed, widths=(bits, bits))
                      if c.widths == (bits, bits, signed)]
        if not candidates:
            raise AppMultError(f"no {bits}x{bits} {'signed' if signed else 'unsigned'} multiplier in the library "
                               "(--bits, --signed)", library_dir)
    else:
        candidates = generated_library(bits, bits, signed)
    config = RetrainConfig(dataset=dataset, model=model_name or ("cnn" if dataset == "digits" else "cnn1d"),
                           float_epochs=float_epochs, qat_epochs=qat_epochs, seed=seed)
    with Progress("select", float_epochs + qat_epochs + 1, unit="steps") as bar:
        model, data = exact_quantized(config, bits, bits, signed,
                                      progress=lambda stage, e, n: bar.update(1, note=f"{stage} epoch {e}/{n}"))
        pick = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(seed))[:samples]
        bar.step(f"estimates for {len(candidates)} candidates")
        selection = Selection(model, candidates, [(data.x_train[pick], data.y_train[pick])], energy_table=table,
                              objective=objective, second_order=second_order)
        plan = selection.plan(budget)
        bar.update(1)
    approx = plan.apply(model, candidates)
    plan.meta["accuracy"] = {"exact_quantized": evaluate(model, data), "selected": evaluate(approx, data)}
    if calibrate:
        from ..select import assign, calibrate_substitution

        calibrate_substitution(approx, assign(model, {}), [data.x_train[i:i + 256] for i in range(0, 1024, 256)])
        plan.meta["accuracy"]["calibrated"] = evaluate(approx, data)
    plan.meta["config"] = {"dataset": dataset, "model": config.model, "bits": bits, "signed": signed, "seed": seed,
                           "float_epochs": float_epochs, "qat_epochs": qat_epochs, "samples": samples,
                           "second_order": second_order, "library": library_dir or "generated"}
    if plot_path is not None:
        from ..plotting import plot_pareto

        steps = [selection.smallest + (1 - selection.smallest) * i / 15 for i in range(16)]
        plot_pareto(selection.pareto(sorted({*steps, budget})), plan, plot_path)
    if output is not None:
        plan.save(output)
    if as_json:
        click.echo(json.dumps(plan.to_dict(), indent=2))
        return
    acc = plan.meta["accuracy"]
    click.echo(f"{config.model} on {dataset}, {bits}x{bits} {'signed' if signed else 'unsigned'}, "
               f"{len(candidates)} candidates, budget {budget:g} (smallest feasible {selection.smallest:.3g})")
    for layer, name in plan.assignment.items():
        click.echo(f"  layer {layer:8s} {name:28s} estimate {plan.estimates[layer][name]:+.3e}")
    calibrated = f", calibrated {acc['calibrated']:.2f} %" if "calibrated" in acc else ""
    click.echo(f"  energy ratio {plan.energy_ratio:.3f}; accuracy exact-quantized {acc['exact_quantized']:.2f} %, "
               f"selected {acc['selected']:.2f} %{calibrated}")
