"""The library table: one row per circuit, its columns and their types, written and read
as CSV, JSON or Parquet (by suffix; Parquet needs ``pyarrow``, the ``library`` extra).

Values round-trip exactly: floats are written with ``repr`` in CSV, integers as written,
and the exact error sums (which outgrow 64 bits for wide circuits) as decimal strings in
Parquet. A missing value (a failed circuit's metrics) is empty in CSV and null elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from .._errors import AppMultError
from ..io._files import atomic_output, suffix_kind
from ..metrics import ErrorMetrics
from .gates import GATE_TYPES

__all__ = ["COLUMNS", "KINDS", "TABLE_SUFFIXES", "table_format", "write_table", "read_table"]

_SUMS = ("pairs", "error_count", "sum_abs", "sum_sq", "sum_err", "max_abs", "nonzero_exact")
_METRIC_FLOATS = ("sum_rel", "max_rel", *(n for n in ErrorMetrics._DERIVED if n != "wce"))

#: Column name -> kind (str, int, bigint: an exact integer of any size, float, bool), in table order.
KINDS: dict[str, str] = {
    "name": "str", "source": "str", "sha256": "str", "error": "str", "warnings": "str",
    "a_bits": "int", "b_bits": "int", "signed": "bool", "inputs": "int", "outputs": "int", "nodes": "int",
    "cubes": "int", "literals": "int", "depth": "int",
    **{f"gates_{t}": "int" for t in GATE_TYPES},
    "area_proxy": "float", "delay_proxy": "int",
    **dict.fromkeys(_SUMS, "bigint"), "wce": "bigint", **dict.fromkeys(_METRIC_FLOATS, "float"),
    "lut_hash": "str", "htp_terms": "int", "htp_mae": "float", "htp_model": "str",
    "options": "str",
}
COLUMNS = tuple(KINDS)
TABLE_SUFFIXES = (".csv", ".json", ".parquet")


def table_format(path) -> str:
    """``csv``, ``json`` or ``parquet``, from the file name's suffix."""
    return suffix_kind(path, TABLE_SUFFIXES, f"unknown table format: use a {', '.join(TABLE_SUFFIXES)} file name")


def _arrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise AppMultError("Parquet tables need pyarrow: pip install 'appmult-char[library]', or write .csv "
                           "or .json") from None
    return pyarrow


def _schema(pa):
    types = {"str": pa.string(), "int": pa.int64(), "bigint": pa.string(), "float": pa.float64(), "bool": pa.bool_()}
    return pa.schema([(name, types[kind]) for name, kind in KINDS.items()])


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parse(text: str, kind: str, where: str, line: int):
    if text == "":
        return None
    try:
        if kind in ("int", "bigint"):
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            return {"true": True, "false": False}[text]
    except (ValueError, KeyError):
        raise AppMultError(f"not a {kind}: {text!r}", where, line) from None
    return text


def write_table(rows: list[dict], path: str | os.PathLike) -> None:
    """Write `rows` (dicts of `COLUMNS`; missing keys are missing values) atomically."""
    fmt = table_format(path)
    full = [{c: row.get(c) for c in COLUMNS} for row in rows]
    if fmt == "parquet":
        pa = _arrow()
        table = pa.Table.from_pylist([{c: (str(v) if v is not None and KINDS[c] == "bigint" else v)
                                       for c, v in row.items()} for row in full], schema=_schema(pa))
        buffer = pa.BufferOutputStream()
        pa.parquet.write_table(table, buffer)
        with atomic_output(path) as fh:
            fh.write(buffer.getvalue().to_pybytes())
        return
    if fmt == "json":
        text = json.dumps(full, indent=1) + "\n"
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows([_cell(row[c]) for c in COLUMNS] for row in full)
        text = out.getvalue()
    with atomic_output(path, "w") as fh:
        fh.write(text)


def read_table(path: str | os.PathLike) -> list[dict]:
    """The rows of a table written by `write_table` (typed as `KINDS` says)."""
    fmt, where = table_format(path), os.fspath(path)
    if not Path(path).exists():
        raise AppMultError("no such file", where)
    if fmt == "parquet":
        pa = _arrow()
        try:
            rows = pa.parquet.read_table(where).to_pylist()
        except Exception as exc:  # pyarrow's errors have no common base worth naming here
            raise AppMultError(f"not a Parquet table ({exc})".splitlines()[0], where) from None
        return [{c: (int(v) if v is not None and KINDS.get(c) == "bigint" else v) for c, v in row.items()}
                for row in rows]
    text = Path(path).read_text()
    if fmt == "json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AppMultError(f"not a JSON table: {exc.msg}", where, exc.lineno) from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise AppMultError("not a JSON table: want a list of objects", where)
        return rows
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or "name" not in header:
        raise AppMultError("not a library table: no header with a name column", where, 1)
    rows = []
    for number, cells in enumerate(reader, 2):
        if len(cells) != len(header):
            raise AppMultError(f"{len(cells)} cells, the header has {len(header)}", where, number)
        rows.append({c: _parse(v, KINDS.get(c, "str"), where, number) for c, v in zip(header, cells)})
    return rows
