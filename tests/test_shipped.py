"""The circuits and LUTs the repository ships stay what the generators and simulator make."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from appmult_char import ProductLUT, load_lut, read_blif, simulate
from appmult_char.cli import main
from appmult_char.generators import multiplier
from appmult_char.io.blif import format_blif

from .conftest import ROOT

SHIPPED = sorted((ROOT / "circuits").glob("*.blif"))
NAME = re.compile(r"mul(\d+)x(\d+)([us])_(?:exact|trunc(\d+))")


def _spec(path):
    n, m, kind, t = NAME.fullmatch(path.stem).groups()
    return int(n), int(m), kind == "s", int(t or 0)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_circuit_is_generator_output(path):
    n, m, signed, t = _spec(path)
    assert path.read_text() == format_blif(multiplier(n, m, signed, t))


SHIPPED_VERILOG = sorted((ROOT / "circuits").glob("*.v"))


@pytest.mark.parametrize("path", SHIPPED_VERILOG, ids=[p.stem for p in SHIPPED_VERILOG])
def test_shipped_verilog_is_generator_output(path):
    from appmult_char.io.verilog import format_verilog

    n, m, signed, t = _spec(path)
    assert path.read_text() == format_verilog(multiplier(n, m, signed, t))


def truncated_products(n: int, m: int, signed: bool, t: int) -> np.ndarray:
    """Closed form of a multiplier that keeps the partial products of weight >= 2^t:
    ``sum over i + j >= t of s_ij a_i b_j 2^(i+j)`` with ``s_ij = -1`` where exactly one of
    ``i``, ``j`` is a sign bit (two's complement), taken modulo ``2^(n+m)`` in the
    product's own range. With ``t = 0`` it is ``a * b``."""
    a = np.arange(1 << n, dtype=np.int64)[:, None]
    b = np.arange(1 << m, dtype=np.int64)[None, :]
    total = np.zeros((1 << n, 1 << m), dtype=np.int64)
    for i in range(n):
        for j in range(m):
            if i + j >= t:
                sign = -1 if signed and (i == n - 1) != (j == m - 1) else 1
                total += sign * (((a >> i) & 1) * ((b >> j) & 1) << (i + j))
    width = n + m
    total %= 1 << width
    return total - ((total >> (width - 1)) << width) if signed else total


@pytest.mark.parametrize("lut_path", sorted((ROOT / "luts").glob("*.npz")), ids=lambda p: p.stem)
def test_shipped_lut_matches_its_circuit_and_the_closed_form(lut_path):
    circuit = ROOT / "circuits" / f"{lut_path.stem}.blif"
    n, m, signed, t = _spec(circuit)
    lut = load_lut(lut_path)
    assert lut == simulate(circuit, signed=signed)
    assert np.array_equal(lut.table, truncated_products(n, m, signed, t))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), m=st.integers(1, 6), signed=st.booleans(), data=st.data())
def test_generated_truncated_multipliers_follow_the_closed_form(n, m, signed, data):
    t = data.draw(st.integers(0, n + m))
    assert np.array_equal(simulate(multiplier(n, m, signed, t), signed=signed).table, truncated_products(n, m, signed, t))


def test_closed_form_is_the_product_without_truncation():
    for n, m, signed in ((3, 5, False), (4, 4, True), (5, 3, True)):
        assert np.array_equal(truncated_products(n, m, signed, 0), ProductLUT.exact(n, m, signed).table)


def test_generate_command_writes_what_the_generator_makes(tmp_path):
    out = tmp_path / "g.blif"
    result = CliRunner().invoke(main, ["generate", "truncated", "5", "3", "--truncate", "2", "--signed", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == format_blif(multiplier(5, 3, True, 2))
    assert read_blif(out).name == "mul5x3s_trunc2"


def test_generate_truncated_needs_truncate(tmp_path):
    result = CliRunner().invoke(main, ["generate", "truncated", "4", "4", "-o", str(tmp_path / "x.blif")])
    assert result.exit_code == 1 and "needs --truncate" in result.stderr
