"""The ``select`` command: one multiplier per layer under an energy budget (FAMES)."""

from __future__ import annotations

import json
import os

import click

from ._common import user_errors
from ._progress import Progress

__all__ = ["select"]


@click.command()
@click.argument("model_path", metavar="[MODEL]", required=False, type=click.Path(dir_okay=False))
@click.option("--library", "library_dir", type=click.Path(), default=None,
              help="Folder of candidate multipliers (BLIF, .npz, AppMult text) [default: the generated exact, "
                   "truncated and broken-array multipliers of --bits].")
@click.option("--bits", type=click.IntRange(2, 8), default=None,
              help="Operand widths of the network trained here (both operands) [default: 8; a MODEL's own].")
@click.option("--signed", is_flag=True, help="Signed (two's-complement) codes and multipliers (network trained here).")
@click.option("--budget", type=float, required=True, help="Energy budget: a ratio of the exact multipliers' energy.")
@click.option("--energy", "energy_csv", type=click.Path(dir_okay=False), default=None,
              help="CSV of name,energy or name,power,delay per multiplier [default: the netlist activity estimate].")
@click.option("--second-order", is_flag=True, help="Add the top-eigenpair second-order term to the estimates.")
@click.option("--objective", type=click.Choice(["abs", "signed"]), default="abs", show_default=True,
              help="abs: |first order| + second order; signed: the estimates as they are.")
@click.option("--dataset", type=click.Choice(["digits", "mnist1d"]), default="digits", show_default=True,
              help="Data for the estimates and the accuracy (and for training when no MODEL is given).")
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
@click.option("--save-model", "save_model", type=click.Path(dir_okay=False), default=None,
              help="Write the exact-quantized network trained here (a MODEL for later runs).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the plan as JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@user_errors
def select(model_path: str | None, library_dir: str | None, bits: int | None, signed: bool, budget: float, energy_csv: str | None, second_order: bool,
           objective: str, dataset: str, model_name: str | None, float_epochs: int, qat_epochs: int, seed: int,
           samples: int, calibrate: bool, save_model: str | None, plot_path: str | None, output: str | None,
           as_json: bool) -> None:
    """Choose a multiplier for every layer of a quantized network under an energy budget.

    MODEL is a network with approximate layers saved whole (``torch.save(model, path)``:
    `retrain` writes one, exact_quantized.pt, in its run folder; --save-model here does
    too); without it the recipe network of --dataset is trained (float, then exact
    quantization on every layer). Each candidate's loss change per layer is estimated
    from a calibration batch, the assignment with the least estimated change whose energy
    fits the budget is chosen, and the test accuracy with it is reported (after
    calibration too with --calibrate; never retrained).

    \b
    Examples:
      appmult-char select --budget 0.1 --float-epochs 3 --qat-epochs 1 --calibrate
      appmult-char select run/exact_quantized.pt --library circuits --budget 0.5 --second-order -o plan.json
    """
    import torch

    from .._errors import AppMultError
    from ..nn.data import load_dataset
    from ..nn.recipes import RetrainConfig, evaluate, exact_quantized
    from ..select import Selection, read_energy_table

    if not budget > 0:
        raise AppMultError(f"the energy budget must be a ratio > 0, got {budget}")
    if plot_path is not None:
        from ..plotting import prepare_plots

        prepare_plots(os.path.dirname(os.path.abspath(plot_path)))
    table = read_energy_table(energy_csv) if energy_csv else None
    config = RetrainConfig(dataset=dataset, model=model_name or ("cnn" if dataset == "digits" else "cnn1d"),
                           float_epochs=float_epochs, qat_epochs=qat_epochs, seed=seed)
    with Progress("select", 2 if model_path else float_epochs + qat_epochs + 1, unit="steps") as bar:
        if model_path is not None:
            if bits is not None or signed:
                raise AppMultError("--bits and --signed describe a network trained here: a MODEL has its own widths")
            bar.step("load the model")
            data = load_dataset(dataset)
            model = _load_model(model_path, data)
            bar.update(1)
        else:
            model, data = exact_quantized(config, bits or 8, bits or 8, signed,
                                          progress=lambda stage, e, n: bar.update(1, note=f"{stage} epoch {e}/{n}"))
        candidates = _library(library_dir, _formats(model))
        pick = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(seed))[:samples]
        bar.step(f"estimates for {len(candidates)} candidates")
        selection = Selection(model, candidates, [(data.x_train[pick], data.y_train[pick])], energy_table=table,
                              objective=objective, second_order=second_order)
        plan = selection.plan(budget)
        bar.update(1)
    if save_model is not None:
        from ..io._files import atomic_output

        with atomic_output(save_model) as fh:
            torch.save(model, fh)
    approx = plan.apply(model, candidates)
    plan.meta["accuracy"] = {"exact_quantized": evaluate(model, data), "selected": evaluate(approx, data)}
    if calibrate:
        from ..select import assign, calibrate_substitution

        calibrate_substitution(approx, assign(model, {}), [data.x_train[i:i + 256] for i in range(0, 1024, 256)])
        plan.meta["accuracy"]["calibrated"] = evaluate(approx, data)
    plan.meta["config"] = {"dataset": dataset, "samples": samples, "seed": seed, "second_order": second_order,
                           "library": library_dir or "generated",
                           **({"model_file": os.path.abspath(model_path)} if model_path else
                              {"model": config.model, "bits": bits or 8, "signed": signed,
                               "float_epochs": float_epochs, "qat_epochs": qat_epochs})}
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
    formats = ", ".join(f"{a}x{b} {'signed' if s else 'unsigned'}" for a, b, s in sorted(_formats(model)))
    click.echo(f"{os.path.basename(model_path) if model_path else config.model} on {dataset}, {formats}, "
               f"{len(candidates)} candidates, budget {budget:g} (smallest feasible {selection.smallest:.3g})")
    for layer, name in plan.assignment.items():
        click.echo(f"  layer {layer:8s} {name:28s} estimate {plan.estimates[layer][name]:+.3e}")
    calibrated = f", calibrated {acc['calibrated']:.2f} %" if "calibrated" in acc else ""
    click.echo(f"  energy ratio {plan.energy_ratio:.3f}; accuracy exact-quantized {acc['exact_quantized']:.2f} %, "
               f"selected {acc['selected']:.2f} %{calibrated}")


