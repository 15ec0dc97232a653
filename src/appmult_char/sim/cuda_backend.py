"""CUDA simulation back end (Numba CUDA): the same compiled `Program`, one GPU thread per
64-pattern word.

Each circuit's program becomes straight-line device code (one statement per instruction,
slots as local variables, so live values stay in registers); three kernels wrap it:
exhaustive products, products of given pairs, and streamed error sums. The sums are
exact: integer sums per thread in 64 or 128 bits (the squares), added to the global
128-bit accumulators with atomics that carry into the high word, histogram bins and
counts by integer atomics, the maximum by an atomic maximum. Only the relative-error sum
is a float sum, whose order differs from the CPU back end's (equal to it within
rounding, not bit for bit). Kernels are compiled once per program and process.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import numpy as np

from ..arrays import cuda_module
from ..metrics import ErrorSums
from ..metrics_kernels import (ABS_HI, ABS_LO, ERRORS, MAX_ABS, N_ACC, NEG_HI, NEG_LO, NONZERO, POS_HI, POS_LO,
                               SQ_HI, SQ_LO)
from .backend import Layout
from .program import AND, CONST, LANE_MASKS, XOR

__all__ = ["CudaBackend", "kernel_source"]

THREADS = 256
_ONES = 0xFFFFFFFFFFFFFFFF
_compiled: dict[str, dict] = {}


def _literal(slot: int, mask: int) -> str:
    return f"(~s{slot})" if mask else f"s{slot}"


def _body(layout: Layout, indent: str) -> list[str]:
    """Statements computing every slot of the program from the input slots, and
    ``o0 .. o{n-1}``, the product's bit words."""
    p = layout.program
    lines = []
    for (kind, dst, x, y), (mx, my, mo) in zip(p.ops.tolist(), p.masks.tolist()):
        if kind == AND:
            expr = f"{_literal(x, mx)} & {_literal(y, my)}"
        elif kind == XOR:
            expr = f"s{x} ^ s{y}"
        else:
            assert kind == CONST
            expr = "ZERO"
        if mo and kind != CONST:
            expr = f"~({expr})"
        elif mo:
            expr = "ONES"
        lines.append(f"{indent}s{dst} = {expr}")
    lines += [f"{indent}o{j} = s{slot}" for j, slot in enumerate(layout.out_slots.tolist())]
    return lines


def _exhaustive_inputs(layout: Layout, indent: str) -> list[str]:
    lines = []
    for slot, bit in zip(layout.program.input_slots.tolist(), layout.in_bits.tolist()):
        if bit < 6:
            lines.append(f"{indent}s{slot} = uint64({int(LANE_MASKS[bit])})")
        else:
            lines.append(f"{indent}s{slot} = ONES * ((uw >> uint64({bit - 6})) & ONE)")
    return lines


def _lane_value(nout: int, signed: bool, indent: str) -> list[str]:
    """`v`: the product of lane `ul` (sign-extended when signed)."""
    lines = [f"{indent}v = int64(0)"]
    lines += [f"{indent}v |= int64((o{j} >> ul) & ONE) << {j}" for j in range(nout)]
    if signed and nout:
        lines.append(f"{indent}v -= ((v >> {nout - 1}) & 1) << {nout}")
    return lines


