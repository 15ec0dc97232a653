"""Numba CUDA kernels of the LUT GEMM, generated from templates and compiled on first use.

Forward, ``out[z,i,j] = sum_k lut[A[z,i,k] * stride + B[z,k,j]]``: a block of 32x16 threads
computes a 128x128 tile, each thread 8 rows x 4 columns in registers (`FWD_CONFIG`). The LUT sits in
dynamic shared memory as 16-bit entries (32 KB at 7x7 bits, 128 KB at 8x8 — Hopper allows
227 KB per block); tiles of ``A`` (premultiplied by the row stride) and ``B`` are staged
in static shared memory; ``A`` may come transposed, ``(z, K, M)`` (column-major operands),
and its tile is read along its contiguous axis either way. The 32 lanes of a warp share
one output row, so each lookup instruction reads a single LUT row: at most 2 (7-bit) or 4 (8-bit) words per bank. When
the output tiles cannot fill the GPU, the reduction is split into chunks whose integer
sums are added atomically into a zeroed output (`forward_plan`): exact, whatever the
order.
Indices are unsigned 32-bit so that no negative-index wrap-around code is generated.

Backward, ``out[z,p,q] = scale * sum_l X[z,p,l] * T[F[z,p,q] * stride + V[z,q,l]]``: each
warp owns a small output tile (`BWD_CONFIG`) and its 32 lanes split the reduction index ``l`` (again one
table row per lookup instruction), finishing with a recursive-halving warp reduction
(`_butterfly`: n-1 shuffles for n outputs instead of n·log2(32), each lane ending with
the sums of n/32 outputs). The table sits in shared memory as float32 or as 16-bit codes
biased by 32768 (`cuda.FLOAT_TABLE_BITS` chooses per table), the codes turned into floats
with an exponent trick instead of a quarter-rate conversion. One wave
of blocks loops over the output tiles, so the table is loaded once per block rather than
once per tile (input gradients of convolutions have ~10^5 tiles, each a sum over only
64–512 output channels); when the tiles cannot fill the GPU (weight gradients: few
outputs, each a sum over ~10^5 positions) the reduction is split into chunks whose
partial sums `sum_kernel` adds in a fixed order (`backward_plan`), so results do not
depend on scheduling.

Operand widths, shapes and strides are run-time arguments: nothing is recompiled per
width. Kernels are generated per (table type, accumulator type) only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["forward_kernel", "forward_plan", "backward_kernel", "backward_plan", "reduction_lanes", "sum_kernel", "transpose_kernel", "forward_config",
           "fold_kernel", "columns_kernel", "epilogue_kernel", "scaled_rows_kernel", "centred_codes_kernel", "centred_grad_kernel", "FWD_CONFIG", "BWD_CONFIG", "MIN_CHUNK", "MIN_FWD_CHUNK", "THREADS"]

THREADS = (32, 8)  # transpose blocks
_BK = 32  # forward k chunk
#: Forward (rows per thread, columns per thread, warps per block, register cap), by LUT size.
#: Measured on an H200 (benchmarks/sweep_forward.py, 4096^3): at 7 bits the 64-register cap
#: lets two 512-thread blocks share an SM (2.8e12 MAC/s vs 2.1e12 uncapped with 256 threads);
#: at 8 bits the 128 KB LUT allows one block per SM, so it gets all 512 threads' registers.
#: Narrow outputs (N <= 64, e.g. convolutions with few output channels) take 64-column tiles.
FWD_CONFIG = {(14, False): (8, 4, 16, 64), (16, False): (8, 4, 16, 128),
              (14, True): (16, 2, 16, 64), (16, True): (8, 2, 32, 64)}
#: Backward (rows, columns per lane group, warps per block, register cap[, warps side by
#: side along the columns[, reduction steps per loop iteration]]; 1 and 1 when left out),
#: by table size and lanes per reduction (`reduction_lanes`), from
#: benchmarks/sweep_backward.py over the ResNet-18 GEMMs on an H200: capping registers at
#: 128 lets two blocks share an SM (7-bit: 75 ms in total vs 101 ms uncapped). Short
#: reductions (8 or 16 lanes: input gradients, bound by shared-memory bandwidth) prefer
#: tall tiles; 32-lane weight gradients (latency bound) prefer small tiles, more resident
#: warps and two steps per iteration (7-bit 32 lanes: 29.3 ms with 4x4/8 warps/80
#: registers, 4 warps along the columns, 2 steps, vs 32.8 ms with one step and the warps
#: along the rows, 38.0 ms with 8x4/8/128; 8-bit 8 and 16 lanes: 34.9 ms with 8x4/16/128
#: vs 36.8 ms with 4x8/16/128).
BWD_CONFIG = {(14, 8): (8, 4, 8, 128), (14, 16): (8, 4, 8, 128), (14, 32): (4, 4, 8, 80, 4, 2),
              (16, 8): (8, 4, 16, 128), (16, 16): (8, 4, 16, 128), (16, 32): (4, 8, 16, 128)}

_FWD = '''
def kernel(A, B, lut32, stride, amask, bmask, splits, chunk, out):
    s32 = cuda.shared.array(0, uint32)
    s_lut = cuda.shared.array(0, {lut_t})
    s_a = cuda.shared.array(({bk}, {bm_pad}), uint32)
    s_b = cuda.shared.array(({bk}, {bn}), uint32)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    tid = ty * 32 + tx
    zs = cuda.blockIdx.z
    z = zs // splits
    k_lo = (zs - z * splits) * chunk
    M = A.shape[{m_axis}]
    K = min(A.shape[{k_axis}], k_lo + chunk)
    N = B.shape[2]
    row0 = cuda.blockIdx.y * {bm}
    col0 = cuda.blockIdx.x * {bn}
    for t in range(tid, lut32.shape[0], {threads}):
        s32[t] = lut32[t]
{acc_init}
    for k0 in range(k_lo, K, {bk}):
        cuda.syncthreads()
        for e in range(tid, {bm} * {bk}, {threads}):
{a_order}
            i = row0 + r
            k = k0 + kk
            s_a[kk, r] = uint32((A[{a_at}] & amask) * stride) if i < M and k < K else uint32(0)
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
def kernel(X, F, V, table, stride, fmask, vmask, scale, splits, chunk, out):
    s_t = cuda.shared.array(0, {tab_t})
{red_decl}
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    tid = ty * 32 + tx
    zs = cuda.blockIdx.z
    z = zs // splits
    l_lo = (zs - z * splits) * chunk
    zf = z if F.shape[0] > 1 else 0
    zv = z if V.shape[0] > 1 else 0
    P = X.shape[1]
    L = X.shape[2]
    Q = F.shape[{q_axis}]
    l_end = uint32(min(L, l_lo + chunk))
    for t in range(tid, table.shape[0], {threads}):
        s_t[t] = table[t]
    cuda.syncthreads()
    ll = tx % {lanes}
    tiles_q = (Q + {bq} - 1) // {bq}
    tiles = tiles_q * ((P + {bp} - 1) // {bp})
    for tile in range(cuda.blockIdx.x, tiles, cuda.gridDim.x):
        tile_p = tile // tiles_q
        tile_q = tile - tile_p * tiles_q
        p0 = tile_p * {bp} + (ty // {wq}) * {tp}
        q0 = tile_q * {bq} + (ty % {wq}) * {gq} + (tx // {lanes}) * {tq}
{base_init}
{steps}
{reduce_store}
'''

#: Backward reductions split over ``l`` in chunks of at least this many terms (32 lanes
#: x 16 steps) when the output tiles alone cannot fill the GPU (weight gradients: a few
#: thousand outputs, each a sum over batch x positions).
MIN_CHUNK = 512

_SUM = '''
def kernel(part, splits, out):
    i = cuda.grid(1)
    Q = out.shape[2]
    n = out.shape[0] * out.shape[1] * Q
    if i < n:
        z = i // (out.shape[1] * Q)
        r = i - z * out.shape[1] * Q
        p = r // Q
        q = r - p * Q
        w = float32(0)
        for s in range(splits):
            w += part[z * splits + s, p, q]
        out[z, p, q] = w
'''


def backward_plan(tiles: int, batch: int, length: int, resident: int) -> tuple[int, int, int]:
    """(blocks per batch entry and split, splits, chunk) for a backward product of `tiles`
    output tiles per batch entry and reductions of `length` terms, on a GPU that holds
    `resident` blocks at once: one wave of blocks, each looping over tiles (the table is
    loaded into shared memory once per block, not once per tile); the reduction split
    into chunks only while the tiles cannot fill that wave."""
    splits = 1
    if tiles * batch < resident:
        splits = max(1, min(-(-resident // (tiles * batch)), length // MIN_CHUNK))
    chunk = -(-max(length, 1) // splits)
    chunk = -(-chunk // 32) * 32
    splits = -(-max(length, 1) // chunk)
    blocks = max(1, min(tiles, -(-resident // (batch * splits))))
    return blocks, splits, chunk


#: Forward reductions split over ``k`` in chunks of at least this many terms when the
#: output tiles cannot fill the GPU (the deep layers of a network: few outputs, K in the
#: thousands); the chunks' integer sums meet by atomic additions, exact in any order.
MIN_FWD_CHUNK = 256


def forward_plan(tiles: int, depth: int, resident: int) -> tuple[int, int]:
    """(splits, chunk) of a forward product of `tiles` output tiles (over the batch) and
    reductions of `depth` terms on a GPU that holds `resident` blocks at once: as many
    splits as keep the blocks within one wave, none while the tiles fill it."""
    splits = max(1, min(resident // max(tiles, 1), depth // MIN_FWD_CHUNK))
    chunk = -(-max(depth, 1) // splits)
    chunk = -(-chunk // _BK) * _BK
    return -(-max(depth, 1) // chunk), chunk


def forward_config(table_bits: int, columns: int) -> tuple[int, int, int, int]:
    """(tm, tn, warps, max_registers) of the forward kernel for a LUT of 2^table_bits
    entries and an output of `columns` columns."""
    return FWD_CONFIG[(14 if table_bits <= 14 else 16, columns <= 64)]


def _fwd_source(lut_t: str, acc_t: str, tm: int, tn: int, ty: int, a_t: bool = False) -> str:
    """Forward kernel source: (32, ty) threads, each tm rows x tn columns (stride 32); with
    `a_t`, ``A`` is given transposed, ``(z, K, M)``. The tile of ``A`` is read along its
    contiguous axis (coalesced) and stored without bank conflicts: along ``k`` into rows
    padded by one word, or along the rows."""
    bm, bn, bk = ty * tm, 32 * tn, _BK
    if a_t:
        a_order = f"            kk = e // {bm}\n            r = e - kk * {bm}"
    else:
        a_order = f"            r = e // {bk}\n            kk = e - r * {bk}"
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
            store.append("            if splits == 1:")
            store.append(f"                out[z, i, j] = acc_{r}_{c}")
            store.append("            else:")
            store.append(f"                cuda.atomic.add(out, (z, i, j), acc_{r}_{c})")
    return _FWD.format(lut_t=lut_t, bm=bm, bm_pad=bm if a_t else bm + 1, bn=bn, bk=bk, threads=32 * ty,
                       acc_init=acc_init, loads=loads, macs=macs, store="\n".join(store), a_order=a_order,
                       a_at="z, k, i" if a_t else "z, i, k", m_axis=2 if a_t else 1, k_axis=1 if a_t else 2)


def _bwd_tile(tp: int, tq: int, warps: int, lanes: int, wq: int) -> tuple[int, int]:
    """(rows, columns) of a backward block's output tile."""
    return (warps // wq) * tp, wq * tq * (32 // lanes)


def _bwd_source(tab_t: str, simulator: bool, tp: int, tq: int, warps: int, lanes: int = 32, wq: int = 1,
                unroll: int = 1, f_t: bool = False) -> str:
    """Backward kernel source: `warps` warps per block, `wq` of them side by side along the
    output columns (the others along the rows); each group of `lanes` lanes of a warp owns
    tp x tq outputs of a tile and splits their reduction index (fewer lanes per output for
    short reductions: fewer shuffle steps, more outputs per warp), `unroll` steps of it per
    loop iteration (their loads issued before their lookups); blocks loop over tiles, and
    over one chunk of the reduction index. With `f_t`, ``F`` is given transposed, ``(z, Q, P)``."""
    gq = tq * (32 // lanes)
    bp, bq = _bwd_tile(tp, tq, warps, lanes, wq)
    base_init = [f"        pr{r} = min(p0 + {r}, P - 1)" for r in range(tp)]
    base_init += [f"        qc{c} = min(q0 + {c}, Q - 1)" for c in range(tq)]
    for r in range(tp):
        for c in range(tq):
            at = f"qc{c}, pr{r}" if f_t else f"pr{r}, qc{c}"
            base_init.append(f"        f_{r}_{c} = uint32((F[zf, {at}] & fmask) * stride)")
            base_init.append(f"        s_{r}_{c} = float32(0)")
    base_init += [f"        xr{r} = X[z, pr{r}]" for r in range(tp)]  # row views: one index per load
    base_init += [f"        vr{c} = V[zv, qc{c}]" for c in range(tq)]

    def step(u: int) -> list[str]:
        """Loads, then lookups and additions, of `u` consecutive steps of the reduction."""
        at = [f"l + uint32({s * lanes})" if s else "l" for s in range(u)]
        lines = [f"            x{r}_{s} = xr{r}[{at[s]}]" for s in range(u) for r in range(tp)]
        lines += [f"            v{c}_{s} = uint32(vr{c}[{at[s]}] & vmask)" for s in range(u) for c in range(tq)]
        for s in range(u):
            for r in range(tp):
                for c in range(tq):
                    x, t = f"x{r}_{s}", f"s_t[f_{r}_{c} + v{c}_{s}]"
                    if tab_t == "float32":
                        term = f"{x} * {t}"
                    elif simulator:  # 16-bit codes biased by 32768
                        term = f"{x} * float32(int32({t}) - int32(32768))"
                    else:  # without a slow int-to-float conversion: float(u | 0x4B000000) = 2^23 + u exactly
                        term = f"{x} * (libdevice.int_as_float(int32({t}) | int32(0x4B000000)) - float32(8421376.0))"
                    lines.append(f"            s_{r}_{c} = float32(s_{r}_{c} + {term})")
        return lines + [f"            l += uint32({u * lanes})"]

    steps = ["        l = uint32(l_lo + ll)"]
    if unroll > 1:  # the same terms in the same order per output: results do not depend on `unroll`
        steps += [f"        while l + uint32({(unroll - 1) * lanes}) < l_end:"] + step(unroll)
    steps += ["        while l < l_end:"] + step(1)
    red_decl = f"    s_red = cuda.shared.array(({warps}, 32), float32)" if simulator else ""
    red = _butterfly([f"s_{r}_{c}" for r in range(tp) for c in range(tq)], lanes, simulator)
    red += [f"        po = p0 + jj // {tq}", f"        qo = q0 + jj % {tq}",
            "        if keep and po < P and qo < Q:", "            out[zs, po, qo] = s_0_0 * scale"]
    for j in range(1, max(1, tp * tq // lanes)):  # more outputs than lanes: each lane keeps several
        red += [f"        po = p0 + (jj + {j}) // {tq}", f"        qo = q0 + (jj + {j}) % {tq}",
                "        if keep and po < P and qo < Q:", f"            out[zs, po, qo] = {_name(tp, tq, j)} * scale"]
    return _BWD.format(tab_t=tab_t, red_decl=red_decl, q_axis=1 if f_t else 2, bp=bp, bq=bq, gq=gq, wq=wq, tp=tp,
                       tq=tq, lanes=lanes, threads=32 * warps, base_init="\n".join(base_init),
                       steps="\n".join(steps), reduce_store="\n".join(red))


def _name(tp: int, tq: int, j: int) -> str:
    return f"s_{j // tq}_{j % tq}"


def _butterfly(values: list[str], lanes: int, simulator: bool) -> list[str]:
    """Source lines that sum each of `values` (one per output, in every lane) over each
    aligned group of `lanes` lanes by recursive halving: at each shuffle distance a lane
    keeps one half of its values and sends the other, so the ``n`` sums take ``n - 1``
    shuffles rather than ``n log2(lanes)``. Afterwards lane ``ll`` holds the sums of outputs
    ``jj, jj + 1, ...`` in ``values[0], values[1], ...``, and ``keep`` marks the one lane of
    lanes holding equal sums that stores them. Under the simulator (no warp shuffles) a
    shuffle goes through ``s_red``."""
    lines, vals, offsets, dup, o = [], list(values), [], 0, lanes // 2

    def shuffle(target: str, value: str, distance: int) -> None:
        if simulator:
            lines.extend([f"        s_red[ty, tx] = {value}", "        cuda.syncthreads()",
                          f"        {target} = s_red[ty, tx ^ {distance}]", "        cuda.syncthreads()"])
        else:
            lines.append(f"        {target} = cuda.shfl_xor_sync(0xFFFFFFFF, {value}, {distance})")

    while o >= 1:
        if len(vals) > 1:
            half = len(vals) // 2
            lines.append(f"        up = (ll & {o}) != 0")
            for lo, hi in zip(vals[:half], vals[half:]):
                lines.append(f"        snd = {lo} if up else {hi}")
                shuffle("rcv", "snd", o)
                lines.append(f"        {lo} = ({hi} if up else {lo}) + rcv")
            vals = vals[:half]
            offsets.append((o, half))
        else:
            shuffle("rcv", vals[0], o)
            lines.append(f"        {vals[0]} = {vals[0]} + rcv")
            dup |= o
        o //= 2
    terms = [f"({half} if (ll & {o}) != 0 else 0)" for o, half in offsets]
    lines.append(f"        jj = {' + '.join(terms) if terms else '0'}")
    lines.append(f"        keep = (ll & {dup}) == 0")
    return lines


_CACHE: dict = {}


def _libdevice():
    from numba.cuda import libdevice

    return libdevice


def _compile(source: str, name: str, **options):
    import numba
    from numba import cuda

    simulator = numba.config.ENABLE_CUDASIM
    namespace = {"cuda": cuda, "min": min, "libdevice": None if simulator else _libdevice(),
                 "rint": np.rint if simulator else _libdevice().rintf,  # round half to even, as torch.round
                 **{t: getattr(numba, t) for t in ("int8", "uint8", "int16", "uint16", "int32", "uint32",
                                                            "int64", "uint64", "float32", "float64")}}
    exec(compile(source, f"<appmult_char.gemm {name}>", "exec"), namespace)
    if simulator:
        options.pop("max_registers", None)
    return cuda.jit(**options)(namespace["kernel"])


def _cached(key: tuple, source, name: str, **options):
    """The kernel compiled from ``source()`` (called only on the first request for `key`)."""
    if key not in _CACHE:
        _CACHE[key] = _compile(source(), name, **options)
    return _CACHE[key]


def forward_kernel(lut_dtype: np.dtype, acc_dtype: np.dtype, table_bits: int, columns: int, a_t: bool = False):
    """The forward kernel for a 16-bit LUT type (int16/uint16), int32/int64 accumulators,
    a LUT of 2^table_bits entries and `columns` output columns (``A`` given transposed,
    ``(z, K, M)``, with `a_t`); returns (kernel, (tile rows, tile columns), threads,
    register cap)."""
    tm, tn, ty, regs = forward_config(table_bits, columns)
    kernel = _cached(("fwd", lut_dtype, acc_dtype, tm, tn, ty, regs, a_t),
                     lambda: _fwd_source(np.dtype(lut_dtype).name, np.dtype(acc_dtype).name, tm, tn, ty, a_t),
                     "forward", max_registers=regs)
    return kernel, (ty * tm, 32 * tn), (32, ty), regs


def reduction_lanes(length: int) -> int:
    """Lanes that split one output's reduction of `length` terms: 32 for long sums, down to
    8 for short ones (a convolution's input gradient sums over 64-256 output channels)."""
    return 32 if length > 512 else 16 if length > 256 else 8


def backward_kernel(table_kind: str, table_bits: int, lanes: int = 32, f_t: bool = False):
    """The backward kernel for a float32 table (``"float32"``) or biased 16-bit codes
    (``"uint16"``) of 2^table_bits entries, `lanes` lanes per output (``F`` given
    transposed, ``(z, Q, P)``, with `f_t`); returns (kernel, (tile rows, tile columns),
    threads, register cap)."""
    import numba

    config = BWD_CONFIG[(14 if table_bits <= 14 else 16, lanes)]
    tp, tq, warps, regs, wq, unroll = (*config, *(1, 1)[len(config) - 4:])
    if warps % wq:
        raise ValueError(f"backward configuration {config}: {warps} warps do not divide into {wq} columns")
    kernel = _cached(("bwd", table_kind, tp, tq, warps, regs, lanes, wq, unroll, f_t),
                     lambda: _bwd_source(table_kind, bool(numba.config.ENABLE_CUDASIM), tp, tq, warps, lanes, wq,
                                         unroll, f_t), "backward", max_registers=regs)
    return kernel, _bwd_tile(tp, tq, warps, lanes, wq), (32, warps), regs


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
    name = np.dtype(dtype).name
    return _cached(("transpose", name), lambda: _TRANSPOSE.format(dtype=name), "transpose")


_FOLD = '''
def kernel(cols, rows, out, ph, pw, ho_n, wo_n, per):
    b = cuda.blockIdx.z
{dims}
    HW = H * W
    tiles_c = (C + 31) // 32
    c0 = (cuda.blockIdx.x % tiles_c) * 32
    p0 = (cuda.blockIdx.x // tiles_c) * 32
    tx = cuda.threadIdx.x
    c = c0 + tx
    if c < C:
        g = c // per
        base = g * {taps} * per + c - g * per
        for r in range(cuda.threadIdx.y, 32, 8):
            p = p0 + r
            acc = float32(0)
            if p < HW:
                h = p // W
                w = p - h * W
{taps_code}
{store}
'''
_FOLD_NCHW = ("    tile = cuda.shared.array((32, 33), dtype=float32)\n"
              "    C = out.shape[1]\n    H = out.shape[2]\n    W = out.shape[3]",
              """            tile[r, tx] = acc
    cuda.syncthreads()
    for r in range(cuda.threadIdx.y, 32, 8):
        p = p0 + tx
        if c0 + r < C and p < HW:
            h = p // W
            out[b, c0 + r, h, p - h * W] = tile[tx, r]""")
_FOLD_NHWC = ("    H = out.shape[1]\n    W = out.shape[2]\n    C = out.shape[3]",
              """                out[b, h, w, c] = acc""")


def _fold_source(kernel: tuple, stride: tuple, dilation: tuple, channels_last: bool) -> str:
    """The fold kernel with the kernel size, stride and dilation as constants: every tap
    unrolled, its validity a comparison (and, for a stride, a division by a constant)."""
    lines = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            conds, idx = [], []
            for name, pad, d, s, t, n in (("h", "ph", dilation[0], stride[0], i, "ho_n"),
                                          ("w", "pw", dilation[1], stride[1], j, "wo_n")):
                e = f"({name} + {pad} - {t * d})"
                conds.append(f"{e} >= 0")
                if s != 1:
                    conds.append(f"{e} % {s} == 0")
                q = e if s == 1 else f"({e} // {s})"
                conds.append(f"{q} < {n}")
                idx.append(q)
            lines.append(f"                if {' and '.join(conds)}:")
            lines.append(f"                    m = (b * ho_n + {idx[0]}) * wo_n + {idx[1]}")
            lines.append(f"                    acc += cols[m, base + {(i * kernel[1] + j)} * per] - rows[m, g]")
    dims, store = _FOLD_NHWC if channels_last else _FOLD_NCHW
    return _FOLD.format(taps=kernel[0] * kernel[1], taps_code="\n".join(lines), dims=dims, store=store)


def fold_kernel(kernel: tuple, stride: tuple, dilation: tuple, channels_last: bool = False):
    """The fold of tap-major convolution columns (`gemm.columns`) for a convolution of
    `kernel`, `stride` and `dilation` (pairs; compiled once per geometry and layout): the
    float32 image ``out[b, c, h, w]`` (``out[b, h, w, c]``, NHWC, with `channels_last`) is
    the sum, over the kernel taps that read input pixel ``(h, w)``, of ``cols[m, col] -
    rows[m, g]`` (``m`` the output position, ``col`` the column of channel ``c`` at that
    tap, ``g`` its group); 32 channels x 32 pixels of the image plane (rows run on into the
    next: no idle threads on narrow images) per block, read along the channels and written
    along them (NHWC) or along the pixels through a shared-memory tile (NCHW)."""
    return _cached(("fold", tuple(kernel), tuple(stride), tuple(dilation), channels_last),
                   lambda: _fold_source(kernel, stride, dilation, channels_last), "fold")


_COLUMNS = '''
def kernel(x, zx, cols, ph, pw, ho_n, wo_n, per, chunk):
    m = cuda.blockIdx.x * 256 + cuda.threadIdx.x
    if m < cols.shape[1]:
        gt = cuda.blockIdx.y
        g = gt // {taps}
        t = gt - g * {taps}
        i = t // {kw}
        j = t - i * {kw}
        r = m // wo_n
        wo = m - r * wo_n
        b = r // ho_n
        ho = r - b * ho_n
        h = ho * {sh} - ph + i * {dh}
        w = wo * {sw} - pw + j * {dw}
        inside = h >= 0 and h < x.shape[2] and w >= 0 and w < x.shape[3]
        z = zx[0]
        c_lo = cuda.blockIdx.z * chunk
        c_hi = min(per, c_lo + chunk)
        if inside:
            for cg in range(c_lo, c_hi):
                cols[gt * per + cg, m] = int16(x[b, g * per + cg, h, w] + z)
        else:
            for cg in range(c_lo, c_hi):
                cols[gt * per + cg, m] = int16(z)
'''


def columns_kernel(kernel: tuple, stride: tuple, dilation: tuple):
    """Column-major int16 convolution columns (`gemm.columns`) of centred codes ``x (n, C,
    H, W)`` (float, any strides) for a convolution of `kernel`, `stride` and `dilation`
    (pairs; compiled once per geometry): ``cols[(g taps + t) per + c_g, m] = x[b, g per + c_g,
    h, w] + zx[0]`` at the input pixel ``(h, w)`` that tap ``t`` of output position ``m = (b
    Ho + ho) Wo + wo`` reads, ``zx[0]`` (the code of a real zero) where that is padding; a
    thread per output position, writing along the positions (coalesced), over a chunk of
    one group's channels at one tap (grid: position blocks of 256, group and tap, chunks)."""
    return _cached(("columns", tuple(kernel), tuple(stride), tuple(dilation)),
                   lambda: _COLUMNS.format(taps=kernel[0] * kernel[1], kw=kernel[1], sh=stride[0], sw=stride[1],
                                           dh=dilation[0], dw=dilation[1]), "columns")


_EPILOGUE = '''
def kernel(acc, x_sums, col_terms, zw, scale, out):
    c = cuda.blockIdx.x * 32 + cuda.threadIdx.x
    if c < out.shape[1]:
        for m in range(cuda.blockIdx.y * 8 + cuda.threadIdx.y, out.shape[0], cuda.gridDim.y * 8):
            v = float64(acc[m, c]) + col_terms[c] - float64(x_sums[m]) * zw[c]
            out[m, c] = v * scale[c]
'''

_SCALED_ROWS = '''
def kernel(grad, scale, out):
    b = cuda.blockIdx.z
    C = grad.shape[1]
    W = grad.shape[3]
    HW = grad.shape[2] * W
    tiles_c = (C + 31) // 32
    c = (cuda.blockIdx.x % tiles_c) * 32 + cuda.threadIdx.x
    p = (cuda.blockIdx.x // tiles_c) * 8 + cuda.threadIdx.y
    if c < C and p < HW:
        h = p // W
        out[b * HW + p, c] = float64(grad[b, c, h, p - h * W]) * scale[c]
'''


def epilogue_kernel():
    """``out[m, c] = (acc[m, c] + col_terms[c] - x_sums[m] zw[c]) scale[c]`` in float64,
    stored in `out`'s dtype (one rounding): integer sums of the LUT GEMM to a layer's
    scaled output; blocks of 32 columns x 8 rows, x along the columns, the rows looped over
    in steps of the grid."""
    return _cached(("epilogue",), lambda: _EPILOGUE, "epilogue")


def scaled_rows_kernel():
    """``out[(b H + h) W + w, c] = grad[b, c, h, w] scale[c]`` in float64, stored in
    `out`'s dtype: an ``(n, C, H, W)`` gradient of any strides as scaled rows; blocks of 32
    channels x 8 pixels of the image plane (grid: channel and pixel tiles, 1, n)."""
    return _cached(("scaled_rows",), lambda: _SCALED_ROWS, "scaled rows")


def sum_kernel():
    """``out[z, p, q] = sum_s part[z * splits + s, p, q]`` (float32, in order of ``s``)."""
    return _cached(("sum",), lambda: _SUM, "sum")


_CENTRED = '''
def kernel(x, scale, zero, qmin, qmax, out, inside):
    i = cuda.grid(1)
    if i < x.shape[0]:
        z = float32(zero[0])
        r = rint(z + x[i] / float32(scale[0]))
        c = qmin if r < qmin else qmax if r > qmax else r
        inside[i] = uint8(c == r)
        out[i] = c - z
'''

_CENTRED_GRAD = '''
def kernel(grad, inside, scale, out):
    i = cuda.grid(1)
    if i < grad.shape[0]:
        out[i] = grad[i] * (float32(inside[i]) / float32(scale[0]))
'''


def centred_codes_kernel():
    """Fake quantization of flat float32 values ``x`` with one float64 scale and zero point,
    float32 codes ``qmin .. qmax``: ``out = clamp(round(z + x / s)) - z`` (round half to even;
    ``s`` and ``z`` rounded to float32 first) and ``inside`` 1 where the rounded value was not
    clipped (NaN: 0); what `torch.addcdiv`, `torch.round`, `clamp`, ``==`` and the
    subtraction give, in one pass; a thread per value."""
    return _cached(("centred",), lambda: _CENTRED, "centred codes")


def centred_grad_kernel():
    """The straight-through gradient of `centred_codes_kernel`'s codes: ``out = grad *
    (inside / s)`` (float32, ``s`` rounded to float32), the bits autograd gives through
    ``addcdiv`` and the clipping mask; a thread per value."""
    return _cached(("centred grad",), lambda: _CENTRED_GRAD, "centred codes gradient")
