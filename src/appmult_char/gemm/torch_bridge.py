"""PyTorch autograd bridge (needs torch): the LUT GEMM in a training graph.

`lut_matmul(a, b, gemm)` (the differentiable counterpart of `gemm.lut_gemm`) takes float
tensors that hold integer operand codes (as produced by fake quantization with a
straight-through rounding), computes the forward pass with `gemm`'s LUT kernels and the
backward pass through its gradient tables (2-D or LUT-1D), on whatever device the tensors
are on — CUDA tensors go to the CUDA kernels without a host round trip when
``gemm.backend == "cuda"``.

Forward and backward are registered as the custom operators ``appmult_char::lut_gemm``
and ``appmult_char::lut_gemm_backward`` (`torch.library.custom_op`, with fake
implementations for shape propagation), so `torch.compile` traces through them instead
of breaking the graph. A `LutGemm` is named in the graph by a registry key. Outside
compiled graphs the same functions run through a plain `torch.autograd.Function`: the
operator dispatch costs more host time than the kernels' launches.
"""

from __future__ import annotations

import weakref
from typing import Optional

import torch

from .ops import LutGemm

__all__ = ["lut_matmul", "register"]

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
