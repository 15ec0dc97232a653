"""Quantized linear and conv2d layers whose products go through a multiplier's LUT.

Affine quantization (as in "Fast Retraining of Approximate CNNs for High Accuracy",
TorchApprox, Eq. 9/10): ``x ≈ s_x (q_x - z_x)``, ``w ≈ s_w (q_w - z_w)``,
per tensor or per output channel for weights. A layer output is

    y = s_x s_w[o] ( sum_k f(q_x, q_w) - z_w[o] sum_k q_x - z_x sum_k q_w + K z_x z_w[o] )

where ``f`` is the multiplier (the LUT) applied to the integer codes and the three
zero-point terms are computed exactly outside the LUT. Codes are unsigned
``0..2^n-1`` for an unsigned multiplier and two's-complement ``-2^(n-1)..2^(n-1)-1`` for a
signed one; activations are operand ``a`` (n bits), weights operand ``b`` (m bits).
Convolutions go through im2col (stride, padding, dilation, groups); padding uses the
code of a real zero, ``z_x``.

Arrays are NumPy (CPU back end) or, with ``backend="cuda"``, CuPy arrays / PyTorch CUDA
tensors (computed with CuPy on the GPU). `LayerSpec` describes one layer's shape and
options, as `verify.verify_layer` and ``appmult-char verify`` take them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import AppMultError
from ..arrays import array_module as _xp
from ..arrays import Array, to_host
from ..lut import ProductLUT
from .ops import LutGemm

__all__ = ["QuantParams", "LayerSpec", "calibrate", "quantize", "dequantize", "quant_linear", "quant_conv2d",
           "QuantConv2d", "conv_output_size", "im2col", "columns_to_nchw"]

LAYERS = ("linear", "conv2d")


@dataclass(frozen=True)
class LayerSpec:
    """One layer's kind, shape and quantization options (defaults: the ``verify`` command's)."""

    layer: str = "linear"
    batch: int = 64  # rows (linear) or images (conv2d)
    in_features: int = 256
    out_features: int = 64
    channels: int = 8  # conv2d input channels
    out_channels: int = 8
    size: int = 16  # conv2d input height = width
    kernel: int = 3
    stride: int = 1
    padding: int = 1
    dilation: int = 1
    groups: int = 1
    per_channel: bool = False  # per-output-channel weight quantization

    def __post_init__(self):
        if self.layer not in LAYERS:
            raise AppMultError(f"unknown layer {self.layer!r} ({' or '.join(LAYERS)})")

    @property
    def conv(self) -> dict[str, int]:
        """The convolution options, as `quant_conv2d` takes them."""
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def random_data(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Standard-normal float input and weight of this shape."""
        if self.layer == "linear":
            return rng.standard_normal((self.batch, self.in_features)), rng.standard_normal(
                (self.out_features, self.in_features))
        x = rng.standard_normal((self.batch, self.channels, self.size, self.size))
        w = rng.standard_normal((self.out_channels, self.channels // max(self.groups, 1), self.kernel, self.kernel))
        return x, w


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization parameters; `scale`/`zero_point` are scalars or per-channel vectors."""

    scale: np.ndarray
    zero_point: np.ndarray
    bits: int
    signed: bool
    axis: int | None = None

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def _shaped(self, values, ndim, xp):
        v = xp.asarray(values)
        if self.axis is None:
            return v
        shape = [1] * ndim
        shape[self.axis] = -1
        return v.reshape(shape)


def calibrate(x: Array, bits: int, signed: bool, axis: int | None = None) -> QuantParams:
    """Min/max affine parameters covering ``[min(x, 0), max(x, 0)]`` (per channel along `axis`)."""
    xp = _xp(x)
    x = xp.asarray(x, dtype=xp.float64)
    if axis is None:
        lo, hi = np.float64(min(float(x.min()), 0.0)), np.float64(max(float(x.max()), 0.0))
    else:
        reduce = tuple(d for d in range(x.ndim) if d != axis % x.ndim)
        lo = np.minimum(to_host(x.min(axis=reduce)), 0.0)
        hi = np.maximum(to_host(x.max(axis=reduce)), 0.0)
    qmin = -(1 << (bits - 1)) if signed else 0
    qmax = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    scale = np.where(hi > lo, (hi - lo) / (qmax - qmin), 1.0)
    zero = np.clip(np.round(qmin - lo / scale), qmin, qmax).astype(np.int64)
    return QuantParams(np.asarray(scale, dtype=np.float64), zero, bits, signed, None if axis is None else axis % x.ndim)


def quantize(x: Array, params: QuantParams) -> Array:
    """Integer codes ``clip(round(x / s) + z, qmin, qmax)`` (int64)."""
    xp = _xp(x)
    x = xp.asarray(x, dtype=xp.float64)
    s = params._shaped(params.scale, x.ndim, xp)
    z = params._shaped(params.zero_point, x.ndim, xp)
    return xp.clip(xp.round(x / s) + z, params.qmin, params.qmax).astype(xp.int64)


def dequantize(q: Array, params: QuantParams) -> Array:
    xp = _xp(q)
    s = params._shaped(params.scale, q.ndim, xp)
    z = params._shaped(params.zero_point, q.ndim, xp)
    return (q - z) * s


def _check_quantization(gemm: LutGemm, xq: QuantParams, wq: QuantParams):
    lut = gemm.lut
    if (xq.bits, wq.bits) != (lut.a_bits, lut.b_bits) or xq.signed != lut.signed or wq.signed != lut.signed:
        raise AppMultError(f"quantization ({xq.bits}/{wq.bits} bits, signed={xq.signed}) does not match the "
                           f"{lut.a_bits}x{lut.b_bits} {'signed' if lut.signed else 'unsigned'} multiplier")


def _affine_gemm(gemm: LutGemm, qa, qb, za, zb, sa, sb):
    """``sa * sb * (LUT(qa @ qb) - zb sum_k qa - za sum_k qb + K za zb)`` for batched
    ``qa (G, R, K)``, ``qb (G, K, C)``; `zb`, `sb` broadcast over the C columns. Returns the
    float result and the raw LUT accumulators."""
    xp = _xp(qa)
    acc = xp.asarray(gemm.forward(qa.astype(xp.int16), qb.astype(xp.int16)))  # codes fit 16 bits
    K = qa.shape[-1]
    row_sums = qa.sum(axis=-1, keepdims=True, dtype=xp.int64)  # (G, R, 1)
    col_sums = qb.sum(axis=-2, keepdims=True, dtype=xp.int64)  # (G, 1, C)
    corrected = acc.astype(xp.int64) - zb * row_sums - za * col_sums + K * za * zb
    return corrected * (sa * sb), acc


def quant_linear(x: Array, w: Array, gemm: LutGemm, x_params: QuantParams | None = None,
                 w_params: QuantParams | None = None, per_channel: bool = False,
                 bias: Array | None = None) -> tuple[Array, dict[str, Any]]:
    """``y = x @ w.T (+ bias)`` with quantized operands multiplied through the LUT.

    Returns ``(y, details)``; `details` holds the GEMM operand codes ``A (1, B, in)``,
    ``B (1, in, out)`` and the integer accumulators, as verification uses them.
    """
    lut = gemm.lut
    x_params = x_params or calibrate(x, lut.a_bits, lut.signed)
    w_params = w_params or calibrate(w, lut.b_bits, lut.signed, axis=0 if per_channel else None)
    _check_quantization(gemm, x_params, w_params)
    xp = _xp(x)
    qx = quantize(x, x_params)  # (B, in)
    qw = quantize(w, w_params)  # (out, in)
    zb = xp.asarray(w_params.zero_point).reshape(1, 1, -1) if per_channel else int(w_params.zero_point)
    sb = xp.asarray(w_params.scale).reshape(1, 1, -1) if per_channel else float(w_params.scale)
    qa, qb = qx[None], xp.ascontiguousarray(qw.T)[None]
    y, acc = _affine_gemm(gemm, qa, qb, int(x_params.zero_point), zb, float(x_params.scale), sb)
    y = y[0]
    if bias is not None:
        y = y + xp.asarray(bias)
    return y, {"A": qa, "B": qb, "acc": acc, "x_params": x_params, "w_params": w_params}


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def im2col(q: Array, kh: int, kw: int, stride: int, padding: int, dilation: int, pad_value: float,
           groups: int) -> tuple[Array, tuple[int, int, int]]:
    """Columns ``(groups, N*Ho*Wo, C/groups*kh*kw)`` of codes, padded with `pad_value`."""
    xp = _xp(q)
    N, C, H, W = q.shape
    Ho = conv_output_size(H, kh, stride, padding, dilation)
    Wo = conv_output_size(W, kw, stride, padding, dilation)
    if Ho < 1 or Wo < 1:
        raise AppMultError(f"a {kh}x{kw} kernel (dilation {dilation}) does not fit a {H}x{W} input with padding {padding}")
    padded = xp.full((N, C, H + 2 * padding, W + 2 * padding), pad_value, dtype=q.dtype)
    padded[:, :, padding:padding + H, padding:padding + W] = q
    patches = xp.empty((N, Ho, Wo, C, kh, kw), dtype=q.dtype)
    for p in range(kh):
        for r in range(kw):
            rows = slice(p * dilation, p * dilation + stride * (Ho - 1) + 1, stride)
            cols = slice(r * dilation, r * dilation + stride * (Wo - 1) + 1, stride)
            patches[:, :, :, :, p, r] = padded[:, :, rows, cols].transpose(0, 2, 3, 1)
    cg = C // groups
    cols = patches.reshape(N * Ho * Wo, groups, cg * kh * kw)
    return xp.ascontiguousarray(cols.transpose(1, 0, 2)), (N, Ho, Wo)


def columns_to_nchw(y: Any, N: int, Ho: int, Wo: int) -> Any:
    """A convolution's GEMM result ``(groups, N*Ho*Wo, O/groups)`` as ``(N, O, Ho, Wo)``."""
    groups, _, og = y.shape
    return y.reshape(groups, N, Ho, Wo, og).transpose(1, 0, 4, 2, 3).reshape(N, groups * og, Ho, Wo)


def quant_conv2d(x: Array, w: Array, gemm: LutGemm, stride: int = 1, padding: int = 0, dilation: int = 1,
                 groups: int = 1, x_params: QuantParams | None = None, w_params: QuantParams | None = None,
                 per_channel: bool = False, bias: Array | None = None) -> tuple[Array, dict[str, Any]]:
    """2-D convolution (NCHW input, OIHW weight) with quantized operands through the LUT.

    Returns ``(y, details)`` like `quant_linear`.
    """
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    if C % groups or O % groups or Cg != C // groups:
        raise AppMultError(f"groups={groups} does not fit {C} input and {O} output channels with weight {tuple(w.shape)}")
    lut = gemm.lut
    x_params = x_params or calibrate(x, lut.a_bits, lut.signed)
    w_params = w_params or calibrate(w, lut.b_bits, lut.signed, axis=0 if per_channel else None)
    _check_quantization(gemm, x_params, w_params)
    xp = _xp(x)
    qx = quantize(x, x_params).astype(xp.int16)  # codes fit 16 bits: im2col moves a quarter of the bytes
    qw = quantize(w, w_params).astype(xp.int16)
    za = int(x_params.zero_point)
    cols, (N, Ho, Wo) = im2col(qx, kh, kw, stride, padding, dilation, za, groups)
    og = O // groups
    qb = xp.ascontiguousarray(qw.reshape(groups, og, Cg * kh * kw).transpose(0, 2, 1))  # (G, K, O/G)
    if per_channel:
        zb = xp.asarray(w_params.zero_point).reshape(groups, 1, og)
        sb = xp.asarray(w_params.scale).reshape(groups, 1, og)
    else:
        zb, sb = int(w_params.zero_point), float(w_params.scale)
    y, acc = _affine_gemm(gemm, cols, qb, za, zb, float(x_params.scale), sb)  # (G, N*Ho*Wo, O/G)
    y = columns_to_nchw(y, N, Ho, Wo)
    if bias is not None:
        y = y + xp.asarray(bias).reshape(1, -1, 1, 1)
    return y, {"A": cols, "B": qb, "acc": acc, "x_params": x_params, "w_params": w_params}


class QuantConv2d:
    """A conv2d layer with fixed weights, for repeated calls (benchmarks, inference)."""

    def __init__(self, weight, lut: ProductLUT, stride=1, padding=0, dilation=1, groups=1, per_channel=False,
                 backend="cpu"):
        xp = _xp(weight)
        self.weight = xp.asarray(weight)
        self.gemm = LutGemm(lut, backend=backend)
        self.options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, per_channel=per_channel)
        self.w_params = calibrate(self.weight, lut.b_bits, lut.signed, axis=0 if per_channel else None)

    def __call__(self, x):
        xp = _xp(self.weight)
        y, _ = quant_conv2d(xp.asarray(x), self.weight, self.gemm, w_params=self.w_params, **self.options)
        return y
