"""The CUDA GEMM back end: the generated Numba CUDA kernels of `cuda_kernels`, the LUT
(and 2-D gradient tables) in shared memory, copied to the device once per `LutGemm`.

Inputs are NumPy arrays (copied to the GPU) or any ``__cuda_array_interface__`` array —
CuPy arrays, PyTorch CUDA tensors, Numba device arrays — used without a host round trip;
results come back in the kind of array ``A`` was. A column-major ``A`` (the transpose of a
contiguous array) is taken as it is: the kernels have forms that read it transposed. A
separable backward pass (LUT-1D, straight-through) is a lookup and two ordinary matrix
products, done with PyTorch or CuPy.
"""

from __future__ import annotations

import numpy as np

from .._errors import AppMultError
from ..arrays import Array, array_module, cuda_module, like
from ..gradients.tables import GRADIENT_SCALE
from . import cuda_kernels, cuda_launch
from .backend import GemmTables

__all__ = ["CudaGemm", "MAX_GPU_TABLE_BITS"]

#: The GPU kernels keep tables of up to 2^16 16-bit entries (8x8-bit operands) in shared memory.
MAX_GPU_TABLE_BITS = 16
#: 2-D gradient tables of up to 2^FLOAT_TABLE_BITS[name] entries sit in shared memory as
#: float32, larger ones as 16-bit fixed-point codes; by table: ``ga`` (input gradients),
#: ``gbT`` (weight gradients). The input gradients are bound by the shared-memory pipe, and
#: 16-bit entries put a row in half the words (fewer bank conflicts): 7-bit ResNet-18 input
#: gradients 33.1 ms as 16-bit codes against 34.0 ms as float32 on an H200, the training step
#: 106.5 against 108.1 ms. The weight gradients, latency bound, lose more to decoding the
#: codes than they gain (30.2 against 29.6 ms), so ``gbT`` stays float32 up to 7 bits.
FLOAT_TABLE_BITS = {"ga": 0, "gbT": 14}


