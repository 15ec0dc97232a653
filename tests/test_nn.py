"""`appmult_char.nn`: approximate layers against the circuit itself, the gradient-table
definition (a plain-torch gather), exact quantization-aware training and finite
differences; conversion, calibration, checkpoints, and one clear error per bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from appmult_char import AppMultError, ProductLUT, Simulator, simulate, window
from appmult_char.generators import multiplier as make_multiplier
from appmult_char.nn import (ApproxConv1d, ApproxConv2d, ApproxLinear, Multiplier, approx_layers, approximate,
                             calibrate, code_range, set_mode)
from appmult_char.nn.multiplier import parse_gradient


def _circuit(a_bits, b_bits, signed, truncate):
    netlist = make_multiplier(a_bits, b_bits, signed, truncate)
    return netlist, Multiplier(simulate(netlist, signed=signed))


CASES = [(7, 7, False, 5), (8, 8, True, 6), (8, 4, False, 3), (8, 4, True, 2)]


def _codes(rng, shape, bits, signed):
    lo, hi = code_range(bits, signed)
    return torch.tensor(rng.integers(lo, hi + 1, shape), dtype=torch.float32)


@pytest.mark.parametrize("a_bits,b_bits,signed,truncate", CASES)
def test_lut_products_are_the_circuits_products_summed(a_bits, b_bits, signed, truncate):
    netlist, mult = _circuit(a_bits, b_bits, signed, truncate)
    layer = ApproxLinear(13, 5, mult)
    rng = np.random.default_rng(a_bits + 10 * truncate)
    xq, wq = _codes(rng, (9, 13), a_bits, signed), _codes(rng, (5, 13), b_bits, signed)
    got = layer._products(xq, wq).numpy()
    sim = Simulator(netlist, signed=signed, backend="numpy")  # the circuit, not the LUT
    a = xq.numpy().astype(np.int64)[:, None, :] & ((1 << a_bits) - 1)
    b = wq.numpy().astype(np.int64)[None, :, :] & ((1 << b_bits) - 1)
    a, b = np.broadcast_arrays(a, b)
    expected = sim.evaluate(a, b).sum(axis=2)
    assert np.array_equal(got, expected)


def _reference_backward(ga, gb, xq, wq, grad, a_bits, b_bits):
    """grad_x[i,k] = Σ_j g[i,j] GA[a_ik, b_jk]; grad_w[j,k] = Σ_i g[i,j] GB[a_ik, b_jk], by gathering."""
    ga, gb = torch.tensor(ga, dtype=torch.float64), torch.tensor(gb, dtype=torch.float64)
    a = xq.long() & ((1 << a_bits) - 1)
    b = wq.long() & ((1 << b_bits) - 1)
    pa, pb = a[:, None, :], b[None, :, :]  # (R, 1, K), (1, C, K)
    g = grad.double()[:, :, None]
    return (g * ga[pa, pb]).sum(1), (g * gb[pa, pb]).sum(0)


@pytest.mark.parametrize("a_bits,b_bits,signed,truncate", CASES)
@pytest.mark.parametrize("gradient", ["ste", "window:2", "lut1d"])
def test_backward_is_the_gradient_table_definition(a_bits, b_bits, signed, truncate, gradient):
    _, mult = _circuit(a_bits, b_bits, signed, truncate)
    layer = ApproxLinear(11, 4, mult, gradient=gradient)
    rng = np.random.default_rng(3)
    xq = _codes(rng, (6, 11), a_bits, signed).requires_grad_()
    wq = _codes(rng, (4, 11), b_bits, signed).requires_grad_()
    grad = torch.tensor(rng.standard_normal((6, 4)))
    layer._products(xq, wq).backward(grad)
    tables = mult.tables(layer.gradient)
    if gradient.startswith("lut1d"):  # the float vectors, expanded to the 2-D tables they define
        ga, gb = tables.expand().grad_a, tables.expand().grad_b
    else:  # 2-D tables: their stored fixed-point values round(16 g) / 16
        ga, gb = (t.astype(np.float64) / 16 for t in tables.quantized())
    ref_x, ref_w = _reference_backward(ga, gb, xq.detach(), wq.detach(), grad, a_bits, b_bits)
    np.testing.assert_allclose(xq.grad.numpy(), ref_x.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(wq.grad.numpy(), ref_w.numpy(), rtol=1e-5, atol=1e-4)


def test_ste_backward_of_an_exact_multiplier_matches_finite_differences():
    mult = Multiplier(ProductLUT.exact(7, 7))
    layer = ApproxLinear(8, 3, mult, gradient="ste")
    rng = np.random.default_rng(0)
    xq = _codes(rng, (4, 8), 7, False).double().requires_grad_()
    wq = _codes(rng, (3, 8), 7, False).double().requires_grad_()
    layer.set_mode("exact")
    assert torch.autograd.gradcheck(lambda x, w: layer._products(x, w), (xq, wq))  # exact QAT path
    layer.set_mode("lut")
    g = torch.tensor(rng.standard_normal((4, 3)))
    layer._products(xq.float(), wq.float()).backward(g)  # leaves are the double tensors' float copies
    x2, w2 = xq.detach().clone().requires_grad_(), wq.detach().clone().requires_grad_()
    (x2 @ w2.t()).backward(g)
    np.testing.assert_allclose(xq.grad.numpy(), x2.grad.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(wq.grad.numpy(), w2.grad.numpy(), rtol=1e-6, atol=1e-6)


def _models(kind):
    torch.manual_seed(0)
    if kind == "linear":
        return nn.Sequential(nn.Linear(12, 7), nn.ReLU(), nn.Linear(7, 3)), torch.randn(10, 12)
    if kind == "conv2d":
        return (nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2), nn.ReLU(),
                              nn.Conv2d(6, 4, 2, padding=1, dilation=2, bias=False)), torch.randn(3, 4, 9, 9))
    return nn.Sequential(nn.Conv1d(2, 4, 5, stride=2, padding=2, groups=2), nn.ReLU(),
                         nn.Conv1d(4, 3, 3, dilation=2)), torch.randn(5, 2, 30)


@pytest.mark.parametrize("kind", ["linear", "conv2d", "conv1d"])
@pytest.mark.parametrize("bits,signed", [((7, 7), False), ((8, 8), True), ((8, 4), False), ((8, 4), True)])
@pytest.mark.parametrize("weight_quant", ["per_tensor", "per_channel"])
@pytest.mark.parametrize("gradient", ["ste", "window:2"])
def test_lut_mode_with_an_exact_multiplier_is_exact_mode_bit_for_bit(kind, bits, signed, weight_quant, gradient):
    """Whichever path the gradient takes a convolution along (straight-through: the separable
    backward; window: `torch_bridge.lut_conv`, its zero-point terms and scale in one pass)."""
    model, x = _models(kind)
    exact = Multiplier(ProductLUT.exact(*bits, signed=signed))
    approx = calibrate(approximate(model, exact, forward="lut", gradient=gradient, weight_quant=weight_quant), [x])
    lut_out = approx(x)
    qat_out = set_mode(approx, "exact")(x)
    assert torch.equal(lut_out, qat_out)
    # and exact mode is plain fake quantization: dequantize, then the float layer
    first = next(iter(approx_layers(approx).values()))
    xq, sx, zx = first.act_quant(x)  # evaluation mode: the calibrated parameters
    wq, sw, zw = first.weight_quant(first.weight.reshape(first.weight.shape[0], -1))
    fq_w = ((wq - zw.float()) * sw.float()).reshape(first.weight.shape)
    fq_x = (xq - zx.float()) * sx.float()
    float_layer = model[0]
    ref = (nn.functional.linear(fq_x, fq_w, float_layer.bias) if kind == "linear" else
           float_layer._conv_forward(fq_x, fq_w, float_layer.bias))
    np.testing.assert_allclose(first(x).detach().numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-4)


def _conv_reference(layer, x, grad_y, gradient):
    """Output and (input, weight) gradients of a convolution in ``lut`` mode by the
    definitions, in float64: `F.unfold` columns padded with the zero point, products gathered
    from the LUT, the gradient of each product gathered from the tables (the separable
    tables' vectors, or the 2-D tables' stored values ``round(16 g) / 16``) and the input
    gradient folded back with `F.fold`."""
    lut, tables = layer.multiplier.lut, layer.multiplier.tables(layer.gradient)
    if gradient.startswith("window"):
        ga2, gb2 = (torch.tensor(t.astype(np.float64) / 16).reshape(-1) for t in tables.quantized())
        g_of = (lambda a, b: ga2[a * (1 << lut.b_bits) + b]), (lambda a, b: gb2[a * (1 << lut.b_bits) + b])
    else:
        if gradient == "ste":  # grad_a = b, grad_b = a: the value of each raw pattern
            g_a, g_b = (np.arange(1 << bits) - (lut.signed * (np.arange(1 << bits) >= 1 << (bits - 1)) << bits)
                        for bits in (lut.b_bits, lut.a_bits))
        else:
            g_a, g_b = tables.g_a, tables.g_b
        g_a, g_b = torch.tensor(g_a, dtype=torch.float64), torch.tensor(g_b, dtype=torch.float64)
        g_of = (lambda a, b: g_a[b].expand(a.shape)), (lambda a, b: g_b[a])
    table = torch.tensor(lut.table, dtype=torch.float64).reshape(-1)  # index (a << b_bits) + b, raw patterns
    one_d = x.ndim == 3
    x4 = x.unsqueeze(2) if one_d else x
    w4 = layer.weight.detach().unsqueeze(2) if one_d else layer.weight.detach()
    two = lambda v: (1, *v) if one_d else v
    kernel, stride, dilation = two(layer.kernel_size), two(layer.stride), two(layer.dilation)
    padding = (0, *layer.padding) if one_d else layer.padding
    xq, sx, zx = (t.double() for t in layer.act_quant(x4.detach()))
    wq, sw, zw4 = (t.double() for t in layer.weight_quant(w4))  # scale and zero point broadcast to the weight
    cols = nn.functional.unfold(xq - zx, kernel, dilation, padding, stride) + zx  # (n, C*kh*kw, L)
    n, L = cols.shape[0], cols.shape[2]
    C, K = wq.shape[0], wq[0].numel()
    per = C // layer.groups
    a = cols.long() & ((1 << lut.a_bits) - 1)
    b = wq.reshape(C, K).long() & ((1 << lut.b_bits) - 1)
    zw = zw4.reshape(-1).expand(C)
    acc = torch.empty(n, C, L, dtype=torch.float64)
    g_acc = grad_y.double().reshape(n, C, L) * sx * sw.reshape(-1, 1)
    grad_cols, grad_wq = torch.zeros_like(cols), torch.zeros(C, K, dtype=torch.float64)
    for o in range(C):
        rows = slice(o // per * K, (o // per + 1) * K)
        a_o, x_o = a[:, rows, :], cols[:, rows, :]  # (n, K, L)
        f = table[a_o * (1 << lut.b_bits) + b[o][None, :, None]].sum(1)
        acc[:, o] = f - zw[o] * x_o.sum(1) - zx * wq[o].sum() + K * zx * zw[o]
        b_o = b[o][None, :, None]
        grad_cols[:, rows, :] += g_acc[:, o][:, None, :] * (g_of[0](a_o, b_o) - zw[o])
        grad_wq[o] = (g_acc[:, o][:, None, :] * (g_of[1](a_o, b_o) - zx)).sum((0, 2))
    y = acc * sx * sw.reshape(-1, 1) + (0 if layer.bias is None else layer.bias.detach().double().reshape(-1, 1))
    padded = (x4.shape[2] + 2 * padding[0], x4.shape[3] + 2 * padding[1])
    grad_cx = nn.functional.fold(grad_cols, padded, kernel, dilation, 0, stride)
    grad_cx = grad_cx[:, :, padding[0]:padded[0] - padding[0], padding[1]:padded[1] - padding[1]]

    def through_quantizer(grad_codes, v, quant, scale):  # straight-through rounding, zero where clipped
        r = torch.round(v)
        return grad_codes / scale * ((r >= quant.qmin) & (r <= quant.qmax))

    grad_x = through_quantizer(grad_cx, x4.double() / sx + zx, layer.act_quant, sx)
    grad_w = through_quantizer(grad_wq.reshape(w4.shape), w4.double() / sw + zw4, layer.weight_quant, sw)
    return y.reshape(grad_y.shape), grad_x.reshape(x.shape), grad_w.reshape(layer.weight.shape)


@pytest.mark.parametrize("kind", ["conv2d", "conv1d"])
@pytest.mark.parametrize("a_bits,b_bits,signed,truncate", CASES)
@pytest.mark.parametrize("gradient,weight_quant,boundary", [
    ("ste", "per_channel", "symmetric"), ("lut1d", "per_channel", "symmetric"), ("lut1d:2", "per_tensor", "symmetric"),
    ("window:2", "per_channel", "symmetric"), ("window:3", "per_tensor", "reference")])
def test_convolutions_are_the_definitions(kind, a_bits, b_bits, signed, truncate, gradient, weight_quant, boundary):
    """``lut`` convolutions against `_conv_reference`, for strided, padded, dilated and
    grouped layers: with straight-through or LUT-1D gradients (the LUT GEMM of int16 columns
    forward, the framework's convolution backward with the tables' vectors) and with 2-D
    window tables of both boundary rules (`torch_bridge.lut_conv`: tap-major int16
    columns, table products, the fold of their gradient)."""
    model, x = _models(kind)
    _, mult = _circuit(a_bits, b_bits, signed, truncate)
    if a_bits != b_bits:
        boundary = "symmetric"  # the reference rule reads LUT row b: square LUTs only
    approx = approximate(model, mult, forward="lut", gradient=parse_gradient(gradient, boundary=boundary),
                         weight_quant=weight_quant, skip_first_last=False)
    calibrate(approx, [x])
    rng = torch.Generator().manual_seed(a_bits + truncate)
    for layer, inp in ((approx[0], x), (approx[2], torch.relu(model[0](x)).detach())):
        inp = inp.clone().requires_grad_()
        y = layer.eval()(inp)
        grad_y = torch.randn(y.shape, generator=rng)
        y.backward(grad_y)
        want_y, want_x, want_w = _conv_reference(layer, inp.detach(), grad_y, gradient)
        np.testing.assert_allclose(y.detach().numpy(), want_y.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(inp.grad.numpy(), want_x.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(layer.weight.grad.numpy(), want_w.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("bits,signed,channels", [(7, False, 200), (8, True, 60), (8, False, 520)])
def test_exact_mode_is_exact_where_float32_sums_would_round(bits, signed, channels):
    """Wide reductions (K x peak^2 beyond 2^24: the digit split) with codes at the top of
    their range: exact mode equals integer arithmetic (NumPy int64 over the unfolded codes),
    its gradient is the float convolution's, and lut mode with an exact multiplier agrees."""
    torch.manual_seed(1)
    layer = ApproxConv2d(channels, 3, 3, ProductLUT.exact(bits, bits, signed=signed), padding=1, forward="exact",
                         gradient="ste")
    x = torch.rand(2, channels, 5, 5) * 0.05 + 0.95  # nearly all codes at the top: long partial sums
    with torch.no_grad():
        layer.weight.uniform_(0.9, 1.0)
    calibrate(layer, [x])
    layer.eval()
    xq, sx, zx = layer.act_quant(x)
    wq, sw, zw = layer.weight_quant(layer.weight.reshape(3, -1))
    cols = nn.functional.unfold(xq - zx.float(), 3, padding=1).transpose(1, 2).reshape(-1, channels * 9)
    integers = cols.detach().numpy().astype(np.int64) @ (wq - zw.float()).detach().numpy().astype(np.int64).T  # exact reference
    assert np.abs(integers).max() * 1.0 > 2**24  # float32 accumulation could not hold these sums
    want = (torch.tensor(integers, dtype=torch.float64) * (sx * sw.reshape(-1))).float() + layer.bias
    want = want.reshape(2, 25, 3).transpose(1, 2).reshape(2, 3, 5, 5)
    x1 = x.clone().requires_grad_()
    got = layer(x1)
    assert torch.equal(got, want)
    layer.set_mode("lut")
    assert torch.equal(layer(x), got)
    layer.set_mode("lut", "window:2")  # 2-D tables: the zero-point terms and scale in one pass (`lut_conv`)
    assert torch.equal(layer(x), got)
    layer.set_mode("exact", "ste")
    g = torch.randn_like(got)
    got.backward(g)
    x2 = x.clone().requires_grad_()
    xq2, _, _ = layer.act_quant(x2)  # the same straight-through codes through a float convolution
    ref = nn.functional.conv2d(xq2 - zx.float(), (wq - zw.float()).reshape(layer.weight.shape), padding=1)
    (ref * (sx * sw.reshape(1, -1, 1, 1)).float()).backward(g)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-6)


