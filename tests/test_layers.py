"""Quantized layers through the LUT, and end-to-end verification against the circuit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from appmult_char import ProductLUT, Simulator, read_blif
from appmult_char.cli import main
from appmult_char.gemm import LutGemm
from appmult_char.gemm.layers import LayerSpec, calibrate, dequantize, quant_conv2d, quant_linear, quantize
from appmult_char.gemm.verify import circuit_accumulators, verify_layer

from .conftest import CIRCUITS, REFDATA, refdata


def dequantized(v, params):
    """The float value each operand stands for once quantized."""
    return dequantize(quantize(v, params), params)


def _shape(values, v, params):
    values = np.asarray(values)
    if params.axis is None:
        return values
    shape = [1] * v.ndim
    shape[params.axis] = -1
    return values.reshape(shape)


def direct_conv(x, w, stride, padding, dilation, groups):
    """Reference convolution by explicit sums over kernel offsets (no im2col)."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    Wo = (W + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((N, O, Ho, Wo))
    og = O // groups
    for g in range(groups):
        for p in range(kh):
            for r in range(kw):
                patch = xp[:, g * Cg:(g + 1) * Cg, p * dilation:p * dilation + stride * (Ho - 1) + 1:stride,
                           r * dilation:r * dilation + stride * (Wo - 1) + 1:stride]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, p, r])
    return y


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("per_channel", [False, True])
def test_exact_linear_is_the_dequantized_float_product(signed, per_channel):
    rng = np.random.default_rng(int(signed) * 2 + per_channel)
    x = rng.standard_normal((6, 33))
    x = x if signed else np.abs(x)
    w = rng.standard_normal((5, 33)) * rng.uniform(0.1, 3, (5, 1))
    gemm = LutGemm(ProductLUT.exact(8, 8, signed))
    y, d = quant_linear(x, w, gemm, per_channel=per_channel)
    # with an exact multiplier the layer computes exactly the product of the dequantized operands
    np.testing.assert_allclose(y, dequantized(x, d["x_params"]) @ dequantized(w, d["w_params"]).T, rtol=1e-9, atol=1e-9)
    assert np.array_equal(d["acc"], d["A"] @ d["B"])


@settings(max_examples=25, deadline=None)
@given(stride=st.integers(1, 3), padding=st.integers(0, 2), dilation=st.integers(1, 2), groups=st.sampled_from([1, 2]),
       per_channel=st.booleans(), signed=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_exact_conv2d_is_the_dequantized_float_convolution(stride, padding, dilation, groups, per_channel, signed, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 4, 9, 8))
    x = x if signed else np.abs(x)
    w = rng.standard_normal((6, 4 // groups, 3, 3))
    gemm = LutGemm(ProductLUT.exact(7, 7, signed))
    y, d = quant_conv2d(x, w, gemm, stride=stride, padding=padding, dilation=dilation, groups=groups,
                        per_channel=per_channel)
    reference = direct_conv(dequantized(x, d["x_params"]), dequantized(w, d["w_params"]), stride, padding, dilation, groups)
    np.testing.assert_allclose(y, reference, rtol=1e-9, atol=1e-9)
    # and close to the float convolution, within the quantization error of each product
    bound = direct_conv(np.abs(x) + d["x_params"].scale / 2, np.abs(w) + _shape(d["w_params"].scale, w, d["w_params"]) / 2,
                        stride, padding, dilation, groups) - direct_conv(np.abs(x), np.abs(w), stride, padding, dilation, groups)
    assert np.all(np.abs(y - direct_conv(x, w, stride, padding, dilation, groups)) <= bound + 1e-9)


def test_calibration_covers_zero_and_range():
    p = calibrate(np.array([0.5, 2.0]), 8, False)
    assert p.zero_point == 0 and p.scale == pytest.approx(2.0 / 255)
    p = calibrate(np.array([[-1.0, 1.0], [-4.0, 0.0]]), 8, True, axis=0)
    assert p.scale.shape == (2,) and np.all(p.zero_point >= -128)


@refdata
@pytest.mark.filterwarnings("ignore::appmult_char.AppMultWarning")
@pytest.mark.parametrize("name", CIRCUITS)
def test_lut_gemm_equals_circuit_for_every_reference_circuit(name):
    sim = Simulator(read_blif(REFDATA / f"{name}_sop.blif"))
    report = verify_layer(sim, LayerSpec("linear", batch=16, in_features=48, out_features=12), seed=3)
    assert report["lut_equals_circuit"] and report["mismatches"] == 0
    assert report["accumulator_error_vs_exact"] > 0  # approximate multipliers
    report = verify_layer(sim, LayerSpec("conv2d", batch=1, channels=4, out_channels=4, size=6, groups=2, per_channel=True))
    assert report["lut_equals_circuit"]


@refdata
def test_circuit_accumulators_use_only_the_pairs_that_occur():
    sim = Simulator(read_blif(REFDATA / "mul7u_06Q_sop.blif"))
    A = np.array([[[1, 2], [3, 4]]])
    B = np.array([[[5], [6]]])
    sums, pairs = circuit_accumulators(sim, A, B)
    lut = sim.lut().table
    assert pairs == 4 and sums[0, 0, 0] == lut[1, 5] + lut[2, 6] and sums[0, 1, 0] == lut[3, 5] + lut[4, 6]


@refdata
def test_verify_on_the_cuda_kernels():
    sim = Simulator(read_blif(REFDATA / "mul7u_081_sop.blif"))
    report = verify_layer(sim, LayerSpec("conv2d", batch=1, channels=2, out_channels=2, size=4), backend="cuda")
    assert report["lut_equals_circuit"] and report["backend"] == "cuda"


@refdata
def test_verify_command(tmp_path):
    blif = str(REFDATA / "mul7u_073_sop.blif")
    result = CliRunner().invoke(main, ["verify", blif, "--batch", "8", "--in-features", "40", "--out-features", "6",
                                       "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["lut_equals_circuit"] is True
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=np.abs(rng.standard_normal((3, 2, 5, 5))), w=rng.standard_normal((2, 2, 3, 3)))
    result = CliRunner().invoke(main, ["verify", blif, "--layer", "conv2d", "--data", str(data)])
    assert result.exit_code == 0 and "LUT GEMM == circuit:        yes" in result.output


@refdata
def test_verify_command_fails_when_the_lut_disagrees(monkeypatch):
    forward = LutGemm.forward

    def off_by_one(self, A, B):
        return forward(self, A, B) + 1

    monkeypatch.setattr(LutGemm, "forward", off_by_one)
    result = CliRunner().invoke(main, ["verify", str(REFDATA / "mul7u_073_sop.blif"), "--batch", "4",
                                       "--in-features", "8", "--out-features", "3"])
    assert result.exit_code == 3 and "disagree" in result.stderr
