"""The ``retrain`` command: the retraining recipe of `appmult_char.nn.recipes` on a circuit."""

from __future__ import annotations

import json
from typing import Any

import click

from ._common import mapping_options, user_errors
from ._progress import Progress

__all__ = ["retrain"]


@click.command()
@click.argument("circuit", type=click.Path())
@click.option("--dataset", type=click.Choice(["digits", "mnist1d"]), default="digits", show_default=True)
@click.option("--model", "model_name", type=click.Choice(["mlp", "cnn", "cnn1d", "resnet20", "resnet18"]),
              default=None, help="Model [default: cnn for digits, cnn1d for mnist1d].")
@click.option("--gradient", default="window", show_default=True, help="Backward: ste, window[:W] or lut1d[:W].")
@click.option("--forward", "forward_mode", type=click.Choice(["lut", "htp", "noise", "exact"]), default="lut",
              show_default=True, help="Forward mode of the approximate layers.")
@click.option("--epochs", type=click.IntRange(min=0), default=3, show_default=True,
              help="Retraining epochs with the approximate multiplier.")
@click.option("--float-epochs", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--qat-epochs", type=click.IntRange(min=0), default=2, show_default=True,
              help="Quantization-aware epochs with the exact multiplier before the swap.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate of every stage.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--weight-quant", type=click.Choice(["per_channel", "per_tensor"]), default="per_channel",
              show_default=True)
@click.option("--skip-first-last", is_flag=True, help="Keep the first and last layers in float.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("-o", "--output", "run_dir", type=click.Path(file_okay=False), default=None,
              help="Run folder: checkpoint (an interrupted run resumes), results.json, accuracy.png.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@mapping_options
@user_errors
def retrain(circuit: str, dataset: str, model_name: str | None, gradient: str, forward_mode: str, epochs: int,
            float_epochs: int, qat_epochs: int, lr: float, batch_size: int, weight_quant: str, skip_first_last: bool,
            seed: int, device: str, run_dir: str | None, as_json: bool, **mapping: Any) -> None:
    """Retrain a quantized network with the multiplier in the loop and report accuracy.

    CIRCUIT is a BLIF or Verilog circuit, an .npz LUT or an AppMult text LUT. Stages: float training,
    quantization-aware training with the exact multiplier, the swap to CIRCUIT (accuracy
    before retraining), retraining (accuracy after); every stage with the same optimizer.

    \b
    Examples:
      appmult-char retrain circuits/mul7x7u_trunc5.blif --gradient window:4 -o out/w4
      appmult-char retrain circuits/mul8x8s_exact.blif --signed --dataset mnist1d --gradient ste
    """
    from ..nn.multiplier import Multiplier
    from ..nn.recipes import RetrainConfig
    from ..nn.recipes import retrain as run
    from ._common import load_lut_input

    config = RetrainConfig(dataset=dataset, model=model_name or ("cnn" if dataset == "digits" else "cnn1d"),
                           gradient=gradient, forward=forward_mode, epochs=epochs, float_epochs=float_epochs,
                           qat_epochs=qat_epochs, seed=seed, lr=lr, batch_size=batch_size, weight_quant=weight_quant,
                           skip_first_last=skip_first_last)
    total = float_epochs + qat_epochs + epochs
    with Progress("retrain", total, unit="epochs") as bar:
        mult = Multiplier(load_lut_input(circuit, status=bar.step, **mapping))
        summary = run(mult, config, run_dir, device=device,
                      progress=lambda stage, epoch, count: bar.update(1, note=f"{stage} epoch {epoch}/{count}"))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    acc = summary["accuracy"]
    click.echo(f"{circuit}: {config.model} on {dataset}, {forward_mode} forward, {gradient} backward, seed {seed}")
    for key, label in (("float", "float"), ("exact_quant", "exact multiplier, quantized"),
                       ("approx_before", "approximate, before retraining"), ("approx_after", "approximate, retrained")):
        click.echo(f"  {label:32s} {acc[key]:6.2f} %")
    if run_dir:
        click.echo(f"  results in {run_dir}/results.json")
