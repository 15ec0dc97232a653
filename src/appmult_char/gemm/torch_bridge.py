"""PyTorch autograd bridge (needs torch): the LUT GEMM in a training graph.

`lut_matmul(a, b, gemm)` (the differentiable counterpart of `gemm.lut_gemm`) takes float
tensors that hold integer operand codes (as produced by fake quantization with a
straight-through rounding), computes the forward pass with `gemm`'s LUT kernels and the
backward pass through its gradient tables (2-D or LUT-1D), on whatever device the tensors
are on — CUDA tensors go to the CUDA kernels without a host round trip when
``gemm.backend == "cuda"``.

`lut_conv(cx, wq, zx, zw, gemm, geometry, groups)` is the same for a convolution with
2-D gradient tables: the sums of the affine form (zero-point terms exact) from the LUT
GEMM of one int16 unfolded copy of the codes (`columns.code_columns`; on the GPU one
kernel, column-major, the layout all three products read without a copy), the gradients from
the table products of those codes and the input gradient folded back in one pass
(`columns.fold_columns`): no float copy of the unfolded input, no unfolded float gradient
beyond the kernels' own output. Given the layer's scale, it returns the scaled float32
output directly (`columns.scaled_sums`, `columns.scaled_rows`: one pass each way).

Forward and backward are registered as the custom operators ``appmult_char::lut_gemm``,
``appmult_char::lut_gemm_backward``, ``appmult_char::lut_conv`` and
``appmult_char::lut_conv_backward`` (`torch.library.custom_op`, with fake
implementations for shape propagation), so `torch.compile` traces through them instead
of breaking the graph. A `LutGemm` is named in the graph by a registry key. Outside
compiled graphs the same functions run through a plain `torch.autograd.Function`: the
operator dispatch costs more host time than the kernels' launches.
"""

from __future__ import annotations

import weakref
from typing import Optional

import torch

from . import columns
from .ops import LutGemm

__all__ = ["lut_matmul", "lut_conv", "register"]

#: LutGemm objects the operators can name (key: id). Weak: a registered GEMM lives as long
#: as its owner (a `Multiplier`, a layer) holds it, so registering never leaks tables.
_GEMMS: "weakref.WeakValueDictionary[int, LutGemm]" = weakref.WeakValueDictionary()


@torch.compiler.disable
def _store(gemm: LutGemm) -> int:
    key = id(gemm)
    _GEMMS[key] = gemm
    gemm._torch_key = key
    return key


def register(gemm: LutGemm) -> int:
    """The key under which the operators find `gemm`, registered on first use outside any
    compiled graph (a model compiled with ``fullgraph=True`` needs one eager call first;
    compiled code then only reads the key the GEMM carries)."""
    key = getattr(gemm, "_torch_key", None)
    if torch.compiler.is_compiling():
        return key if key is not None else _store(gemm)
    if key is None or _GEMMS.get(key) is not gemm:  # new, or a copy carrying its original's key
        key = _store(gemm)
    return key


def _codes(x: torch.Tensor) -> torch.Tensor:
    """int16 codes of an integer-valued float tensor (a conversion: no rounding pass)."""
    return x.detach().to(torch.int16).contiguous()


def _tensor(result, like: torch.Tensor) -> torch.Tensor:
    """A torch tensor on `like`'s device (CPU kernels return NumPy arrays)."""
    return result if isinstance(result, torch.Tensor) else torch.as_tensor(result, device=like.device)


