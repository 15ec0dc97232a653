"""The ``appmult-char`` command group (see the package docstring)."""

from __future__ import annotations

import click

from .analyses import gradient, htp
from .circuits import generate, info, metrics, simulate
from .layers import verify

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="appmult-char")
def main() -> None:
    """Characterize approximate multipliers from their gate-level netlists."""


for _command in (simulate, metrics, info, generate, gradient, htp, verify):
    main.add_command(_command)
