"""Commands on circuits: ``simulate``, ``metrics``, ``info`` and ``generate``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from ._common import (circuit_simulator, executor_options, is_folder, load_lut_input, mapping_options, open_executor,
                      user_errors)
from ._progress import Progress

__all__ = ["simulate", "metrics", "info", "generate", "convert"]


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Output file (one input) or folder (several). "
              "The format follows the suffix: .npz, or .txt/.txt.gz for the AppMult text.")
@click.option("--format", "fmt", type=click.Choice(["npz", "txt", "txt.gz"]), default=None,
              help="Output format when -o is a folder or absent (default npz).")
@mapping_options
@click.option("--backend", type=click.Choice(["auto", "numba", "numpy", "cuda"]), default="auto", show_default=True,
              help="Simulation back end (cuda: the GPU, numba-cuda).")
@user_errors
def simulate(files: tuple[str, ...], output: str | None, fmt: str | None, backend: str, **mapping: Any) -> None:
    """Simulate BLIF or Verilog circuits exhaustively into product LUTs.

    Every input is read and checked before anything is written; if a later step fails,
    the error line says which outputs were already written.

    \b
    Examples:
      appmult-char simulate circuits/mul8x8u_trunc6.blif -o lut.npz
      appmult-char simulate circuits/mul8*.blif -o out/luts/ --format txt
    """
    from .._errors import AppMultError
    from ..io import lut_format, save_lut

    several = len(files) > 1 or (output is not None and is_folder(output, create=False))
    if output is not None and not several and fmt is not None:
        raise AppMultError("--format applies to an output folder; for one file the suffix of -o decides")
    if several and output is not None and not is_folder(output, create=False):
        raise AppMultError("with several inputs, -o must be a folder (an existing one, or a name ending in /)", output)
    if output is not None and not several:
        targets = [Path(output)]
    else:
        targets = [Path(output or ".") / f"{_stem(path)}.{fmt or 'npz'}" for path in files]
    for target in targets:
        lut_format(target)  # refuse an unknown suffix before simulating
    clash = next((t for i, t in enumerate(targets) if t in targets[:i]), None)
    if clash is not None:
        raise AppMultError("two inputs would write the same output file; simulate them into separate folders",
                           os.fspath(clash))
    sims = _read(files, backend, mapping)
    if output is not None and several:
        is_folder(output)
    written: list[str] = []
    try:
        with Progress("simulating", len(files), unit="circuits") as bar:
            for sim, target in zip(sims, targets):
                bar.step(f"{sim.netlist.source}: LUT")
                lut = sim.lut()
                bar.step(f"{sim.netlist.source}: metrics")
                m = lut.metrics()
                bar.step(f"{sim.netlist.source}: writing {target}")
                save_lut(lut, target, sim.netlist.tied, m)
                written.append(os.fspath(target))
                click.echo(f"{target}: {lut.a_bits}x{lut.b_bits} {'signed' if lut.signed else 'unsigned'}, "
                           f"ER {m.er:.6g}, MED {m.med:.6g}, WCE {m.wce}")
                bar.update(1)
    except (AppMultError, KeyboardInterrupt) as exc:
        if written and isinstance(exc, AppMultError):
            raise AppMultError(f"{exc} (already written: {', '.join(written)})") from None
        raise


def _read(files: tuple[str, ...], backend: str, mapping: dict) -> list:
    """The `Simulator` of every input, read and compiled before any work is written."""
    sims = []
    with Progress("reading", len(files), unit="circuits") as bar:
        for path in files:
            sims.append(circuit_simulator(path, backend=backend, status=bar.step, **mapping))
            bar.update(1)
    return sims


_OPERAND_OPTIONS = ("a_bits", "b_bits", "a_bus", "b_bus", "msb_first")
_SHOWN = ("er", "med", "nmed", "nmed_pow2", "mred", "mse", "wce", "wcre", "bias", "std",
          "mae_percent", "wce_percent", "ep", "mre", "wcre_percent")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@mapping_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with one object per file.")
@click.option("--backend", type=click.Choice(["auto", "numba", "numpy", "cuda"]), default="auto", show_default=True,
              help="Simulation back end (cuda: the GPU, numba-cuda).")
@executor_options
@user_errors
def metrics(files: tuple[str, ...], as_json: bool, backend: str, workers: int | None, use_dask: bool,
            scheduler: str | None, **mapping: Any) -> None:
    """Exact error metrics, streamed over all input pairs (no LUT is built).

    Works for wide circuits too: a 16x16 multiplier (2^32 pairs) takes 25-30 s on two
    cores. --workers, --dask or --scheduler shard the pairs by range over processes or a
    Dask cluster, with the same result bit for bit.

    \b
    Examples:
      appmult-char metrics circuits/mul8x8u_trunc6.blif
      appmult-char metrics circuits/mul12x12u_exact.blif --json
    """
    sims = _read(files, backend, mapping)
    total = sum(1 << (sim.a_bits + sim.b_bits) for sim in sims)
    results = []
    with open_executor(workers, use_dask, scheduler) as executor:
        with Progress("metrics", total, unit="pairs") as bar:
            for path, sim in zip(files, sims):
                bar.step(os.fspath(path))
                if executor is None:
                    results.append((path, sim.metrics(bar.update)))
                else:
                    from ..library import sharded_metrics

                    results.append((path, sharded_metrics(sim.netlist, executor, signed=sim.signed,
                                                          backend="numba" if backend == "auto" else backend,
                                                          progress=bar.update,
                                                          **{k: mapping[k] for k in _OPERAND_OPTIONS})))
    if as_json:
        click.echo(json.dumps([{"file": os.fspath(p), **r.to_dict()} for p, r in results], indent=2))
        return
    for path, r in results:
        click.echo(f"{path}: {r.a_bits}x{r.b_bits} {'signed' if r.signed else 'unsigned'}, {r.pairs} pairs")
        for name in _SHOWN:
            click.echo(f"  {name:13s} {getattr(r, name):.10g}")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@mapping_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with one object per file.")
@user_errors
def info(files: tuple[str, ...], as_json: bool, **mapping: Any) -> None:
    """Netlist statistics and the operand mapping that simulation would use.

    \b
    Examples:
      appmult-char info circuits/mul12x12u_exact.blif
      appmult-char info circuits/mul8*.blif --json
    """
    rows = []
    for path, sim in zip(files, _read(files, "numpy", mapping)):
        nl, ops = sim.netlist, sim.operands
        rows.append({
            "file": os.fspath(path), "model": nl.name, **nl.stats(),
            "a": [nl.inputs[i] for i in ops.a_inputs], "b": [nl.inputs[i] for i in ops.b_inputs],
            "product": [nl.outputs[i] for i in ops.outputs], "tied_constants": nl.tied, "swept_nodes": nl.swept,
            "word_ops": sim.program.size, "slots": sim.program.nslots,
        })
    if as_json:
        click.echo(json.dumps(rows, indent=2))
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
@click.option("-o", "--output", type=click.Path(), required=True,
              help="Circuit file to write: BLIF, or structural Verilog for a .v name.")
@user_errors
def generate(kind: str, a_bits: int, b_bits: int, signed: bool, truncate: int, output: str) -> None:
    """Write a generated A_BITS x B_BITS multiplier as BLIF or Verilog (exact or truncated partial products).

    \b
    Examples:
      appmult-char generate exact 4 4 -o mul4.blif
      appmult-char generate truncated 8 8 --truncate 6 --signed -o mul8s_t6.blif
      appmult-char generate exact 8 8 -o mul8.v
    """
    from .._errors import AppMultError
    from ..generators import multiplier
    from ..io import write_circuit

    if kind == "truncated" and truncate == 0:
        raise AppMultError("a truncated multiplier needs --truncate T with T >= 1")
    netlist = multiplier(a_bits, b_bits, signed, truncate if kind == "truncated" else 0)
    write_circuit(netlist, output)
    click.echo(f"{output}: {netlist.name}, {len(netlist.nodes)} nodes")


def _stem(path: str) -> str:
    """The file name without its circuit suffix."""
    from ..io import CIRCUIT_SUFFIXES

    name = Path(path).name
    return next((name.removesuffix(s) for s in CIRCUIT_SUFFIXES if name.endswith(s)), name)


@click.command()
@click.argument("input_path", metavar="IN", type=click.Path())
@click.argument("output", metavar="OUT", type=click.Path(dir_okay=False))
@mapping_options
@user_errors
def convert(input_path: str, output: str, **mapping: Any) -> None:
    """Convert a LUT (or a circuit, simulated) between formats, by suffix: AppMult text
    (.txt, .txt.gz), .npz, TorchApprox's NumPy array (.npy), TFApprox's table (.bin, 8x8
    unsigned) and an AdaPT C header (.h, 8x8 signed). --signed reads .npy and text as
    two's complement (.bin is unsigned, .h signed by definition).

    \b
    Examples:
      appmult-char convert circuits/mul8x8u_trunc6.blif mul8u_trunc6.bin
      appmult-char convert circuits/mul8x8s_exact.blif --signed mul8s_exact.h
      appmult-char convert mul8s_exact.h mul8s_exact.npz
    """
    from ..io import lut_format, save_lut

    lut_format(output)  # refuse an unknown suffix before reading
    lut = load_lut_input(input_path, **mapping)
    save_lut(lut, output)
    click.echo(f"{output}: {lut.a_bits}x{lut.b_bits} {'signed' if lut.signed else 'unsigned'} LUT from {input_path}")
