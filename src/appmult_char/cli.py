"""The ``appmult-char`` command line.

Errors in the user's input print as one ``error: file:line: problem`` line with exit
status 1 (no traceback); warnings as ``warning: …`` lines. Library modules are imported
inside the commands so that ``--help`` and small jobs start fast.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import warnings
from pathlib import Path

import click

__all__ = ["main"]


def _mapping_options(f):
    """The operand-mapping and signedness options shared by the circuit commands."""
    options = [
        click.option("--signed", is_flag=True, help="Two's-complement operands and product."),
        click.option("--a-bits", type=click.IntRange(min=1), help="Width of operand a (first inputs)."),
        click.option("--b-bits", type=click.IntRange(min=1), help="Width of operand b (following inputs)."),
        click.option("--a-bus", help="Input bus name of operand a, e.g. A for A[0], A[1], ..."),
        click.option("--b-bus", help="Input bus name of operand b."),
        click.option("--msb-first", is_flag=True, help="Positional operands and outputs are listed MSB first."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _user_errors(f):
    """Turn `AppMultError` into one line on stderr and exit status 1; show our warnings
    (`AppMultWarning`) as lines too, and silence third-party advisories (e.g. Numba's)."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        from ._errors import AppMultError, AppMultWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", AppMultWarning)
            try:
                return f(*args, **kwargs)
            except AppMultError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)
            finally:
                for w in caught:
                    click.echo(f"warning: {w.message}", err=True)

    return wrapper


def _simulator(path, signed, a_bits, b_bits, a_bus, b_bus, msb_first, backend="auto"):
    from .sim import simulator

    return simulator(path, signed=signed, backend=backend, a_bits=a_bits, b_bits=b_bits, a_bus=a_bus, b_bus=b_bus,
                     msb_first=msb_first)


def _is_folder(output: str) -> bool:
    """An existing folder, or a name ending in a slash (created on demand)."""
    if output.endswith(("/", os.sep)):
        Path(output).mkdir(parents=True, exist_ok=True)
        return True
    return Path(output).is_dir()


def _progress(items, label):
    """A progress bar on stderr when there is more than one item to go through."""
    if len(items) <= 1:
        return contextlib.nullcontext(items)
    return click.progressbar(items, label=label, file=sys.stderr, show_pos=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="appmult-char")
