"""Tuning sweep of the forward kernel's tile shape and register cap (GPU only):
python benchmarks/sweep_forward.py [SIZE]"""
import sys

import numba
import numpy as np
from numba import cuda

from appmult_char import ProductLUT
from appmult_char.gemm import LutGemm, cuda_kernels, cuda_launch

sys.path.insert(0, "benchmarks")
from bench_gemm_gpu import timed  # noqa: E402

size = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
rng = np.random.default_rng(0)
ws = cuda_launch.Workspace(None)  # Numba device arrays, default stream
for bits in (7, 8):
    g = LutGemm(ProductLUT.exact(bits, bits), backend="cuda")
    tables = g.impl.device_tables()
    A = cuda.to_device(rng.integers(0, 1 << bits, (1, size, size)).astype(np.uint8))
    B = cuda.to_device(rng.integers(0, 1 << bits, (1, size, size)).astype(np.uint8))
    out = cuda.device_array((1, size, size), np.int32)
    expected = None
    for tm, tn, ty in ((8, 4, 8), (4, 4, 8), (8, 2, 8), (4, 4, 16), (8, 4, 16), (4, 2, 16), (4, 4, 32), (2, 4, 32)):
        for regs in (None, 128, 64):
            if regs and regs * 32 * ty > 65536 and ty > 8:
                pass
            options = {"max_registers": regs} if regs else {}
            kernel = cuda_kernels._compile(cuda_kernels._fwd_source(tables["lut_dtype"].name, "int32", tm, tn, ty), "fwd", **options)
            args = (A, B, tables["lut32"], np.int64(1 << bits), np.int64((1 << bits) - 1), np.int64((1 << bits) - 1),
                    np.int64(1), np.int64(size), out)
            nbytes = tables["lut32"].size * 4
            try:
                grid = ((size + 32 * tn - 1) // (32 * tn), (size + ty * tm - 1) // (ty * tm), 1)
                launch = lambda: cuda_launch.launch(kernel, grid, (32, ty), nbytes, ws, *args)
                t = timed(launch, repeat=3, min_total=0.05)
            except Exception as exc:  # noqa: BLE001 - a sweep reports and goes on
                print(f"{bits} tm={tm} tn={tn} ty={ty} regs={regs}: {type(exc).__name__} {str(exc)[:80]}")
                continue
            host = out.copy_to_host()
            if expected is None:
                expected = host
            ok = np.array_equal(host, expected)
            compiled = kernel.compile(tuple(numba.typeof(a) for a in args))
            print(f"{bits} tm={tm} tn={tn} ty={ty} regs={regs} used={compiled.regs_per_thread} "
                  f"{float(size) ** 3 / t:.3e} MAC/s {'ok' if ok else 'MISMATCH'}", flush=True)