def test_conversion_copies_and_follows_the_float_model():
    model, x = _models("conv2d")
    approx = calibrate(approximate(model, ProductLUT.exact(8, 8, signed=True)), [x])
    assert isinstance(approx[0], ApproxConv2d) and isinstance(model[0], nn.Conv2d)  # a copy by default
    assert torch.allclose(approx(x), model(x), atol=0.05 * model(x).abs().max().item())
    model1, x1 = _models("conv1d")
    approx1 = calibrate(approximate(model1, ProductLUT.exact(8, 8, signed=True), skip_first_last=False), [x1])
    assert isinstance(approx1[2], ApproxConv1d)
    assert torch.allclose(approx1(x1), model1(x1), atol=0.05 * model1(x1).abs().max().item())


def test_per_layer_assignment_and_skipping():
    model, _ = _models("linear")
    m7 = ProductLUT.exact(7, 7)
    approx = approximate(model, {"2": m7})
    assert isinstance(approx[0], nn.Linear) and isinstance(approx[2], ApproxLinear)
    assert approx[2].multiplier.a_bits == 7
    deeper = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4))
    assert list(approx_layers(approximate(deeper, m7, skip_first_last=True))) == ["1"]
    assert list(approx_layers(approximate(deeper, m7, layers=["0", "2"]))) == ["0", "2"]
    with pytest.raises(AppMultError, match="no layer left"):
        approximate(model, m7, skip_first_last=True)
    with pytest.raises(AppMultError, match="no convertible layer named 9"):
        approximate(model, {"9": m7})


