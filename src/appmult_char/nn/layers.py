"""Layers whose multiplications run through an approximate multiplier.

`ApproxLinear`, `ApproxConv1d`, `ApproxConv2d` quantize their input (operand ``a``,
per tensor, observed) and weight (operand ``b``, per output channel or per tensor) into
the multiplier's codes and compute, per output,

    y = s_x s_w ( Σ_k f(q_x, q_w) - z_w Σ_k q_x - z_x Σ_k q_w + K z_x z_w ) + bias

with the zero-point terms exact (the affine form of `appmult_char.gemm.layers`) and
``Σ_k f`` by the forward mode:

- ``lut``: the LUT GEMM, bit-exact behaviour of the circuit;
- ``exact``: ``Σ_k q_x q_w`` (quantization-aware training without approximation; with an
  exact multiplier ``lut`` gives the same bits);
- ``htp``: the multiplier's HTP surrogate ``h(x, w) = [1, x, x mod 2^l] C [1, w, w mod
  2^k]^T``, at framework speed: for linear layers one matrix product of basis expansions,
  for convolutions the exact product plus the surrogate's deviation as convolutions of
  basis maps (`_ApproxConv._deviation`);
- ``noise``: the exact sum plus Gaussian error of the multiplier's measured mean and
  deviation per product.

Backward: through the multiplier's gradient tables (``ste``, ``window[:W]``,
``lut1d[:W]``) for the ``lut``, ``htp`` and ``noise`` modes, exact for ``exact``.
Accumulators are float64, which holds every integer sum exactly. Convolutions quantize
their input once. Where the gradient is the exact product's (``exact``; ``htp`` and
``noise`` with ``ste``) they run as the framework's convolution of the centred codes
``q - z`` (zero padding is then the code of a real zero). Where the backward pass is
separable (``ste``, ``lut1d``: `_SeparableGradient`) the forward value comes from the LUT
GEMM of one int16 unfolded copy of the codes (``lut``) or from those convolutions
(``htp``, ``noise``), and the gradient from the framework's convolution backward pass with
the tables' vectors in place of the operands. With 2-D tables (``window``) the codes are
unfolded once, as int16 padded with the zero point, for the LUT GEMM and its table
products, and the input gradient folded back from those products in one pass
(`appmult_char.gemm.torch_bridge.lut_conv`). While a `product_observer` records a layer's
products (multiplier selection), its input is unfolded as float codes through `_affine`.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._errors import AppMultError
from ..gemm.columns import output_size, windows
from .multiplier import Multiplier, parse_gradient
from .quant import Quantizer

__all__ = ["ApproxLayer", "ApproxLinear", "ApproxConv1d", "ApproxConv2d", "FORWARD_MODES"]

FORWARD_MODES = ("lut", "exact", "htp", "noise")
_HASH_BYTES = 32


def _hash_tensor(hex_digest: str) -> torch.Tensor:
    return torch.tensor(list(bytes.fromhex(hex_digest)), dtype=torch.uint8)


class ApproxLayer(nn.Module):
    """What the approximate layers share: the multiplier, quantizers, modes, and the
    product of code matrices. Subclasses shape their input into ``(rows, K)`` columns."""

    def __init__(self, multiplier: Any, *, forward: str = "lut", gradient: Any = "window", weight_quant: str = "per_channel",
                 act_observer: str = "moving_average", act_bits: int | None = None, weight_bits: int | None = None,
                 act_signed: bool | None = None, weight_signed: bool | None = None):
        super().__init__()
        self.multiplier = Multiplier.load(multiplier)
        m = self.multiplier
        for what, bits, want in (("activation", act_bits, m.a_bits), ("weight", weight_bits, m.b_bits)):
            if bits is not None and bits != want:
                raise AppMultError(f"{what} quantizer of {bits} bits does not fit the {m.a_bits}x{m.b_bits} multiplier "
                                   f"{m.name} ({what}s are operand {'a' if what == 'activation' else 'b'}, {want} bits)")
        for what, signed in (("activation", act_signed), ("weight", weight_signed)):
            if signed is not None and signed != m.signed:
                raise AppMultError(f"{'signed' if signed else 'unsigned'} {what} codes do not fit the "
                                   f"{'signed' if m.signed else 'unsigned'} multiplier {m.name}")
        if weight_quant not in ("per_channel", "per_tensor"):
            raise AppMultError(f"weight_quant must be per_channel or per_tensor, not {weight_quant!r}")
        self.set_mode(forward, gradient)
        self.act_quant = Quantizer(m.a_bits, m.signed, observer=act_observer)
        self.weight_quant = Quantizer(m.b_bits, m.signed, observer="current",
                                      channel_axis=0 if weight_quant == "per_channel" else None)
        self.register_buffer("multiplier_hash", _hash_tensor(m.hash))
        self.noise_generator: torch.Generator | None = None
        #: Called as ``f(layer, x_codes (R, K*groups), w_codes (C, K), column_scale (C,), groups, y)``
        #: by every forward pass when set (`appmult_char.select` records counting matrices).
        self.product_observer: Any = None

    def use_multiplier(self, multiplier: Any) -> None:
        """Put another multiplier of the same operand format into this layer (its
        quantizers and weights stay; the recorded hash follows)."""
        m = Multiplier.load(multiplier)
        have = (self.act_quant.bits, self.weight_quant.bits, self.act_quant.signed)
        if (m.a_bits, m.b_bits, m.signed) != have:
            raise AppMultError(f"{m.name} is a {m.a_bits}x{m.b_bits} {'signed' if m.signed else 'unsigned'} multiplier; "
                               f"this layer quantizes to {have[0]}x{have[1]} {'signed' if have[2] else 'unsigned'} codes")
        self.multiplier = m
        self.multiplier_hash = _hash_tensor(m.hash).to(self.multiplier_hash.device)
        self.multiplier.tables(self.gradient)

    def set_mode(self, forward: str | None = None, gradient: Any = None) -> None:
        """Change the forward mode and/or the backward gradient."""
        if forward is not None:
            if forward not in FORWARD_MODES:
                raise AppMultError(f"unknown forward mode {forward!r} ({', '.join(FORWARD_MODES)})")
            self.forward_mode = forward
        if gradient is not None:
            self.gradient = parse_gradient(gradient)
            self.multiplier.tables(self.gradient)  # fail now, not in the first backward pass

    def extra_repr(self) -> str:
        return f"{self.multiplier!r}, forward={self.forward_mode}, gradient={self.gradient}"

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        stored = state_dict.get(prefix + "multiplier_hash")
        if stored is not None and not torch.equal(stored.cpu(), self.multiplier_hash.cpu()):
            raise AppMultError(f"layer {prefix.rstrip('.') or '(root)'}: the checkpoint was saved with a multiplier of "
                               f"hash {bytes(stored.tolist()).hex()[:12]}, this layer has {self.multiplier.name} "
                               f"(hash {self.multiplier.hash[:12]})")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    # -- the product of code matrices ------------------------------------------------------
    def _products(self, xq: torch.Tensor, wq: torch.Tensor, deviation: torch.Tensor | None = None) -> torch.Tensor:
        """``Σ_k f(xq[i, k], wq[j, k])`` (float64) for codes ``xq (R, K)``, ``wq (C, K)``;
        `deviation` (``htp``/``noise``), when given, is ``Σ_k f - xq wq`` computed another
        way (a convolution's `_deviation`)."""
        if self.forward_mode == "exact":
            return _exact_product(_matmul_t, xq, wq, xq.shape[1], *self._code_peaks())
        from ..gemm.torch_bridge import lut_matmul

        gemm = self.multiplier.gemm(self.gradient, xq.device.type)
        value = None
        if deviation is not None:
            value = _exact_product(_matmul_t, xq.detach(), wq.detach(), xq.shape[1], *self._code_peaks()) + deviation
        elif self.forward_mode == "htp":
            value = _htp_products(self.multiplier, xq.detach().double(), wq.detach().double())
        elif self.forward_mode == "noise":
            model, K = self.multiplier.noise, xq.shape[1]
            exact = xq.detach().double() @ wq.detach().double().t()
            noise = torch.randn(exact.shape, dtype=torch.float64, device=exact.device, generator=self.noise_generator)
            value = exact + K * model.mean_ + math.sqrt(K) * model.std_ * noise
        return lut_matmul(xq.contiguous(), wq.t().contiguous(), gemm, value, torch.float64)

    @staticmethod
    def _code_sum(codes: torch.Tensor, quant: Quantizer, dim: int, keepdim: bool = False) -> torch.Tensor:
        """Exact float64 sums of code rows: of integer codes in int32, of float codes in
        float32 when every partial sum stays below 2^24 (no float64 copy of the matrix),
        else in float64."""
        if not codes.is_floating_point():
            return codes.sum(dim, keepdim=keepdim, dtype=torch.int32).double()
        if codes.shape[dim] * max(-quant.qmin, quant.qmax) < (1 << 24):
            return codes.sum(dim, keepdim=keepdim).double()
        return codes.sum(dim, keepdim=keepdim, dtype=torch.float64)

    def _affine(self, xq: torch.Tensor, sx: torch.Tensor, zx: torch.Tensor, weight2d: torch.Tensor,
                groups: int = 1, deviation_of: Any = None) -> torch.Tensor:
        """``y (R, C)`` of activation codes ``xq`` in columns ``(R, K·groups)`` (scale `sx`,
        zero point `zx`) and a weight ``(C, K)`` (see the module docstring); groups split the
        columns and the output channels alike; `deviation_of(wq)`, when given, supplies the
        ``htp``/``noise`` deviation of every output (see `_products`)."""
        wq, sw, zw = self.weight_quant(weight2d)
        sw, zw = sw.reshape(-1), zw.reshape(-1)
        deviation = None
        if deviation_of is not None and self.forward_mode in ("htp", "noise"):
            with torch.no_grad():
                deviation = deviation_of(wq.detach())  # (R, C)
        y = (self._sums(xq, zx, wq, zw, groups, deviation) * (sx * sw)).to(xq.dtype)
        if self.product_observer is not None:  # codes and scales of this product (multiplier selection)
            self.product_observer(self, xq, wq, (sx * sw).reshape(-1).expand(len(wq)), groups, y)
        return self._watched(y)

    def _sums(self, xq: torch.Tensor, zx: torch.Tensor, wq: torch.Tensor, zw: torch.Tensor, groups: int,
              deviation: torch.Tensor | None = None) -> torch.Tensor:
        """``Σ_k f(q_x, q_w) - z_w Σ_k q_x - z_x Σ_k q_w + K z_x z_w`` (float64 ``(R, C)``) of
        codes ``xq (R, K·groups)`` and ``wq (C, K)`` with zero points `zx` and `zw` (one, or
        one per output channel), ``Σ_k f`` by the forward mode.

        The exact mode is ``Σ_k (q_x - z_x)(q_w - z_w)``: the same integer as the zero-point
        form, so both round identically in float64."""
        C, K = wq.shape
        per, outs = C // groups, []
        for g in range(groups):
            x_g, w_g = xq[:, g * K:(g + 1) * K], wq[g * per:(g + 1) * per]
            zw_g = zw[g * per:(g + 1) * per] if zw.numel() > 1 else zw
            if self.forward_mode == "exact":
                acc = _exact_product(_matmul_t, x_g - zx.to(x_g.dtype), w_g - zw_g[:, None].to(w_g.dtype), K,
                                     *self._centred_peaks())
            else:
                acc = self._products(x_g, w_g, None if deviation is None else deviation[:, g * per:(g + 1) * per])
                x_sum = self._code_sum(x_g, self.act_quant, 1, keepdim=True)
                acc = acc - zw_g * x_sum - zx * self._code_sum(w_g, self.weight_quant, 1) + K * zx * zw_g
            outs.append(acc)
        return torch.cat(outs, dim=1) if groups > 1 else outs[0]

    def _watched(self, y: torch.Tensor) -> torch.Tensor:
        """`y`, with the check that its gradient is finite where that costs no synchronisation."""
        # on a GPU the check would synchronise every step; compiled graphs cannot branch on data
        if y.requires_grad and y.device.type == "cpu" and not torch.compiler.is_compiling():
            y.register_hook(self._check_gradient)
        return y

    def _code_peaks(self) -> tuple[int, int]:
        """Bounds of ``|q|`` of the activation and weight codes."""
        a, b = self.act_quant, self.weight_quant
        return max(-a.qmin, a.qmax), max(-b.qmin, b.qmax)

    def _centred_peaks(self) -> tuple[int, int]:
        """Bounds of ``|q - z|`` of the activation and weight codes."""
        return self.act_quant.qmax - self.act_quant.qmin, self.weight_quant.qmax - self.weight_quant.qmin

    def _centred_input(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Centred codes ``q - z`` of the input (a real zero is 0), its scale and zero point."""
        return self.act_quant.centred(x)

    def _check_gradient(self, grad: torch.Tensor) -> None:
        if not torch.isfinite(grad).all():
            raise AppMultError(f"a non-finite gradient reached an approximate layer ({self.multiplier.name}); "
                               "lower the learning rate or check the loss")


def _exact_product(op, x: torch.Tensor, w: torch.Tensor, terms: int, x_peak: int, w_peak: int) -> torch.Tensor:
    """``op(x, w)`` — a matrix product or a convolution, `terms` products per output — of
    integer-valued tensors with ``|x| <= x_peak``, ``|w| <= w_peak``, as exact float64 with
    the gradient of ``op`` itself.

    In float32 (float64 tensors stay float64): integers below 2^8 are exact in every
    float32 product mode (TF32 and bfloat16 included) and so are their products, and a sum
    is exact while every partial sum stays below 2^24. Where ``terms * x_peak * w_peak``
    may reach 2^24, ``x`` is split into base-2^d digits (the low ones in ``0..2^d-1``, the
    top one signed) small enough for each digit's product to be exact, and the digits'
    products are added in float64. Wider operands go to float64 directly.

    That argument holds for algorithms that multiply and add the terms themselves, not for
    transform ones (Winograd, FFT), which cuDNN picks for some float32 convolution shapes
    when TF32 is off (measured on an H200: 12 of 40 ResNet-18 shapes then missed the exact
    sums). So on a GPU the products run with cuDNN's TF32 allowed (its implicit-GEMM
    tensor-core kernels; the codes are exact in TF32), and every float32 result is rounded
    to the integer it must be."""
    if x.dtype == torch.float64 or max(x_peak, w_peak) > 256 or terms * w_peak >= (1 << 23):
        y = op(x, w)
        return y if y.dtype == torch.float64 else op(x.double(), w.double())
    with _cudnn_tf32(x):
        y = op(x, w)
        if terms * x_peak * w_peak < (1 << 24):
            exact = torch.round(y.detach()).double()
        else:
            base = 1 << ((1 << 24) // (terms * w_peak)).bit_length() - 1  # terms * w_peak * (base - 1) < 2^24
            exact, scale, rest, peak, w = None, 1.0, x.detach(), x_peak, w.detach()
            while terms * w_peak * peak >= (1 << 24):
                part = torch.round(op(torch.remainder(rest, base), w)).double() * scale
                exact = part if exact is None else exact + part
                rest, peak, scale = torch.floor(rest / base), -(-peak // base), scale * base
            exact = exact + torch.round(op(rest, w)).double() * scale
    return _ValueOf.apply(y, exact)  # the exact value, the gradient of op


class _ValueOf(torch.autograd.Function):
    """`value` (no gradient of its own) in the forward pass, the gradient passed to `y`
    (cast to its dtype) in the backward pass."""

    @staticmethod
    def forward(ctx, y, value):
        ctx.dtype = y.dtype
        return value

    @staticmethod
    def backward(ctx, grad):
        return grad.to(ctx.dtype), None


@contextlib.contextmanager
def _cudnn_tf32(x: torch.Tensor, allowed: bool = True):
    """cuDNN's TF32 kernels allowed (integer codes: see `_exact_product`) or not (float
    operands) for CUDA tensors; compiled graphs keep the global setting."""
    if not x.is_cuda or torch.compiler.is_compiling():
        yield
        return
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before


def _htp_products(mult: Multiplier, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``Σ_k h(x[i, k], w[j, k])`` of the multiplier's `HTPModel` as one matrix product."""
    model = mult.surrogate
    coef = mult.device_tensor("htp_coef", model.coef_, x.device)  # copied once per device: no per-call upload
    bx = [torch.ones_like(x), x, torch.remainder(x, float(1 << model.l_))]
    bw = [torch.ones_like(w), w, torch.remainder(w, float(1 << model.k_))]
    left = torch.cat(bx, dim=1)  # (R, 3K)
    right = torch.cat([sum(coef[i, j] * bw[j] for j in range(3)) for i in range(3)], dim=1)  # (C, 3K)
    return left @ right.t()


