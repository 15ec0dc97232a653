"""The ``appmult-char`` command group (see the package docstring). Each command's module
is imported only when that command runs (or help lists it)."""

from __future__ import annotations

from importlib import import_module

import click

__all__ = ["main"]

#: Command name -> the module (of this package) that defines it, in help order.
COMMANDS = {"simulate": "circuits", "metrics": "circuits", "info": "circuits", "generate": "circuits", "convert": "circuits",
            "gradient": "analyses", "htp": "analyses", "verify": "layers", "retrain": "training",
            "select": "selection", "characterize": "library",
            "report": "library"}


class _Commands(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = COMMANDS.get(name)
        return getattr(import_module(f".{module}", __package__), name) if module else None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="appmult-char")
def main() -> None:
    """Characterize approximate multipliers from their gate-level netlists."""
