"""The AppMult text LUT formats (``*_lutfp.txt``, ``*_lutfp+bp_avg_W_W.txt``).

Header lines (``INFO: …``), then one or more sections, each a title line followed by one
``a b value`` line per operand pair, `a` the outer and `b` the inner loop. Gzip-compressed
files are read as well. Signed LUTs are written with `a`, `b` as raw bit patterns and the
value as a signed number.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re

import numpy as np

from .._errors import AppMultError
from ..gradients.tables import GRADIENT_SCALE, GradientTables, ste
from ..lut import ProductLUT, lut_dtype
from ..metrics import ErrorMetrics
from ._files import atomic_output, read_text

__all__ = ["LUT_TITLE", "GRAD_A_TITLE", "GRAD_B_TITLE", "write_table", "text_output", "lut_text_header", "write_lut_text",
           "read_sections", "read_lut_text", "write_text", "gradient_text_header", "write_gradient_text",
           "read_gradient_text"]

LUT_TITLE = "LUT for approximate multiplier:"


_LINES_PER_CHUNK = 1 << 18  # bounded memory: about 30 bytes per line at a time
#: ASCII digits of 0..9999, four per number with leading zeros.
_FOUR_DIGITS = (np.arange(10_000)[:, None] // np.array([1000, 100, 10, 1]) % 10 + ord("0")).astype(np.uint8)


def _digits(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-aligned ASCII decimal digits of integers (a leading ``-`` for negatives) as a
    byte matrix, and the mask of its used cells."""
    mag = np.abs(x.astype(np.int64))
    groups = max(1, -(-len(str(int(mag.max(initial=0)))) // 4))
    parts = []
    rest = mag
    for _ in range(groups):  # four digits per table look-up, least significant group last
        rest, group = np.divmod(rest, 10_000)
        parts.append(_FOUR_DIGITS[group])
    width = 4 * groups + 1
    cells = np.empty((len(x), width), dtype=np.uint8)
    cells[:, 1:] = np.concatenate(parts[::-1], axis=1)
    powers = np.int64(10) ** np.arange(1, width - 1, dtype=np.int64)
    length = 1 + np.searchsorted(powers, mag, side="right")
    negative = x < 0
    rows = np.flatnonzero(negative)
    cells[rows, width - 1 - length[rows]] = ord("-")
    used = np.arange(width)[None, :] >= (width - length - negative)[:, None]
    return cells, used


def _table_lines(table: np.ndarray, first_row: int, last_row: int) -> bytes:
    """The ``a b value`` lines of rows ``[first_row, last_row)`` of a 2-D table."""
    rows, cols = last_row - first_row, table.shape[1]
    a_cells, a_used = _digits(np.arange(first_row, last_row))
    b_cells, b_used = _digits(np.arange(cols))
    v_cells, v_used = _digits(table[first_row:last_row].reshape(-1))
    n = rows * cols
    sep = np.full((n, 1), ord(" "), np.uint8)
    cells = np.concatenate([np.repeat(a_cells, cols, axis=0), sep, np.tile(b_cells, (rows, 1)), sep, v_cells,
                            np.full((n, 1), ord("\n"), np.uint8)], axis=1)
    ones = np.ones((n, 1), bool)
    used = np.concatenate([np.repeat(a_used, cols, axis=0), ones, np.tile(b_used, (rows, 1)), ones, v_used, ones],
                          axis=1)
    return cells[used].tobytes()


#: Tables of at least this many entries are formatted by the compiled kernel
#: (`text_kernel`), smaller ones with NumPy, which needs no compilation.
COMPILED_TEXT_MIN = 1 << 18


def write_table(fh, table: np.ndarray) -> None:
    """Write the ``a b value`` lines of a 2-D table to a binary file, in bounded chunks."""
    step = max(1, _LINES_PER_CHUNK // max(1, table.shape[1]))
    if table.size < COMPILED_TEXT_MIN:
        for row in range(0, table.shape[0], step):
            fh.write(_table_lines(table, row, min(table.shape[0], row + step)))
        return
    from .text_kernel import format_rows, line_bytes

    buf = np.empty(step * table.shape[1] * line_bytes(table), dtype=np.uint8)
    for row in range(0, table.shape[0], step):
        fh.write(buf[:format_rows(table, row, min(table.shape[0], row + step), buf)].data)


@contextlib.contextmanager
def text_output(path):
    """A binary file to write text to, atomically; gzip-compressed when `path` ends in ``.gz``."""
    with atomic_output(path) as fh:
        if os.fspath(path).endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=6) as gz:
                yield gz
        else:
            yield fh


def _write_sections(path, header: str, sections: list[tuple[str, np.ndarray]]) -> None:
    with text_output(path) as fh:
        fh.write(header.encode())
        for title, table in sections:
            fh.write(title.encode() + b"\n")
            write_table(fh, table)


def lut_text_header(metrics: ErrorMetrics, tied: list[str] = (), network: str = "") -> str:
    """The reference simulator's header: ABC's constant-driver warning, four INFO lines."""
    lines = []
    if tied:
        lines.append(f'Warning: Constant-0 drivers added to {len(tied)} non-driven nets in network "{network}":')
        lines.append(" ".join(tied))
    lines += [
        f"INFO: Error rate: {metrics.er:g}",
        f"INFO: Mean error distance: {metrics.med:g}",
        f"INFO: Normalized mean error distance: {metrics.nmed_pow2:g}",
        f"INFO: Mean square error: {metrics.mse:g}",
    ]
    return "\n".join(lines) + "\n"


def write_text(path, text: str) -> None:
    """Write text atomically; gzip-compressed when `path` ends in ``.gz``."""
    with text_output(path) as fh:
        fh.write(text.encode())


def write_lut_text(lut: ProductLUT, path, tied: list[str] = (), metrics: ErrorMetrics | None = None) -> None:
    """Write `lut` in the ``*_lutfp.txt`` format (header, then the LUT section), streamed;
    `metrics`, when already known, saves computing them again."""
    header = lut_text_header(metrics or lut.metrics(), tied, lut.name)
    _write_sections(path, header, [(LUT_TITLE, lut.table)])


def read_sections(path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Header lines and ``{title: 2-D table}`` of an AppMult text file."""
    where = os.fspath(path)
    lines = read_text(path).splitlines()
    header: list[str] = []
    sections: dict[str, np.ndarray] = {}
    i = 0
    while i < len(lines) and not lines[i].startswith("LUT for"):
        header.append(lines[i])
        i += 1
    if i == len(lines):
        raise AppMultError(f"no '{LUT_TITLE}' section found", where)
    while i < len(lines):
        title, start = lines[i], i + 1
        i = start
        while i < len(lines) and not lines[i].startswith("LUT for"):
            i += 1
        sections[title] = _parse_table(lines[start:i], where, start + 1, title)
    return header, sections


_INTEGER = re.compile(r"-?[0-9]{1,18}")  # fits int64 with room: wider values are refused, not wrapped


def _bad_line(lines: list[str], where: str, first_line: int) -> AppMultError:
    for k, line in enumerate(lines):
        parts = line.split()
        if len(parts) != 3 or not all(_INTEGER.fullmatch(p) for p in parts):
            return AppMultError(f"expected 'a b value' (three integers of at most 18 digits), got '{line.strip()}'",
                                where, first_line + k)
    return AppMultError("unreadable table", where, first_line)


def _parse_table(lines: list[str], where: str, first_line: int, title: str) -> np.ndarray:
    tokens = " ".join(lines).split()
    if any(len(t) > 19 for t in tokens):
        raise _bad_line(lines, where, first_line)
    try:
        values = np.array(tokens, dtype=np.int64)
    except (ValueError, OverflowError):
        raise _bad_line(lines, where, first_line) from None
    if values.size % 3 or values.size == 0:
        raise AppMultError(f"section '{title}' is truncated", where, first_line + len(lines))
    triples = values.reshape(-1, 3)
    count = len(triples)
    rows = int(triples[:, 0].max()) + 1
    if not 0 < rows <= count or triples[:, :2].min() < 0:
        raise AppMultError(f"section '{title}' has operand indices outside 0..{count - 1}", where, first_line)
    cols = count // rows
    a_bits, b_bits = rows.bit_length() - 1, cols.bit_length() - 1
    expected_a = np.repeat(np.arange(rows), cols)
    expected_b = np.tile(np.arange(cols), rows)
    if (rows != 1 << a_bits or cols != 1 << b_bits or rows * cols != count
            or not np.array_equal(triples[:, 0], expected_a) or not np.array_equal(triples[:, 1], expected_b)):
        bad = next((k for k in range(min(count, expected_a.size))
                    if (triples[k, 0], triples[k, 1]) != (expected_a[k], expected_b[k])), min(count, expected_a.size))
        raise AppMultError(f"section '{title}' is truncated or out of order (want a outer, b inner, each over 0..2^bits-1)",
                           where, first_line + bad)
    return triples[:, 2].reshape(rows, cols)


def read_lut_text(path, signed: bool = False) -> ProductLUT:
    """Read the product LUT of an AppMult text file (either format; gzip accepted)."""
    _, sections = read_sections(path)
    if LUT_TITLE not in sections:
        raise AppMultError(f"no '{LUT_TITLE}' section found", os.fspath(path))
    return _lut_from_table(sections[LUT_TITLE], os.fspath(path), signed)


def _lut_from_table(table: np.ndarray, where: str, signed: bool) -> ProductLUT:
    """A `ProductLUT` of a parsed LUT section, named after the file."""
    a_bits, b_bits = table.shape[0].bit_length() - 1, table.shape[1].bit_length() - 1
    name = os.path.basename(where).split(".")[0]
    bits = a_bits + b_bits
    return ProductLUT(table.astype(lut_dtype(bits, signed)), a_bits, b_bits, signed, bits, name, where)


GRAD_A_TITLE = "LUT for the gradient of the approximate multiplier w.r.t. the first operand:"
GRAD_B_TITLE = "LUT for the gradient of the approximate multiplier w.r.t. the second operand:"


def gradient_text_header(tables: GradientTables, source: str = "") -> str:
    """The reference gradient script's INFO lines, computed in float32 as it does.

    Means of float32 tables can differ from the published files in the last unit, whose
    summation order is not NumPy's. The two "Mean relative error" lines of the published
    files are left out: their definition is not documented and could not be
    reconstructed from the values.
    """
    lut = tables.lut
    w = tables.half_window if tables.half_window is not None else 0
    f = lut.table.astype(np.float32)
    exact = lut.exact_table().astype(np.float32)
    e = f - exact
    scale = np.float32(1 << (lut.a_bits + lut.b_bits))
    hundred = np.float32(100)
    straight = ste(lut)

    def v(x) -> str:
        return repr(float(x))

    lines = [
        f"file_name={source}, half_ws_a={w}, half_ws_b={w}, QUANTIZATION_BIT={lut.a_bits}",
        f"half smoothing window size for grad_a: {w}",
        f"half smoothing window size for grad_b: {w}",
        f"Mean squared error between lut_appmult and lut_accmult: {v(np.mean(e * e))}",
        f"Error rate between lut_appmult and lut_mult: {v(np.mean((e != 0).astype(np.float32)) * hundred)}%",
        f"Mean error distance between lut_appmult and lut_mult: {v(np.mean(np.abs(e)))}",
        f"Normalized mean error distance between lut_appmult and lut_mult: "
        f"{v(float(np.mean(np.abs(e))) / float(scale) * 100)}%",
        f"Maximum error distance between lut_appmult and lut_mult: {v(np.abs(e).max())}",
        f"Normalized maximum error distance between lut_appmult and lut_mult: {v(np.abs(e).max() / scale * hundred)}%",
        f"Mean of lut_appmult: {v(np.mean(f))}",
        f"Mean of lut_mult: {v(np.mean(exact))}",
        f"Mean of grad_a: {v(np.mean(tables.grad_a))}",
        f"Mean of grad_b: {v(np.mean(tables.grad_b))}",
        f"Mean of grad_a_ste: {v(np.mean(straight.grad_a))}",
        f"Mean of grad_b_ste: {v(np.mean(straight.grad_b))}",
        f"Mean squared error between grad_a_ste and grad_a_smooth: {v(np.mean((straight.grad_a - tables.grad_a) ** 2))}",
        f"Mean squared error between grad_b_ste and grad_b_smooth: {v(np.mean((straight.grad_b - tables.grad_b) ** 2))}",
    ]
    return "".join(f"INFO: {line}\n" for line in lines)


def write_gradient_text(tables: GradientTables, path, source: str = "") -> None:
    """Write the ``*_lutfp+bp_avg_W_W.txt`` format: header, LUT, then both int16 gradient tables."""
    grad_a, grad_b = tables.quantized()
    _write_sections(path, gradient_text_header(tables, source),
                    [(LUT_TITLE, tables.lut.table), (GRAD_A_TITLE, grad_a), (GRAD_B_TITLE, grad_b)])


_HALF_WINDOW = re.compile(r"half_ws_a=(\d+)")


def read_gradient_text(path, signed: bool = False) -> GradientTables:
    """The `GradientTables` of a gradient file (all three sections required): the stored
    ``round(16 g)`` values divided by 16, the half window from the header (0: STE)."""
    where = os.fspath(path)
    header, sections = read_sections(path)
    for title in (LUT_TITLE, GRAD_A_TITLE, GRAD_B_TITLE):
        if title not in sections:
            raise AppMultError(f"section '{title}' is missing", where)
    table = sections[LUT_TITLE]
    for title in (GRAD_A_TITLE, GRAD_B_TITLE):
        if sections[title].shape != table.shape:
            raise AppMultError(f"section '{title}' has shape {sections[title].shape}, the LUT {table.shape}", where)
    found = next((m for m in map(_HALF_WINDOW.search, header) if m), None)
    w = int(found.group(1)) if found else 0
    grad_a, grad_b = (sections[t].astype(np.float32) / np.float32(GRADIENT_SCALE) for t in (GRAD_A_TITLE, GRAD_B_TITLE))
    return GradientTables(_lut_from_table(table, where, signed), grad_a, grad_b, "window" if w else "ste", w or None)
