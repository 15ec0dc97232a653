"""The ``appmult-char`` command line.

Errors in the user's input print as one ``error: file:line: problem`` line with exit
status 1 (no traceback); warnings as ``warning: …`` lines. Library modules are imported
inside the commands so that ``--help`` and small jobs start fast. One module per command
group: `circuits` (simulate, metrics, info, generate), `analyses` (gradient, htp),
`layers` (verify); `_common` holds what they share.
"""

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
