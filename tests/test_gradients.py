"""Gradient tables: conformance with the published files, exactness on exact multipliers,
agreement with a per-entry implementation, formats and bad input."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from appmult_char import AppMultError, GradientTables, ProductLUT, save_lut
from appmult_char.cli import main
from appmult_char.gradients import lut1d, numeric_values, prediction_error, ste, to_fixed_point, window
from appmult_char.io.appmult_text import LUT_TITLE, read_gradient_text, write_gradient_text
from appmult_char.io.npz import load_gradients_npz, save_gradients_npz

from .conftest import REFDATA, refdata
from .gradient_reference import window_per_entry

GRADIENT_FILES = sorted(REFDATA.glob("*_lutfp+bp_avg_*.txt.gz"))
# INFO lines whose values do not depend on float32 summation order
STABLE_INFO = tuple("INFO: " + key for key in (
    "half smoothing", "Error rate", "Mean error distance", "Maximum error distance", "Normalized maximum",
    "Mean of lut_mult", "Mean of grad_a_ste", "Mean of grad_b_ste"))


@refdata
@pytest.mark.filterwarnings("ignore::appmult_char.AppMultWarning")
@pytest.mark.parametrize("reference", GRADIENT_FILES, ids=lambda p: p.name.split("_lutfp")[0])
def test_reference_gradient_files_byte_identical(reference, tmp_path):
    name, w = re.fullmatch(r"(.*)_lutfp\+bp_avg_(\d+)_\d+\.txt\.gz", reference.name).groups()
    out = tmp_path / "g.txt"
    result = CliRunner().invoke(main, ["gradient", str(REFDATA / f"{name}_sop.blif"), "-o", str(out),
                                       "--method", "window", "--half-window", w, "--boundary", "reference"])
    assert result.exit_code == 0, result.output
    expected = gzip.decompress(reference.read_bytes()).decode()
    ours = out.read_text()
    assert ours[ours.index(LUT_TITLE):] == expected[expected.index(LUT_TITLE):]
    stable = [line for line in expected.splitlines() if line.startswith(STABLE_INFO)]
    assert len(stable) == 9
    assert all(line in ours.splitlines() for line in stable)


@refdata
def test_reference_files_cover_all_ten_circuits():
    assert len(GRADIENT_FILES) == 10


def exact(n, m, signed):
    return ProductLUT.exact(n, m, signed)


def raw_values(bits, signed):
    v = np.arange(1 << bits)
    return np.where(v >= 1 << (bits - 1), v - (1 << bits), v) if signed else v


def numeric(table, lut):
    from appmult_char.lut import to_numeric_order

    return to_numeric_order(table, lut.a_bits, lut.b_bits, lut.signed)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), m=st.integers(1, 8), signed=st.booleans())
def test_ste_is_the_analytic_gradient(n, m, signed):
    lut = exact(n, m, signed)
    t = ste(lut)
    a, b = raw_values(n, signed), raw_values(m, signed)  # operand value of each raw pattern
    assert np.array_equal(t.grad_a, np.broadcast_to(b[None, :], lut.shape))
    assert np.array_equal(t.grad_b, np.broadcast_to(a[:, None], lut.shape))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 8), m=st.integers(3, 8), signed=st.booleans(), data=st.data())
def test_window_is_exact_in_the_interior_band(n, m, signed, data):
    w = data.draw(st.integers(1, ((1 << min(n, m)) - 3) // 2))
    lut = exact(n, m, signed)
    t = window(lut, w)
    ga, gb = numeric(t.grad_a, lut), numeric(t.grad_b, lut)
    a, b = numeric_values(n, signed), numeric_values(m, signed)
    inner_a = slice(w + 1, (1 << n) - 1 - w)
    inner_b = slice(w + 1, (1 << m) - 1 - w)
    assert np.array_equal(ga[inner_a], np.broadcast_to(b[None, :], ga[inner_a].shape).astype(np.float32))
    assert np.array_equal(gb[:, inner_b], np.broadcast_to(a[:, None], gb[:, inner_b].shape).astype(np.float32))
    for table in (t.grad_a, t.grad_b):
        assert np.all(np.isfinite(table))
    qa, qb = t.quantized()  # fits int16 after scaling, and is 16 g where g is an integer
    assert qa.dtype == qb.dtype == np.int16
    assert np.array_equal(numeric(qa, lut)[inner_a], 16 * ga[inner_a].astype(np.int16))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 8), m=st.integers(3, 8), signed=st.booleans(), variant=st.sampled_from(["slope", "mean"]),
       data=st.data())
def test_lut1d_is_exact_for_exact_multipliers(n, m, signed, variant, data):
    largest = ((1 << min(n, m)) - 3) // 2
    w = data.draw(st.integers(1 if variant == "mean" else 0, largest))
    lut = exact(n, m, signed)
    g = lut1d(lut, w, variant)
    assert np.array_equal(g.g_a, raw_values(m, signed).astype(np.float64))
    assert np.array_equal(g.g_b, raw_values(n, signed).astype(np.float64))
    expanded = g.expand()
    assert np.array_equal(expanded.grad_a, ste(lut).grad_a)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 7), signed=st.booleans(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_symmetric_rule_commutes_with_swapping_operands(n, signed, seed, data):
    rng = np.random.default_rng(seed)
    t = rng.integers(-500, 500, (1 << n, 1 << n))
    lut = ProductLUT(t + t.T, n, n, signed)  # a symmetric LUT
    w = data.draw(st.integers(1, ((1 << n) - 3) // 2))
    g = window(lut, w, "symmetric")
    assert np.array_equal(g.grad_a, g.grad_b.T)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 6), m=st.integers(3, 6), seed=st.integers(0, 2**32 - 1), data=st.data(),
       boundary=st.sampled_from(["symmetric", "reference"]))
def test_vectorized_window_equals_per_entry_definition(n, m, seed, data, boundary):
    if boundary == "reference":
        m = n
    w = data.draw(st.integers(1, ((1 << min(n, m)) - 3) // 2))
    table = np.random.default_rng(seed).integers(0, 1 << (n + m), (1 << n, 1 << m))
    lut = ProductLUT(table, n, m)
    g = window(lut, w, boundary)
    ref_a, ref_b = window_per_entry(table, w, boundary)
    assert np.array_equal(g.grad_a, ref_a) and np.array_equal(g.grad_b, ref_b)


def test_lut1d_slope_of_an_approximate_lut_matches_least_squares():
    rng = np.random.default_rng(3)
    table = np.multiply.outer(np.arange(16), np.arange(16)) + rng.integers(-9, 9, (16, 16))
    g = lut1d(ProductLUT(table, 4, 4), 0, "slope")
    x = np.arange(16)
    expected = [np.polyfit(x, table[:, b], 1)[0] for b in range(16)]
    assert np.allclose(g.g_a, expected, rtol=1e-12)


def test_fixed_point_rounds_half_to_even_and_refuses_overflow():
    assert list(to_fixed_point(np.array([0.03125, 0.09375, -0.03125]))) == [0, 2, 0]
    with pytest.raises(AppMultError, match="int16"):
        to_fixed_point(np.array([5000.0]))


@pytest.mark.parametrize("call,message", [
    (lambda lut: window(lut, 0), "at least 1"),
    (lambda lut: window(lut, 7), "too large"),
    (lambda lut: window(ProductLUT.exact(4, 3), 1, "reference"), "square"),
    (lambda lut: window(lut, 2, "other"), "unknown boundary"),
    (lambda lut: lut1d(lut, 0, "mean"), "at least 1"),
])
def test_bad_windows(call, message):
    with pytest.raises(AppMultError, match=message):
        call(ProductLUT.exact(4, 4))


def test_gradient_file_round_trip_and_damaged_files(tmp_path):
    lut = ProductLUT.exact(5, 5)
    t = window(lut, 3)
    path = tmp_path / "g.txt.gz"
    write_gradient_text(t, path)
    back = read_gradient_text(path)
    assert isinstance(back, GradientTables) and back.lut == lut and back.half_window == 3
    assert np.array_equal(back.quantized()[0], t.quantized()[0]) and np.array_equal(back.quantized()[1], t.quantized()[1])
    assert np.array_equal(back.grad_a * 16, t.quantized()[0])  # the stored fixed point, as floats
    text = gzip.decompress(path.read_bytes()).decode()
    missing = tmp_path / "missing.txt"
    missing.write_text(text[:text.index("LUT for the gradient")])
    with pytest.raises(AppMultError, match="is missing"):
        read_gradient_text(missing)
    truncated = tmp_path / "truncated.txt"
    truncated.write_text(text[:-40])
    with pytest.raises(AppMultError, match="truncated"):
        read_gradient_text(truncated)


@pytest.mark.parametrize("make", [lambda lut: window(lut, 2), lambda lut: lut1d(lut, 1, "mean"), ste])
def test_npz_round_trip(tmp_path, make):
    t = make(ProductLUT.exact(4, 4, signed=True))
    save_gradients_npz(t, tmp_path / "g.npz")
    back = load_gradients_npz(tmp_path / "g.npz")
    assert type(back) is type(t) and back.lut == t.lut
    for name in ("grad_a", "grad_b", "g_a", "g_b"):
        if hasattr(t, name):
            assert np.array_equal(getattr(back, name), getattr(t, name))


def test_prediction_error_is_zero_inside_for_exact_and_positive_for_approximate():
    lut = ProductLUT.exact(6, 6)
    assert prediction_error(ste(lut)) == 0.0
    table = lut.table.copy()
    table[::3] += 7
    assert prediction_error(window(ProductLUT(table, 6, 6), 2)) > 0


def test_cli_sweep_lut_inputs_and_errors(tmp_path):
    runner = CliRunner()
    lut_path = tmp_path / "l.npz"
    save_lut(ProductLUT.exact(6, 6), lut_path)
    result = runner.invoke(main, ["gradient", str(lut_path), "-o", str(tmp_path / "g_{W}.npz"), "--half-window", "2,4"])
    assert result.exit_code == 0, result.output
    assert "suggested half window" in result.output
    assert load_gradients_npz(tmp_path / "g_4.npz").half_window == 4
    result = runner.invoke(main, ["gradient", str(lut_path), "-o", str(tmp_path / "one.txt"), "--half-window", "2,4"])
    assert result.exit_code == 1 and "{W}" in result.stderr
    result = runner.invoke(main, ["gradient", str(lut_path), "-o", str(tmp_path / "big.txt"), "--half-window", "40"])
    assert result.exit_code == 1 and "too large" in result.stderr and not (tmp_path / "big.txt").exists()
    sweep = tmp_path / "sweep"
    result = runner.invoke(main, ["gradient", str(lut_path), "-o", f"{sweep}/", "--half-window", "2,40"])
    assert result.exit_code == 1 and "too large" in result.stderr
    assert not sweep.exists() or list(sweep.iterdir()) == []  # nothing half-done
    result = runner.invoke(main, ["gradient", str(lut_path), "-o", str(tmp_path / "l1.txt"), "--method", "lut1d"])
    assert result.exit_code == 0, result.output
    back = read_gradient_text(tmp_path / "l1.txt")
    assert np.array_equal(back.quantized()[0], to_fixed_point(ste(back.lut).grad_a))


def test_cli_plot(tmp_path):
    lut_path = tmp_path / "l.npz"
    save_lut(ProductLUT.exact(5, 5), lut_path)
    result = CliRunner().invoke(main, ["gradient", str(lut_path), "-o", str(tmp_path / "g.txt"), "--half-window", "2",
                                       "--plot", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["l_lutfp+bp_avg_2_2_heatmaps.png", "l_lutfp+bp_avg_2_2_profile.png"]
    assert all((tmp_path / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_sweep_names_scores_and_method_switch():
    from appmult_char.gradients import gradient_tables, half_windows, sweep

    lut = ProductLUT.exact(5, 5)
    entries = sweep(lut, "window", [2, 3], stem="m")
    assert [e.name for e in entries] == ["m_lutfp+bp_avg_2_2", "m_lutfp+bp_avg_3_3"]
    assert [e.score for e in entries] == [prediction_error(window(lut, w)) for w in (2, 3)]
    assert sweep(lut, "lut1d", stem="m")[0].name == "m_lut1d_slope"
    assert sweep(lut, "ste", stem="m")[0].name == "m_lutfp+bp_ste"
    assert np.array_equal(gradient_tables(lut, "lut1d", 1, variant="mean").g_a, lut1d(lut, 1, "mean").g_a)
    assert half_windows("window", None) == [4] and half_windows("ste", None) == [0]
    with pytest.raises(AppMultError, match="does not apply"):
        half_windows("ste", [4])
    with pytest.raises(AppMultError, match="too large"):
        sweep(lut, "window", [2, 40])
