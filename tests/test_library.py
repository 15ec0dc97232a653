"""Library tables (`appmult_char.library`): rows equal the per-circuit commands, reruns and
killed batches lose nothing, failures stay in their rows, formats round-trip, and a Dask
cluster gives the local table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from appmult_char.cli import main
from appmult_char.generators import broken_array_multiplier, multiplier
from appmult_char.io.blif import write_blif
from appmult_char.library import (COLUMNS, CharacterizeOptions, LocalExecutor, characterize, gate_type, journal_path,
                                  read_table, write_table)
from appmult_char.library.gates import area_proxy
from appmult_char.netlist import Netlist, Node

from .conftest import REFDATA, ROOT, refdata

METRICS = [c for c in COLUMNS if c in ("pairs", "error_count", "sum_abs", "sum_sq", "sum_err", "max_abs",
                                       "nonzero_exact", "wce", "sum_rel", "max_rel", "er", "med", "nmed", "mred",
                                       "mse", "wcre", "bias", "std", "mae", "ep", "mre", "nmed_pow2",
                                       "wcre_percent", "mae_percent", "wce_percent")]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("APPMULT_CHAR_CACHE", str(tmp_path / "cache"))


def _generated(folder, count: int = 50) -> list[str]:
    """`count` small generated circuits: exact, truncated and broken-array, 3..6 bits."""
    folder.mkdir(exist_ok=True)
    paths = []
    specs = [(n, m, t, None) for n in range(3, 7) for m in (n, n - 1) for t in range(0, n + m - 2, 2)]
    specs += [(n, n, 0, (v, h)) for n in range(4, 7) for v in range(1, n) for h in (1, 2)]
    for n, m, t, brk in specs[:count]:
        net = broken_array_multiplier(n, m, *brk) if brk else multiplier(n, m, False, t)
        path = folder / f"{net.name}_{len(paths)}.blif"
        write_blif(net, path)
        paths.append(os.fspath(path))
    assert len(paths) == count
    return paths


@refdata
@pytest.mark.filterwarnings("ignore:.*constant drivers added")
def test_batch_rows_equal_the_per_circuit_commands(tmp_path):
    paths = sorted(os.fspath(p) for p in REFDATA.iterdir() if p.suffix in (".blif", ".v")) + _generated(tmp_path / "g")
    out = tmp_path / "lib.csv"
    result = CliRunner().invoke(main, ["characterize", *paths, "-o", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    rows = read_table(out)
    assert [r["source"] for r in rows] == paths and not any(r["error"] for r in rows)
    for row in rows:
        metrics = json.loads(CliRunner().invoke(main, ["metrics", row["source"], "--json"]).stdout)[0]
        assert {k: row[k] for k in METRICS} == {k: metrics[k] for k in METRICS}, row["source"]
        info = json.loads(CliRunner().invoke(main, ["info", row["source"], "--json"]).stdout)[0]
        assert {k: row[k] for k in ("inputs", "outputs", "nodes", "cubes", "literals", "depth")} == \
            {k: info[k] for k in ("inputs", "outputs", "nodes", "cubes", "literals", "depth")}
        assert sum(row[f"gates_{t}"] for t in ("const", "buf", "not", "and", "nand", "or", "nor", "xor", "xnor",
                                               "mux", "maj", "complex")) == row["nodes"]
        assert row["delay_proxy"] == row["depth"] and row["htp_terms"] >= 1 and row["htp_mae"] >= 0
    by_name = {r["name"]: r for r in rows}
    for name in ("mul7u_06Q", "mul8u_17C8"):  # the Verilog and the BLIF of one design: one function
        assert by_name[name]["lut_hash"] == by_name[f"{name}_sop"]["lut_hash"]
    rerun = CliRunner().invoke(main, ["characterize", *paths, "-o", str(out)])
    assert f"({len(paths)} reused, 0 failed)" in rerun.stdout
    assert read_table(out) == rows


def test_rerun_reuses_rows_and_recomputes_changed_files(tmp_path, monkeypatch):
    paths = _generated(tmp_path / "g", 6)
    out = tmp_path / "lib.json"
    first = characterize(paths, out, executor=LocalExecutor(1))
    import appmult_char.library.batch as module

    calls = []
    real = module.characterize_circuit
    monkeypatch.setattr(module, "characterize_circuit", lambda p, o: calls.append(p) or real(p, o))
    assert characterize(paths, out, executor=LocalExecutor(1)) == read_table(out) == first
    assert calls == []
    write_blif(multiplier(3, 3, False, 2), paths[2])  # another circuit in that file now
    characterize(paths, out, executor=LocalExecutor(1))
    assert calls == [paths[2]]
    characterize(paths, out, options=CharacterizeOptions(htp_pairs=64), executor=LocalExecutor(1))
    assert len(calls) == 1 + len(paths)  # other options: every row again


def test_a_failing_circuit_is_recorded_and_the_batch_goes_on(tmp_path):
    paths = _generated(tmp_path / "g", 3)
    bad = tmp_path / "bad.blif"
    bad.write_text(".model bad\n.inputs a b\n.outputs y\n.names a b y\n1x 1\n.end\n")
    cycle = tmp_path / "bad.v"
    cycle.write_text("module m(A, B, O); input [1:0] A, B; output [3:0] O; assign O = A * B endmodule\n")
    out = tmp_path / "lib.csv"
    result = CliRunner().invoke(main, ["characterize", paths[0], str(bad), str(cycle), *paths[1:], "-o", str(out),
                                       "--workers", "2"])
    assert result.exit_code == 0, result.output
    rows = read_table(out)
    assert [bool(r["error"]) for r in rows] == [False, True, True, False, False]
    assert rows[1]["error"] == f"{bad}:5: cube '1x' may only contain 0, 1 and -" and rows[1]["med"] is None
    assert rows[2]["error"].startswith(f"{cycle}:1: syntax error")
    assert "(0 reused, 2 failed)" in result.stdout and f"failed: {bad}:5:" in result.stdout


def test_a_killed_batch_resumes_without_losing_rows(tmp_path):
    paths = _generated(tmp_path / "g", 30)
    out = tmp_path / "lib.csv"
    command = [sys.executable, "-m", "appmult_char", "characterize", *paths, "-o", str(out), "--workers", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = journal_path(out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    kept = len([l for l in journal.read_text().splitlines() if l.endswith("}")])
    assert 5 <= kept < 30
    resumed = CliRunner().invoke(main, ["characterize", *paths, "-o", str(out), "--workers", "1"])
    assert resumed.exit_code == 0 and f"({kept} reused, 0 failed)" in resumed.stdout, resumed.output
    fresh = tmp_path / "fresh.csv"
    assert CliRunner().invoke(main, ["characterize", *paths, "-o", str(fresh)]).exit_code == 0
    assert read_table(out) == read_table(fresh) and not journal.exists()


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_tables_round_trip_exactly(tmp_path, suffix):
    rows = characterize(_generated(tmp_path / "g", 3), executor=LocalExecutor(1))
    rows.append({"name": "wide", "source": "w.blif", "sum_sq": 3 << 100, "med": 0.1 + 0.2, "signed": True})
    rows.append({"name": "failed", "source": "f.blif", "error": "f.blif:3: syntax error"})
    path = tmp_path / f"t{suffix}"
    write_table(rows, path)
    assert read_table(path) == [{c: r.get(c) for c in COLUMNS} for r in rows]


def test_bad_tables_and_options_are_one_line(tmp_path):
    paths = _generated(tmp_path / "g", 1)
    for args, fragment in (([*paths, "-o", str(tmp_path / "t.xlsx")], "unknown table format"),
                           ([str(tmp_path / "none.blif"), "-o", str(tmp_path / "t.csv")], "no such file"),
                           ([str(tmp_path), "-o", str(tmp_path / "t.csv")], "no circuit files")):
        result = CliRunner().invoke(main, ["characterize", *args])
        assert result.exit_code == 1 and fragment in result.output and "Traceback" not in result.output
    broken = tmp_path / "broken.csv"
    broken.write_text("name,med\nx,1.0,2\n")
    with pytest.raises(Exception, match=r"broken.csv:2: 3 cells, the header has 2"):
        read_table(broken)


def _node(fanins: int, onset_minterms: list[int]) -> Node:
    """A node whose on-set is the given minterms (bit i of a minterm: fanin i)."""
    names = tuple(f"x{i}" for i in range(fanins))
    cubes = tuple("".join(str((m >> i) & 1) for i in range(fanins)) for m in onset_minterms)
    return Node("y", names, cubes)


@pytest.mark.parametrize("fanins, minterms, kind", [
    (0, [], "const"), (1, [1], "buf"), (1, [0], "not"), (2, [3], "and"), (2, [1], "and"), (2, [0], "nor"),
    (2, [0, 1, 2], "nand"), (2, [1, 2, 3], "or"), (2, [1, 2], "xor"), (2, [0, 3], "xnor"),
    (3, [1, 2, 4, 7], "xor"), (3, [3, 5, 6, 7], "maj"), (3, [1, 3, 6, 7], "mux"), (3, [0, 1, 2, 3, 4, 5, 6, 7], "const"),
    (3, [1, 2], "complex"), (4, [15], "and"),
])
def test_gate_types_by_truth_table(fanins, minterms, kind):
    assert gate_type(_node(fanins, minterms)) == kind


def test_area_proxy_weighs_each_gate():
    nodes = {"a": Node("a", ("x", "y"), ("11",)), "b": Node("b", ("a",), ("0",)),
             "c": Node("c", ("a", "b", "x"), ("11-",)), "d": Node("d", ("x", "y"), ("10", "01"))}
    netlist = Netlist("t", ["x", "y"], ["b", "c", "d"], nodes)
    # and2 1.33, not 0.67, c = a & b over three fanins (x unused): complex, 2 literals; xor2 2.33
    assert area_proxy(netlist) == pytest.approx(1.33 + 0.67 + 2.0 + 2.33)


def test_dask_cluster_gives_the_local_table_even_when_a_worker_dies(tmp_path):
    from appmult_char.library import DaskExecutor

    paths = _generated(tmp_path / "g", 12) + [os.fspath(ROOT / "circuits" / "mul8x8u_trunc6.v")]
    local = characterize(paths, tmp_path / "local.csv", executor=LocalExecutor(2))
    with DaskExecutor(workers=2) as executor:
        assert characterize(paths, tmp_path / "dask.csv", executor=executor) == local
        client = executor.client
        killed = []

        def kill_one(done, note):
            if done == 3 and not killed:
                worker = next(iter(client.scheduler_info()["workers"]))
                client.run(lambda: os._exit(1), workers=[worker], on_error="ignore")
                killed.append(worker)

        again = characterize(paths, tmp_path / "again.csv", executor=executor, progress=kill_one)
    assert killed and again == local


def _die_once(item, marker):
    """Kill the worker the first time any item runs; then square the item."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return item * item