def kernel_source(layout: Layout, bins: int) -> str:
    """Python source of the three kernels for `layout` (see the module docstring)."""
    nout, signed = layout.output_bits, layout.signed
    a_bits, b_bits = layout.a_bits, layout.b_bits
    src = [
        "def exhaustive(out, npat, nwords):",
        "    for w in range(cuda.grid(1), nwords, cuda.gridsize(1)):",
        "        uw = uint64(w)",
        *_exhaustive_inputs(layout, "        "),
        *_body(layout, "        "),
        "        for lane in range(min(64, npat - 64 * w)):",
        "            ul = uint64(lane)",
        *_lane_value(nout, signed, "            "),
        "            out[64 * w + lane] = v",
        "",
        "def pairs(a, b, out, npat, nwords):",
        "    for w in range(cuda.grid(1), nwords, cuda.gridsize(1)):",
    ]
    a_slots, b_slots = layout.a_slots.tolist(), layout.b_slots.tolist()
    src += [f"        s{s} = ZERO" for s in a_slots + b_slots]
    src += ["        for lane in range(min(64, npat - 64 * w)):",
            "            ul = uint64(lane)",
            "            av = uint64(a[64 * w + lane])",
            "            bv = uint64(b[64 * w + lane])"]
    src += [f"            s{s} |= ((av >> uint64({j})) & ONE) << ul" for j, s in enumerate(a_slots)]
    src += [f"            s{s} |= ((bv >> uint64({j})) & ONE) << ul" for j, s in enumerate(b_slots)]
    src += [*_body(layout, "        "),
            "        for lane in range(min(64, npat - 64 * w)):",
            "            ul = uint64(lane)",
            *_lane_value(nout, signed, "            "),
            "            out[64 * w + lane] = v",
            ""]
    sign = ["            av -= ((av >> (A_BITS - 1)) & 1) << A_BITS",
            "            bv -= ((bv >> (B_BITS - 1)) & 1) << B_BITS"] if signed else []
    src += [
        "def add128(acc, hi, lo, v):  # acc[hi:lo] += v exactly: the thread whose addition wraps carries",
        "    old = cuda.atomic.add(acc, lo, v)",
        "    if old + v < old:",
        "        cuda.atomic.add(acc, hi, ONE)",
        "",
        "def metrics(w_begin, w_end, npat, acc, facc, hist):",
        "    hmid = (BINS - 1) // 2",
        "    h = cuda.local.array(BINS, int64)",
        "    for i in range(BINS):",
        "        h[i] = 0",
        "    errors = ZERO; abs_sum = ZERO; pos = ZERO; neg = ZERO; sq_hi = ZERO; sq_lo = ZERO",
        "    top = ZERO; nonzero = ZERO; rel_sum = 0.0; rel_max = 0.0",
        "    for w in range(w_begin + cuda.grid(1), w_end, cuda.gridsize(1)):",
        "        uw = uint64(w)",
        *_exhaustive_inputs(layout, "        "),
        *_body(layout, "        "),
        "        for lane in range(min(64, npat - 64 * w)):",
        "            ul = uint64(lane)",
        *_lane_value(nout, signed, "            "),
        "            p = 64 * w + lane",
        "            av = p >> B_BITS",
        "            bv = p & ((1 << B_BITS) - 1)",
        *sign,
        "            exact = av * bv",
        "            if exact != 0:",
        "                nonzero += ONE",
        "            e = v - exact",
        "            if e == 0:",
        "                h[hmid] += 1",
        "                continue",
        "            ae = uint64(e) if e > 0 else uint64(-e)",
        "            errors += ONE",
        "            abs_sum += ae",
        "            if e > 0:",
        "                pos += ae",
        "            else:",
        "                neg += ae",
        "            if ae > top:",
        "                top = ae",
        "            xl = ae & LOW32",
        "            xh = ae >> uint64(32)",
        "            t = xl * xl",
        "            old = sq_lo",
        "            sq_lo += t",
        "            if sq_lo < old:",
        "                sq_hi += ONE",
        "            t = uint64(2) * xh * xl",
        "            sq_hi += (t >> uint64(32)) + xh * xh",
        "            old = sq_lo",
        "            sq_lo += t << uint64(32)",
        "            if sq_lo < old:",
        "                sq_hi += ONE",
        "            if exact != 0:",
        "                rel = float64(ae) / abs(float64(exact))",
        "                rel_sum += rel",
        "                if rel > rel_max:",
        "                    rel_max = rel",
        "            bits = 0",
        "            u = ae",
        "            while u:",
        "                bits += 1",
        "                u >>= ONE",
        "            h[hmid + bits if e > 0 else hmid - bits] += 1",
        "    add128(acc, ABS_HI, ABS_LO, abs_sum)",
        "    add128(acc, POS_HI, POS_LO, pos)",
        "    add128(acc, NEG_HI, NEG_LO, neg)",
        "    add128(acc, SQ_HI, SQ_LO, sq_lo)",
        "    cuda.atomic.add(acc, SQ_HI, sq_hi)",
        "    cuda.atomic.add(acc, ERRORS, errors)",
        "    cuda.atomic.add(acc, NONZERO, nonzero)",
        "    cuda.atomic.max(acc, MAX_ABS, top)",
        "    cuda.atomic.add(facc, 0, rel_sum)",
        "    cuda.atomic.max(facc, 1, rel_max)",
        "    for i in range(BINS):",
        "        if h[i]:",
        "            cuda.atomic.add(hist, i, h[i])",
    ]
    header = f"# program of {layout.program.size} instructions, {a_bits}x{b_bits}, {nout} outputs, bins {bins}\n"
    return header + "\n".join(src) + "\n"


