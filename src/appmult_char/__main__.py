"""``python -m appmult_char`` runs the command line."""

from .cli import run

run()