def test_a_dead_local_worker_costs_a_retry_not_rows(tmp_path):
    results = dict(LocalExecutor(2).map(_die_once, [1, 2, 3, 4, 5], os.fspath(tmp_path / "died")))
    assert results == {0: 1, 1: 4, 2: 9, 3: 16, 4: 25}


def test_sharded_metrics_equal_the_single_process_run_bit_for_bit():
    from appmult_char.library import DaskExecutor, sharded_metrics
    from appmult_char.sim import simulator

    net = multiplier(10, 10, False, 8)
    whole = simulator(net, backend="numba").metrics()
    assert sharded_metrics(net, LocalExecutor(2)) == whole  # one chunk of 2^20 words: one task
    small = sharded_metrics(net, LocalExecutor(1), chunk_words=512)  # 32 chunks, in order, one process
    assert {k: v for k, v in vars(small).items() if k != "sum_rel"} == \
        {k: v for k, v in vars(whole).items() if k != "sum_rel"}
    assert sharded_metrics(net, LocalExecutor(2), shards=5, chunk_words=512) == small
    with DaskExecutor(workers=2) as executor:
        assert sharded_metrics(net, executor, shards=7, chunk_words=512) == small


def test_metrics_command_shards_over_workers_and_prints_the_same(tmp_path):
    path = tmp_path / "m.blif"
    write_blif(multiplier(9, 9, False, 7), path)
    one = CliRunner().invoke(main, ["metrics", str(path), "--json"])
    two = CliRunner().invoke(main, ["metrics", str(path), "--json", "--workers", "2", "--a-bus", "A", "--b-bus", "B"])
    dask = CliRunner().invoke(main, ["metrics", str(path), "--json", "--dask", "--workers", "2"])
    assert one.exit_code == two.exit_code == dask.exit_code == 0, two.output + dask.output
    assert json.loads(one.stdout) == json.loads(two.stdout) == json.loads(dask.stdout)
