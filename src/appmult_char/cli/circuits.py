"""Commands on circuits: ``simulate``, ``metrics``, ``info`` and ``generate``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ._common import circuit_simulator, is_folder, mapping_options, progress, user_errors

__all__ = ["simulate", "metrics", "info", "generate"]


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Output file (one input) or folder (several). "
              "The format follows the suffix: .npz, or .txt/.txt.gz for the AppMult text.")
@click.option("--format", "fmt", type=click.Choice(["npz", "txt", "txt.gz"]), default=None,
              help="Output format when -o is a folder or absent (default npz).")
@mapping_options
@click.option("--backend", type=click.Choice(["auto", "numba", "numpy"]), default="auto", show_default=True)
@user_errors
def simulate(files: tuple[str, ...], output: str | None, fmt: str | None, backend: str, **mapping: Any) -> None:
    """Simulate BLIF circuits exhaustively into product LUTs.

    \b
    appmult-char simulate circuits/mul8x8u_trunc6.blif -o lut.npz
    appmult-char simulate circuits/*.blif -o luts/ --format txt
    """
    from .._errors import AppMultError
    from ..io import lut_format, save_lut

    several = len(files) > 1 or (output is not None and is_folder(output))
    if output is not None and not several and fmt is not None:
        raise AppMultError("--format applies to an output folder; for one file the suffix of -o decides")
    if several and output is not None and not is_folder(output):
        raise AppMultError("with several inputs, -o must be a folder (an existing one, or a name ending in /)", output)
    if output is not None and not several:
        lut_format(output)  # refuse an unknown suffix before simulating
    written = []
    with progress(list(files), "simulating") as paths:
        for path in paths:
            sim = circuit_simulator(path, backend=backend, **mapping)
            lut = sim.lut()
            if several or output is None:
                target = Path(output or ".") / f"{Path(path).name.removesuffix('.blif')}.{fmt or 'npz'}"
            else:
                target = Path(output)
            save_lut(lut, target, sim.netlist.tied)
            m = lut.metrics()
            written.append(f"{target}: {lut.a_bits}x{lut.b_bits} {'signed' if lut.signed else 'unsigned'}, "
                           f"ER {m.er:.6g}, MED {m.med:.6g}, WCE {m.wce}")
    click.echo("\n".join(written))


_SHOWN = ("er", "med", "nmed", "nmed_pow2", "mred", "mse", "wce", "wcre", "bias", "std",
          "mae_percent", "wce_percent", "ep", "mre", "wcre_percent")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@mapping_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per file, in a list).")
@user_errors
def metrics(files: tuple[str, ...], as_json: bool, **mapping: Any) -> None:
    """Exact error metrics, streamed over all input pairs (no LUT is built).

    Works for wide circuits too (16x16 takes minutes on two cores).
    """
    results = []
    for path in files:
        sim = circuit_simulator(path, **mapping)
        total = 1 << (sim.a_bits + sim.b_bits)
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
        click.echo(f"{path}: {r.a_bits}x{r.b_bits} {'signed' if r.signed else 'unsigned'}, {r.pairs} pairs")
        for name in _SHOWN:
            click.echo(f"  {name:13s} {getattr(r, name):.10g}")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@mapping_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@user_errors
def info(files: tuple[str, ...], as_json: bool, **mapping: Any) -> None:
    """Netlist statistics and the operand mapping that simulation would use."""
    rows = []
    for path in files:
        sim = circuit_simulator(path, backend="numpy", **mapping)
        nl, ops = sim.netlist, sim.operands
        rows.append({
            "file": os.fspath(path), "model": nl.name, **nl.stats(),
            "a": [nl.inputs[i] for i in ops.a_inputs], "b": [nl.inputs[i] for i in ops.b_inputs],
            "product": [nl.outputs[i] for i in ops.outputs], "tied_constants": nl.tied, "swept_nodes": nl.swept,
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
        if r["swept_nodes"]:
            click.echo(f"  swept     {r['swept_nodes']} nodes that no output depends on")


@click.command()
@click.argument("kind", type=click.Choice(["exact", "truncated"]))
@click.argument("a_bits", metavar="A_BITS", type=click.IntRange(min=1, max=32))
@click.argument("b_bits", metavar="B_BITS", type=click.IntRange(min=1, max=32))
@click.option("--signed", is_flag=True, help="Baugh-Wooley two's-complement multiplier.")
@click.option("--truncate", type=click.IntRange(min=0), default=0,
              help="Drop partial products of weight below 2^T (kind 'truncated').")
@click.option("-o", "--output", type=click.Path(), required=True, help="BLIF file to write.")
@user_errors
def generate(kind: str, a_bits: int, b_bits: int, signed: bool, truncate: int, output: str) -> None:
    """Write a generated A_BITS x B_BITS multiplier as BLIF (exact or truncated partial products)."""
    from .._errors import AppMultError
    from ..generators import multiplier
    from ..io.blif import write_blif

    if kind == "truncated" and truncate == 0:
        raise AppMultError("a truncated multiplier needs --truncate T with T >= 1")
    netlist = multiplier(a_bits, b_bits, signed, truncate if kind == "truncated" else 0)
    write_blif(netlist, output)
    click.echo(f"{output}: {netlist.name}, {len(netlist.nodes)} nodes")