def _load_model(path: str, data):
    """A whole network saved with ``torch.save``, checked to have approximate layers and
    to take the dataset's inputs."""
    import torch

    from .._errors import AppMultError
    from ..nn.convert import approx_layers

    try:
        model = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise AppMultError("no such file", path) from None
    except Exception as exc:  # pickle, zip and torch errors alike: the file is not a saved model
        raise AppMultError(f"not a saved PyTorch model ({type(exc).__name__}: {exc})".splitlines()[0], path) from None
    if not isinstance(model, torch.nn.Module):
        raise AppMultError(f"holds a {type(model).__name__}, not a network saved whole with torch.save(model, path)",
                           path)
    if not approx_layers(model):
        raise AppMultError("the model has no approximate layer to select multipliers for (convert it with "
                           "appmult_char.nn.approximate first)", path)
    model.eval()
    try:
        with torch.no_grad():
            model(data.x_train[:2])
    except Exception as exc:
        raise AppMultError(f"the model does not take inputs of shape {tuple(data.x_train.shape[1:])} ({exc})"
                           .splitlines()[0], path) from None
    return model


def _formats(model) -> set[tuple[int, int, bool]]:
    """The operand formats (activation bits, weight bits, signed) of the approximate layers."""
    from ..nn.convert import approx_layers

    return {(l.act_quant.bits, l.weight_quant.bits, l.multiplier.lut.signed) for l in approx_layers(model).values()}


def _library(folder: str | None, formats: set[tuple[int, int, bool]]) -> list:
    """The candidates of every format the model needs: from `folder`, or generated."""
    from .._errors import AppMultError
    from ..select import generated_library, load_library

    if folder is None:
        return [c for a, b, signed in sorted(formats) for c in generated_library(a, b, signed)]
    candidates = []
    for a, b, signed in sorted(formats):
        fits = [c for c in load_library(folder, signed=signed, widths=(a, b)) if c.widths == (a, b, signed)]
        if not fits:
            raise AppMultError(f"no {a}x{b} {'signed' if signed else 'unsigned'} multiplier in the library for the "
                               "model's layers", folder)
        candidates += fits
    return candidates