def _kernels(layout: Layout, bins: int) -> dict:
    key = hashlib.sha256(b"".join([layout.program.ops.tobytes(), layout.program.masks.tobytes(),
                                   layout.in_bits.tobytes(), layout.out_slots.tobytes(), layout.a_slots.tobytes(),
                                   layout.b_slots.tobytes(), bytes([layout.signed, layout.a_bits, layout.b_bits]),
                                   str(bins).encode()])).hexdigest()
    if key not in _compiled:
        cuda = cuda_module("numba")
        from numba import float64, int64, uint64

        names = {"cuda": cuda, "uint64": uint64, "int64": int64, "float64": float64, "ZERO": uint64(0),
                 "ONE": uint64(1), "ONES": uint64(_ONES), "LOW32": uint64(0xFFFFFFFF), "BINS": bins,
                 "A_BITS": layout.a_bits, "B_BITS": layout.b_bits,
                 "ABS_HI": ABS_HI, "ABS_LO": ABS_LO, "POS_HI": POS_HI, "POS_LO": POS_LO, "NEG_HI": NEG_HI,
                 "NEG_LO": NEG_LO, "SQ_HI": SQ_HI, "SQ_LO": SQ_LO, "ERRORS": ERRORS, "NONZERO": NONZERO,
                 "MAX_ABS": MAX_ABS}
        exec(compile(kernel_source(layout, bins), f"<cuda kernels {key[:12]}>", "exec"), names)
        names["add128"] = cuda.jit(device=True)(names["add128"])  # before the kernels compile against it
        _compiled[key] = {name: cuda.jit(names[name]) for name in ("exhaustive", "pairs", "metrics")}
    return _compiled[key]


def _grid(nwords: int) -> int:
    cuda = cuda_module("numba")
    try:
        sms = cuda.get_current_device().MULTIPROCESSOR_COUNT
    except Exception:  # the simulator has no device attributes worth asking
        sms = 1
    return max(1, min(-(-nwords // THREADS), 8 * sms))


def _touch(out: np.ndarray) -> None:
    """Fault in a fresh host array's pages from several threads at once (NumPy's fill
    releases the GIL); a 64 MB table takes 12 ms to fault in from one thread."""
    if out.nbytes < 1 << 22:
        return
    import os
    from concurrent.futures import ThreadPoolExecutor

    parts = min(8, os.cpu_count() or 1)
    step = -(-out.size // parts)
    with ThreadPoolExecutor(parts) as pool:
        list(pool.map(lambda i: out[i:i + step].fill(0), range(0, out.size, step)))


class CudaBackend:
    """The generated kernels above on the current CUDA device."""

    name: ClassVar[str] = "cuda"
    words_per_call: ClassVar[int] = 1 << 26  # 2^32 patterns a call: the progress granularity

    def exhaustive(self, layout: Layout, out: np.ndarray) -> None:
        cuda = cuda_module("numba")
        nwords = -(-out.size // 64)
        d_out = cuda.device_array(out.size, dtype=out.dtype)  # the LUT's own (narrowest) type: fewer bytes back
        _kernels(layout, 1)["exhaustive"][_grid(nwords), THREADS](d_out, out.size, nwords)
        _touch(out)  # while the kernel runs: a fresh table's page faults cost more than the copy
        d_out.copy_to_host(out)

    def pairs(self, layout: Layout, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        cuda = cuda_module("numba")
        nwords = -(-a.size // 64)
        d_out = cuda.device_array(a.size, dtype=np.int64)
        _kernels(layout, 1)["pairs"][_grid(nwords), THREADS](cuda.to_device(np.ascontiguousarray(a, np.int64)),
                                                             cuda.to_device(np.ascontiguousarray(b, np.int64)),
                                                             d_out, a.size, nwords)
        out[:] = d_out.copy_to_host()

    def stream_metrics(self, layout: Layout, w_begin: int, w_end: int, bins: int) -> ErrorSums:
        cuda = cuda_module("numba")
        acc = cuda.to_device(np.zeros(N_ACC, dtype=np.uint64))
        facc = cuda.to_device(np.zeros(2, dtype=np.float64))
        hist = cuda.to_device(np.zeros(bins, dtype=np.int64))
        _kernels(layout, bins)["metrics"][_grid(w_end - w_begin), THREADS](w_begin, w_end, layout.patterns, acc,
                                                                            facc, hist)
        a = [int(v) for v in acc.copy_to_host()]
        f = facc.copy_to_host()
        return ErrorSums(
            pairs=min(64 * w_end, layout.patterns) - 64 * w_begin, error_count=a[ERRORS],
            sum_abs=(a[ABS_HI] << 64) + a[ABS_LO], sum_sq=(a[SQ_HI] << 64) + a[SQ_LO],
            sum_err=(a[POS_HI] << 64) + a[POS_LO] - (a[NEG_HI] << 64) - a[NEG_LO], max_abs=a[MAX_ABS],
            nonzero_exact=a[NONZERO], sum_rel=float(f[0]), max_rel=float(f[1]),
            histogram=tuple(int(c) for c in hist.copy_to_host()))