def _forward_codes(ai: torch.Tensor, bi: torch.Tensor, gemm_key: int, value: Optional[torch.Tensor],
                   like: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The forward result as a new `dtype` tensor: one conversion of the integer sums (exact
    in float64; one rounding in float32, as through float64)."""
    if value is not None:
        return value.detach().to(dtype, copy=True)
    return _tensor(_GEMMS[gemm_key].forward(ai, bi), like).to(dtype)


def _backward_codes(ai: torch.Tensor, bi: torch.Tensor, grad: torch.Tensor, gemm_key: int) -> tuple[torch.Tensor,
                                                                                                    torch.Tensor]:
    grad_a, grad_b = _GEMMS[gemm_key].backward(ai, bi, grad.detach().to(torch.float32).contiguous())
    return _tensor(grad_a, grad).to(torch.float32), _tensor(grad_b, grad).to(torch.float32)


@torch.library.custom_op("appmult_char::lut_gemm", mutates_args=())
def _forward(a: torch.Tensor, b: torch.Tensor, gemm_key: int, value: Optional[torch.Tensor]) -> torch.Tensor:
    """``sum_k lut[a, b]`` as float64 (exact for every integer accumulator), or `value` when given."""
    return _forward_codes(_codes(a), _codes(b), gemm_key, value, a)


@_forward.register_fake
def _(a, b, gemm_key, value):
    return a.new_empty((a.shape[0], b.shape[1]), dtype=torch.float64)


@torch.library.custom_op("appmult_char::lut_gemm_backward", mutates_args=())
def _backward_op(a: torch.Tensor, b: torch.Tensor, grad: torch.Tensor, gemm_key: int) -> tuple[torch.Tensor,
                                                                                                   torch.Tensor]:
    """``(grad_a, grad_b)`` through the gradient tables, float32."""
    return _backward_codes(_codes(a), _codes(b), grad, gemm_key)  # fresh tensors: no alias


@_backward_op.register_fake
def _(a, b, grad, gemm_key):
    return a.new_empty(a.shape, dtype=torch.float32), b.new_empty(b.shape, dtype=torch.float32)


def _setup_context(ctx, inputs, output):
    a, b, gemm_key, _ = inputs
    ctx.save_for_backward(a, b)
    ctx.gemm_key = gemm_key


def _autograd_backward(ctx, grad):
    a, b = ctx.saved_tensors
    grad_a, grad_b = _backward_op(a, b, grad, ctx.gemm_key)
    return grad_a.to(a.dtype), grad_b.to(b.dtype), None, None


_forward.register_autograd(_autograd_backward, setup_context=_setup_context)


class _EagerLutGemm(torch.autograd.Function):
    """The same forward and backward outside compiled graphs, without the operator
    dispatch (hundreds of microseconds per call): the integer codes are made once and
    kept for the backward pass, and the sums converted once, to the result's dtype."""

    @staticmethod
    def forward(ctx, a, b, gemm_key, value, dtype):
        ai, bi = _codes(a), _codes(b)
        ctx.save_for_backward(ai, bi)
        ctx.gemm_key, ctx.dtypes = gemm_key, (a.dtype, b.dtype)
        return _forward_codes(ai, bi, gemm_key, value, a, dtype)

    @staticmethod
    def backward(ctx, grad):
        ai, bi = ctx.saved_tensors
        grad_a, grad_b = _backward_codes(ai, bi, grad, ctx.gemm_key)
        return grad_a.to(ctx.dtypes[0]), grad_b.to(ctx.dtypes[1]), None, None, None


def lut_matmul(a: "torch.Tensor", b: "torch.Tensor", gemm: LutGemm, value: "torch.Tensor | None" = None,
               dtype: "torch.dtype" = torch.float32) -> "torch.Tensor":
    """Differentiable ``C (M, N) = sum_k lut[a, b]`` of 2-D float tensors ``a (M, K)``,
    ``b (K, N)`` holding operand codes; `value`, when given, is the forward result computed
    another way (a surrogate, the exact product plus noise) whose backward pass still goes
    through `gemm`'s tables; `dtype` is the result's (float64 holds every integer sum exactly)."""
    if torch.compiler.is_compiling():
        return _forward(a, b, register(gemm), value).to(dtype)
    return _EagerLutGemm.apply(a, b, register(gemm), value, dtype)


# -- convolutions with 2-D gradient tables ---------------------------------------------------
def _pairs(flat: list[int]) -> tuple:
    """(kernel, stride, padding, dilation) pairs of a flat list of eight integers."""
    return tuple((flat[i], flat[i + 1]) for i in range(0, 8, 2))


def _conv_forward(cx, wq, zx, zw, gemm: LutGemm, geometry, groups: int, value, scale):
    """``(sums, columns, weight columns)``: the sums ``(n, C, Ho, Wo)`` (`value` when given,
    else from the LUT GEMM) as float64, or with `scale` as float32 ``sums * scale`` rounded
    once; and the int16 operands the backward pass takes."""
    cols, x_sums = columns.code_columns(cx, zx, geometry, groups, gemm.a_bits)
    w16 = columns.weight_columns(wq)
    ho, wo = columns.output_size(tuple(cx.shape[2:]), geometry)
    if value is None:
        C, K = w16.shape
        per, z = C // groups, zx.reshape(()).to(torch.float64)
        zws = zw.reshape(-1).to(torch.float64).expand(C).contiguous()
        col_terms = K * z * zws - z * w16.sum(1, dtype=torch.int32)  # sum f - z_w sum q_x - z_x sum q_w + K z_x z_w
        out = cx.new_empty((len(cx) * ho * wo, C), dtype=torch.float64 if scale is None else torch.float32)
        unit = torch.ones_like(zws) if scale is None else scale  # float64 sums: integers, times 1 exactly
        for g in range(groups):
            o = slice(g * per, (g + 1) * per)
            acc = _tensor(gemm.forward(cols[:, g * K:(g + 1) * K], w16[o].t()), cx)
            columns.scaled_sums(acc, x_sums[:, g], col_terms[o], zws[o], unit[o], out[:, o])
        value = out.reshape(len(cx), ho, wo, C).permute(0, 3, 1, 2)
    elif scale is not None:
        value = (value * scale.reshape(1, -1, 1, 1)).to(torch.float32)
    return value, cols, w16


def _conv_backward(cols, w16, zx, zw, grad, gemm: LutGemm, geometry, groups: int, shape, need_input: bool, scale,
                   channels_last: bool):
    """``(grad_cx, grad_wq)`` (float32; ``grad_cx`` None unless `need_input`, channels-last
    with `channels_last`) of the gradient `grad` ``(n, C, Ho, Wo)`` of the sums (of ``sums *
    scale`` when `scale` is given): the table products, less the zero-point terms' ``z_w``
    (per output row, folded in with the columns) and ``z_x`` (per weight)."""
    C, K = w16.shape
    if scale is None:
        G = grad.detach().permute(0, 2, 3, 1).to(torch.float32, memory_format=torch.contiguous_format).reshape(-1, C)
    else:
        G = columns.scaled_rows(grad.detach(), scale)
    per, z = C // groups, zx.reshape(()).to(torch.float32)
    zws = zw.reshape(-1).to(torch.float32).expand(C)
    grad_cols, rows, grad_w = [], [], []
    for g in range(groups):
        o = slice(g * per, (g + 1) * per)
        G_g = G[:, o].contiguous()
        ga, gb = gemm.backward(cols[:, g * K:(g + 1) * K], w16[o].t(), G_g)
        grad_cols.append(_tensor(ga, G))
        rows.append(G_g @ zws[o])
        grad_w.append(_tensor(gb, G).t() - z * _column_sums(G_g)[:, None])
    grad_x = None
    if need_input:
        grad_x = columns.fold_columns(torch.cat(grad_cols, 1) if groups > 1 else grad_cols[0], torch.stack(rows, 1),
                                      shape, geometry, groups, channels_last)
    kh, kw = geometry[0]
    return grad_x, torch.cat(grad_w).reshape(C, kh, kw, -1).permute(0, 3, 1, 2).contiguous()


def _channels_last(x: torch.Tensor) -> bool:
    """Whether `x` is laid out channels-last (and not also contiguous: then it is taken as
    contiguous); its input gradient is made in the same format."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _column_sums(G: torch.Tensor) -> torch.Tensor:
    """``G.sum(0)`` of a row-major float32 matrix; on the GPU as a matrix-vector product with
    a vector of ones (in a 7-bit ResNet-18 training step on an H200, batch 128, the 20 column
    sums took 0.52 ms as PyTorch's reduction and about a third of that as cuBLAS products)."""
    if not G.is_cuda:
        return G.sum(0)
    return torch.mv(G.t(), G.new_ones(len(G)))


@torch.library.custom_op("appmult_char::lut_conv", mutates_args=())
def _conv_op(cx: torch.Tensor, wq: torch.Tensor, zx: torch.Tensor, zw: torch.Tensor, gemm_key: int,
             geometry: list[int], groups: int, value: Optional[torch.Tensor],
             scale: Optional[torch.Tensor]) -> torch.Tensor:
    """The result of `lut_conv` (a fresh contiguous tensor: an operator's output aliases nothing)."""
    out = _conv_forward(cx, wq, zx, zw, _GEMMS[gemm_key], _pairs(geometry), groups, value, scale)[0]
    return out.clone() if value is not None and scale is None else out.contiguous()


@_conv_op.register_fake
def _(cx, wq, zx, zw, gemm_key, geometry, groups, value, scale):
    ho, wo = columns.output_size(tuple(cx.shape[2:]), _pairs(geometry))
    dtype = torch.float64 if scale is None else torch.float32
    return cx.new_empty((cx.shape[0], wq.shape[0], ho, wo), dtype=dtype)


@torch.library.custom_op("appmult_char::lut_conv_backward", mutates_args=())
def _conv_backward_op(cx: torch.Tensor, wq: torch.Tensor, zx: torch.Tensor, zw: torch.Tensor,
                      scale: Optional[torch.Tensor], grad: torch.Tensor, gemm_key: int, geometry: list[int],
                      groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`lut_conv`'s ``(grad_cx, grad_wq)``; the int16 operands made again from the inputs."""
    pairs = _pairs(geometry)
    cols, _ = columns.code_columns(cx, zx, pairs, groups, _GEMMS[gemm_key].a_bits)
    grad_x, grad_w = _conv_backward(cols, columns.weight_columns(wq), zx, zw, grad, _GEMMS[gemm_key], pairs, groups,
                                    tuple(cx.shape), True, scale, _channels_last(cx))
    return grad_x.to(cx.dtype), grad_w.to(wq.dtype)


@_conv_backward_op.register_fake
def _(cx, wq, zx, zw, scale, grad, gemm_key, geometry, groups):
    return torch.empty_like(cx), torch.empty_like(wq)


def _conv_setup_context(ctx, inputs, output):
    cx, wq, zx, zw, gemm_key, geometry, groups, _, scale = inputs
    ctx.save_for_backward(cx, wq, zx, zw, scale)
    ctx.args = (gemm_key, geometry, groups)


def _conv_autograd_backward(ctx, grad):
    grad_x, grad_w = _conv_backward_op(*ctx.saved_tensors, grad, *ctx.args)
    return grad_x, grad_w, None, None, None, None, None, None, None


_conv_op.register_autograd(_conv_autograd_backward, setup_context=_conv_setup_context)


class _EagerLutConv(torch.autograd.Function):
    """`lut_conv` outside compiled graphs: the int16 operands made once and kept for the
    backward pass."""

    @staticmethod
    def forward(ctx, cx, wq, zx, zw, gemm_key, geometry, groups, value, scale):
        out, cols, w16 = _conv_forward(cx, wq, zx, zw, _GEMMS[gemm_key], geometry, groups, value, scale)
        ctx.save_for_backward(cols, w16, zx, zw, scale)
        ctx.args = (gemm_key, geometry, groups, tuple(cx.shape), _channels_last(cx), cx.dtype, wq.dtype)
        return out

    @staticmethod
    def backward(ctx, grad):
        gemm_key, geometry, groups, shape, channels_last, x_dtype, w_dtype = ctx.args
        cols, w16, zx, zw, scale = ctx.saved_tensors
        grad_x, grad_w = _conv_backward(cols, w16, zx, zw, grad, _GEMMS[gemm_key], geometry, groups, shape,
                                        ctx.needs_input_grad[0], scale, channels_last)
        return ((None if grad_x is None else grad_x.to(x_dtype)), grad_w.to(w_dtype),
                None, None, None, None, None, None, None)


def lut_conv(cx: "torch.Tensor", wq: "torch.Tensor", zx: "torch.Tensor", zw: "torch.Tensor", gemm: LutGemm,
             geometry, groups: int = 1, value: "torch.Tensor | None" = None,
             scale: "torch.Tensor | None" = None) -> "torch.Tensor":
    """Differentiable float64 sums ``(n, C, Ho, Wo)`` of a convolution in the affine form,
    ``sum f(q_x, q_w) - z_w sum q_x - z_x sum q_w + K z_x z_w`` over each output's taps, of
    centred input codes ``cx = q_x - z_x`` ``(n, C_in, H, W)`` (padding holds ``z_x``) and
    weight codes ``wq (C, C_in / groups, kh, kw)`` with zero points `zx` (one) and `zw` (one,
    or one per output channel), through `gemm` (2-D gradient tables); `geometry` is
    ``(kernel, stride, padding, dilation)`` pairs. `value`, when given, is the forward
    result computed another way (a surrogate) whose gradient still goes through the tables.
    With `scale` (float64, one per output channel, a constant: no gradient reaches it), the
    result is float32 ``sums * scale`` rounded once, as ``(sums * scale).to(torch.float32)``
    rounds, with the zero-point terms and the scale applied in one pass over the LUT GEMM's
    integer sums (on the GPU, one kernel) and the gradient scaled in one pass."""
    if scale is not None:
        scale = scale.detach().to(torch.float64).reshape(-1).expand(wq.shape[0]).contiguous()
    if torch.compiler.is_compiling():
        flat = [int(v) for pair in geometry for v in pair]
        return _conv_op(cx, wq, zx, zw, register(gemm), flat, groups, value, scale)
    return _EagerLutConv.apply(cx, wq, zx, zw, register(gemm), tuple(tuple(p) for p in geometry), groups, value,
                               scale)
