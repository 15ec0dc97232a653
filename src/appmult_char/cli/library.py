"""The ``characterize`` and ``report`` commands: a table of a whole library of circuits,
and its HTML page."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ._common import executor_options, open_executor, user_errors
from ._progress import Progress

__all__ = ["characterize", "report"]


def circuit_files(paths: tuple[str, ...]) -> list[str]:
    """The circuit files named, folders expanded to their circuit files (sorted)."""
    from .._errors import AppMultError
    from ..io import CIRCUIT_SUFFIXES, is_circuit_file

    files: list[str] = []
    for path in paths:
        if Path(path).is_dir():
            found = sorted(os.fspath(p) for p in Path(path).iterdir() if is_circuit_file(p))
            if not found:
                raise AppMultError(f"no circuit files ({', '.join(CIRCUIT_SUFFIXES)}) in the folder", path)
            files += found
        elif not Path(path).exists():
            raise AppMultError("no such file", path)
        else:
            files.append(path)
    return files


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The table: .csv, .json or .parquet (pyarrow). Rerunning into it reuses unchanged rows.")
@executor_options
@click.option("--signed", is_flag=True, help="Two's-complement operands and product, for every circuit.")
@click.option("--top", help="Verilog: the top module of every file [default: the one yosys finds].")
@click.option("--yosys", help="Verilog: the yosys executable.")
@click.option("--htp-pairs", type=click.IntRange(min=16), default=1 << 16, show_default=True,
              help="Fit the HTP model on all pairs up to this many, else on a seeded sample of this many.")
@user_errors
def characterize(paths: tuple[str, ...], output: str, workers: int | None, use_dask: bool, scheduler: str | None,
                 signed: bool, top: str | None, yosys: str | None, htp_pairs: int) -> None:
    """Characterize every circuit (BLIF or Verilog files, or folders of them) into one table.

    One row per circuit: name, file and SHA-256, widths, signedness, inputs, outputs,
    gates by type, literals, depth, every exact error metric, the LUT's hash, the HTP
    fit (terms, MAE), an area proxy (NAND2 equivalents) and a delay proxy (levels). A
    circuit that fails gets its error in its row; the batch goes on. An interrupted run
    resumes: finished rows are journaled as they come and reused, as are rows of an
    earlier table whose file and options are unchanged.

    \b
    Examples:
      appmult-char characterize circuits -o library.csv
      appmult-char characterize lib/*.v --workers 8 -o library.parquet
      appmult-char characterize lib --scheduler tcp://10.0.0.1:8786 -o library.parquet
    """
    from ..library import CharacterizeOptions
    from ..library import characterize as run
    from ..library.table import table_format

    table_format(output)  # an unknown suffix is refused before any work
    files = circuit_files(paths)
    options = CharacterizeOptions(signed=signed, htp_pairs=htp_pairs, top=top, yosys=yosys)
    with open_executor(workers, use_dask, scheduler) as executor:
        with Progress("characterize", len(files), unit="circuits") as bar:
            reused = []

            def heard(done: int, note: str) -> None:
                if not reused:
                    reused.append(done)
                bar.update(done - bar.done, note=note)

            rows = run(files, output, options=options, executor=executor, progress=heard)
    failed = [r for r in rows if r.get("error")]
    click.echo(f"{output}: {len(rows)} circuits ({reused[0] if reused else 0} reused, {len(failed)} failed)")
    for row in failed:
        click.echo(f"  failed: {row['error']}")


@click.command()
@click.argument("table", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="The HTML page to write.")
@click.option("--metric", default="med", show_default=True,
              help="The error metric of the Pareto plot (a numeric column: med, mred, er, wce, nmed, mse, ...).")
@click.option("--title", default="Multiplier library", show_default=True)
@user_errors
def report(table: str, output: str, metric: str, title: str) -> None:
    """Write one self-contained HTML page of a `characterize` table: a sortable table of
    every circuit, a Pareto plot of --metric against the area proxy (front highlighted),
    and an error heatmap per circuit (re-simulated from its file). Works offline.

    \b
    Examples:
      appmult-char report library.csv -o report.html
      appmult-char report library.parquet --metric mred -o report.html
    """
    from ..library.report import write_report
    from ..library.table import read_table

    rows = read_table(table)
    with Progress("report", 1) as bar:
        bar.step(f"{table}: {len(rows)} circuits")
        write_report(rows, output, metric, title)
        bar.update(1)
    click.echo(f"{output}: {len(rows)} circuits, Pareto front of {metric} against the area proxy")
