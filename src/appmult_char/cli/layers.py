"""The ``verify`` command: one quantized layer through the LUT GEMM, the exact GEMM and the
circuit itself."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from ._common import circuit_simulator, mapping_options, user_errors
from ._progress import Progress

__all__ = ["verify"]

_POSITIVE = click.IntRange(min=1)


@click.command()
@click.argument("circuit", type=click.Path())
@click.option("--layer", type=click.Choice(["linear", "conv2d"]), default="linear", show_default=True)
@click.option("--batch", type=_POSITIVE, default=64, show_default=True, help="Rows (linear) or images (conv2d).")
@click.option("--in-features", type=_POSITIVE, default=256, show_default=True)
@click.option("--out-features", type=_POSITIVE, default=64, show_default=True)
@click.option("--channels", type=_POSITIVE, default=8, show_default=True, help="conv2d input channels.")
@click.option("--out-channels", type=_POSITIVE, default=8, show_default=True)
@click.option("--size", type=_POSITIVE, default=16, show_default=True, help="conv2d input height = width.")
@click.option("--kernel", type=_POSITIVE, default=3, show_default=True)
@click.option("--stride", type=_POSITIVE, default=1, show_default=True)
@click.option("--padding", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--dilation", type=_POSITIVE, default=1, show_default=True)
@click.option("--groups", type=_POSITIVE, default=1, show_default=True)
@click.option("--per-channel", is_flag=True, help="Per-output-channel weight quantization.")
@click.option("--half-window", type=int, default=None,
              help="Half window of the gradient tables compared with STE [default: 4, or STE only for operands "
                   "too narrow for it].")
@click.option("--data", "data_path", type=click.Path(), help=".npz with float arrays x and w to use instead of random ones.")
@click.option("--backend", type=click.Choice(["cpu", "cuda"]), default=None, help="GEMM back end [default: cpu].")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, hidden=True,
              help="Deprecated spelling of --backend.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@mapping_options
@user_errors
def verify(circuit: str, half_window: int | None, data_path: str | None, backend: str | None, device: str | None, seed: int,
           as_json: bool, signed: bool, a_bits: int | None, b_bits: int | None, a_bus: str | None, b_bus: str | None,
           msb_first: bool, tie_undriven: bool, top: str | None, yosys: str | None, **layer: Any) -> None:
    """Run one quantized layer through the LUT GEMM, the exact GEMM and the circuit itself.

    Exit status 3 when the LUT GEMM and the circuit disagree on any output.

    \b
    Examples:
      appmult-char verify circuits/mul8x8u_trunc6.blif --layer linear
      appmult-char verify circuits/mul8x8s_exact.blif --signed --layer conv2d --groups 2 --per-channel
    """
    from .._errors import AppMultError
    from ..gemm.layers import LayerSpec
    from ..gemm.verify import verify_layer
    from ..gradients.methods import check_half_window

    if device is not None:
        click.echo("warning: --device is deprecated; use --backend", err=True)
        if backend is not None and backend != device:
            raise AppMultError(f"--device {device} and --backend {backend} disagree")
    backend = backend or device or "cpu"
    if half_window is not None:
        check_half_window(half_window, 16)  # the size check follows once the operand widths are known
    data = None
    if data_path:
        import numpy as np

        try:
            with np.load(data_path) as archive:
                data = {k: archive[k] for k in ("x", "w")}
        except (OSError, KeyError, ValueError) as exc:
            raise AppMultError(f"cannot read float arrays x and w: {exc}", data_path) from None
    spec = LayerSpec(**layer)
    with Progress("verify", 1) as bar:
        sim = circuit_simulator(circuit, signed=signed, a_bits=a_bits, b_bits=b_bits, a_bus=a_bus, b_bus=b_bus,
                                msb_first=msb_first, tie_undriven=tie_undriven, top=top, yosys=yosys,
                                status=bar.step)
        bar.step(f"{circuit}: {spec.layer} layer on {backend}")
        report = verify_layer(sim, spec, backend=backend, seed=seed, half_window=half_window, data=data)
        bar.update(1)
    report["circuit"] = os.fspath(circuit)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        g, r, k, c = report["gemm_shape"]
        click.echo(f"{circuit}: {report['multiplier']}, {spec.layer} on {backend}: GEMM {g} x ({r} x {k}) @ ({k} x {c}), "
                   f"{report['operand_pairs_evaluated']} distinct operand pairs evaluated on the circuit")
        click.echo(f"  LUT GEMM == circuit:        {'yes' if report['lut_equals_circuit'] else 'NO'} "
                   f"({report['mismatches']} mismatching outputs)")
        click.echo(f"  accumulator error vs exact: {report['accumulator_error_vs_exact']:.6f} (mean |diff| / mean |exact|)")
        click.echo(f"  output error vs float:      {report['output_error_vs_float']:.6f} "
                   f"(exact multiplier: {report['exact_multiplier_output_error_vs_float']:.6f})")
        for name, grads in report["gradients_vs_ste"].items():
            click.echo(f"  {name:6s} gradients vs STE:  grad_A {grads['grad_A_vs_ste']:.4f}, "
                       f"grad_B {grads['grad_B_vs_ste']:.4f}")
        click.echo(f"  LUT GEMM throughput:        {report['lut_gemm_mac_per_s']:.3e} MAC/s")
    if not report["lut_equals_circuit"]:
        click.echo(f"error: {circuit}: LUT GEMM and circuit disagree on {report['mismatches']} outputs", err=True)
        sys.exit(3)