def _matmul_t(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x @ w.t()


class ApproxLinear(ApproxLayer):
    """`torch.nn.Linear` with its products through a multiplier (see the module docstring)."""

    def __init__(self, in_features: int, out_features: int, multiplier: Any, bias: bool = True, **options: Any):
        super().__init__(multiplier, **options)
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        xq, sx, zx = self.act_quant(x.reshape(-1, self.in_features))
        y = self._affine(xq, sx, zx, self.weight)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)


class _ApproxConv(ApproxLayer):
    """Shared by the 1-D and 2-D convolutions: unfold, the affine product, fold back."""

    dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, multiplier: Any, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, **options: Any):
        super().__init__(multiplier, **options)
        if in_channels % groups or out_channels % groups:
            raise AppMultError(f"channels ({in_channels} in, {out_channels} out) must divide into {groups} groups")
        tup = (lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * self.dims)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding, self.dilation = (tup(kernel_size), tup(stride), tup(padding),
                                                                      tup(dilation))
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def _as2d(self, v: tuple) -> tuple:
        return v if self.dims == 2 else (1, *v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dims == 1:
            x = x.unsqueeze(2)
        n = x.shape[0]
        kernel, stride = self._as2d(self.kernel_size), self._as2d(self.stride)
        padding, dilation = (0, *self.padding) if self.dims == 1 else self.padding, self._as2d(self.dilation)
        geometry = (kernel, stride, padding, dilation)
        out_hw = output_size(tuple(x.shape[2:]), geometry)
        cx, sx, zx = self._centred_input(x)  # quantized before unfolding: once per input value, not per tap
        mode = self.forward_mode
        if self.product_observer is None and (mode == "exact" or (mode != "lut" and self.gradient.method == "ste")):
            y = self._direct_conv(cx, sx, zx, *geometry[1:])
        elif self.product_observer is None and self.multiplier.gemm(self.gradient, cx.device.type).one_dimensional:
            y = self._separable_conv(cx, sx, zx, geometry, out_hw)
        elif self.product_observer is None:
            y = self._table_conv(cx, sx, zx, geometry)
        else:  # observed products: float columns through `_affine`, which hands them to the observer
            cols = self._columns(cx, zx, *geometry)  # (n*L, C*kh*kw), channel-major
            conv, shape = self._conv_op(*geometry[1:]), (n, self.out_channels, *out_hw)
            weight = self._weight2d_form()

            def deviation_of(wq2d):
                dev = self._deviation(conv, cx.detach(), zx, wq2d.reshape(weight.shape), weight[0].numel(), shape)
                return dev.permute(0, 2, 3, 1).reshape(-1, self.out_channels)

            y = self._affine(cols, sx, zx, self.weight.reshape(self.out_channels, -1), self.groups, deviation_of)
            if self.bias is not None:
                y = y + self.bias
            y = y.reshape(n, out_hw[0] * out_hw[1], self.out_channels).transpose(1, 2)
            y = y.reshape(n, self.out_channels, *out_hw)
        return y.squeeze(2) if self.dims == 1 else y

    def _direct_conv(self, cx, sx, zx, stride, padding, dilation) -> torch.Tensor:
        """The framework's own convolution of centred codes, without an unfolded copy, for
        the modes whose gradient is the exact product's: ``exact`` is
        ``s_x s_w conv(q_x - z_x, q_w - z_w)`` (the same float64 integers and scales as
        `_affine`, so the same bits); ``htp`` and ``noise`` add their deviation from the
        exact products (`_deviation`), as constants of the backward pass."""
        wq, sw, zw = self.weight_quant(self._weight2d_form())
        return self._scaled(self._mode_sums(cx, zx, wq, zw, stride, padding, dilation), sx, sw, cx.dtype)

    def _mode_sums(self, cx, zx, wq, zw, stride, padding, dilation) -> torch.Tensor:
        """The forward mode's sums by the framework's convolution (float64 ``(n, C, H,
        W)``): ``conv(q_x - z_x, q_w - z_w)`` with its gradient, plus, for ``htp`` and
        ``noise``, their deviation from the exact products (`_deviation`) as a constant."""
        terms = wq[0].numel()
        conv = self._conv_op(stride, padding, dilation)
        acc = _exact_product(conv, cx, wq - zw.to(wq.dtype), terms, *self._centred_peaks())
        if self.forward_mode == "exact":
            return acc
        with torch.no_grad():
            deviation = self._deviation(conv, cx.detach(), zx, wq.detach(), terms, acc.shape)
        return acc + deviation

    def _separable_conv(self, cx, sx, zx, geometry, out_hw) -> torch.Tensor:
        """A convolution whose backward pass is separable (straight-through or LUT-1D
        tables, `LutGemm.one_dimensional`) in the ``lut``, ``htp`` and ``noise`` modes: the
        sums of the forward mode computed without a gradient — ``lut`` as the LUT GEMM of one
        int16 im2col copy of the codes, ``htp``/``noise`` as the exact convolution plus
        `_deviation` — and the gradient as the framework's convolution backward pass with the
        tables' vectors in place of the operands (`_SeparableGradient`): no unfolded float
        copy, no unfolded gradient."""
        kernel, stride, padding, dilation = geometry
        wq, sw, zw = self.weight_quant(self._weight2d_form())
        with torch.no_grad():
            if self.forward_mode == "lut":
                cols = self._columns(cx, zx, *geometry, dtype=torch.int16)
                acc = self._sums(cols, zx, wq.reshape(len(wq), -1), zw.reshape(-1), self.groups)
                acc = acc.reshape(cx.shape[0], -1, acc.shape[1]).transpose(1, 2).reshape(cx.shape[0], -1, *out_hw)
            else:
                acc = self._mode_sums(cx, zx, wq, zw, stride, padding, dilation)
        m = self.multiplier
        g_a, g_b = m.gradient_vectors(self.gradient, cx.device)
        acc = _SeparableGradient.apply(cx, wq, acc, g_a, g_b, zx, zw, (stride, padding, dilation, self.groups),
                                       ((1 << m.a_bits) - 1, (1 << m.b_bits) - 1))
        return self._scaled(acc, sx, sw, cx.dtype)

    def _table_conv(self, cx, sx, zx, geometry) -> torch.Tensor:
        """A convolution with 2-D gradient tables (`torch_bridge.lut_conv`): the sums from
        the LUT GEMM of one int16 unfolded copy of the codes (``lut``) or from `_mode_sums`
        (``htp``, ``noise``), the gradients through the tables."""
        from ..gemm.torch_bridge import lut_conv

        wq, sw, zw = self.weight_quant(self._weight2d_form())
        value = None
        if self.forward_mode != "lut":
            with torch.no_grad():
                value = self._mode_sums(cx, zx, wq, zw, *geometry[1:])
        gemm = self.multiplier.gemm(self.gradient, cx.device.type)
        scale = sx * sw.reshape(-1)
        if cx.dtype != torch.float32 or scale.requires_grad:  # float64 layers, learned clipping: the general form
            return self._scaled(lut_conv(cx, wq, zx, zw, gemm, geometry, self.groups, value), sx, sw, cx.dtype)
        return self._biased(lut_conv(cx, wq, zx, zw, gemm, geometry, self.groups, value, scale))  # `_scaled`'s bits

    def _scaled(self, acc, sx, sw, dtype) -> torch.Tensor:
        """``s_x s_w acc + bias`` of a convolution's sums ``acc (n, C, H, W)``, in `dtype`."""
        return self._biased((acc * (sx * sw.reshape(1, -1, 1, 1))).to(dtype))

    def _biased(self, y: torch.Tensor) -> torch.Tensor:
        """``y + bias`` of a convolution's scaled output ``y (n, C, H, W)``, watched."""
        return self._watched(y if self.bias is None else y + self.bias.reshape(1, -1, 1, 1))

    def _weight2d_form(self) -> torch.Tensor:
        """The weight as a 2-D convolution's (a 1-D kernel gets a unit height)."""
        return self.weight if self.dims == 2 else self.weight.unsqueeze(2)

    def _conv_op(self, stride, padding, dilation):
        """``conv(a, b)``: this layer's convolution (2-D form) of an input and a weight."""
        return lambda a, b: F.conv2d(a, b, None, stride, padding, dilation, self.groups)

    def _deviation(self, conv, cx, zx, wq, terms: int, shape) -> torch.Tensor:
        """``Σ_k f(q_x, q_w) - q_x q_w`` over each output's taps (padding included, where
        ``q_x = z_x``), float64, for the ``htp`` and ``noise`` forward modes.

        HTP: ``h(x, w) - x w = Σ_ij C'_ij φ_i(x) ψ_j(w)`` with ``φ = [1, x, x mod 2^l]``,
        ``ψ = [1, w, w mod 2^k]`` and ``C' = C`` less 1 at ``(x, w)``; per ``i`` that is a
        convolution of ``φ_i(q_x) - φ_i(z_x)`` (zero at the padding) with
        ``W_i = Σ_j C'_ij ψ_j(q_w)``, plus ``φ_i(z_x)`` times the sum of ``W_i``."""
        if self.forward_mode == "noise":
            model = self.multiplier.noise
            noise = torch.randn(shape, dtype=torch.float64, device=cx.device, generator=self.noise_generator)
            return terms * model.mean_ + math.sqrt(terms) * model.std_ * noise
        model = self.multiplier.surrogate
        less_product = model.coef_ - np.diag([0.0, 1.0, 0.0])  # C': the exact product x w taken out
        c = self.multiplier.device_tensor("htp_coef less xw", less_product, cx.device)
        c = c.to(wq.dtype).reshape(3, 3, *([1] * wq.dim()))
        # W_i = C'_i0 + C'_i1 w + C'_i2 (w mod 2^k), for the three i at once
        weights = c[:, 0] + c[:, 1] * wq + c[:, 2] * torch.remainder(wq, float(1 << model.k_))
        lx = float(1 << model.l_)
        phi_zero = [zx, torch.remainder(zx, lx)]
        shifted = [cx, torch.remainder(cx + zx.to(cx.dtype), lx) - phi_zero[1].to(cx.dtype)]
        sums = weights.sum(dim=(2, 3, 4), dtype=torch.float64)  # (3, C_out)
        bias = sums[0] + phi_zero[0] * sums[1] + phi_zero[1] * sums[2]  # the padding-level terms, per channel
        return bias.reshape(1, -1, 1, 1) + self._basis_conv(conv, shifted, [weights[1], weights[2]])

    def _basis_conv(self, conv, maps: list, weights: list) -> torch.Tensor:
        """``Σ_i conv(maps[i], weights[i])`` (float64) of integer-valued maps and fractional
        weights, as one convolution of the maps stacked per group.

        On a GPU in TF32 (tensor cores; integer maps below 2^11 are exact there) with each
        weight split into a TF32 part and the float32 rest, both as output channels of the
        same convolution: an error near float32's, at a fraction of a float32 convolution's
        time (cuDNN's float32 kernels, FFT among them, were most of an HTP step)."""
        n, _, h, w = maps[0].shape
        g = self.groups
        x = torch.stack([m.reshape(n, g, -1, h, w) for m in maps], dim=2).reshape(n, -1, h, w)
        weight = torch.cat(weights, dim=1)  # (C, len(maps) * C_in / g, kh, kw): each group's maps in turn
        if not x.is_cuda:
            return conv(x, weight).double()
        high = (weight.view(torch.int32) & ~0x1FFF).view(torch.float32)  # 10 mantissa bits: exact in TF32
        split = torch.stack([high.reshape(g, -1, *weight.shape[1:]), (weight - high).reshape(g, -1, *weight.shape[1:])],
                            dim=1).reshape(-1, *weight.shape[1:])  # per group: the TF32 parts, then the rests
        with _cudnn_tf32(x):
            y = conv(x, split)
        return y.reshape(n, g, 2, -1, *y.shape[2:]).double().sum(2).reshape(n, -1, *y.shape[2:])

    @staticmethod
    def _columns(cx, zx, kernel, stride, padding, dilation, dtype=None) -> torch.Tensor:
        """im2col ``(n*L, C*kh*kw)`` of the codes ``cx + zx`` of centred codes `cx`, padded
        with `zx` (the code of a real zero), in `dtype` (default: `cx`'s; integer codes are
        converted before unfolding, on the small input): one strided copy of dilated windows
        of the padded input."""
        xq = F.pad(cx, (padding[1], padding[1], padding[0], padding[0])) + zx.to(cx.dtype)
        if dtype is not None:
            xq = xq.to(dtype)
        xq = windows(xq, (kernel, stride, padding, dilation), dim=2)  # (n, C, Ho, Wo, kh, kw)
        return xq.permute(0, 2, 3, 1, 4, 5).reshape(-1, xq.shape[1] * kernel[0] * kernel[1])  # (n, Ho, Wo, C, kh, kw)


class _SeparableGradient(torch.autograd.Function):
    """`value`, the sums ``acc (n, C, H, W)`` of a convolution of centred input codes
    ``cx`` (zero point `zx`) and weight codes `wq` (zero points `zw`), with the gradient of
    a separable backward pass, ``∂f/∂q_x = g_a[q_w]`` and ``∂f/∂q_w = g_b[q_x]`` (raw code
    patterns index the vectors):

        ∂acc/∂q_x = conv-input-gradient with the weight g_a[q_w] - z_w
        ∂acc/∂q_w = conv-weight-gradient of the input g_b[q_x] - z_x, padded with g_b[z_x] - z_x

    (the zero-point terms of `ApproxLayer._sums` give the ``- z`` parts; a padded tap holds
    the code ``z_x``). Straight-through vectors make these the exact product's gradient."""

    @staticmethod
    def forward(ctx, cx, wq, value, g_a, g_b, zx, zw, geometry, masks):
        ctx.save_for_backward(cx, wq, g_a, g_b, zx, zw)
        ctx.geometry, ctx.masks = geometry, masks
        return value

    @staticmethod
    def backward(ctx, grad):
        cx, wq, g_a, g_b, zx, zw = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.geometry
        a_mask, b_mask = ctx.masks
        grad = grad.to(cx.dtype)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            u = g_a[wq.to(torch.int64) & b_mask] - zw.reshape(-1, 1, 1, 1).to(cx.dtype)
            grad_x = torch.ops.aten.convolution_backward(grad, cx, u, None, stride, padding, dilation, False, [0, 0],
                                                         groups, [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            zero = zx.to(cx.dtype).reshape(-1)  # 1 element: indexing by a 0-d tensor would read it on the host
            edge = g_b[zero.to(torch.int64) & a_mask] - zero  # what a padded tap holds
            v = g_b[(cx + zero).to(torch.int64) & a_mask] - zero
            v = F.pad(v - edge, (padding[1], padding[1], padding[0], padding[0])) + edge
            grad_w = torch.ops.aten.convolution_backward(grad, v, wq, None, stride, [0, 0], dilation, False, [0, 0],
                                                         groups, [False, True, False])[1]
        return grad_x, grad_w, None, None, None, None, None, None, None


class ApproxConv2d(_ApproxConv):
    """`torch.nn.Conv2d` (stride, padding, dilation, groups, bias) through a multiplier."""

    dims = 2


class ApproxConv1d(_ApproxConv):
    """`torch.nn.Conv1d` (stride, padding, dilation, groups, bias) through a multiplier."""

    dims = 1
