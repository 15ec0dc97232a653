"""`LutGemm`: matrix products through a multiplier's LUT, forward and backward, on CPU
(Numba) or GPU (Numba CUDA).

Operands are integer operand **codes**; a code's ``n`` low bits are the raw bit pattern
that indexes the LUT (so unsigned codes ``0..2^n-1`` and two's-complement signed codes
``-2^(n-1)..2^(n-1)-1`` both work as they are). Shapes: ``A (M, K) @ B (K, N)``, batched
``A (Z, M, K) @ B (Z, K, N)``, or ``A (..., M, K) @ B (K, N)`` (leading dimensions of ``A``
folded into ``M``).

Back ends, one call: ``backend="cpu"`` runs parallel Numba loops (row-parallel, LUT
gathers from cache); ``backend="cuda"`` keeps the LUT in shared memory (see `_cuda`) and
accepts NumPy arrays (copied to the GPU) or any ``__cuda_array_interface__`` array — CuPy
arrays, PyTorch CUDA tensors, Numba device arrays — without a host round trip; results
come back in the kind of array ``A`` was.

Backward through 2-D gradient tables uses their stored fixed-point form
``round(16 g) / 16`` (what the AppMult gradient files hold); LUT-1D backward is an
element-wise table lookup followed by an ordinary matrix product.
"""

from __future__ import annotations

import numpy as np

from .._errors import AppMultError
from ..gradients import Gradient1D, GradientTables, ste
from ..lut import ProductLUT

__all__ = ["LutGemm", "lut_matmul", "MAX_GPU_TABLE_BITS"]

#: The GPU kernels keep tables of up to 2^16 16-bit entries (8x8-bit operands) in shared memory.
MAX_GPU_TABLE_BITS = 16


def _is_device_array(x) -> bool:
    return hasattr(x, "__cuda_array_interface__")


