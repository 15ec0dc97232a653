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
import warnings

import numpy as np

from .._errors import AppMultError
from ..arrays import to_host
from ..gradients import check_half_window, lut1d, ste, window
from ..sim import Simulator
from .layers import LayerSpec, columns_to_nchw, im2col, quant_conv2d, quant_linear
from .ops import LutGemm

__all__ = ["verify_layer", "circuit_accumulators"]

_CHUNK = 1 << 24  # operand pairs per evaluation chunk


def circuit_accumulators(sim: Simulator, A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, int]:
    """``sum_k circuit(A[g, r, k], B[g, k, c])`` with the circuit evaluated on each distinct
    pair of raw operand patterns that occurs; returns the sums and the number of pairs."""
    a = A.astype(np.int64) & ((1 << sim.a_bits) - 1)
    b = B.astype(np.int64) & ((1 << sim.b_bits) - 1)
    G, R, K = a.shape
    C = b.shape[2]
    seen = np.zeros(1 << (sim.a_bits + sim.b_bits), dtype=bool)
    rows = max(1, _CHUNK // max(1, K * C))
    for g in range(G):
        for r0 in range(0, R, rows):
            ids = (a[g, r0:r0 + rows, :, None] << sim.b_bits) | b[g][None, :, :]
            seen[ids.ravel()] = True
    used = np.flatnonzero(seen)
    products = np.zeros(seen.size, dtype=np.int64)
    products[used] = sim.evaluate(used >> sim.b_bits, used & ((1 << sim.b_bits) - 1))
    out = np.empty((G, R, C), dtype=np.int64)
    for g in range(G):
        for r0 in range(0, R, rows):
            ids = (a[g, r0:r0 + rows, :, None] << sim.b_bits) | b[g][None, :, :]
            out[g, r0:r0 + rows] = products[ids].sum(axis=1)
    return out, int(used.size)


def _relative(diff, ref) -> float:
    denom = float(np.abs(ref).mean())
    return float(np.abs(diff).mean()) / denom if denom else float(np.abs(diff).mean())


def _timed(fn, backend: str, repeat: int = 3) -> float:
    sync = _synchronize(backend)
    fn()
    best = float("inf")
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def _synchronize(backend: str):
    if backend != "cuda":
        return lambda: None
    from numba import cuda

    return cuda.synchronize


def verify_layer(sim: Simulator, spec: LayerSpec | None = None, *, backend: str = "cpu", seed: int = 0,
                 half_window: int | None = None, data: dict | None = None, device: str | None = None, **shape) -> dict:
    """Run one layer three ways and report (see the module docstring). `spec` gives the
    layer (default `LayerSpec()`; keyword arguments of `LayerSpec` are accepted instead);
    `data` may give the float inputs ``x`` and weights ``w``, otherwise drawn with `seed`.
    `half_window` (default 4, or STE only when the operands are too narrow for it) sets the
    window gradient compared with STE; an explicit one that does not fit is an error."""
    if device is not None:
        warnings.warn("verify_layer(device=...) is deprecated; use backend=", DeprecationWarning, stacklevel=2)
        backend = device
    if spec is None or isinstance(spec, str):
        spec = LayerSpec(**({"layer": spec} if spec else {}), **shape)
    elif shape:
        raise AppMultError("give the layer as a LayerSpec or as keyword arguments, not both")
    lut = sim.lut()
    rng = np.random.default_rng(seed)
    if data is not None:
        x, w = np.asarray(data["x"], dtype=np.float64), np.asarray(data["w"], dtype=np.float64)
    else:
        x, w = spec.random_data(rng)
    if not lut.signed:
        x = np.abs(x)  # an unsigned multiplier sees non-negative activations (after ReLU)
    try:
        check_half_window(4 if half_window is None else half_window, min(lut.a_bits, lut.b_bits))
        tables = window(lut, 4 if half_window is None else half_window)
    except AppMultError:
        if half_window is not None:
            raise
        tables = None  # operands too narrow for the default window: report STE only
    gemm = LutGemm(lut, tables, backend=backend)  # host arrays in, host arrays out, on either back end
    if spec.layer == "linear":
        y, d = quant_linear(x, w, gemm, per_channel=spec.per_channel)
        y_float = x @ w.T
    else:
        y, d = quant_conv2d(x, w, gemm, **spec.conv, per_channel=spec.per_channel)
        y_float = _float_conv(x, w, **spec.conv)
    A, B, acc = to_host(d["A"]), to_host(d["B"]), to_host(d["acc"]).astype(np.int64)
    y = to_host(y)
    exact = np.matmul(A.astype(np.int64), B.astype(np.int64))
    circuit, pairs = circuit_accumulators(sim, A, B)
    mismatches = int(np.count_nonzero(acc != circuit))
    macs = int(np.prod(A.shape)) * B.shape[-1]
    a16, b16 = d["A"].astype(np.int16), d["B"].astype(np.int16)
    t = _timed(lambda: gemm.forward(a16, b16), backend)

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
        "layer": spec.layer, "backend": backend, "seed": seed, "multiplier": f"{lut.a_bits}x{lut.b_bits} "
        f"{'signed' if lut.signed else 'unsigned'}", "gemm_shape": list(A.shape) + [B.shape[-1]],
        "macs": macs, "operand_pairs_evaluated": pairs,
        "lut_equals_circuit": mismatches == 0, "mismatches": mismatches,
        "accumulator_error_vs_exact": _relative(acc - exact, exact),
        "output_error_vs_float": _relative(y - y_float, y_float),
        "exact_multiplier_output_error_vs_float": _relative(_exact_output(d, exact, spec.layer, y.shape) - y_float,
                                                            y_float),
        "gradients_vs_ste": report_grads, "half_window": tables.half_window if tables else None,
        "lut_gemm_seconds": t, "lut_gemm_mac_per_s": macs / t if t > 0 else float("inf"),
        "x_scale": float(d["x_params"].scale), "w_per_channel": spec.per_channel,
    }


def _exact_output(d, exact_acc, layer, shape):
    """The layer's output had the multiplier been exact (same codes, same corrections)."""
    x_params, w_params = d["x_params"], d["w_params"]
    A, B = to_host(d["A"]).astype(np.int64), to_host(d["B"]).astype(np.int64)
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
    N, _, Ho, Wo = shape
    return columns_to_nchw(y, N, Ho, Wo)


def _float_conv(x, w, stride, padding, dilation, groups):
    """Float reference convolution, summed directly over kernel offsets."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    cols, (N, Ho, Wo) = im2col(x, kh, kw, stride, padding, dilation, 0.0, groups)
    wg = w.reshape(groups, O // groups, Cg * kh * kw).transpose(0, 2, 1)
    return columns_to_nchw(cols @ wg, N, Ho, Wo)

