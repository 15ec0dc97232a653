"""The circuits and LUTs the repository ships stay what the generators and simulator make."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from appmult_char import load_lut, read_blif, simulate
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


@pytest.mark.parametrize("lut_path", sorted((ROOT / "luts").glob("*.npz")), ids=lambda p: p.stem)
def test_shipped_lut_matches_its_circuit(lut_path):
    circuit = ROOT / "circuits" / f"{lut_path.stem}.blif"
    n, m, signed, t = _spec(circuit)
    lut = load_lut(lut_path)
    assert lut == simulate(circuit, signed=signed)
    if t == 0:
        assert np.array_equal(lut.table, lut.exact_table())


def test_generate_command_writes_what_the_generator_makes(tmp_path):
    out = tmp_path / "g.blif"
    result = CliRunner().invoke(main, ["generate", "truncated", "5", "3", "--truncate", "2", "--signed", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == format_blif(multiplier(5, 3, True, 2))
    assert read_blif(out).name == "mul5x3s_trunc2"


def test_generate_truncated_needs_truncate(tmp_path):
    result = CliRunner().invoke(main, ["generate", "truncated", "4", "4", "-o", str(tmp_path / "x.blif")])
    assert result.exit_code == 1 and "needs --truncate" in result.stderr