def main():
    """Characterize approximate multipliers from their gate-level netlists."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Output file (one input) or folder (several). "
              "The format follows the suffix: .npz, or .txt/.txt.gz for the AppMult text.")
@click.option("--format", "fmt", type=click.Choice(["npz", "txt", "txt.gz"]), default=None,
              help="Output format when -o is a folder or absent (default npz).")
@_mapping_options
@click.option("--backend", type=click.Choice(["auto", "numba", "numpy"]), default="auto", show_default=True)
@_user_errors
def simulate(files, output, fmt, signed, a_bits, b_bits, a_bus, b_bus, msb_first, backend):
    """Simulate BLIF circuits exhaustively into product LUTs.

    \b
    appmult-char simulate circuits/mul8x8u_trunc6.blif -o lut.npz
    appmult-char simulate circuits/*.blif -o luts/ --format txt
    """
    from ._errors import AppMultError
    from .io import lut_format, save_lut

    several = len(files) > 1 or (output is not None and _is_folder(output))
    if output is not None and not several and fmt is not None:
        raise AppMultError("--format applies to an output folder; for one file the suffix of -o decides")
    if several and output is not None and not _is_folder(output):
        raise AppMultError("with several inputs, -o must be a folder (an existing one, or a name ending in /)", output)
    if output is not None and not several:
        lut_format(output)  # refuse an unknown suffix before simulating
    written = []
    with _progress(list(files), "simulating") as paths:
        for path in paths:
            sim = _simulator(path, signed, a_bits, b_bits, a_bus, b_bus, msb_first, backend)
            lut = sim.lut()
            if several or output is None:
                target = Path(output or ".") / f"{Path(path).name.removesuffix('.blif')}.{fmt or 'npz'}"
            else:
                target = Path(output)
            save_lut(lut, target, sim.netlist.tied)
            m = lut.metrics()
            written.append(f"{target}: {lut.n}x{lut.m} {'signed' if signed else 'unsigned'}, "
                           f"ER {m.er:.6g}, MED {m.med:.6g}, WCE {m.wce}")
    click.echo("\n".join(written))


_SHOWN = ("er", "med", "nmed", "nmed_pow2", "mred", "mse", "wce", "wcre", "bias", "std",
          "mae_percent", "wce_percent", "ep", "mre", "wcre_percent")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@_mapping_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per file, in a list).")
@_user_errors
def metrics(files, signed, a_bits, b_bits, a_bus, b_bus, msb_first, as_json):
    """Exact error metrics, streamed over all input pairs (no LUT is built).

    Works for wide circuits too (16x16 takes minutes on two cores).
    """
    results = []
    for path in files:
        sim = _simulator(path, signed, a_bits, b_bits, a_bus, b_bus, msb_first, "numba")
        total = 1 << (sim.n + sim.m)
        if total > 1 << 26:
            with click.progressbar(length=total, label=f"{path}", file=sys.stderr) as bar:
                result = sim.metrics(bar.update)
        else:
            result = sim.metrics()
        results.append((path, result))
    if as_json:
        payload = [{"file": p, **r.to_dict()} for p, r in results]
        click.echo(json.dumps(payload if len(files) > 1 else payload[0], indent=2))
        return
    for path, r in results:
        click.echo(f"{path}: {r.n}x{r.m} {'signed' if r.signed else 'unsigned'}, {r.pairs} pairs")
        for name in _SHOWN:
            click.echo(f"  {name:13s} {getattr(r, name):.10g}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@_mapping_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_user_errors
def info(files, signed, a_bits, b_bits, a_bus, b_bus, msb_first, as_json):
    """Netlist statistics and the operand mapping that simulation would use."""
    rows = []
    for path in files:
        sim = _simulator(path, signed, a_bits, b_bits, a_bus, b_bus, msb_first, "numpy")
        nl, ops = sim.netlist, sim.operands
        rows.append({
            "file": os.fspath(path), "model": nl.name, **nl.stats(),
            "a": [nl.inputs[i] for i in ops.a_inputs], "b": [nl.inputs[i] for i in ops.b_inputs],
            "product": [nl.outputs[i] for i in ops.outputs], "tied_constants": nl.tied,
            "word_ops": sim.program.size, "slots": sim.program.nslots,
        })
    if as_json:
        click.echo(json.dumps(rows if len(rows) > 1 else rows[0], indent=2))
        return
    for r in rows:
        click.echo(f"{r['file']}: model {r['model']}")
        for key in ("inputs", "outputs", "nodes", "cubes", "literals", "depth", "word_ops", "slots"):
            click.echo(f"  {key:9s} {r[key]}")
        click.echo(f"  a         {len(r['a'])} bits, LSB first: {' '.join(r['a'])}")
        click.echo(f"  b         {len(r['b'])} bits, LSB first: {' '.join(r['b'])}")
        click.echo(f"  product   {len(r['product'])} bits, LSB first: {' '.join(r['product'])}")
        if r["tied_constants"]:
            click.echo(f"  tied      {' '.join(r['tied_constants'])}")


@main.command()
@click.argument("kind", type=click.Choice(["exact", "truncated"]))
@click.argument("n", type=click.IntRange(min=1, max=32))
@click.argument("m", type=click.IntRange(min=1, max=32))
@click.option("--signed", is_flag=True, help="Baugh-Wooley two's-complement multiplier.")
@click.option("--truncate", type=click.IntRange(min=0), default=0,
              help="Drop partial products of weight below 2^T (kind 'truncated').")
@click.option("-o", "--output", type=click.Path(), required=True, help="BLIF file to write.")
@_user_errors
def generate(kind, n, m, signed, truncate, output):
    """Write a generated n x m multiplier as BLIF (exact or truncated partial products)."""
    from ._errors import AppMultError
    from .generators import multiplier
    from .io.blif import write_blif

    if kind == "truncated" and truncate == 0:
        raise AppMultError("a truncated multiplier needs --truncate T with T >= 1")
    netlist = multiplier(n, m, signed, truncate if kind == "truncated" else 0)
    write_blif(netlist, output)
    click.echo(f"{output}: {netlist.name}, {len(netlist.nodes)} nodes")


def _load_lut_input(path, signed, a_bits, b_bits, a_bus, b_bus, msb_first, simulator=False):
    """A `ProductLUT` from a BLIF circuit (simulated), an `.npz` LUT or an AppMult text LUT;
    with `simulator`, a BLIF circuit comes back as its `Simulator` instead (no LUT built)."""
    from .io import load_lut

    if os.fspath(path).endswith(".blif"):
        sim = _simulator(path, signed, a_bits, b_bits, a_bus, b_bus, msb_first)
        return sim if simulator else sim.lut()
    return load_lut(path, signed=signed)


def _half_windows(text):
    from ._errors import AppMultError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise AppMultError(f"--half-window takes integers separated by commas, got '{text}'") from None
    if not values:
        raise AppMultError("--half-window is empty")
    return values


def _stem(path) -> str:
    name = Path(path).name
    for suffix in (".gz", ".txt", ".npz", ".blif", "_sop", "_lutfp"):
        name = name.removesuffix(suffix)
    return name


@main.command()
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
@_mapping_options
@_user_errors
def gradient(input_path, output, method, half_window, boundary, variant, fmt, plot_dir,
             signed, a_bits, b_bits, a_bus, b_bus, msb_first):
    """Gradient tables for AppMult-aware retraining from a circuit or a LUT.

    INPUT is a BLIF circuit, an .npz LUT or an AppMult text LUT. For every half window the
    command prints a heuristic score (the gradient's first-order prediction error of the
    LUT over 1 to 16 operand steps; lower is smoother-yet-faithful) and suggests the W
    with the lowest one.

    \b
    appmult-char gradient circuits/mul8x8u_trunc6.blif -o g.txt --half-window 8
    appmult-char gradient lut.npz -o grads/ --half-window 2,4,8,16,32 --plot plots/
    """
    from ._errors import AppMultError
    from .gradients import check_half_window, lut1d, prediction_error, ste, window
    from .io import lut_format
    from .io.appmult_text import write_gradient_text
    from .io.npz import save_gradients_npz

    lut = _load_lut_input(input_path, signed, a_bits, b_bits, a_bus, b_bus, msb_first)
    if method == "ste":
        if half_window is not None:
            raise AppMultError("--half-window does not apply to --method ste")
        windows = [0]
    else:
        windows = _half_windows(half_window) if half_window is not None else [4 if method == "window" else 0]
    for w in windows if method == "window" or (method == "lut1d" and (variant == "mean" or windows != [0])) else []:
        check_half_window(w, min(lut.n, lut.m))  # refuse a bad W before any file of the sweep is written
    folder = _is_folder(output)
    if len(windows) > 1 and not folder and "{W}" not in output:
        raise AppMultError("several half windows need -o to be a folder (existing, or ending in /) "
                           "or a name containing {W}", output)
    stem = _stem(input_path)
    rows = []
    for w in windows:
        if method == "window":
            tables = window(lut, w, boundary)
            name = f"{stem}_lutfp+bp_avg_{w}_{w}"
        elif method == "lut1d":
            tables = lut1d(lut, w, variant)
            name = f"{stem}_lut1d_{variant}" + (f"_{w}" if w else "")
        else:
            tables = ste(lut)
            name = f"{stem}_lutfp+bp_ste"
        target = Path(output) / f"{name}.{fmt}" if folder else Path(output.replace("{W}", str(w)))
        two_d = tables.expand() if method == "lut1d" else tables
        if lut_format(target) == "npz":
            save_gradients_npz(tables, target)
        else:
            write_gradient_text(two_d, target, os.fspath(input_path))
        rows.append((w, prediction_error(two_d), target))
        if plot_dir is not None:
            from .plotting import plot_gradients

            for png in plot_gradients(two_d, plot_dir, name):
                click.echo(f"plot: {png}")
    click.echo(f"{'W':>4}  {'prediction error':>16}  file")
    for w, score, target in rows:
        click.echo(f"{w:>4}  {score:16.4f}  {target}")
    if len(rows) > 1:
        best = min(rows, key=lambda r: r[1])[0]
        click.echo(f"suggested half window: {best} (heuristic: lowest first-order prediction error)")


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Write the fitted HTP model as JSON.")
@click.option("--emit", type=click.Path(), help="Write the fitted HTP model as a NumPy Python function.")
@click.option("--tie", is_flag=True, help="Search l == k only (a smaller grid).")
@click.option("--max-pairs", type=click.IntRange(min=16), default=1 << 16, show_default=True,
              help="Fit on all pairs up to this many, else on this many random pairs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the pair sample and of the noise model.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_mapping_options
@_user_errors
def htp(input_path, output, emit, tie, max_pairs, seed, as_json, signed, a_bits, b_bits, a_bus, b_bus, msb_first):
    """Fit surrogate models (HTP, linear, noise) and report how faithful each is.

    INPUT is a BLIF circuit, an .npz LUT or an AppMult text LUT. Circuits wider than the
    --max-pairs budget are fitted on a seeded random sample of pairs.

    \b
    appmult-char htp circuits/mul8x8u_trunc6.blif
    appmult-char htp circuits/mul8x8u_trunc6.blif -o htp.json --emit htp.py
    """
    from .io.appmult_text import write_text
    from .surrogates import fidelity_report

    source = _load_lut_input(input_path, signed, a_bits, b_bits, a_bus, b_bus, msb_first, simulator=True)
    report, models = fidelity_report(source, max_pairs, seed, tie)
    report["input"] = os.fspath(input_path)
    if output:
        write_text(output, json.dumps(models["htp"].to_dict(), indent=2) + "\n")
    if emit:
        write_text(emit, models["htp"].to_source())
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    how = f"{report['pairs']} random pairs (seed {seed})" if report["sampled"] else f"all {report['pairs']} pairs"
    click.echo(f"{input_path}: {report['n']}x{report['m']} {'signed' if report['signed'] else 'unsigned'}, {how}")
    click.echo(f"  {'model':8s} {'MAE':>12s} {'max error':>12s} {'error rate':>10s} {'terms':>6s}")
    for name, r in report["models"].items():
        click.echo(f"  {name:8s} {r['mae']:12.4f} {r['max_error']:12.4f} {r['error_rate']:10.4f} {r['terms']:6d}")
    click.echo(f"  HTP: {models['htp']!r}")


@main.command()
@click.argument("circuit", type=click.Path())
@click.option("--layer", type=click.Choice(["linear", "conv2d"]), default="linear", show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True, help="Rows (linear) or images (conv2d).")
@click.option("--in-features", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--out-features", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--channels", type=click.IntRange(min=1), default=8, show_default=True, help="conv2d input channels.")
@click.option("--out-channels", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--size", type=click.IntRange(min=1), default=16, show_default=True, help="conv2d input height = width.")
@click.option("--kernel", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--padding", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--dilation", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--groups", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--per-channel", is_flag=True, help="Per-output-channel weight quantization.")
@click.option("--half-window", type=click.IntRange(min=1), default=4, show_default=True,
              help="Half window of the gradient tables compared with STE.")
@click.option("--data", "data_path", type=click.Path(), help=".npz with float arrays x and w to use instead of random ones.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_mapping_options
@_user_errors
def verify(circuit, layer, batch, in_features, out_features, channels, out_channels, size, kernel, stride, padding,
           dilation, groups, per_channel, half_window, data_path, device, seed, as_json,
           signed, a_bits, b_bits, a_bus, b_bus, msb_first):
    """Run one quantized layer through the LUT GEMM, the exact GEMM and the circuit itself.

    Exit status 3 when the LUT GEMM and the circuit disagree on any output.

    \\b
    appmult-char verify circuits/mul8x8u_trunc6.blif --layer linear
    appmult-char verify circuits/mul8x8s_exact.blif --signed --layer conv2d --groups 2 --per-channel
    """
    from ._errors import AppMultError
    from .gemm.verify import verify_layer

    sim = _simulator(circuit, signed, a_bits, b_bits, a_bus, b_bus, msb_first)
    data = None
    if data_path:
        import numpy as np

        try:
            with np.load(data_path) as archive:
                data = {k: archive[k] for k in ("x", "w")}
        except (OSError, KeyError, ValueError) as exc:
            raise AppMultError(f"cannot read float arrays x and w: {exc}", data_path) from None
    report = verify_layer(sim, layer, batch=batch, in_features=in_features, out_features=out_features,
                          channels=channels, out_channels=out_channels, size=size, kernel=kernel, stride=stride,
                          padding=padding, dilation=dilation, groups=groups, per_channel=per_channel, device=device,
                          seed=seed, half_window=half_window, data=data)
    report["circuit"] = os.fspath(circuit)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        g, r, k, c = report["gemm_shape"]
        click.echo(f"{circuit}: {report['multiplier']}, {layer} on {device}: GEMM {g} x ({r} x {k}) @ ({k} x {c}), "
                   f"{report['operand_pairs_evaluated']} distinct operand pairs evaluated on the circuit")
        click.echo(f"  LUT GEMM == circuit:        {'yes' if report['lut_equals_circuit'] else 'NO'} "
                   f"({report['mismatches']} mismatching outputs)")
        click.echo(f"  accumulator error vs exact: {report['accumulator_error_vs_exact']:.6f} (mean |diff| / mean |exact|)")
        click.echo(f"  output error vs float:      {report['output_error_vs_float']:.6f} "
                   f"(exact multiplier: {report['exact_multiplier_output_error_vs_float']:.6f})")
        for name, g in report["gradients_vs_ste"].items():
            click.echo(f"  {name:6s} gradients vs STE:  grad_A {g['grad_A_vs_ste']:.4f}, grad_B {g['grad_B_vs_ste']:.4f}")
        click.echo(f"  LUT GEMM throughput:        {report['lut_gemm_mac_per_s']:.3e} MAC/s")
    if not report["lut_equals_circuit"]:
        click.echo(f"error: {circuit}: LUT GEMM and circuit disagree on {report['mismatches']} outputs", err=True)
        sys.exit(3)
