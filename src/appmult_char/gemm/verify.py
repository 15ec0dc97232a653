"""End-to-end check of one DNN layer computed through a multiplier's LUT.

The layer's integer GEMM is computed three ways on the same quantized operands: the LUT
GEMM (CPU or CUDA kernels), the exact integer GEMM, and the circuit itself evaluated on
every operand pair that occurs (the simulator's pair evaluation, no LUT). LUT GEMM and
circuit must agree exactly; the report adds the approximation error against the exact
multiplier and the float layer, the effect of the gradient tables on ``grad_A``/``grad_B``
against straight-through, and the LUT GEMM's throughput.
"""

from __future__ import annotations

import time

import numpy as np

from .._errors import AppMultError
from ..gradients import check_half_window, lut1d, ste, window
from ..sim import Simulator
from .layers import _host, im2col, quant_conv2d, quant_linear
from .ops import LutGemm

__all__ = ["verify_layer", "circuit_accumulators"]

_CHUNK = 1 << 24  # operand pairs per evaluation chunk


def circuit_accumulators(sim: Simulator, A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, int]:
    """``sum_k circuit(A[g, r, k], B[g, k, c])`` with the circuit evaluated on each distinct
    pair of raw operand patterns that occurs; returns the sums and the number of pairs."""
    a = A.astype(np.int64) & ((1 << sim.n) - 1)
    b = B.astype(np.int64) & ((1 << sim.m) - 1)
    G, R, K = a.shape
    C = b.shape[2]
    seen = np.zeros(1 << (sim.n + sim.m), dtype=bool)
    rows = max(1, _CHUNK // max(1, K * C))
    for g in range(G):
        for r0 in range(0, R, rows):
            ids = (a[g, r0:r0 + rows, :, None] << sim.m) | b[g][None, :, :]
            seen[ids.ravel()] = True
    used = np.flatnonzero(seen)
    products = np.zeros(seen.size, dtype=np.int64)
    products[used] = sim.evaluate(used >> sim.m, used & ((1 << sim.m) - 1))
    out = np.empty((G, R, C), dtype=np.int64)
    for g in range(G):
        for r0 in range(0, R, rows):
            ids = (a[g, r0:r0 + rows, :, None] << sim.m) | b[g][None, :, :]
            out[g, r0:r0 + rows] = products[ids].sum(axis=1)
    return out, int(used.size)


def _relative(diff, ref) -> float:
    denom = float(np.abs(ref).mean())
    return float(np.abs(diff).mean()) / denom if denom else float(np.abs(diff).mean())


def _timed(fn, device: str, repeat: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        if device == "cuda":
            from numba import cuda

            cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def verify_layer(sim: Simulator, layer: str = "linear", *, batch: int = 64, in_features: int = 256,
                 out_features: int = 64, channels: int = 8, out_channels: int = 8, size: int = 16, kernel: int = 3,
                 stride: int = 1, padding: int = 1, dilation: int = 1, groups: int = 1, per_channel: bool = False,
                 device: str = "cpu", seed: int = 0, half_window: int = 4, data: dict | None = None) -> dict:
    """Run one layer three ways and report (see the module docstring). `data` may give the
    float inputs ``x`` and weights ``w``; otherwise they are drawn with `seed`."""
    if layer not in ("linear", "conv2d"):
        raise AppMultError(f"unknown layer {layer!r} (linear or conv2d)")
    lut = sim.lut()
    rng = np.random.default_rng(seed)
    if data is not None:
        x, w = np.asarray(data["x"], dtype=np.float64), np.asarray(data["w"], dtype=np.float64)
    elif layer == "linear":
        x, w = rng.standard_normal((batch, in_features)), rng.standard_normal((out_features, in_features))
    else:
        x = rng.standard_normal((batch, channels, size, size))
        w = rng.standard_normal((out_channels, channels // max(groups, 1), kernel, kernel))
    if not lut.signed:
        x = np.abs(x)  # an unsigned multiplier sees non-negative activations (after ReLU)
    w_bits = min(lut.n, lut.m)
    try:
        check_half_window(half_window, w_bits)
        tables = window(lut, half_window)
    except AppMultError:
        tables = None  # operands too narrow for a window: report STE only
    gemm = LutGemm(lut, tables, backend=device)  # host arrays in, host arrays out, on either device
    options = dict(per_channel=per_channel)
    if layer == "linear":
        y, d = quant_linear(x, w, gemm, **options)
        y_float = x @ w.T
    else:
        conv = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        y, d = quant_conv2d(x, w, gemm, **conv, **options)
        y_float = _float_conv(x, w, **conv)
    A, B, acc = _host(d["A"]), _host(d["B"]), _host(d["acc"]).astype(np.int64)
    y = _host(y)
    exact = np.matmul(A.astype(np.int64), B.astype(np.int64))
    circuit, pairs = circuit_accumulators(sim, A, B)
    mismatches = int(np.count_nonzero(acc != circuit))
    macs = int(np.prod(A.shape)) * B.shape[-1]
    a16, b16 = d["A"].astype(np.int16), d["B"].astype(np.int16)
    t = _timed(lambda: gemm.forward(a16, b16), device)

    grad_C = rng.standard_normal(acc.shape).astype(np.float32)
    report_grads = {}
    ste_gA, ste_gB = LutGemm(lut, ste(lut)).backward(A, B, grad_C)
    for name, grads in (("window", tables), ("lut1d", lut1d(lut))):
        if grads is None:
            continue
        gA, gB = LutGemm(lut, grads).backward(A, B, grad_C)
        report_grads[name] = {"grad_A_vs_ste": _relative(gA - ste_gA, ste_gA),
                              "grad_B_vs_ste": _relative(gB - ste_gB, ste_gB)}
    return {
        "layer": layer, "device": device, "seed": seed, "multiplier": f"{lut.n}x{lut.m} "
        f"{'signed' if lut.signed else 'unsigned'}", "gemm_shape": list(A.shape) + [B.shape[-1]],
        "macs": macs, "operand_pairs_evaluated": pairs,
        "lut_equals_circuit": mismatches == 0, "mismatches": mismatches,
        "accumulator_error_vs_exact": _relative(acc - exact, exact),
        "output_error_vs_float": _relative(y - y_float, y_float),
        "exact_multiplier_output_error_vs_float": _relative(_exact_output(d, exact, layer, y.shape) - y_float, y_float),
        "gradients_vs_ste": report_grads, "half_window": tables.half_window if tables else None,
        "lut_gemm_seconds": t, "lut_gemm_mac_per_s": macs / t if t > 0 else float("inf"),
        "x_scale": float(d["x_params"].scale), "w_per_channel": per_channel,
    }


def _exact_output(d, exact_acc, layer, shape):
    """The layer's output had the multiplier been exact (same codes, same corrections)."""
    x_params, w_params = d["x_params"], d["w_params"]
    A, B = _host(d["A"]).astype(np.int64), _host(d["B"]).astype(np.int64)
    za = int(x_params.zero_point)
    G, _, K = A.shape
    if w_params.axis is None:
        zb, sb = int(w_params.zero_point), float(w_params.scale)
    else:
        zb = np.asarray(w_params.zero_point).reshape(G, 1, -1)
        sb = np.asarray(w_params.scale).reshape(G, 1, -1)
    y = (exact_acc - zb * A.sum(-1, keepdims=True) - za * B.sum(-2, keepdims=True) + K * za * zb) * (
        float(x_params.scale) * sb)
    if layer == "linear":
        return y[0]
    N, O, Ho, Wo = shape
    return y.reshape(G, N, Ho, Wo, O // G).transpose(1, 0, 4, 2, 3).reshape(N, O, Ho, Wo)


def _float_conv(x, w, stride, padding, dilation, groups):
    """Float reference convolution, summed directly over kernel offsets."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    cols, (N, Ho, Wo) = im2col(x, kh, kw, stride, padding, dilation, 0.0, groups)
    wg = w.reshape(groups, O // groups, Cg * kh * kw).transpose(0, 2, 1)
    y = cols @ wg
    return y.reshape(groups, N, Ho, Wo, O // groups).transpose(1, 0, 4, 2, 3).reshape(N, O, Ho, Wo)