def test_htp_mode_is_the_surrogate_summed():
    _, mult = _circuit(7, 7, False, 5)
    layer = ApproxLinear(9, 4, mult, forward="htp")
    rng = np.random.default_rng(2)
    xq, wq = _codes(rng, (5, 9), 7, False), _codes(rng, (4, 9), 7, False)
    got = layer._products(xq, wq).numpy()
    pairs = np.stack(np.broadcast_arrays(xq.numpy()[:, None, :], wq.numpy()[None, :, :]), axis=-1).reshape(-1, 2)
    expected = mult.surrogate.predict(pairs).reshape(5, 4, 9).sum(axis=2)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("kind", ["conv2d", "conv1d"])
@pytest.mark.parametrize("signed", [False, True])
def test_straight_through_surrogate_convolutions_equal_the_unfolded_products(kind, signed):
    """With straight-through gradients, ``htp`` convolutions run as framework convolutions
    plus the surrogate's deviation; the unfolded path (forced by an observer) sums the
    surrogate per product: the same outputs and gradients."""
    model, x = _models(kind)
    _, mult = _circuit(7, 7, signed, 5)
    approx = calibrate(approximate(model, mult, forward="htp", gradient="ste", skip_first_last=False), [x]).eval()
    results = []
    for observer in (None, lambda *args: None):
        for layer in approx_layers(approx).values():
            layer.product_observer = observer
        xg = x.clone().requires_grad_()
        y = approx(xg)
        y.backward(torch.ones_like(y))
        results.append((y.detach(), xg.grad, approx[0].weight.grad.clone()))
        approx.zero_grad()
    for direct, unfolded in zip(*results):
        torch.testing.assert_close(direct, unfolded, rtol=1e-4, atol=1e-5)  # float32 sums in another order


