"""Commands that analyse a multiplier: ``gradient`` (tables for retraining) and ``htp``
(surrogate models)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from ._common import is_folder, load_lut_input, mapping_options, user_errors
from ._progress import Progress

__all__ = ["gradient", "htp"]


def _half_windows(text: str) -> list[int]:
    from .._errors import AppMultError

    values = [v.strip() for v in text.split(",")]
    if not all(v.lstrip("-").isdigit() for v in values):
        raise AppMultError(f"--half-window takes integers separated by commas, got '{text}'")
    return [int(v) for v in values]


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".gz", ".txt", ".npz", ".blif", ".v", ".sv", "_sop", "_lutfp"):
        name = name.removesuffix(suffix)
    return name


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option("-o", "--output", type=click.Path(), required=True,
              help="Output file (.txt, .txt.gz: AppMult gradient format; .npz: all tables), a folder, "
                   "or a name with {W} for several half windows.")
@click.option("--method", type=click.Choice(["ste", "window", "lut1d"]), default="window", show_default=True)
@click.option("--half-window", "half_window", default=None,
              help="Half window W, or several separated by commas (one file each). window: default 4; "
                   "lut1d: smoothing, default none.")
@click.option("--boundary", type=click.Choice(["symmetric", "reference"]), default="symmetric", show_default=True,
              help="Boundary rule of the window method; 'reference' reproduces the published files.")
@click.option("--variant", type=click.Choice(["slope", "mean"]), default="slope", show_default=True,
              help="LUT-1D: least-squares slope, or mean of the 2-D window table over the interior.")
@click.option("--format", "fmt", type=click.Choice(["txt", "txt.gz", "npz"]), default="txt", show_default=True,
              help="Format of files written into an output folder.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), default=None,
              help="Also write PNG heatmaps and profiles into this folder (needs matplotlib).")
@mapping_options
@user_errors
def gradient(input_path: str, output: str, method: str, half_window: str | None, boundary: str, variant: str,
             fmt: str, plot_dir: str | None, **mapping: Any) -> None:
    """Gradient tables for AppMult-aware retraining from a circuit or a LUT.

    INPUT is a BLIF or Verilog circuit, an .npz LUT or an AppMult text LUT. For every half window the
    command prints a heuristic score (the gradient's first-order prediction error of the
    LUT over 1 to 16 operand steps; lower is smoother-yet-faithful) and suggests the W
    with the lowest one.

    \b
    Examples:
      appmult-char gradient circuits/mul8x8u_trunc6.blif -o g.txt --half-window 8
      appmult-char gradient lut.npz -o grads/ --half-window 2,4,8,16,32 --plot plots/
    """
    from .._errors import AppMultError
    from ..gradients import half_windows, sweep
    from ..io import lut_format, save_gradients

    windows = half_windows(method, _half_windows(half_window) if half_window is not None else None)
    folder = is_folder(output, create=False)
    if len(windows) > 1 and not folder and "{W}" not in output:
        raise AppMultError("several half windows need -o to be a folder (existing, or ending in /) "
                           "or a name containing {W}", output)
    if not folder:
        lut_format(output)
    if plot_dir is not None:  # matplotlib and the folder are checked before any work is written
        from ..plotting import plot_gradients, prepare_plots

        prepare_plots(plot_dir)
    with Progress("gradients", len(windows), unit="half windows") as bar:
        lut = load_lut_input(input_path, status=bar.step, **mapping)
        entries = sweep(lut, method, windows, stem=_stem(input_path), boundary=boundary, variant=variant)
        is_folder(output)
        targets = [Path(output) / f"{entry.name}.{fmt}" if folder else Path(output.replace("{W}", str(entry.half_window)))
                   for entry in entries]
        for entry, target in zip(entries, targets):
            bar.step(f"writing {target}")
            save_gradients(entry.tables, target, os.fspath(input_path))
            if plot_dir is not None:
                for png in plot_gradients(entry.tables.expand(), plot_dir, entry.name):
                    click.echo(f"plot: {png}")
            bar.update(1)
    click.echo(f"{'W':>4}  {'prediction error':>16}  file")
    for entry, target in zip(entries, targets):
        click.echo(f"{entry.half_window:>4}  {entry.score:16.4f}  {target}")
    if len(entries) > 1:
        best = min(entries, key=lambda e: e.score).half_window
        click.echo(f"suggested half window: {best} (heuristic: lowest first-order prediction error)")


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Write the fitted HTP model as JSON.")
@click.option("--emit", type=click.Path(), help="Write the fitted HTP model as a NumPy Python function.")
@click.option("--tie", is_flag=True, help="Search l == k only (a smaller grid).")
@click.option("--max-pairs", type=click.IntRange(min=16), default=1 << 16, show_default=True,
              help="Fit on all pairs up to this many, else on this many random pairs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the pair sample and of the noise model.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@mapping_options
@user_errors
def htp(input_path: str, output: str | None, emit: str | None, tie: bool, max_pairs: int, seed: int, as_json: bool,
        **mapping: Any) -> None:
    """Fit surrogate models (HTP, linear, noise) and report how faithful each is.

    INPUT is a BLIF or Verilog circuit, an .npz LUT or an AppMult text LUT. Circuits wider than the
    --max-pairs budget are fitted on a seeded random sample of pairs.

    \b
    Examples:
      appmult-char htp circuits/mul8x8u_trunc6.blif
      appmult-char htp circuits/mul8x8u_trunc6.blif -o htp.json --emit htp.py
    """
    from ..io.appmult_text import write_text
    from ..surrogates import fidelity_report

    with Progress("htp", 1) as bar:
        source = load_lut_input(input_path, simulator=True, status=bar.step, **mapping)
        bar.step(f"{input_path}: fitting")
        report, models = fidelity_report(source, max_pairs, seed, tie)
        bar.update(1)
    report["input"] = os.fspath(input_path)
    if output:
        write_text(output, json.dumps(models["htp"].to_dict(), indent=2) + "\n")
    if emit:
        write_text(emit, models["htp"].to_source())
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    how = f"{report['pairs']} random pairs (seed {seed})" if report["sampled"] else f"all {report['pairs']} pairs"
    click.echo(f"{input_path}: {report['a_bits']}x{report['b_bits']} {'signed' if report['signed'] else 'unsigned'}, "
               f"{how}")
    click.echo(f"  {'model':8s} {'MAE':>12s} {'max error':>12s} {'error rate':>10s} {'terms':>6s}")
    for name, r in report["models"].items():
        click.echo(f"  {name:8s} {r['mae']:12.4f} {r['max_error']:12.4f} {r['error_rate']:10.4f} {r['terms']:6d}")
    click.echo(f"  HTP: {models['htp']!r}")
