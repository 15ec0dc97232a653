"""Tuning sweep of the backward kernel (tile, warps, register cap) and of the forward tile
for narrow outputs (conv-like N=64) (GPU only): python benchmarks/sweep_backward.py"""
import sys

import numba
import numpy as np
from numba import cuda

from appmult_char import ProductLUT
from appmult_char.gemm import LutGemm, cuda_kernels, cuda_launch

sys.path.insert(0, "benchmarks")
from bench_gemm_gpu import timed  # noqa: E402

size = 4096
rng = np.random.default_rng(0)
ws = cuda_launch.Workspace(None)  # Numba device arrays, default stream
for bits in (7, 8):
    g = LutGemm(ProductLUT.exact(bits, bits), backend="cuda")
    tables = g.impl.device_tables()
    F = cuda.to_device(rng.integers(0, 1 << bits, (1, size, size)).astype(np.uint8))
    V = cuda.to_device(rng.integers(0, 1 << bits, (1, size, size)).astype(np.uint8))
    X = cuda.to_device(rng.standard_normal((1, size, size)).astype(np.float32))
    out = cuda.device_array((1, size, size), np.float32)
    for tp, tq, warps in ((4, 8, 8), (4, 8, 16), (2, 8, 16), (4, 4, 16), (8, 4, 8), (2, 16, 8)):
        for regs in (None, 128, 96, 64):
            if regs and warps * 32 * regs > 65536:
                continue
            src = cuda_kernels._bwd_source(tables["kind"], False, tp, tq, warps)
            kernel = cuda_kernels._compile(src, "bwd", **({"max_registers": regs} if regs else {}))
            args = (X, F, V, tables["ga"], np.int64(1 << bits), np.int64((1 << bits) - 1), np.int64((1 << bits) - 1),
                    np.float32(1 / 16), np.int64(1), np.int64(size), out)
            nbytes = tables["ga"].size * tables["ga"].dtype.itemsize
            try:
                grid = (((size + tq - 1) // tq) * ((size + warps * tp - 1) // (warps * tp)), 1, 1)
                t = timed(lambda: cuda_launch.launch(kernel, grid, (32, warps), nbytes, ws, *args), repeat=3,
                          min_total=0.05)
            except Exception as exc:  # noqa: BLE001
                print(f"bwd {bits} tp={tp} tq={tq} warps={warps} regs={regs}: {type(exc).__name__}")
                continue
            used = kernel.compile(tuple(numba.typeof(a) for a in args)).regs_per_thread
            print(f"bwd {bits} tp={tp} tq={tq} warps={warps} regs={regs} used={used} {float(size) ** 3 / t:.3e}",
                  flush=True)
# forward on a conv-like shape: M = 64*32*32 rows, K = 576, N = 64
M, K, N = 65536, 576, 64
for bits in (7, 8):
    g = LutGemm(ProductLUT.exact(bits, bits), backend="cuda")
    tables = g.impl.device_tables()
    A = cuda.to_device(rng.integers(0, 1 << bits, (1, M, K)).astype(np.uint8))
    B = cuda.to_device(rng.integers(0, 1 << bits, (1, K, N)).astype(np.uint8))
    out = cuda.device_array((1, M, N), np.int32)
    for tm, tn, ty, regs in ((8, 4, 16, 64 if bits == 7 else 128), (8, 2, 16, 64), (16, 2, 16, 64), (16, 2, 16, 128),
                             (8, 2, 32, 64), (4, 2, 32, 64)):
        if 32 * ty * regs > 65536:
            continue
        kernel = cuda_kernels._compile(cuda_kernels._fwd_source(tables["lut_dtype"].name, "int32", tm, tn, ty), "fwd",
                                max_registers=regs)
        args = (A, B, tables["lut32"], np.int64(1 << bits), np.int64((1 << bits) - 1), np.int64((1 << bits) - 1),
                    np.int64(1), np.int64(size), out)
        nbytes = tables["lut32"].size * 4
        try:
            grid = ((N + 32 * tn - 1) // (32 * tn), (M + ty * tm - 1) // (ty * tm), 1)
            t = timed(lambda: cuda_launch.launch(kernel, grid, (32, ty), nbytes, ws, *args), repeat=3, min_total=0.05)
        except Exception as exc:  # noqa: BLE001
            print(f"fwd-narrow {bits} tm={tm} tn={tn} ty={ty} regs={regs}: {type(exc).__name__}")
            continue
        print(f"fwd-narrow {bits} tm={tm} tn={tn} ty={ty} regs={regs} {float(M) * K * N / t:.3e}", flush=True)
