"""Dump the SASS of the LUT GEMM kernels (for tuning): python benchmarks/probe_cuda.py OUTDIR"""
import sys

import numba
import numpy as np
from numba import cuda

from appmult_char import simulate
from appmult_char.generators import multiplier
from appmult_char.gemm import LutGemm, cuda_kernels
from appmult_char.gradients import window

out_dir = sys.argv[1]
lut = simulate(multiplier(7, 7, False, 5))  # truncated: its window tables are two-dimensional
g = LutGemm(lut, window(lut, 4), backend="cuda")
tables = g.impl.device_tables()
A = cuda.to_device(np.zeros((1, 4, 4), np.uint8))
out = cuda.device_array((1, 4, 4), np.int32)
fwd, _, _, _ = cuda_kernels.forward_kernel(tables["lut_dtype"], np.dtype(np.int32), 14, 4)
args = (A, A, tables["lut32"], np.int64(128), np.int64(127), np.int64(127), np.int64(1), np.int64(4), out)
compiled = fwd.compile(tuple(numba.typeof(a) for a in args))
print("forward regs", compiled.regs_per_thread, "static shared", compiled.shared_mem_per_block)
open(f"{out_dir}/forward.sass", "w").write(compiled.inspect_sass())
open(f"{out_dir}/forward.ptx", "w").write(compiled.inspect_asm(cuda.get_current_device().compute_capability))
X = cuda.device_array((1, 4, 4), np.float32)
bwd, _, _, _ = cuda_kernels.backward_kernel("float32", 14)
args = (X, A, A, tables["ga"], np.int64(128), np.int64(127), np.int64(127), np.float32(1 / 16), np.int64(1), np.int64(4), X)
compiled = bwd.compile(tuple(numba.typeof(a) for a in args))
print("backward regs", compiled.regs_per_thread)
open(f"{out_dir}/backward.sass", "w").write(compiled.inspect_sass())