@pytest.mark.parametrize("gradient", ["ste", "window:2"])
@pytest.mark.parametrize("signed", [False, True])
def test_htp_convolution_is_the_surrogate_summed_over_every_tap(gradient, signed):
    """Both convolution paths (direct with STE, unfolded with table gradients) against the
    surrogate's own `predict` over every (input tap, weight) pair, padding taps included."""
    model, x = _models("conv2d")
    _, mult = _circuit(7, 7, signed, 5)
    approx = calibrate(approximate(model, mult, forward="htp", gradient=gradient, skip_first_last=False), [x]).eval()
    layer = approx[0]
    xq, sx, zx = layer.act_quant(x)
    wq, sw, zw = layer.weight_quant(layer.weight.reshape(6, -1))
    cols = nn.functional.unfold(xq - zx.float(), 3, padding=1, stride=2) + zx.float()  # (n, 2*18, L), pads = zx
    cols, wq, K = cols.detach().double().numpy(), wq.detach().double().numpy(), 18
    n, L = cols.shape[0], cols.shape[2]
    want = np.empty((n, 6, L))
    for o in range(6):
        g = o // 3
        xs = cols[:, g * K:(g + 1) * K, :].transpose(0, 2, 1).reshape(-1, K)  # (n*L, K)
        pairs = np.stack(np.broadcast_arrays(xs, wq[o][None, :]), axis=-1).reshape(-1, 2)
        h = mult.surrogate.predict(pairs).reshape(-1, K).sum(axis=1)
        z_w = float(zw.reshape(-1)[o])
        acc = h - z_w * xs.sum(axis=1) - float(zx) * wq[o].sum() + K * float(zx) * z_w
        want[:, o, :] = (acc * float(sx) * float(sw.reshape(-1)[o])).reshape(n, L) + float(layer.bias.detach()[o])
    got = layer(x).detach().double().numpy().reshape(n, 6, L)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_noise_mode_has_the_measured_mean():
    _, mult = _circuit(7, 7, False, 6)
    layer = ApproxLinear(64, 1, mult, forward="noise")
    layer.noise_generator = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(1)
    xq, wq = _codes(rng, (2000, 64), 7, False), _codes(rng, (1, 64), 7, False)
    noisy = layer._products(xq, wq)
    exact = xq.double() @ wq.double().t()
    error = (noisy - exact).numpy()
    model = mult.noise
    assert abs(error.mean() - 64 * model.mean_) < 4 * 8 * model.std_ / np.sqrt(2000)
    assert abs(error.std() / (8 * model.std_) - 1) < 0.1


