"""Surrogate models: exact where the basis can be, analytic log multipliers against their
bit-level models, JSON and emitted-source round trips, the report and the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from appmult_char import AppMultError, ProductLUT, simulate
from appmult_char.cli import main
from appmult_char.lut import operand_values
from appmult_char.surrogates import (DrumHTP, HTPModel, LinearModel, MitchellHTP, NoiseModel, NotFittedError, drum_lut,
                                     fidelity_report, mitchell_lut, model_from_dict, training_pairs)
from appmult_char.surrogates.logmult import drum_operand, truncate_leading

from .conftest import REFDATA, refdata


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 8), m=st.integers(2, 8), signed=st.booleans())
def test_htp_of_an_exact_multiplier_is_exact(n, m, signed):
    X, y = training_pairs(ProductLUT.exact(n, m, signed))
    model = HTPModel(a_bits=n, b_bits=m).fit(X, y)
    assert model.mae_ == 0.0
    assert model.terms == [(1.0, "x", "w")]
    assert np.array_equal(model.predict(X), y)


def operand_truncated_lut(n, m, l, signed):
    """A multiplier that clears the l low bits of operand a: (x - x mod 2^l) * w."""
    x = operand_values(n, signed)[:, None]
    w = operand_values(m, signed)[None, :]
    return ProductLUT((x - np.mod(x, 1 << l)) * w, n, m, signed)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 8), m=st.integers(2, 8), signed=st.booleans(), data=st.data())
def test_htp_finds_the_truncation_width(n, m, signed, data):
    l = data.draw(st.integers(1, n - 1))
    X, y = training_pairs(operand_truncated_lut(n, m, l, signed))
    model = HTPModel(a_bits=n, b_bits=m).fit(X, y)
    assert model.mae_ == 0.0 and model.l_ == l
    assert sorted(model.terms) == sorted([(1.0, "x", "w"), (-1.0, f"(x mod {1 << l})", "w")])


def test_tied_grid_and_fixed_l_k():
    X, y = training_pairs(operand_truncated_lut(6, 6, 3, False))
    tied = HTPModel(tie=True).fit(X, y)
    assert all(l == k for l, k in tied.grid_) and tied.mae_ == 0.0
    fixed = HTPModel(l=2, k=5).fit(X, y)
    assert (fixed.l_, fixed.k_) == (2, 5) and list(fixed.grid_) == [(2, 5)] and fixed.mae_ > 0


@pytest.mark.parametrize("k", [1, 3, 4, 5, 8])
@pytest.mark.parametrize("signed", [False, True])
def test_analytic_log_models_reproduce_bit_level(k, signed):
    for model, lut in ((MitchellHTP(k), mitchell_lut(8, k, signed)), (DrumHTP(k), drum_lut(8, k, signed))):
        X, y = training_pairs(lut)
        residual = np.abs(model.predict(X) - y).max()
        assert residual == 0.0, (model, residual)  # all values are dyadic: float64 holds them exactly


def test_log_models_at_12_bits_and_product_form_residual():
    lut = mitchell_lut(12, 4)
    X, y = training_pairs(lut, max_pairs=1 << 18, seed=1)
    assert np.abs(MitchellHTP(4).predict(X) - y).max() == 0.0
    # the pure product g(x) g(w) omits Mitchell's log approximation: never below, within 12.5 %
    product = MitchellHTP(4, product_form=True).predict(X)
    assert np.all(product >= y) and np.all(product <= y * 1.125 + 1e-9)


def test_bit_level_truncation_helpers():
    v = np.array([0, 1, 7, 8, 13, 200, 255])
    assert truncate_leading(v, 3).tolist() == [0, 1, 7, 8, 12, 192, 224]
    assert drum_operand(v, 3).tolist() == [0, 1, 7, 9, 13, 208, 240]
    assert mitchell_lut(4, 4).table[3, 3] == 8  # 3 = 2(1 + .5): 4 (1 + .5 + .5) -> 2 * 4 * 1 = 8
    with pytest.raises(AppMultError, match="leading bits"):
        drum_lut(4, 5)


@pytest.mark.parametrize("make", [
    lambda X, y: HTPModel().fit(X, y),
    lambda X, y: LinearModel().fit(X, y),
    lambda X, y: NoiseModel().fit(X, y),
    lambda X, y: MitchellHTP(3),
    lambda X, y: MitchellHTP(3, product_form=True),
    lambda X, y: DrumHTP(4),
])
@refdata
def test_json_and_emitted_source_round_trip(make):
    lut = simulate(REFDATA / "mul7u_081_sop.blif")
    X, y = training_pairs(lut)
    model = make(X, y)
    seeded = {"random_state": 3} if isinstance(model, NoiseModel) else {}
    back = model_from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.array_equal(back.predict(X, **seeded), model.predict(X, **seeded))
    namespace = {}
    exec(compile(model.to_source("f"), "<emitted>", "exec"), namespace)
    assert np.array_equal(namespace["f"](X[:, 0], X[:, 1], **seeded), model.predict(X, **seeded))


def test_linear_and_noise_baselines():
    X, y = training_pairs(ProductLUT.exact(5, 5))
    linear = LinearModel().fit(X, y)
    assert np.allclose(linear.coef_, [0, 0, 0, 1, 0], atol=1e-9) and len(linear.terms) == 6
    noise = NoiseModel().fit(X, y + 3.0)
    assert noise.mean_ == pytest.approx(3.0) and noise.std_ == pytest.approx(0.0, abs=1e-12)


@refdata
def test_report_orders_models_on_a_reference_circuit():
    report, models = fidelity_report(simulate(REFDATA / "mul8u_2NDH_sop.blif"))
    maes = {name: r["mae"] for name, r in report["models"].items()}
    assert maes["htp"] < maes["linear"] < maes["noise"]
    assert report["pairs"] == 1 << 16 and not report["sampled"]
    assert models["htp"].mae_ == pytest.approx(maes["htp"])


@refdata
def test_htp_command(tmp_path):
    out, emit = tmp_path / "m.json", tmp_path / "m.py"
    blif = str(REFDATA / "mul7u_06Q_sop.blif")
    result = CliRunner().invoke(main, ["htp", blif, "-o", str(out), "--emit", str(emit), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    model = model_from_dict(json.loads(out.read_text()))
    assert report["models"]["htp"]["model"] == model.to_dict()
    assert "def htp(x, w)" in emit.read_text()


def test_htp_samples_wide_circuits(tmp_path):
    from appmult_char.generators import truncated_multiplier
    from appmult_char.io.blif import write_blif

    blif = tmp_path / "wide.blif"
    write_blif(truncated_multiplier(11, 11, 8), blif)
    result = CliRunner().invoke(main, ["htp", str(blif), "--max-pairs", "5000", "--seed", "4", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["sampled"] and report["pairs"] == 5000


def test_noise_is_drawn_from_the_given_random_state():
    X, y = training_pairs(ProductLUT.exact(4, 4))
    noise = NoiseModel().fit(X, y + np.random.default_rng(0).standard_normal(y.size))
    assert np.array_equal(noise.predict(X, random_state=5), noise.predict(X, random_state=5))
    rng = np.random.default_rng(5)
    first, second = noise.predict(X, random_state=rng), noise.predict(X, random_state=rng)
    assert np.array_equal(first, noise.predict(X, random_state=5)) and not np.array_equal(first, second)
    expected = X[:, 0] * X[:, 1] + noise.mean_ + noise.std_ * np.random.default_rng(7).standard_normal(y.size)
    assert np.array_equal(noise.predict(X, random_state=7), expected)


@pytest.mark.parametrize("model", [HTPModel(), LinearModel(), NoiseModel()])
def test_unfitted_models_say_so(model):
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(np.zeros((3, 2)))


def test_params_follow_the_estimator_conventions():
    model = HTPModel(tie=True)
    assert model.get_params() == {"l": None, "k": None, "tie": True, "decimals": 1, "prune_tolerance": 0.01,
                                  "a_bits": None, "b_bits": None}
    assert model.set_params(l=2, k=3) is model and (model.l, model.k) == (2, 3)
    with pytest.raises(AppMultError, match="no parameter 'bogus'"):
        model.set_params(bogus=1)
    assert MitchellHTP(3, product_form=True).get_params() == {"k": 3, "product_form": True}
    with pytest.raises(AppMultError, match=r"\(n, 2\)"):
        HTPModel().fit(np.zeros(4), np.zeros(4))
