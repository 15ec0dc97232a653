"""The command line: outputs, batch runs, and one clean line for every kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from appmult_char import load_lut
from appmult_char.cli import main
from appmult_char.generators import exact_multiplier
from appmult_char.io.blif import format_blif, write_blif

from .conftest import REFDATA, refdata

GOOD = ".model t\n.inputs a0 a1 b0 b1\n.outputs y0 y1\n.names a0 b0 y0\n11 1\n.names a1 b1 y1\n11 1\n.end\n"
BAD = {
    "syntax": ("model t\n", "syntax error"),
    "unknown_directive": (GOOD.replace(".end", ".frob\n.end"), "unknown directive"),
    "latch": (GOOD.replace(".end", ".latch y0 q 0\n.end"), ".latch is not supported"),
    "cycle": (GOOD.replace("a1 b1 y1", "a1 y0 y1").replace("a0 b0 y0", "a0 y1 y0"), "combinational cycle"),
    "doubly_driven": (GOOD.replace(".end", ".names a0 y1\n1 1\n.end"), "driven twice"),
    "cube_width": (GOOD.replace("11 1\n.names a1", "1 1\n.names a1"), "has 1 inputs but y0 has 2 fanins"),
    "mixed_cover": (GOOD.replace("11 1\n.names a1", "11 1\n00 0\n.names a1"), "mixes on-set and off-set"),
    "undefined_subckt": (GOOD.replace(".end", ".subckt nope x=a0\n.end"), "undefined model"),
    "port_mismatch": (GOOD.replace(".end", ".subckt s q=a0\n.end\n.model s\n.inputs x\n.outputs z\n.names x z\n1 1\n.end"),
                      "port mismatch"),
    "odd_inputs": (GOOD.replace(".inputs a0 a1 b0 b1", ".inputs a0 a1 b0 b1 c"), "cannot split 5 inputs"),
    "non_utf8": (b"\xff\xfe.model t\n", "not UTF-8"),
    "empty": ("", "file is empty"),
}


def _write(tmp_path, content) -> str:
    path = tmp_path / "c.blif"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def _assert_one_line_error(result, message, tmp_path, output):
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not os.path.exists(output)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line(tmp_path, case):
    content, message = BAD[case]
    path = _write(tmp_path, content)
    out = tmp_path / "out.npz"
    result = CliRunner().invoke(main, ["simulate", path, "-o", str(out)])
    _assert_one_line_error(result, message, tmp_path, out)
    if case not in ("non_utf8", "empty", "odd_inputs"):
        assert f"{path}:" in result.stderr  # names the file and line


@pytest.mark.parametrize("args,message", [
    (["--a-bits", "4"], "operand widths (a 4 bits) do not fit the 4 inputs"),
    (["--a-bits", "2", "--b-bits", "3"], "operand widths (a 2 bits, b 3 bits) do not fit the 4 inputs"),
    (["--a-bus", "Q", "--b-bus", "R"], "no input bus named Q"),
])
def test_bad_operand_options(tmp_path, args, message):
    out = tmp_path / "out.npz"
    result = CliRunner().invoke(main, ["simulate", _write(tmp_path, GOOD), "-o", str(out), *args])
    _assert_one_line_error(result, message, tmp_path, out)


def test_lut_too_large_suggests_metrics(tmp_path):
    path = tmp_path / "wide.blif"
    ins = " ".join(f"x{i}" for i in range(44))
    path.write_text(f".model w\n.inputs {ins}\n.outputs y\n.names x0 x1 y\n11 1\n.end\n")
    out = tmp_path / "out.npz"
    result = CliRunner().invoke(main, ["simulate", str(path), "-o", str(out)])
    _assert_one_line_error(result, "use `appmult-char metrics`", tmp_path, out)


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_unreadable_files(tmp_path, make):
    path = tmp_path / "x.blif"
    if make == "directory":
        path.mkdir()
    out = tmp_path / "out.npz"
    result = CliRunner().invoke(main, ["simulate", str(path), "-o", str(out)])
    _assert_one_line_error(result, "no such file" if make == "missing" else "is a directory", tmp_path, out)


def test_unknown_output_suffix(tmp_path):
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["simulate", _write(tmp_path, GOOD), "-o", str(out)])
    _assert_one_line_error(result, "unknown LUT format", tmp_path, out)


def test_real_process_exit_status_and_no_traceback(tmp_path):
    path = _write(tmp_path, BAD["cycle"][0])
    proc = subprocess.run([sys.executable, "-m", "appmult_char", "simulate", path, "-o", str(tmp_path / "o.npz")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "combinational cycle" in proc.stderr
    assert not (tmp_path / "o.npz").exists()


def test_batch_to_folder_and_formats(tmp_path):
    files = []
    for n in (2, 3):
        path = tmp_path / f"m{n}.blif"
        write_blif(exact_multiplier(n, n), path)
        files.append(str(path))
    outdir = tmp_path / "out"
    outdir.mkdir()
    result = CliRunner().invoke(main, ["simulate", *files, "-o", str(outdir), "--format", "txt.gz"])
    assert result.exit_code == 0, result.output
    for n in (2, 3):
        lut = load_lut(outdir / f"m{n}.txt.gz")
        assert np.array_equal(lut.table, lut.exact_table())


def test_signed_and_explicit_widths(tmp_path):
    path = tmp_path / "s.blif"
    path.write_text(format_blif(exact_multiplier(3, 2, signed=True)))
    out = tmp_path / "s.npz"
    result = CliRunner().invoke(main, ["simulate", str(path), "-o", str(out), "--signed", "--a-bits", "3"])
    assert result.exit_code == 0, result.output
    lut = load_lut(out)
    assert lut.signed and (lut.a_bits, lut.b_bits) == (3, 2)
    assert np.array_equal(lut.table, lut.exact_table())


@refdata
def test_metrics_and_info_json():
    blif = str(REFDATA / "mul7u_06Q_sop.blif")
    result = CliRunner().invoke(main, ["metrics", blif, "--json"])
    assert result.exit_code == 0, result.output
    [data] = json.loads(result.stdout)  # always a list, one object per file
    assert data["wce"] == 162 and data["pairs"] == 1 << 14 and data["file"] == blif
    result = CliRunner().invoke(main, ["info", blif, "--json"])
    [info] = json.loads(result.stdout)
    assert info["inputs"] == 14 and info["a"][0] == "A[0]" and info["b"][-1] == "B[6]"
    for command in ("metrics", "info"):
        result = CliRunner().invoke(main, [command, blif, blif, "--json"])
        assert [row["file"] for row in json.loads(result.stdout)] == [blif, blif]