def test_noise_convolution_adds_the_measured_error_per_output():
    """The direct convolution of the noise mode: the exact mode's output plus, per output,
    K mean + sqrt(K) std N(0, 1) products' worth of error (scaled by s_x s_w)."""
    _, mult = _circuit(7, 7, False, 6)
    layer = ApproxConv2d(4, 2, 3, mult, padding=1, forward="noise", gradient="ste")
    layer.noise_generator = torch.Generator().manual_seed(0)
    x = torch.rand(50, 4, 8, 8)
    calibrate(layer, [x])
    layer.eval()
    noisy = layer(x).detach().double()
    layer.set_mode("exact")
    exact = layer(x).detach().double()
    _, sx, _ = layer.act_quant(x)
    _, sw, _ = layer.weight_quant(layer.weight.reshape(2, -1))
    error = ((noisy - exact) / (sx * sw.reshape(1, -1, 1, 1))).numpy().ravel()  # in product units
    model, K = mult.noise, 36
    assert abs(error.mean() - K * model.mean_) < 4 * 6 * model.std_ / np.sqrt(error.size)
    assert abs(error.std() / (6 * model.std_) - 1) < 0.05


def test_state_dict_round_trip_and_another_multiplier_is_refused():
    model, x = _models("linear")
    approx = calibrate(approximate(model, ProductLUT.exact(8, 8)), [x])
    state = approx.state_dict()
    again = approximate(model, ProductLUT.exact(8, 8))
    again.load_state_dict(state)
    assert torch.equal(again(x), approx.eval()(x))
    other = approximate(model, simulate(make_multiplier(8, 8, False, 4)))
    with pytest.raises(AppMultError, match="checkpoint was saved with a multiplier of hash"):
        other.load_state_dict(state)


