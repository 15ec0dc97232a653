"""Characterize many circuits into one table: a row per circuit (netlist statistics, gate
types, area and delay proxies, every exact error metric, the LUT's hash, an HTP fit).

`characterize` runs the rows on an `Executor` (processes on this machine, or a Dask
cluster), appends each finished row to a journal beside the output (``.OUT.partial.jsonl``,
flushed row by row), and writes the table atomically at the end; a rerun reuses every row
of the table or the journal whose file content (SHA-256) and options are unchanged, so a
killed batch loses nothing that had finished. A circuit that fails gets a row with its
`error` and no metrics; the batch goes on. The reader's warnings (tied nets, a name that
suggests another signedness) go to the row's `warnings`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from .._errors import AppMultError, AppMultWarning
from .executors import Executor, LocalExecutor
from .gates import area_proxy, gate_counts
from .table import COLUMNS, read_table, write_table

__all__ = ["CharacterizeOptions", "characterize_circuit", "characterize_content", "characterize", "journal_path"]


@dataclass(frozen=True)
class CharacterizeOptions:
    """How each circuit is read and fitted (part of every row's reuse key)."""

    signed: bool = False
    htp_pairs: int = 1 << 16  # HTP fitted on all pairs up to this many, else on a seeded sample
    seed: int = 0
    top: str | None = None
    yosys: str | None = None  # not part of the key: any yosys gives the same netlist function

    def key(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if k != "yosys"}, sort_keys=True)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _name(path: str) -> str:
    from ..io import CIRCUIT_SUFFIXES

    name = Path(path).name
    return next((name.removesuffix(s) for s in CIRCUIT_SUFFIXES if name.endswith(s)), name)


def characterize_circuit(path: str, options: CharacterizeOptions = CharacterizeOptions()) -> dict:
    """The table row of one circuit file (errors recorded in the row, never raised)."""
    row: dict = {"name": _name(path), "source": os.fspath(path), "options": options.key()}
    try:
        row["sha256"] = _sha256(path)
    except OSError as exc:
        return {**row, "error": f"{path}: cannot read: {exc.strerror}"}
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            row.update(_measure(path, options))
        ours = [str(w.message) for w in caught if issubclass(w.category, AppMultWarning)]
        if ours:
            row["warnings"] = "; ".join(ours)
    except AppMultError as exc:
        row["error"] = str(exc)
    except Exception as exc:  # one circuit's failure must not stop a batch of hundreds
        row["error"] = f"{path}: {type(exc).__name__}: {exc}".splitlines()[0]
    return row


def characterize_content(item: tuple[str, bytes], options: CharacterizeOptions = CharacterizeOptions()) -> dict:
    """`characterize_circuit` of a file's ``(path, content)``, for workers that cannot see
    the file: the content is written to a temporary file of the same name."""
    import tempfile

    path, content = item
    with tempfile.TemporaryDirectory(prefix="appmult-char-") as work:
        local = os.path.join(work, os.path.basename(path))
        with open(local, "wb") as fh:
            fh.write(content)
        row = characterize_circuit(local, options)
    row["source"] = path
    if row.get("error"):
        row["error"] = row["error"].replace(local, path)
    return row


def _measure(path: str, options: CharacterizeOptions) -> dict:
    from ..sim import simulator
    from ..surrogates import fidelity_report

    sim = simulator(path, signed=options.signed, top=options.top, yosys=options.yosys)
    netlist = sim.netlist
    out = {"a_bits": sim.a_bits, "b_bits": sim.b_bits, "signed": options.signed, **netlist.stats(),
           **{f"gates_{t}": n for t, n in gate_counts(netlist).items()},
           "area_proxy": area_proxy(netlist), "delay_proxy": netlist.depth()}
    metrics = sim.metrics().to_dict()
    out.update({k: v for k, v in metrics.items() if k in COLUMNS})
    if sim.a_bits + sim.b_bits <= 24:  # the LUT itself (16 M entries at most)
        lut = sim.lut()
        out["lut_hash"] = lut.hash
        source = lut
    else:
        source = sim
    report, models = fidelity_report(source, options.htp_pairs, options.seed)
    out.update(htp_terms=report["models"]["htp"]["terms"], htp_mae=report["models"]["htp"]["mae"],
               htp_model=repr(models["htp"]))
    return out


def journal_path(output: str | os.PathLike) -> Path:
    """Where `characterize` journals the rows of a batch writing `output`."""
    output = Path(output)
    return output.parent / f".{output.name}.partial.jsonl"


def _previous(output: Path, journal: Path) -> dict[tuple[str, str, str], dict]:
    """Rows of an earlier run (its table, then its journal), by (source, sha256, options);
    failed rows are not kept (they run again)."""
    rows: list[dict] = []
    if output.exists():
        try:
            rows += read_table(output)
        except AppMultError:
            pass  # an unreadable old table is rewritten, not trusted
    if journal.exists():
        for line in journal.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # the line being written when the batch was killed
    return {(r.get("source"), r.get("sha256"), r.get("options")): r for r in rows if not r.get("error")}


def characterize(paths: Iterable[str | os.PathLike], output: str | os.PathLike | None = None, *,
                 options: CharacterizeOptions = CharacterizeOptions(), executor: Executor | None = None,
                 progress: Callable[[int, str], None] | None = None) -> list[dict]:
    """Rows of every circuit in `paths`, in the order given; with `output`, resumed from
    and written to that table (see the module docstring). `progress(done, note)` hears
    each finished row."""
    paths = [os.fspath(p) for p in paths]
    output = Path(output) if output is not None else None
    journal = journal_path(output) if output is not None else None
    previous = _previous(output, journal) if output is not None else {}
    rows: list[dict | None] = [None] * len(paths)
    todo = []
    for i, path in enumerate(paths):
        try:
            digest = _sha256(path)
        except OSError:
            digest = None
        reused = previous.get((path, digest, options.key()))
        if reused is not None:
            rows[i] = {c: reused.get(c) for c in COLUMNS}
        else:
            todo.append(i)
    done = len(paths) - len(todo)
    if progress:
        progress(done, f"{done} rows reused")
    executor = executor or LocalExecutor()
    if executor.remote:
        fn, items = characterize_content, [(paths[i], Path(paths[i]).read_bytes()) for i in todo]
    else:
        fn, items = characterize_circuit, [paths[i] for i in todo]
    sink = open(journal, "a") if journal is not None else None
    try:
        for i, row in executor.map(fn, items, options, indices=todo):
            if isinstance(row, BaseException):  # the worker itself failed (not the circuit)
                row = {"name": _name(paths[i]), "source": paths[i], "options": options.key(),
                       "error": f"{paths[i]}: {type(row).__name__}: {row}".splitlines()[0]}
            rows[i] = row = {c: row.get(c) for c in COLUMNS}
            if sink is not None:
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                os.fsync(sink.fileno())
            done += 1
            if progress:
                progress(done, row["name"] + (" (failed)" if row.get("error") else ""))
    finally:
        if sink is not None:
            sink.close()
    result = [r for r in rows if r is not None]
    if output is not None:
        write_table(result, output)
        journal.unlink(missing_ok=True)
    return result
