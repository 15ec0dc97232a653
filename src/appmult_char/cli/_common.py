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

__all__ = ["mapping_options", "user_errors", "circuit_simulator", "is_folder", "progress", "load_lut_input"]


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
    ]
    for option in reversed(options):
        f = option(f)
    return f


def user_errors(f: Callable) -> Callable:
    """Turn `AppMultError` into one line on stderr and exit status 1; show our warnings
    (`AppMultWarning`) as lines too, and silence third-party advisories (e.g. Numba's)."""

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
            finally:
                for w in caught:
                    click.echo(f"warning: {w.message}", err=True)

    return wrapper


def circuit_simulator(path: str, *, backend: str = "auto", signed: bool = False, tie_undriven: bool = False,
                      **mapping: Any) -> Any:
    """The `Simulator` of a BLIF circuit with the command's reading and operand-mapping options."""
    from ..sim import simulator

    return simulator(path, signed=signed, backend=backend, tie_undriven=tie_undriven, **mapping)


def is_folder(output: str) -> bool:
    """An existing folder, or a name ending in a slash (created on demand)."""
    if output.endswith(("/", os.sep)):
        Path(output).mkdir(parents=True, exist_ok=True)
        return True
    return Path(output).is_dir()


def progress(items: list, label: str) -> Any:
    """A progress bar on stderr when there is more than one item to go through."""
    if len(items) <= 1:
        return contextlib.nullcontext(items)
    return click.progressbar(items, label=label, file=sys.stderr, show_pos=True)


def load_lut_input(path: str, *, simulator: bool = False, signed: bool = False, **mapping: Any) -> Any:
    """A `ProductLUT` from a BLIF circuit (simulated), an `.npz` LUT or an AppMult text LUT;
    with `simulator`, a BLIF circuit comes back as its `Simulator` instead (no LUT built)."""
    from ..io import load_lut

    if os.fspath(path).endswith(".blif"):
        sim = circuit_simulator(path, signed=signed, **mapping)
        return sim if simulator else sim.lut()
    return load_lut(path, signed=signed)