@pytest.mark.parametrize("observer", ["minmax", "moving_average"])
def test_observers_follow_their_definitions(observer):
    """Running extremes, or an exponential average of each batch's extremes (both clamped
    to include zero), against plain Python; codes are the rounded, clipped x / s + z."""
    from appmult_char.nn import Quantizer

    q = Quantizer(7, False, observer=observer, momentum=0.25)
    rng = np.random.default_rng(5)
    lo = hi = None
    for _ in range(4):
        x = torch.tensor(rng.normal(0.3, 1.0, 50), dtype=torch.float32)
        b_lo, b_hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
        if lo is None:
            lo, hi = b_lo, b_hi
        elif observer == "minmax":
            lo, hi = min(lo, b_lo), max(hi, b_hi)
        else:
            lo, hi = lo + 0.25 * (b_lo - lo), hi + 0.25 * (b_hi - hi)
        codes, scale, zero = q.train()(x)
    assert float(q.lo) == pytest.approx(lo, rel=1e-12) and float(q.hi) == pytest.approx(hi, rel=1e-12)
    s = (hi - lo) / 127
    z = min(max(round(0 - lo / s), 0), 127)
    assert float(scale) == pytest.approx(s, rel=1e-12) and float(zero) == z
    want = [min(max(round(v), 0), 127) for v in (x.double() / torch.tensor(s).float().double() + z).tolist()]
    assert codes.tolist() == pytest.approx(want, abs=1e-4)


def _fake_quantized(x, scale, zero, qmin, qmax):
    """Centred codes and unclipped mask by plain torch operations, in float32."""
    r = torch.round(x / torch.tensor(scale, dtype=torch.float32) + torch.tensor(zero, dtype=torch.float32))
    c = torch.minimum(torch.maximum(r, torch.tensor(float(qmin))), torch.tensor(float(qmax)))
    c = torch.where(torch.isnan(r), r, c)
    return c - float(zero), (c == r).to(torch.uint8)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("where", ["kernel", "cuda"])
