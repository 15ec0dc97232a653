"""The reference circuits reproduce the published LUT files byte for byte."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest
from click.testing import CliRunner

from appmult_char import load_lut
from appmult_char.cli import main
from appmult_char.io.appmult_text import LUT_TITLE

from .conftest import REFDATA, refdata

pytestmark = refdata


def _from_title(text: str) -> str:
    return text[text.index(LUT_TITLE):]


def test_simulate_text_is_byte_identical(circuit, tmp_path):
    out = tmp_path / "lut.txt"
    result = CliRunner().invoke(main, ["simulate", str(REFDATA / f"{circuit}_sop.blif"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    reference = gzip.decompress((REFDATA / f"{circuit}_lutfp.txt.gz").read_bytes()).decode()
    ours = out.read_text()
    assert _from_title(ours) == _from_title(reference)
    info = re.compile(r"^INFO: .*$", re.M)
    assert info.findall(ours) == info.findall(reference)
    assert len(info.findall(ours)) == 4
    assert ours == reference  # including ABC's constant-driver warning where there is one


def test_simulate_npz_equals_reference_values(circuit, tmp_path):
    out = tmp_path / "lut.npz"
    result = CliRunner().invoke(main, ["simulate", str(REFDATA / f"{circuit}_sop.blif"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    ours = load_lut(out)
    reference = load_lut(REFDATA / f"{circuit}_lutfp.txt.gz")
    assert ours.shape == reference.shape
    assert np.array_equal(ours.table, reference.table)
    assert np.load(out)["lut"].shape == reference.shape


def _evoapprox_header(path):
    """The metric comments at the top of an EvoApproxLib Verilog file."""
    values = {}
    for line in path.read_text().splitlines():
        match = re.match(r"// (\w+%?) = ([\d.]+)", line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


@pytest.mark.filterwarnings("ignore::appmult_char.AppMultWarning")
def test_evoapprox_published_metrics():
    """Our EvoApproxLib-named metrics round to the values in each circuit's header."""
    from appmult_char import simulate

    checked = 0
    for verilog in sorted(REFDATA.glob("mul*.v")):
        header = _evoapprox_header(verilog)
        m = simulate(REFDATA / f"{verilog.stem}_sop.blif").metrics()
        assert round(m.mae) == header["MAE"], verilog.name
        assert m.wce == header["WCE"]
        assert round(m.mse) == header["MSE"]
        assert round(m.ep, 2) == header["EP%"]
        assert round(m.mre, 2) == header["MRE%"]
        assert round(m.wcre_percent, 2) == header["WCRE%"]
        assert round(m.mae_percent, 2) == header["MAE%"]
        assert round(m.wce_percent, 2) == header["WCE%"]
        checked += 1
    assert checked == 8
