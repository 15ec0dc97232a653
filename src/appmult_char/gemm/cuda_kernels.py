"""Numba CUDA kernels of the LUT GEMM, generated from templates and compiled on first use.

Forward, ``out[z,i,j] = sum_k lut[A[z,i,k] * stride + B[z,k,j]]``: a block of 32x16 threads
computes a 128x128 tile, each thread 8 rows x 4 columns in registers (`FWD_CONFIG`). The LUT sits in
dynamic shared memory as 16-bit entries (32 KB at 7x7 bits, 128 KB at 8x8 — Hopper allows
227 KB per block); tiles of ``A`` (premultiplied by the row stride) and ``B`` are staged
in static shared memory. The 32 lanes of a warp share one output row, so each lookup
instruction reads a single LUT row: at most 2 (7-bit) or 4 (8-bit) words per bank.
Indices are unsigned 32-bit so that no negative-index wrap-around code is generated.

Backward, ``out[z,p,q] = scale * sum_l X[z,p,l] * T[F[z,p,q] * stride + V[z,q,l]]``: each
warp owns a small output tile (`BWD_CONFIG`) and its 32 lanes split the reduction index ``l`` (again one
table row per lookup instruction), finishing with a warp shuffle reduction. The table is
float32 in shared memory when it fits (7-bit), else 16-bit codes biased by 32768 (8-bit),
turned into floats with an exponent trick instead of a quarter-rate conversion.

Operand widths, shapes and strides are run-time arguments: nothing is recompiled per
width. Kernels are generated per (table type, accumulator type) only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["forward_kernel", "backward_kernel", "transpose_kernel", "forward_config", "FWD_CONFIG", "BWD_CONFIG",
           "THREADS", "set_dynamic_shared"]

THREADS = (32, 8)  # transpose blocks
_BK = 32  # forward k chunk
#: Forward (rows per thread, columns per thread, warps per block, register cap), by LUT size.
#: Measured on an H200 (benchmarks/sweep_forward.py, 4096^3): at 7 bits the 64-register cap
#: lets two 512-thread blocks share an SM (2.8e12 MAC/s vs 2.1e12 uncapped with 256 threads);
#: at 8 bits the 128 KB LUT allows one block per SM, so it gets all 512 threads' registers.
#: Narrow outputs (N <= 64, e.g. convolutions with few output channels) take 64-column tiles.
FWD_CONFIG = {(14, False): (8, 4, 16, 64), (16, False): (8, 4, 16, 128),
              (14, True): (16, 2, 16, 64), (16, True): (8, 2, 32, 64)}
#: Backward (rows, columns per warp, warps per block), by LUT size, from
#: benchmarks/sweep_backward.py: 16 warps pay off once one 8-bit table fills the SM.
BWD_CONFIG = {14: (8, 4, 8), 16: (4, 8, 16)}

_FWD = '''
def kernel(A, B, lut32, stride, amask, bmask, out):
    s32 = cuda.shared.array(0, uint32)
    s_lut = cuda.shared.array(0, {lut_t})
    s_a = cuda.shared.array(({bk}, {bm}), uint32)
    s_b = cuda.shared.array(({bk}, {bn}), uint32)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    tid = ty * 32 + tx
    z = cuda.blockIdx.z
    M = A.shape[1]
    K = A.shape[2]
    N = B.shape[2]
    row0 = cuda.blockIdx.y * {bm}
    col0 = cuda.blockIdx.x * {bn}
    for t in range(tid, lut32.shape[0], {threads}):
        s32[t] = lut32[t]
{acc_init}
    for k0 in range(0, K, {bk}):
        cuda.syncthreads()
        for e in range(tid, {bm} * {bk}, {threads}):
            r = e // {bk}
            kk = e - r * {bk}
            i = row0 + r
            k = k0 + kk
            s_a[kk, r] = uint32((A[z, i, k] & amask) * stride) if i < M and k < K else uint32(0)
        for e in range(tid, {bk} * {bn}, {threads}):
            kk = e // {bn}
            c = e - kk * {bn}
            k = k0 + kk
            j = col0 + c
            s_b[kk, c] = uint32(B[z, k, j] & bmask) if k < K and j < N else uint32(0)
        cuda.syncthreads()
        klen = min({bk}, K - k0)
        for kk in range(klen):
{loads}
{macs}
{store}
'''

_BWD = '''
def kernel(X, F, V, table, stride, fmask, vmask, scale, out):
    s_t = cuda.shared.array(0, {tab_t})
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    tid = ty * 32 + tx
    z = cuda.blockIdx.z
    zf = z if F.shape[0] > 1 else 0
    zv = z if V.shape[0] > 1 else 0
    P = X.shape[1]
    L = X.shape[2]
    Q = F.shape[2]
    for t in range(tid, table.shape[0], {threads}):
        s_t[t] = table[t]
    cuda.syncthreads()
    p0 = cuda.blockIdx.y * {bp} + ty * {tp}
    q0 = cuda.blockIdx.x * {tq}
{base_init}
    for l in range(tx, L, 32):
{xv_loads}
{fmas}
{reduce_store}
'''


def forward_config(table_bits: int, columns: int) -> tuple[int, int, int, int]:
    """(tm, tn, warps, max_registers) of the forward kernel for a LUT of 2^table_bits
    entries and an output of `columns` columns."""
    return FWD_CONFIG[(14 if table_bits <= 14 else 16, columns <= 64)]


def _fwd_source(lut_t: str, acc_t: str, tm: int, tn: int, ty: int) -> str:
    """Forward kernel source: (32, ty) threads, each tm rows x tn columns (stride 32)."""
    bm, bn, bk = ty * tm, 32 * tn, _BK
    acc_init = "\n".join(f"    acc_{r}_{c} = {acc_t}(0)" for r in range(tm) for c in range(tn))
    loads = "\n".join([f"            a{r} = s_a[kk, ty * {tm} + {r}]" for r in range(tm)]
                      + [f"            b{c} = s_b[kk, tx + {32 * c}]" for c in range(tn)])
    macs = "\n".join(f"            acc_{r}_{c} = {acc_t}(acc_{r}_{c} + {acc_t}(s_lut[a{r} + b{c}]))"
                     for r in range(tm) for c in range(tn))
    store = []
    for r in range(tm):
        store.append(f"    i = row0 + ty * {tm} + {r}")
        store.append("    if i < M:")
        for c in range(tn):
            store.append(f"        j = col0 + tx + {32 * c}")
            store.append("        if j < N:")
            store.append(f"            out[z, i, j] = acc_{r}_{c}")
    return _FWD.format(lut_t=lut_t, bm=bm, bn=bn, bk=bk, threads=32 * ty, acc_init=acc_init, loads=loads,
                       macs=macs, store="\n".join(store))


def _bwd_source(tab_t: str, simulator: bool, tp: int, tq: int, warps: int) -> str:
    """Backward kernel source: `warps` warps per block, each owning tp x tq outputs."""
    bp = warps * tp
    base_init = []
    for r in range(tp):
        base_init.append(f"    pr{r} = min(p0 + {r}, P - 1)")
    for c in range(tq):
        base_init.append(f"    qc{c} = min(q0 + {c}, Q - 1)")
    for r in range(tp):
        for c in range(tq):
            base_init.append(f"    f_{r}_{c} = uint32((F[zf, pr{r}, qc{c}] & fmask) * stride)")
            base_init.append(f"    s_{r}_{c} = float32(0)")
    xv = [f"        x{r} = X[z, pr{r}, l]" for r in range(tp)]
    xv += [f"        v{c} = uint32(V[zv, qc{c}, l] & vmask)" for c in range(tq)]
    if tab_t == "float32":
        fmas = [f"        s_{r}_{c} = float32(s_{r}_{c} + x{r} * s_t[f_{r}_{c} + v{c}])"
                for r in range(tp) for c in range(tq)]
    elif simulator:  # 16-bit codes biased by 32768
        fmas = [f"        s_{r}_{c} = float32(s_{r}_{c} + x{r} * float32(int32(s_t[f_{r}_{c} + v{c}]) - int32(32768)))"
                for r in range(tp) for c in range(tq)]
    else:  # the same without a slow int-to-float conversion: float(u | 0x4B000000) = 2^23 + u exactly
        fmas = [f"        s_{r}_{c} = float32(s_{r}_{c} + x{r} * (libdevice.int_as_float(int32(s_t[f_{r}_{c} + v{c}]) "
                f"| int32(0x4B000000)) - float32(8421376.0)))" for r in range(tp) for c in range(tq)]
    red = []
    if simulator:  # the CUDA simulator has no warp shuffles: the same sums through shared memory
        red.append(f"    s_red = cuda.shared.array(({warps}, {tp * tq}, 32), float32)")
        red += [f"    s_red[ty, {r * tq + c}, tx] = s_{r}_{c}" for r in range(tp) for c in range(tq)]
        red.append("    cuda.syncthreads()")
    for r in range(tp):
        for c in range(tq):
            if simulator:
                red += [f"    w = s_{r}_{c}", "    if tx == 0:", "        for t in range(1, 32):",
                        f"            w += s_red[ty, {r * tq + c}, t]"]
            else:
                red.append(f"    w = s_{r}_{c}")
                red += [f"    w += cuda.shfl_down_sync(0xFFFFFFFF, w, {o})" for o in (16, 8, 4, 2, 1)]
            red.append(f"    if tx == 0 and p0 + {r} < P and q0 + {c} < Q:")
            red.append(f"        out[z, p0 + {r}, q0 + {c}] = w * scale")
    return _BWD.format(tab_t=tab_t, bp=bp, tp=tp, tq=tq, threads=32 * warps, base_init="\n".join(base_init),
                       xv_loads="\n".join(xv),
                       fmas="\n".join(fmas), reduce_store="\n".join(red))


_CACHE: dict = {}


def _libdevice():
    from numba.cuda import libdevice

    return libdevice


def _compile(source: str, name: str, **options):
    import numba
    from numba import cuda

    namespace = {"cuda": cuda, "min": min, "libdevice": None if numba.config.ENABLE_CUDASIM else _libdevice(),
                 **{t: getattr(numba, t) for t in ("int8", "uint8", "int16", "uint16", "int32", "uint32",
                                                            "int64", "uint64", "float32", "float64")}}
    exec(compile(source, f"<appmult_char.gemm {name}>", "exec"), namespace)
    if numba.config.ENABLE_CUDASIM:
        options.pop("max_registers", None)
    return cuda.jit(**options)(namespace["kernel"])


def forward_kernel(lut_dtype: np.dtype, acc_dtype: np.dtype, table_bits: int, columns: int):
    """The forward kernel for a 16-bit LUT type (int16/uint16), int32/int64 accumulators,
    a LUT of 2^table_bits entries and `columns` output columns; returns
    (kernel, (tile rows, tile columns), threads)."""
    tm, tn, ty, regs = forward_config(table_bits, columns)
    key = ("fwd", np.dtype(lut_dtype).name, np.dtype(acc_dtype).name, tm, tn, ty, regs)
    if key not in _CACHE:
        _CACHE[key] = _compile(_fwd_source(key[1], key[2], tm, tn, ty), "forward", max_registers=regs)
    return _CACHE[key], (ty * tm, 32 * tn), (32, ty)


def backward_kernel(table_kind: str, table_bits: int):
    """The backward kernel for a float32 table (``"float32"``) or biased 16-bit codes
    (``"uint16"``) of 2^table_bits entries; returns (kernel, (tile rows, tile columns), threads)."""
    import numba

    tp, tq, warps = BWD_CONFIG[14 if table_bits <= 14 else 16]
    key = ("bwd", table_kind, tp, tq, warps)
    if key not in _CACHE:
        _CACHE[key] = _compile(_bwd_source(table_kind, bool(numba.config.ENABLE_CUDASIM), tp, tq, warps), "backward")
    return _CACHE[key], (warps * tp, tq), (32, warps)


_TRANSPOSE = '''
def kernel(x, out):
    tile = cuda.shared.array((32, 33), dtype={dtype})
    z = cuda.blockIdx.z
    i0 = cuda.blockIdx.y * 32
    j0 = cuda.blockIdx.x * 32
    tx = cuda.threadIdx.x
    for r in range(cuda.threadIdx.y, 32, 8):
        if i0 + r < x.shape[1] and j0 + tx < x.shape[2]:
            tile[r, tx] = x[z, i0 + r, j0 + tx]
    cuda.syncthreads()
    for r in range(cuda.threadIdx.y, 32, 8):
        if j0 + r < x.shape[2] and i0 + tx < x.shape[1]:
            out[z, j0 + r, i0 + tx] = tile[tx, r]
'''


def transpose_kernel(dtype: np.dtype):
    """``out[z, j, i] = x[z, i, j]`` through 32x32 shared-memory tiles (coalesced both ways)."""
    key = ("transpose", np.dtype(dtype).name)
    if key not in _CACHE:
        _CACHE[key] = _compile(_TRANSPOSE.format(dtype=key[1]), "transpose")
    return _CACHE[key]


_OPTED_IN: dict = {}


def set_dynamic_shared(kernel, args, nbytes: int) -> None:
    """Let `kernel`, compiled for the types of `args`, use `nbytes` of dynamic shared memory.

    Beyond 48 KB of shared memory in all, the CUDA driver needs an explicit opt-in per
    function (``CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES``); Numba has no public
    call for it, so this goes through the compiled function's driver handle.
    """
    import numba
    from numba import cuda

    if numba.config.ENABLE_CUDASIM or nbytes == 0:
        return
    signature = tuple(numba.typeof(a) for a in args)
    compiled = kernel.compile(signature)
    cufunc = compiled._codelibrary.get_cufunc()
    if _OPTED_IN.get(id(cufunc), 0) >= nbytes:
        return
    from cuda.bindings import driver as cudadrv

    handle = cufunc.handle
    if isinstance(handle, cudadrv.CUkernel):  # library-loaded kernel: its function in this context
        err, handle = cudadrv.cuKernelGetFunction(handle)
        if int(err) != 0:
            raise RuntimeError(f"cuKernelGetFunction failed: {err}")
    elif not isinstance(handle, cudadrv.CUfunction):
        handle = cudadrv.CUfunction(int(getattr(handle, "value", handle)))
    attribute = cudadrv.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    err, = cudadrv.cuFuncSetAttribute(handle, attribute, nbytes)
    if int(err) != 0:
        raise RuntimeError(f"cuFuncSetAttribute({nbytes} bytes) failed: {err}")
    _OPTED_IN[id(cufunc)] = nbytes
    cuda.synchronize()
