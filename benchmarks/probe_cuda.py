"""Environment probe for the GPU kernels: driver handle types and the shared-memory opt-in."""
import numpy as np
from numba import cuda

from appmult_char import ProductLUT
from appmult_char.gemm import LutGemm, _cuda

dev = cuda.get_current_device()
print("optin max shared per block:", dev.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
g = LutGemm(ProductLUT.exact(8, 8), backend="cuda")
tables = g._device_tables()
kernel = _cuda.forward_kernel(tables["lut_dtype"], np.dtype(np.int32))
import numba
A = cuda.to_device(np.zeros((1, 4, 4), np.uint8))
out = cuda.device_array((1, 4, 4), np.int32)
args = (A, A, tables["lut32"], np.int64(256), np.int64(255), np.int64(255), out)
compiled = kernel.compile(tuple(numba.typeof(a) for a in args))
cufunc = compiled._codelibrary.get_cufunc()
print("cufunc", type(cufunc), "handle", type(cufunc.handle), repr(cufunc.handle)[:80])
print("attrs", [a for a in dir(cufunc) if not a.startswith("__")])
print("regs", compiled.regs_per_thread if hasattr(compiled, "regs_per_thread") else "?",
      "static shared", compiled.shared_mem_per_block if hasattr(compiled, "shared_mem_per_block") else "?")
