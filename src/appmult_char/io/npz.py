"""Lossless `.npz` storage of a `ProductLUT` (the table under the key ``lut``)."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from .._errors import AppMultError
from ..lut import ProductLUT
from ._files import atomic_output

__all__ = ["save_npz", "load_npz"]


def save_npz(lut: ProductLUT, path) -> None:
    """Write `lut` with its widths, signedness, name, source and content hash."""
    with atomic_output(path) as fh:
        np.savez_compressed(
            fh, lut=lut.table, n=lut.n, m=lut.m, signed=lut.signed, output_bits=lut.output_bits,
            name=lut.name, source=lut.source or "", hash=lut.hash,
        )


def load_npz(path) -> ProductLUT:
    """Read a LUT written by `save_npz`; the stored hash must match the values."""
    where = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise AppMultError("no such file", where) from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise AppMultError(f"not a readable .npz LUT ({exc})", where) from None
    missing = {"lut", "n", "m", "signed"} - set(fields)
    if missing:
        raise AppMultError(f"not an appmult-char LUT: missing {', '.join(sorted(missing))}", where)
    lut = ProductLUT(
        fields["lut"], int(fields["n"]), int(fields["m"]), bool(fields["signed"]),
        int(fields["output_bits"]) if "output_bits" in fields else None,
        str(fields.get("name", "")), str(fields.get("source", "")) or None,
    )
    if "hash" in fields and str(fields["hash"]) != lut.hash:
        raise AppMultError("content hash does not match the stored LUT (file corrupted?)", where)
    return lut