def test_centred_codes_in_one_kernel_are_the_fake_quantization(signed, where):
    """`centred_codes_kernel` and `centred_grad_kernel` (NumPy arrays: under the simulator,
    or Numba's own copies on a GPU) and `Quantizer.centred` on CUDA tensors (contiguous and
    channels-last, where torch has CUDA) against plain torch operations: ties rounded to
    even, clipping at both ends, NaN and infinities; the gradient ``1 / scale`` where
    nothing was clipped, 0 where it was, whether the incoming gradient is laid out as the
    input or not."""
    from appmult_char.gemm import cuda_kernels
    from appmult_char.nn import Quantizer

    qmin, qmax = code_range(7, signed)
    scale, zero = 0.0625, 0.0 if signed else 20.0
    rng = np.random.default_rng(7)
    x = torch.tensor(np.concatenate([rng.normal(0, 5, 3000), np.arange(-200, 200) * scale / 2,  # every tie
                                     [np.nan, np.inf, -np.inf, 0.0, -0.0]]), dtype=torch.float32)
    want, inside = _fake_quantized(x, scale, zero, qmin, qmax)
    assert 0 < int(inside.sum()) < len(x)  # values clipped at both ends, and not
    if where == "kernel":
        out, got_inside = np.empty(len(x), np.float32), np.empty(len(x), np.uint8)
        cuda_kernels.centred_codes_kernel()[(len(x) + 255) // 256, 256](
            x.numpy(), np.array([scale]), np.array([zero]), np.float32(qmin), np.float32(qmax), out, got_inside)
        assert torch.equal(torch.tensor(got_inside), inside)
        np.testing.assert_array_equal(out, want.numpy())
        grad, got = rng.standard_normal(len(x)).astype(np.float32), np.empty(len(x), np.float32)
        cuda_kernels.centred_grad_kernel()[(len(x) + 255) // 256, 256](grad, got_inside, np.array([scale]), got)
        np.testing.assert_array_equal(got, np.where(got_inside, grad / np.float32(scale), 0))
        return
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (run on the GPU machine, docs/gpu-runs.md)")
    q = Quantizer(7, signed, observer="minmax")
    q.lo, q.hi = (torch.tensor(v, dtype=torch.float64) for v in (qmin - zero, qmax - zero))
    q.lo, q.hi = q.lo * scale, q.hi * scale
    q.eval()
    for xc in (x.reshape(5, 3, 227, 1).cuda(), x[:-5].reshape(2, 4, 17, 25).cuda().contiguous(
            memory_format=torch.channels_last)):
        w, w_inside = _fake_quantized(xc.cpu(), scale, zero, qmin, qmax)
        for layout in (torch.contiguous_format, torch.channels_last):
            xg = xc.clone().requires_grad_()
            got, s, z = q.centred(xg)
            assert float(s) == scale and float(z) == zero
            np.testing.assert_array_equal(got.detach().cpu().numpy(), w.numpy())
            got.backward(torch.ones_like(got).contiguous(memory_format=layout))
            assert torch.equal(xg.grad.cpu(), w_inside.to(torch.float32) / scale)


def test_bad_inputs_are_clear_errors():
    lut = ProductLUT.exact(7, 7)
    with pytest.raises(AppMultError, match="activation quantizer of 8 bits does not fit the 7x7"):
        ApproxLinear(3, 2, lut, act_bits=8)
    with pytest.raises(AppMultError, match="weight quantizer of 4 bits"):
        ApproxLinear(3, 2, lut, weight_bits=4)
    with pytest.raises(AppMultError, match="unsigned activation codes do not fit the signed"):
        ApproxLinear(3, 2, ProductLUT.exact(7, 7, signed=True), act_signed=False)
    mult = Multiplier(lut)
    other = ProductLUT(lut.table + 1, 7, 7, False)
    with pytest.raises(AppMultError, match="belong to another LUT"):
        mult.use_tables("window:3", window(other, 3))
    with pytest.raises(AppMultError, match="has no nn.Linear"):
        approximate(nn.Sequential(nn.ReLU()), lut)
    with pytest.raises(AppMultError, match="unknown gradient"):
        ApproxLinear(3, 2, lut, gradient="sobel")
    layer = ApproxLinear(3, 2, lut).eval()
    with pytest.raises(AppMultError, match="calibrate the model first"):
        layer(torch.randn(4, 3))
    layer.train()
    y = layer(torch.randn(4, 3))
    with pytest.raises(AppMultError, match="non-finite gradient"):
        y.backward(torch.full_like(y, float("nan")))
    with pytest.raises(AppMultError, match="cannot make a multiplier of int"):
        Multiplier.load(3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the GPU machine, docs/gpu-runs.md)")
@pytest.mark.parametrize("forward", ["lut", "exact", "htp"])
@pytest.mark.parametrize("gradient", ["ste", "window:3", "lut1d"])
def test_cuda_layers_equal_the_cpu_layers(forward, gradient):
    model, x = _models("conv2d")
    _, mult = _circuit(8, 8, True, 6)
    cpu = calibrate(approximate(model, mult, forward=forward, gradient=gradient), [x])
    gpu = copy.deepcopy(cpu).cuda()
    x_cpu, x_gpu = x.clone().requires_grad_(), x.cuda().requires_grad_()
    y_cpu, y_gpu = cpu.eval()(x_cpu), gpu.eval()(x_gpu)
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, rtol=1e-5, atol=1e-5)
    if forward != "htp":  # exact integer sums, one scaling in float64, one rounding: the same bits
        assert torch.equal(y_gpu.cpu(), y_cpu)
    g = torch.randn_like(y_cpu)
    y_cpu.backward(g)
    y_gpu.backward(g.cuda())
    torch.testing.assert_close(x_gpu.grad.cpu(), x_cpu.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gpu[0].weight.grad.cpu(), cpu[0].weight.grad, rtol=1e-4, atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the GPU machine, docs/gpu-runs.md)")
