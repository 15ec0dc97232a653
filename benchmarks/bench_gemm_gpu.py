"""LUT GEMM on the GPU: forward and backward throughput against fp32 matrix products.

Run on a CUDA machine: ``python benchmarks/bench_gemm_gpu.py [--sizes 512,2048,8192]
[--conv]``. For M = N = K in the sizes, at 7-bit and 8-bit operands, it times (CUDA
events, median of repeats after a warm-up) the LUT GEMM forward, the 2-D gradient-table
backward (grad_A and grad_B) and the LUT-1D backward, beside exact fp32 ``torch.matmul``
(TF32 off) and ``cupy.matmul`` in the same run. Throughput is in MAC/s (multiply-
accumulates: M·N·K per GEMM; the backward does two). Each LUT figure is also given as a
fraction of the shared-memory lookup limit estimated for the chip: one 32-lane shared
load per clock per SM, i.e. SMs x 32 x clock lookups per second. With ``--conv`` it also
times the quantized conv2d layer of the TorchApprox paper's Table VIII (N=64, 128x128, 3x3).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from numba import cuda

from appmult_char import ProductLUT, lut1d
from appmult_char.gemm import LutGemm


def timed(fn, repeat=5, min_total=0.3):
    """Median seconds of `fn()` over CUDA events (after one warm-up call)."""
    fn()
    cuda.synchronize()
    times = []
    while len(times) < repeat or (sum(times) < min_total and len(times) < 50):
        start, stop = cuda.event(), cuda.event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cuda.event_elapsed_time(start, stop) / 1e3)
    return statistics.median(times)


def approximate_lut(bits: int, seed: int = 0) -> ProductLUT:
    """An exact LUT with small random errors: speed does not depend on the values."""
    exact = ProductLUT.exact(bits, bits)
    noise = np.random.default_rng(seed).integers(-3, 4, exact.shape)
    return ProductLUT(np.clip(exact.table + noise, 0, 65535), bits, bits)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="512,2048,8192")
    parser.add_argument("--conv", action="store_true")
    args = parser.parse_args()
    import cupy
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    dev = cuda.get_current_device()
    sms = dev.MULTIPROCESSOR_COUNT
    clock = dev.CLOCK_RATE * 1e3  # Hz (maximum clock)
    limit = sms * 32 * clock
    print(f"device: {dev.name.decode() if isinstance(dev.name, bytes) else dev.name}, {sms} SMs, "
          f"max clock {clock / 1e9:.3f} GHz; shared-memory lookup limit {limit:.3e}/s")
    print(f"{'bits':>4} {'size':>5} {'what':28s} {'seconds':>9} {'MAC/s':>10} {'of limit':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        x = torch.randn(size, size, device="cuda")
        y = torch.randn(size, size, device="cuda")
        t_torch = timed(lambda: torch.matmul(x, y))
        cx, cy = cupy.asarray(x), cupy.asarray(y)
        t_cupy = timed(lambda: cupy.matmul(cx, cy))
        macs = float(size) ** 3
        print(f"{'-':>4} {size:5d} {'fp32 torch.matmul':28s} {t_torch:9.5f} {macs / t_torch:10.3e}")
        print(f"{'-':>4} {size:5d} {'fp32 cupy.matmul':28s} {t_cupy:9.5f} {macs / t_cupy:10.3e}")
        for bits in (7, 8):
            lut = approximate_lut(bits)
            rng = np.random.default_rng(bits)
            A = cuda.to_device(rng.integers(0, 1 << bits, (size, size)).astype(np.uint8))
            B = cuda.to_device(rng.integers(0, 1 << bits, (size, size)).astype(np.uint8))
            G = cuda.to_device(rng.standard_normal((size, size)).astype(np.float32))
            gemm = LutGemm(lut, backend="cuda")
            t = timed(lambda: gemm.forward(A, B))
            print(f"{bits:4d} {size:5d} {'LUT forward':28s} {t:9.5f} {macs / t:10.3e} {macs / t / limit:8.1%}")
            t = timed(lambda: gemm.backward(A, B, G))
            print(f"{bits:4d} {size:5d} {'LUT-2D backward (A and B)':28s} {t:9.5f} {2 * macs / t:10.3e} "
                  f"{2 * macs / t / limit:8.1%}")
            one_d = LutGemm(lut, lut1d(lut), backend="cuda")
            t = timed(lambda: one_d.backward(A, B, G))
            print(f"{bits:4d} {size:5d} {'LUT-1D backward (A and B)':28s} {t:9.5f} {2 * macs / t:10.3e} "
                  f"  ({t / (2 * t_torch):.2f}x two fp32 matmuls)")
    if args.conv:
        from appmult_char.gemm.layers import QuantConv2d

        lut = approximate_lut(8)
        print("\nconv2d N=64, 128x128, 3x3, padding 1, 8-bit LUT (TorchApprox paper, Table VIII shape)")
        print(f"{'C_in=C_out':>10} {'LUT conv ms':>12} {'fp32 torch conv ms':>19}")
        for channels in (2, 4, 8, 16, 32, 64):
            x = torch.randn(64, channels, 128, 128, device="cuda")
            w = torch.randn(channels, channels, 3, 3, device="cuda")
            layer = QuantConv2d(w, lut, padding=1, backend="cuda")
            t = timed(lambda: layer(x), repeat=3, min_total=0.1)
            t_ref = timed(lambda: torch.nn.functional.conv2d(x, w, padding=1), repeat=3, min_total=0.1)
            print(f"{channels:10d} {t * 1e3:12.2f} {t_ref * 1e3:19.2f}")


if __name__ == "__main__":
    main()
