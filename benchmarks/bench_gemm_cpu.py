"""LUT GEMM on the CPU (Numba, all cores) beside NumPy matmul, measured in the same run.

Run: ``python benchmarks/bench_gemm_cpu.py``. For M = N = K in {128, 256, 512} and 7/8-bit
operands: forward, 2-D backward and LUT-1D backward of `LutGemm`, and ``numpy.matmul`` in
float32 (BLAS) and int64 (NumPy's own loops) on the same shapes. MAC/s counts M·N·K per
GEMM (two for a backward pass).
"""

from __future__ import annotations


import numpy as np

from _common import best_of

from appmult_char import ProductLUT, lut1d
from appmult_char.gemm import LutGemm




def main():
    print(f"{'bits':>4} {'size':>5} {'what':30s} {'seconds':>9} {'MAC/s':>10}")
    rng = np.random.default_rng(0)
    for size in (128, 256, 512):
        macs = float(size) ** 3
        xf = rng.standard_normal((size, size)).astype(np.float32)
        yf = rng.standard_normal((size, size)).astype(np.float32)
        xi = rng.integers(0, 256, (size, size))
        yi = rng.integers(0, 256, (size, size))
        for name, fn in (("numpy matmul float32 (BLAS)", lambda: xf @ yf), ("numpy matmul int64", lambda: xi @ yi)):
            t = best_of(fn, warm_up=True)
            print(f"{'-':>4} {size:5d} {name:30s} {t:9.5f} {macs / t:10.3e}")
        for bits in (7, 8):
            lut = ProductLUT.exact(bits, bits)
            A = rng.integers(0, 1 << bits, (size, size)).astype(np.uint8)
            B = rng.integers(0, 1 << bits, (size, size)).astype(np.uint8)
            G = rng.standard_normal((size, size)).astype(np.float32)
            gemm = LutGemm(lut)
            one_d = LutGemm(lut, lut1d(lut))
            for name, fn, count in (("LUT forward", lambda: gemm.forward(A, B), 1),
                                    ("LUT-2D backward (A and B)", lambda: gemm.backward(A, B, G), 2),
                                    ("LUT-1D backward (A and B)", lambda: one_d.backward(A, B, G), 2)):
                t = best_of(fn, warm_up=True)
                print(f"{bits:4d} {size:5d} {name:30s} {t:9.5f} {count * macs / t:10.3e}")


if __name__ == "__main__":
    main()