class CudaGemm:
    name = "cuda"

    def __init__(self, gemm: GemmTables):
        bits = gemm.a_bits + gemm.b_bits
        if bits > MAX_GPU_TABLE_BITS:
            raise AppMultError(f"the GPU kernels hold LUTs of up to 2^{MAX_GPU_TABLE_BITS} entries in shared memory; "
                               f"a {gemm.a_bits}x{gemm.b_bits} LUT has 2^{bits} (use backend='cpu')")
        low, high = int(gemm.table.min()), int(gemm.table.max())
        if not (-32768 <= low and high <= 32767) and not (0 <= low and high <= 65535):
            raise AppMultError("the GPU kernels store LUT entries in 16 bits; this LUT's values do not fit")
        self.gemm = gemm
        self._tables: dict = {}
        self._plans: dict = {}  # launch plans by operand shapes (see `_forward_plan`, `_table_plan`)
        self._usable = False  # a GPU was found (checked on the first product, not per call)

    def __getstate__(self) -> dict:
        """Copies and pickles leave the device tables behind (made again on first use):
        device arrays cannot be copied on the host."""
        return {**self.__dict__, "_tables": {}, "_plans": {}}

    def device_tables(self) -> dict:
        """The LUT as packed 16-bit entries (``lut32``, ``lut_dtype``) and, for 2-D
        backward, the gradient tables (``ga``, ``gbT``, and their formats by name,
        ``kind``), on the device."""
        t = self._tables
        if "lut32" not in t:
            cuda = cuda_module("cpu")
            table = self.gemm.table
            lut16 = table.astype(np.int16 if int(table.min()) < 0 else np.uint16)
            if lut16.size % 2:
                lut16 = np.concatenate([lut16, lut16[:1]])
            t["lut32"] = cuda_launch.lasting(cuda.to_device(lut16.view(np.uint32)))
            t["lut_dtype"] = lut16.dtype
        if "ga" not in t and not self.gemm.one_dimensional:
            cuda = cuda_module("cpu")
            qa, qb = self.gemm.fixed_point_tables()
            t["kind"] = {}
            for name, q in (("ga", qa), ("gbT", np.ascontiguousarray(qb.T))):
                kind = "float32" if self.gemm.a_bits + self.gemm.b_bits <= FLOAT_TABLE_BITS[name] else "uint16"
                flat = q.ravel()
                table = flat.astype(np.float32) if kind == "float32" else (flat.astype(np.int32) + 32768).astype(np.uint16)
                t[name] = cuda_launch.lasting(cuda.to_device(table))
                t["kind"][name] = kind
        return t

    def _resident(self, nbytes: int, threads: int, registers: int) -> int:
        """Blocks of `threads` threads using `nbytes` of shared memory and up to `registers`
        registers per thread that the GPU holds at once."""
        per_sm = min(cuda_launch.SHARED_PER_SM // max(nbytes, 1), 2048 // threads,
                     cuda_launch.REGISTERS_PER_SM // (threads * registers))
        return max(1, per_sm) * cuda_launch.multiprocessors()

    def _check(self) -> None:
        if not self._usable:
            cuda_module("cpu")
            self._usable = True

    def _operands(self, ws, A: Array, B: Array) -> tuple:
        """``(A3, B3, output shape, a_t)``: the 3-D operands on the device, ``A3`` given
        transposed, ``(z, K, M)``, when `a_t` (`A`'s last two axes swapped are contiguous and
        `A` is not: a column-major operand is used as it is, not copied)."""
        A3, B3, shape = self.gemm.fold(A, B)
        a_t = _column_major(A3)
        return ws.operand(A3.swapaxes(1, 2) if a_t else A3), ws.operand(B3), shape, a_t

    def forward(self, A: Array, B: Array) -> Array:
        self._check()
        ws = cuda_launch.Workspace(A)
        A3, B3, shape, a_t = self._operands(ws, A, B)
        batch, K, M = A3.shape if a_t else (A3.shape[0], A3.shape[2], A3.shape[1])
        key = ("fwd", batch, M, K, B3.shape[2], a_t)
        plan = self._plans.get(key) or self._plans.setdefault(key, self._forward_plan(batch, M, K, B3.shape[2], a_t))
        kernel, grid, threads, nbytes, out_shape, acc, zeroed, scalars = plan
        out = ws.empty(out_shape, acc, zeroed=zeroed)
        cuda_launch.launch(kernel, grid, threads, nbytes, ws, A3, B3, self._tables["lut32"], *scalars, out)
        return like(out.reshape(*shape), A)

    def _forward_plan(self, batch: int, M: int, K: int, N: int, a_t: bool) -> tuple:
        """(kernel, grid, block, shared bytes, output shape and dtype, zeroed, scalar
        arguments) of the forward product of (batch, M, K) (given transposed with `a_t`) and
        (batch, K, N) operands."""
        g = self.gemm
        tables = self.device_tables()
        acc = np.dtype(g.accumulator(K))
        kernel, (bm, bn), threads, regs = cuda_kernels.forward_kernel(tables["lut_dtype"], acc, g.a_bits + g.b_bits, N,
                                                                      a_t)
        nbytes = tables["lut32"].size * 4
        tiles = (N + bn - 1) // bn * ((M + bm - 1) // bm)
        splits, chunk = cuda_kernels.forward_plan(tiles * batch, K, self._resident(nbytes, threads[0] * threads[1], regs))
        grid = ((N + bn - 1) // bn, (M + bm - 1) // bm, batch * splits)
        scalars = tuple(np.int64(v) for v in (1 << g.b_bits, g.a_mask, g.b_mask, splits, chunk))
        return kernel, grid, threads, nbytes, (batch, M, N), acc, splits > 1, scalars

    def backward(self, A: Array, B: Array, grad_C: Array) -> tuple[Array, Array]:
        self._check()
        g = self.gemm
        ws = cuda_launch.Workspace(A)
        if g.one_dimensional:
            A3, B3, _ = g.fold(ws.operand(A), ws.operand(B))
            G3 = ws.operand(grad_C, np.float32).reshape(*A3.shape[:2], B3.shape[2])
            return self._backward_1d(A, B, A3, B3, G3)
        A3, B3, _, a_t = self._operands(ws, A, B)
        G3 = ws.operand(grad_C, np.float32).reshape(B3.shape[0], A3.shape[2 if a_t else 1], B3.shape[2])
        tables = self.device_tables()
        grad_A = self._table_gemm(ws, G3, A3, B3, tables["ga"], 1 << g.b_bits, g.a_mask, g.b_mask, f_t=a_t)
        grad_Bt = self._table_gemm(ws, _transpose(ws, G3), B3, A3 if a_t else _transpose(ws, A3), tables["gbT"],
                                   1 << g.a_bits, g.b_mask, g.a_mask, f_t=True)
        return like(grad_A.reshape(*A.shape), A), like(_transpose(ws, grad_Bt).reshape(*B.shape), A)

    def _table_gemm(self, ws, X, F, V, table, stride: int, f_mask: int, v_mask: int, f_t: bool = False):
        """``out[z,p,q] = sum_l X[z,p,l] * table[F[z,p,q] * stride + V[z,q,l]] / 16``; with
        `f_t`, ``F`` is given transposed, ``(z, Q, P)``."""
        batch, P, L = X.shape
        Q = V.shape[1]
        if V.shape[2] != L or tuple(F.shape[1:]) != ((Q, P) if f_t else (P, Q)):
            raise ValueError(f"table product of X {tuple(X.shape)}, F {tuple(F.shape)}, V {tuple(V.shape)}: "
                             f"want X (z, P, L), F (z, {'Q, P' if f_t else 'P, Q'}), V (z, Q, L)")
        kind = "float32" if cuda_launch.numpy_dtype(table) == np.float32 else "uint16"
        key = ("bwd", batch, P, L, Q, stride, f_mask, v_mask, kind, f_t)
        plan = self._plans.get(key) or self._plans.setdefault(key, self._table_plan(batch, P, L, Q, stride, f_mask, v_mask,
                                                                                   kind, f_t))
        kernel, grid, threads, nbytes, splits, scalars = plan
        out = ws.empty((batch, P, Q), np.float32)
        part = out if splits == 1 else ws.empty((batch * splits, P, Q), np.float32)
        cuda_launch.launch(kernel, grid, threads, nbytes, ws, X, F, V, table, *scalars, part)
        if splits > 1:
            n = batch * P * Q
            cuda_launch.launch(cuda_kernels.sum_kernel(), ((n + 255) // 256, 1, 1), (256, 1), 0, ws, part,
                               np.int64(splits), out)
        return out

    def _table_plan(self, batch: int, P: int, L: int, Q: int, stride: int, f_mask: int, v_mask: int,
                    kind: str, f_t: bool) -> tuple:
        """(kernel, grid, block, shared bytes, splits, scalar arguments) of a `_table_gemm`
        with a table of `kind` (``"float32"`` or ``"uint16"``), ``F`` transposed with `f_t`."""
        kernel, (bp, bq), threads, regs = cuda_kernels.backward_kernel(kind, self.gemm.a_bits + self.gemm.b_bits,
                                                                       cuda_kernels.reduction_lanes(L), f_t)
        nbytes = (1 << (self.gemm.a_bits + self.gemm.b_bits)) * (4 if kind == "float32" else 2)
        tiles = ((Q + bq - 1) // bq) * ((P + bp - 1) // bp)
        blocks, splits, chunk = cuda_kernels.backward_plan(tiles, batch, L, self._resident(nbytes, 32 * threads[1], regs))
        scalars = (np.int64(stride), np.int64(f_mask), np.int64(v_mask), np.float32(1 / GRADIENT_SCALE),
                   np.int64(splits), np.int64(chunk))
        return kernel, (blocks, 1, batch * splits), threads, nbytes, splits, scalars

    def _backward_1d(self, A, B, A3, B3, G3):
        g = self.gemm
        if cuda_launch.Workspace(A).torch:
            import torch as xp

            a, b = A3.int() & g.a_mask, B3.int() & g.b_mask  # int32 indices: half the traffic of int64
            g_a, g_b = self._vectors_on(A3.device)
        else:
            xp = array_module(G3)
            a = xp.asarray(A3).astype(xp.int64) & g.a_mask
            b = xp.asarray(B3).astype(xp.int64) & g.b_mask
            g_a, g_b = (xp.asarray(v) for v in g.vectors_1d())
        grad = xp.asarray(G3)
        grad_A = grad @ xp.swapaxes(g_a[b], 1, 2)
        grad_B = xp.swapaxes(g_b[a], 1, 2) @ grad
        return like(grad_A.reshape(*A.shape), A), like(grad_B.reshape(*B.shape), A)

    def _vectors_on(self, device):
        """The LUT-1D vectors as torch tensors on `device`, copied there once."""
        key = ("vectors", str(device))
        if key not in self._tables:
            import torch

            self._tables[key] = tuple(torch.as_tensor(v, device=device) for v in self.gemm.vectors_1d())
        return self._tables[key]


def _column_major(x) -> bool:
    """Whether the 3-D array `x` (NumPy, CuPy or torch) is laid out with its last two axes
    swapped: ``x.swapaxes(1, 2)`` contiguous and `x` not."""
    if x.shape[1] < 2 or x.shape[2] < 2 or not hasattr(x, "swapaxes"):
        return False
    item = cuda_launch.numpy_dtype(x).itemsize
    strides = x.strides if hasattr(x, "strides") else tuple(s * item for s in x.stride())  # torch: in elements
    M, K = x.shape[1:]
    return strides[1] == item and strides[2] == M * item and (x.shape[0] == 1 or strides[0] == M * K * item)


def _transpose(ws, x):
    """Swap the last two axes of a 3-D device array (a contiguous copy, on the GPU)."""
    dtype = cuda_launch.numpy_dtype(x)
    out = ws.empty((x.shape[0], x.shape[2], x.shape[1]), dtype)
    grid = ((x.shape[2] + 31) // 32, (x.shape[1] + 31) // 32, x.shape[0])
    cuda_launch.launch(cuda_kernels.transpose_kernel(dtype), grid, (32, 8), 0, ws, x, out)
    return out
