"""PyTorch autograd bridge (needs torch): the LUT GEMM in a training graph.

`lut_matmul(a, b, gemm)` (the differentiable counterpart of `gemm.lut_gemm`) takes float tensors that hold integer operand codes (as produced
by fake quantization with a straight-through rounding), computes the forward pass with
`gemm`'s LUT kernels and the backward pass through its gradient tables (2-D or LUT-1D),
on whatever device the tensors are on — CUDA tensors go to the CUDA kernels without a
host round trip when ``gemm.backend == "cuda"``.
"""

from __future__ import annotations

import torch

from .ops import LutGemm

__all__ = ["LutMatmul", "lut_matmul"]


class LutMatmul(torch.autograd.Function):
    """``C = sum_k lut[A, B]`` forward; ``grad_A``, ``grad_B`` through the gradient tables.

    `value`, when given, is the forward result computed another way (a surrogate, the
    exact product plus noise) whose backward pass still goes through `gemm`'s tables;
    `dtype` is the result's (float64 holds every integer accumulator exactly)."""

    @staticmethod
    def forward(ctx, a, b, gemm: LutGemm, value=None, dtype=torch.float32):
        a_codes = a.detach().round().to(torch.int16).contiguous()
        b_codes = b.detach().round().to(torch.int16).contiguous()
        ctx.gemm = gemm
        ctx.save_for_backward(a_codes, b_codes)
        if value is not None:
            return value.detach().to(dtype)
        return _tensor(gemm.forward(a_codes, b_codes), a).to(dtype)

    @staticmethod
    def backward(ctx, grad_c):
        a_codes, b_codes = ctx.saved_tensors
        grad_a, grad_b = ctx.gemm.backward(a_codes, b_codes, grad_c.detach().to(torch.float32).contiguous())
        return _tensor(grad_a, grad_c), _tensor(grad_b, grad_c), None, None, None


def _tensor(result, like):
    """A torch tensor on `like`'s device (CPU kernels return NumPy arrays)."""
    return result if isinstance(result, torch.Tensor) else torch.as_tensor(result, device=like.device)


def lut_matmul(a: "torch.Tensor", b: "torch.Tensor", gemm: LutGemm, value: "torch.Tensor | None" = None,
               dtype: "torch.dtype" = torch.float32) -> "torch.Tensor":
    """Differentiable LUT GEMM of float tensors holding operand codes (see `LutMatmul`)."""
    return LutMatmul.apply(a, b, gemm, value, dtype)