class LutGemm:
    """A multiplier's LUT, and optionally its gradient tables, ready for GEMMs.

    `gradients` is a `GradientTables` (2-D backward) or `Gradient1D` (LUT-1D backward);
    without it the backward pass uses straight-through tables.
    """

    def __init__(self, lut: ProductLUT, gradients: GradientTables | Gradient1D | None = None,
                 backend: str = "cpu"):
        if backend not in ("cpu", "cuda"):
            raise AppMultError(f"unknown backend {backend!r} (cpu or cuda)")
        if gradients is not None and gradients.lut.shape != lut.shape:
            raise AppMultError("gradient tables belong to a LUT of another shape")
        self.lut = lut
        self.backend = backend
        self.n, self.m = lut.n, lut.m
        self.table = np.ascontiguousarray(lut.table, dtype=np.int64).ravel()
        self.max_abs = int(np.abs(self.table).max(initial=0))
        if gradients is None:
            gradients = ste(lut)
        self.gradients = gradients
        if isinstance(gradients, Gradient1D):
            self.g_a = gradients.g_a.astype(np.float32)  # per raw pattern of b
            self.g_b = gradients.g_b.astype(np.float32)  # per raw pattern of a
        else:
            qa, qb = gradients.quantized()
            self.grad_a_q = qa  # (2^n, 2^m) int16, 16 g
            self.grad_b_q = qb
        self._device = {}
        if backend == "cuda":
            self._check_gpu_size()

    @property
    def one_dimensional(self) -> bool:
        return isinstance(self.gradients, Gradient1D)

    def _check_gpu_size(self):
        if self.n + self.m > MAX_GPU_TABLE_BITS:
            raise AppMultError(f"the GPU kernels hold LUTs of up to 2^{MAX_GPU_TABLE_BITS} entries in shared memory; "
                               f"a {self.n}x{self.m} LUT has 2^{self.n + self.m} (use backend='cpu')")
        low, high = int(self.table.min()), int(self.table.max())
        if not (-32768 <= low and high <= 32767) and not (0 <= low and high <= 65535):
            raise AppMultError("the GPU kernels store LUT entries in 16 bits; this LUT's values do not fit")

    # -- shapes -----------------------------------------------------------------------------
    def _operands(self, A, B):
        """(A3, B3, output shape): 3-D views with A's leading dimensions folded when B is 2-D."""
        a_shape, b_shape = tuple(A.shape), tuple(B.shape)
        if len(b_shape) == 2 and len(a_shape) >= 2:
            if a_shape[-1] != b_shape[0]:
                raise AppMultError(f"inner dimensions differ: A {a_shape} @ B {b_shape}")
            rows = int(np.prod(a_shape[:-1]))
            return A.reshape(1, rows, a_shape[-1]), B.reshape(1, *b_shape), (*a_shape[:-1], b_shape[1])
        if len(a_shape) == 3 and len(b_shape) == 3 and a_shape[0] == b_shape[0] and a_shape[2] == b_shape[1]:
            return A, B, (a_shape[0], a_shape[1], b_shape[2])
        raise AppMultError(f"cannot multiply A {a_shape} by B {b_shape}: want (M,K)@(K,N), (...,M,K)@(K,N) "
                           "or (Z,M,K)@(Z,K,N)")

    def accumulator(self, K: int) -> np.dtype:
        """int32 when ``K * max|lut|`` fits, else int64."""
        return np.dtype(np.int32 if K * self.max_abs < 2**31 else np.int64)

    # -- forward ----------------------------------------------------------------------------
    def forward(self, A, B):
        """``C[..., i, j] = sum_k lut[A[..., i, k], B[..., k, j]]`` (integer, exact)."""
        if self.backend == "cuda":
            return self._forward_cuda(A, B)
        A = np.asarray(A)
        B = np.asarray(B)
        A3, B3, shape = self._operands(A, B)
        from . import _cpu

        out = np.empty((A3.shape[0], A3.shape[1], B3.shape[2]), dtype=self.accumulator(A3.shape[2]))
        _cpu.lut_gemm(_codes(A3), _codes(B3), self.table, 1 << self.m, (1 << self.n) - 1, (1 << self.m) - 1, out)
        return out.reshape(shape)

    # -- backward ---------------------------------------------------------------------------
    def backward(self, A, B, grad_C):
        """``(grad_A, grad_B)`` as float32, through the gradient tables."""
        if self.backend == "cuda":
            return self._backward_cuda(A, B, grad_C)
        A = np.asarray(A)
        B = np.asarray(B)
        A3, B3, shape = self._operands(A, B)
        G3 = np.ascontiguousarray(np.asarray(grad_C, dtype=np.float32).reshape(A3.shape[0], A3.shape[1], B3.shape[2]))
        Am = _codes(A3).astype(np.int64) & ((1 << self.n) - 1)
        Bm = _codes(B3).astype(np.int64) & ((1 << self.m) - 1)
        if self.one_dimensional:
            grad_A = G3 @ np.swapaxes(self.g_a[Bm], 1, 2)
            grad_B = np.swapaxes(self.g_b[Am], 1, 2) @ G3
        else:
            from . import _cpu

            grad_A = np.empty(A3.shape, dtype=np.float32)
            _cpu.table_weighted_gemm(G3, Am, Bm, self.grad_a_q.ravel().astype(np.float32), 1 << self.m,
                                     np.float32(1 / 16), grad_A)
            grad_Bt = np.empty((B3.shape[0], B3.shape[2], B3.shape[1]), dtype=np.float32)
            _cpu.table_weighted_gemm(np.ascontiguousarray(np.swapaxes(G3, 1, 2)),
                                     np.ascontiguousarray(np.swapaxes(Bm, 1, 2)),
                                     np.ascontiguousarray(np.swapaxes(Am, 1, 2)),
                                     np.ascontiguousarray(self.grad_b_q.T).ravel().astype(np.float32),
                                     1 << self.n, np.float32(1 / 16), grad_Bt)
            grad_B = np.swapaxes(grad_Bt, 1, 2)
        return np.ascontiguousarray(grad_A).reshape(A.shape), np.ascontiguousarray(grad_B).reshape(B.shape)

    # -- CUDA -------------------------------------------------------------------------------
    def _to_device(self, x, dtype=None):
        from numba import cuda

        if _is_device_array(x):
            arr = cuda.as_cuda_array(x)
            if dtype is not None and arr.dtype != dtype:
                raise AppMultError(f"device array of {arr.dtype} where {np.dtype(dtype)} is needed")
            return arr
        return cuda.to_device(np.ascontiguousarray(np.asarray(x, dtype=dtype)))

    def _device_tables(self):
        if not self._device:
            from numba import cuda

            signed16 = int(self.table.min()) < 0
            lut16 = self.table.astype(np.int16 if signed16 else np.uint16)
            if lut16.size % 2:
                lut16 = np.concatenate([lut16, lut16[:1]])
            self._device["lut32"] = cuda.to_device(lut16.view(np.uint32))
            self._device["lut_dtype"] = lut16.dtype
            if not self.one_dimensional:
                kind = "float32" if self.n + self.m <= 14 else "uint16"
                for name, q in (("ga", self.grad_a_q), ("gbT", np.ascontiguousarray(self.grad_b_q.T))):
                    flat = q.ravel()
                    table = flat.astype(np.float32) if kind == "float32" else (flat.astype(np.int32) + 32768).astype(np.uint16)
                    self._device[name] = cuda.to_device(table)
                self._device["kind"] = kind
        return self._device

    def _forward_cuda(self, A, B):
        from numba import cuda

        from . import _cuda

        like = A
        dA, dB = self._to_device(A), self._to_device(B)
        A3, B3, shape = self._operands(dA, dB)
        tables = self._device_tables()
        batch, M, K = A3.shape
        N = B3.shape[2]
        out = cuda.device_array((batch, M, N), dtype=self.accumulator(K))
        kernel, (bm, bn), threads = _cuda.forward_kernel(tables["lut_dtype"], out.dtype, self.n + self.m, N)
        grid = ((N + bn - 1) // bn, (M + bm - 1) // bm, batch)
        args = (A3, B3, tables["lut32"], np.int64(1 << self.m), np.int64((1 << self.n) - 1),
                np.int64((1 << self.m) - 1), out)
        nbytes = tables["lut32"].size * 4
        _cuda.set_dynamic_shared(kernel, args, nbytes)
        kernel[grid, threads, 0, nbytes](*args)
        return _like(out.reshape(*shape), like)

    def _backward_cuda(self, A, B, grad_C):
        from numba import cuda

        from . import _cuda

        like = A
        dA, dB = self._to_device(A), self._to_device(B)
        A3, B3, _ = self._operands(dA, dB)
        batch, M, K = A3.shape
        N = B3.shape[2]
        G3 = self._to_device(grad_C, np.float32).reshape(batch, M, N)
        if self.one_dimensional:
            return self._backward_1d_cuda(A, B, A3, B3, G3, like)
        tables = self._device_tables()
        kernel = _cuda.backward_kernel(tables["kind"], self.n + self.m)
        nbytes = tables["ga"].size * tables["ga"].dtype.itemsize
        grad_A = cuda.device_array((batch, M, K), dtype=np.float32)
        self._table_gemm(kernel, G3, A3, B3, tables["ga"], 1 << self.m, self.n, self.m, grad_A, nbytes)
        grad_Bt = cuda.device_array((batch, N, K), dtype=np.float32)
        self._table_gemm(kernel, _transpose(G3), _transpose(B3), _transpose(A3), tables["gbT"], 1 << self.n,
                         self.m, self.n, grad_Bt, nbytes)
        return _like(grad_A.reshape(*A.shape), like), _like(_transpose(grad_Bt).reshape(*B.shape), like)

    @staticmethod
    def _table_gemm(kernel, X, F, V, table, stride, f_bits, v_bits, out, nbytes):
        from . import _cuda

        kernel, (bp, bq), threads = kernel
        batch, P, _ = X.shape
        Q = F.shape[2]
        grid = ((Q + bq - 1) // bq, (P + bp - 1) // bp, batch)
        args = (X, F, V, table, np.int64(stride), np.int64((1 << f_bits) - 1), np.int64((1 << v_bits) - 1),
                np.float32(1 / 16), out)
        _cuda.set_dynamic_shared(kernel, args, nbytes)
        kernel[grid, threads, 0, nbytes](*args)

    def _backward_1d_cuda(self, A, B, A3, B3, G3, like):
        xp = _array_module()
        a = xp.asarray(A3).astype(xp.int64) & ((1 << self.n) - 1)
        b = xp.asarray(B3).astype(xp.int64) & ((1 << self.m) - 1)
        g = xp.asarray(G3)
        g_a, g_b = xp.asarray(self.g_a), xp.asarray(self.g_b)
        grad_A = g @ xp.swapaxes(g_a[b], 1, 2)
        grad_B = xp.swapaxes(g_b[a], 1, 2) @ g
        return _like(grad_A.reshape(*A.shape), like), _like(grad_B.reshape(*B.shape), like)


def _codes(x: np.ndarray) -> np.ndarray:
    """Contiguous integer operand codes (any integer dtype; the kernels take the low bits)."""
    if x.dtype.kind not in "iu":
        raise AppMultError(f"operand codes must be integers, not {x.dtype}")
    return np.ascontiguousarray(x)


def _array_module():
    """CuPy, for the lookups and ordinary matrix products of LUT-1D on the GPU."""
    try:
        import cupy
    except ImportError:
        raise AppMultError("LUT-1D backward on the GPU needs CuPy for its ordinary matrix products") from None
    return cupy


def _transpose(x):
    """Swap the last two axes of a 3-D device array (a contiguous copy, on the GPU)."""
    from numba import cuda

    from . import _cuda

    out = cuda.device_array((x.shape[0], x.shape[2], x.shape[1]), dtype=x.dtype)
    kernel = _cuda.transpose_kernel(x.dtype)
    grid = ((x.shape[2] + 31) // 32, (x.shape[1] + 31) // 32, x.shape[0])
    kernel[grid, (32, 8)](x, out)
    return out


def _like(device_result, like):
    """Return `device_result` as the kind of array `like` was: NumPy, CuPy, PyTorch or Numba."""
    if not _is_device_array(like):
        return device_result.copy_to_host()
    module = type(like).__module__.split(".")[0]
    if module == "cupy":
        import cupy

        return cupy.asarray(device_result)
    if module == "torch":
        import torch

        return torch.as_tensor(device_result, device=like.device)
    return device_result


def lut_matmul(A, B, lut: ProductLUT, backend: str = "cpu"):
    """One forward LUT GEMM (see `LutGemm.forward`); build a `LutGemm` to reuse tables."""
    return LutGemm(lut, backend=backend).forward(A, B)

