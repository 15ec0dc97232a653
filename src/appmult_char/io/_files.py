"""Reading text files with one-line errors, and writing files atomically."""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from pathlib import Path

from .._errors import AppMultError

__all__ = ["read_text", "atomic_output", "discard_pending", "suffix_kind"]

#: Temporary files of `atomic_output` not yet renamed into place (what an interrupted
#: process must remove before it exits).
_PENDING: set[str] = set()


def read_text(path: str | os.PathLike) -> str:
    """The file's text (gzip-compressed files accepted); clear errors for bad files."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise AppMultError("no such file", path) from None
    except IsADirectoryError:
        raise AppMultError("is a directory, not a file", path) from None
    except OSError as exc:
        raise AppMultError(f"cannot read: {exc.strerror}", path) from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise AppMultError(f"corrupt gzip data ({exc})", path) from None
    if not data.strip():
        raise AppMultError("file is empty", path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise AppMultError(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", path, line) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb"):
    """Open a temporary file beside `path`; rename it over `path` only on success."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as exc:
        raise AppMultError(f"cannot write: {exc.strerror}", os.fspath(path)) from None
    _PENDING.add(tmp)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        _PENDING.discard(tmp)


def discard_pending() -> None:
    """Remove every temporary file that `atomic_output` has not renamed yet."""
    for tmp in list(_PENDING):
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def suffix_kind(path, suffixes: tuple[str, ...], refusal: str) -> str:
    """The suffix of `path` among `suffixes`, without its dot; else `refusal` as the
    error naming the file."""
    name = os.fspath(path)
    for suffix in suffixes:
        if name.endswith(suffix):
            return suffix[1:]
    raise AppMultError(refusal, name)
