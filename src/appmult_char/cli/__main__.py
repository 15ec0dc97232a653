"""``python -m appmult_char.cli``: the same as the ``appmult-char`` command."""

from . import run

run()
