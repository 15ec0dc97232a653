"""Readers and writers: BLIF netlists, AppMult text LUTs, `.npz` archives."""

from __future__ import annotations

import os

from .._errors import AppMultError

__all__ = ["save_lut", "load_lut", "lut_format"]


def lut_format(path) -> str:
    """``npz`` or ``text``, from the file name's suffix."""
    name = os.fspath(path)
    if name.endswith(".npz"):
        return "npz"
    if name.endswith((".txt", ".txt.gz")):
        return "text"
    raise AppMultError("unknown LUT format: use a .npz, .txt or .txt.gz file name", name)


def save_lut(lut, path, tied=()) -> None:
    """Save `lut` as `.npz` or AppMult text, by suffix."""
    if lut_format(path) == "npz":
        from .npz import save_npz

        save_npz(lut, path)
    else:
        from .appmult_text import write_lut_text

        write_lut_text(lut, path, tied)


def load_lut(path, signed: bool = False):
    """Load a LUT from `.npz` or AppMult text, by suffix (`signed` applies to text only)."""
    if lut_format(path) == "npz":
        from .npz import load_npz

        return load_npz(path)
    from .appmult_text import read_lut_text

    return read_lut_text(path, signed)
