"""Compiled (Numba) formatting of ``a b value`` table lines, for tables large enough
that loading the kernel costs less than it saves (see `appmult_text.write_table`)."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["format_rows", "line_bytes"]


@njit(cache=True, nogil=True, inline="always")
def _put(buf, pos, v):
    """Write the decimal digits of `v` (a ``-`` first when negative) at `pos`; the new position."""
    if v < 0:
        buf[pos] = 45
        pos += 1
        v = -v
    n = 1
    t = v
    while t >= 10:
        t //= 10
        n += 1
    for k in range(n - 1, -1, -1):
        buf[pos + k] = 48 + v % 10
        v //= 10
    return pos + n


@njit(cache=True, nogil=True)
def format_rows(table, first_row, last_row, buf):
    """Write the lines of rows ``[first_row, last_row)`` into `buf`; the number of bytes."""
    pos = 0
    for i in range(first_row, last_row):
        for j in range(table.shape[1]):
            pos = _put(buf, pos, np.int64(i))
            buf[pos] = 32
            pos = _put(buf, pos + 1, np.int64(j))
            buf[pos] = 32
            pos = _put(buf, pos + 1, np.int64(table[i, j]))
            buf[pos] = 10
            pos += 1
    return pos


def line_bytes(table: np.ndarray) -> int:
    """An upper bound on the bytes of one line of `table`."""
    rows, cols = table.shape
    return len(str(rows)) + len(str(cols)) + 20 + 3