@pytest.mark.parametrize("tf32", [False, True])
def test_cuda_exact_convolutions_are_exact_on_every_resnet18_shape(tf32):
    """cuDNN picks transform algorithms for some float32 shapes when TF32 is off; the exact
    mode's products must still equal float64 arithmetic, whatever the global setting."""
    from appmult_char.nn.layers import _exact_product
    from appmult_char.nn.models import build_model

    model, shapes = build_model("resnet18", (3, 32, 32)).cuda(), []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append((m, i[0].shape)))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(128, 3, 32, 32, device="cuda"))
    for h in hooks:
        h.remove()
    before, torch.backends.cudnn.allow_tf32 = torch.backends.cudnn.allow_tf32, tf32
    try:
        for m, shape in shapes:
            for bits in (7, 8):
                peak = (1 << bits) - 1
                x = torch.randint(peak - 20, peak + 1, shape, device="cuda").float()
                w = torch.randint(peak - 20, peak + 1, m.weight.shape, device="cuda").float()  # long partial sums
                op = lambda a, b: nn.functional.conv2d(a, b, None, m.stride, m.padding, m.dilation, m.groups)
                assert torch.equal(_exact_product(op, x, w, w[0].numel(), peak, peak), op(x.double(), w.double()))
    finally:
        torch.backends.cudnn.allow_tf32 = before


@pytest.mark.parametrize("kind,forward,gradient", [("linear", "lut", "window:2"), ("conv2d", "lut", "window:2"),
                                                   ("conv2d", "lut", "ste"), ("conv2d", "htp", "lut1d")])
def test_torch_compile_traces_through_the_lut_operators(kind, forward, gradient):
    """The LUT GEMM is a registered custom operator and the separable convolution backward
    an autograd function of framework operations: a whole compiled model (one graph) gives
    the eager model's outputs and gradients."""
    _, mult = _circuit(7, 7, False, 5)
    model, x = _models(kind)
    eager = calibrate(approximate(model, mult, forward=forward, gradient=gradient, skip_first_last=False),
                      [x]).eval()  # one eager call registers the GEMMs
    compiled = torch.compile(eager, backend="aot_eager", fullgraph=True)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = eager(x1), compiled(x2)
    assert torch.equal(y1, y2)
    y1.sum().backward()
    y2.sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the GPU machine, docs/gpu-runs.md)")
@pytest.mark.parametrize("forward,gradient", [("lut", "window:2"), ("lut", "ste"), ("lut", "lut1d"), ("exact", "ste"),
                                              ("htp", "window:2")])
def test_cuda_training_step_replays_as_a_cuda_graph(forward, gradient):
    """No host synchronisation, no allocation outside PyTorch's allocator, no upload and no
    rebound buffer inside a step: a training step captured as a CUDA graph and replayed
    equals the same steps run eagerly from the same state."""
    import torch.nn.functional as F

    from appmult_char.nn.models import build_model

    torch.manual_seed(0)
    x, y = torch.randn(64, 1, 8, 8, device="cuda"), torch.randint(0, 10, (64,), device="cuda")
    lut = simulate(make_multiplier(7, 7, False, 5))
    eager = calibrate(approximate(build_model("cnn", (1, 8, 8)).cuda(), lut, forward=forward, gradient=gradient,
                                  act_observer="moving_average"), [x])
    graphed = copy.deepcopy(eager)
    optimizers = {id(m): torch.optim.SGD(m.parameters(), lr=0.1) for m in (eager, graphed)}

    def step(model):
        optimizers[id(model)].zero_grad(set_to_none=False)
        F.cross_entropy(model(x), y).backward()
        optimizers[id(model)].step()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up: kernels compiled, tables uploaded, gradients allocated
        for _ in range(2):
            step(graphed)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step(graphed)
    step(eager)  # the eager model's gradients exist too, then both start from one state
    with torch.no_grad():
        for a, b in zip(eager.state_dict().values(), graphed.state_dict().values()):
            b.copy_(a)
    for _ in range(3):
        step(eager)
        graph.replay()
    torch.cuda.synchronize()
    for (name, a), b in zip(eager.state_dict().items(), graphed.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")
