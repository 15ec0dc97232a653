"""Fake quantization in a multiplier's own operand codes.

Affine quantization ``x ≈ s (q - z)`` with codes ``q`` in the multiplier's operand range:
unsigned ``0 .. 2^bits - 1`` or two's-complement ``-2^(bits-1) .. 2^(bits-1) - 1`` (the
code's low bits are the LUT's raw pattern). Scale and zero point cover
``[min(x, 0), max(x, 0)]``, per tensor or per channel, exactly as
`appmult_char.gemm.layers.calibrate` derives them. Rounding is straight-through (the
gradient passes unchanged inside the range and is zero where the code is clipped).

Observers: ``"minmax"`` (the running extremes since the last `reset`) or
``"moving_average"`` (exponential average of each batch's extremes, `momentum`). A
quantizer observes while its module is training or being calibrated (`calibrating`),
and uses its frozen parameters otherwise. Weight quantizers are built with
``observer="current"``: parameters from the tensor they quantize, every call.

`enable_clipping` adds learnable weight clipping (after OmniQuant's LWC, as FAMES uses
it): the range becomes ``[2 sigmoid(beta) lo, 2 sigmoid(gamma) hi]``, both factors 1 at
the start (nothing changes until the parameters are trained), with gradients through the
scale and zero point into ``beta`` and ``gamma``.
"""

from __future__ import annotations

import torch
from torch import nn

from .._errors import AppMultError

__all__ = ["Quantizer", "code_range", "OBSERVERS"]

OBSERVERS = ("minmax", "moving_average", "current")


def code_range(bits: int, signed: bool) -> tuple[int, int]:
    """The smallest and largest code of `bits`-bit operands."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


class Quantizer(nn.Module):
    """Fake-quantize a tensor into `bits`-bit codes (see the module docstring);
    `channel_axis` makes it per channel along that axis."""

    def __init__(self, bits: int, signed: bool, *, channel_axis: int | None = None, observer: str = "minmax",
                 momentum: float = 0.1):
        super().__init__()
        if observer not in OBSERVERS:
            raise AppMultError(f"unknown observer {observer!r} ({', '.join(OBSERVERS)})")
        if not 1 <= bits <= 16:
            raise AppMultError(f"quantizer bits must be 1..16, got {bits}")
        self.bits, self.signed = bits, signed
        self.qmin, self.qmax = code_range(bits, signed)
        self.channel_axis, self.observer, self.momentum = channel_axis, observer, momentum
        self.calibrating = False
        self.register_buffer("lo", torch.zeros(0, dtype=torch.float64))
        self.register_buffer("hi", torch.zeros(0, dtype=torch.float64))
        self.clip_lo: nn.Parameter | None = None
        self.clip_hi: nn.Parameter | None = None

    def enable_clipping(self, channels: int = 1) -> None:
        """Learnable clipping factors (one per channel with `channel_axis`); see the
        module docstring."""
        if self.observer != "current":
            raise AppMultError("learnable clipping is for weight quantizers (observer 'current')")
        n = channels if self.channel_axis is not None else 1
        self.clip_lo = nn.Parameter(torch.zeros(n, dtype=torch.float64))
        self.clip_hi = nn.Parameter(torch.zeros(n, dtype=torch.float64))

    def extra_repr(self) -> str:
        per = f", per channel (axis {self.channel_axis})" if self.channel_axis is not None else ""
        return f"{self.bits} bits, {'signed' if self.signed else 'unsigned'}, {self.observer}{per}"

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for key in ("lo", "hi"):  # what was observed has the checkpoint's shape (nothing, a scalar, a vector)
            if prefix + key in state_dict:
                setattr(self, key, torch.empty_like(state_dict[prefix + key]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def reset(self) -> None:
        """Forget what was observed."""
        self.lo, self.hi = self.lo[:0], self.hi[:0]

    @property
    def observed(self) -> bool:
        return self.observer == "current" or self.lo.numel() > 0

    def _extremes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.detach()  # extremes in the tensor's own dtype (exact), then float64: no full-size copy
        if self.channel_axis is None:  # over the values in memory order: no copy of a channels-last tensor
            flat = _flat(x)
            lo, hi = torch.aminmax(x if flat is None else flat)
        else:
            lo, hi = torch.aminmax(x.transpose(0, self.channel_axis).reshape(x.shape[self.channel_axis], -1), dim=1)
        return lo.to(torch.float64).clamp(max=0.0), hi.to(torch.float64).clamp(min=0.0)

    def observe(self, x: torch.Tensor) -> None:
        lo, hi = self._extremes(x)
        if self.lo.numel() == 0:
            self.lo, self.hi = lo, hi
        elif self.observer == "minmax":  # in place, here and below: a step replayed as a CUDA graph keeps its buffers
            torch.minimum(self.lo, lo, out=self.lo)
            torch.maximum(self.hi, hi, out=self.hi)
        else:
            self.lo.lerp_(lo, self.momentum)
            self.hi.lerp_(hi, self.momentum)

    def params(self, x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scale, zero_point)`` (float64; per channel: vectors), from `x` for the
        ``current`` observer, else from what was observed."""
        if self.observer == "current":
            lo, hi = self._extremes(x)
        elif not self.observed:
            raise AppMultError("an activation quantizer has observed nothing: calibrate the model first "
                               "(appmult_char.nn.calibrate(model, batches)) or run it in training mode")
        else:
            lo, hi = self.lo, self.hi
        if self.clip_lo is not None:
            lo = lo * 2 * torch.sigmoid(self.clip_lo.reshape(lo.shape) if lo.ndim else self.clip_lo[0])
            hi = hi * 2 * torch.sigmoid(self.clip_hi.reshape(hi.shape) if hi.ndim else self.clip_hi[0])
        span = hi - lo
        scale = torch.where(span > 0, span / (self.qmax - self.qmin), 1.0)
        zero = torch.clamp(torch.round(self.qmin - lo / scale), self.qmin, self.qmax)
        return scale, zero

    def _shape(self, v: torch.Tensor, ndim: int) -> torch.Tensor:
        if self.channel_axis is None:
            return v
        shape = [1] * ndim
        shape[self.channel_axis] = -1
        return v.reshape(shape)

    def _scale_and_zero(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale and zero point for `x` (observed first where this quantizer observes),
        shaped to broadcast against it, on its device."""
        if self.observer != "current" and (self.training or self.calibrating):
            self.observe(x)
        scale, zero = self.params(x)
        scale, zero = self._shape(scale, x.ndim), self._shape(zero, x.ndim)
        if scale.device != x.device:
            scale, zero = scale.to(x.device), zero.to(x.device)
        return scale, zero

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(codes, scale, zero_point)``: float codes (integral values) with a straight-through
        gradient, and the parameters they were made with (shaped to broadcast against `x`)."""
        scale, zero = self._scale_and_zero(x)
        v = torch.addcdiv(zero.to(x.dtype), x, scale.to(x.dtype))  # x / scale + zero, in one kernel
        return _RoundClamp.apply(v, self.qmin, self.qmax), scale, zero

    def centred(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(codes - zero_point, scale, zero_point)``: `forward`'s codes centred (a real zero
        is 0), with the same straight-through gradient. A per-tensor quantizer of a float32
        CUDA tensor whose parameters take no gradient makes them in one kernel
        (`cuda_kernels.centred_codes_kernel`), outside compiled graphs."""
        if (x.is_cuda and x.dtype == torch.float32 and self.channel_axis is None and self.clip_lo is None
                and not torch.compiler.is_compiling() and _flat(x) is not None):
            scale, zero = self._scale_and_zero(x)
            return _CentredCodes.apply(x, scale, zero, self.qmin, self.qmax), scale, zero
        codes, scale, zero = self(x)
        return codes - zero.to(codes.dtype), scale, zero


def _flat(x: torch.Tensor) -> torch.Tensor | None:
    """The 1-D view of `x`'s elements in memory order, for a contiguous or channels-last
    tensor (else None)."""
    if x.is_contiguous():
        return x.view(-1)
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return x.permute(0, 2, 3, 1).view(-1)
    return None


class _CentredCodes(torch.autograd.Function):
    """`Quantizer.centred` of a float32 CUDA tensor in one kernel: the centred codes (in
    `x`'s memory format) and the mask of unclipped values; the gradient ``grad * (mask /
    scale)`` in one more (in torch operations where `grad` is laid out unlike `x`)."""

    @staticmethod
    def forward(ctx, x, scale, zero, qmin, qmax):
        import numpy as np

        from ..gemm import cuda_kernels, cuda_launch

        out = torch.empty_like(x)
        inside = torch.empty_like(x, dtype=torch.uint8)
        if x.numel():
            cuda_launch.launch(cuda_kernels.centred_codes_kernel(), ((x.numel() + 255) // 256, 1, 1), (256, 1), 0,
                               cuda_launch.Workspace(x), _flat(x), scale.reshape(1), zero.reshape(1),
                               np.float32(qmin), np.float32(qmax), _flat(out), _flat(inside))
        ctx.save_for_backward(inside, scale)
        return out

    @staticmethod
    def backward(ctx, grad):
        from ..gemm import cuda_kernels, cuda_launch

        inside, scale = ctx.saved_tensors
        if grad.dtype != torch.float32 or grad.stride() != inside.stride() or _flat(grad) is None:
            return grad * (inside / scale.to(torch.float32)), None, None, None, None
        out = torch.empty_like(grad)
        if grad.numel():
            cuda_launch.launch(cuda_kernels.centred_grad_kernel(), ((grad.numel() + 255) // 256, 1, 1), (256, 1), 0,
                               cuda_launch.Workspace(grad), _flat(grad), _flat(inside), scale.reshape(1), _flat(out))
        return out, None, None, None, None


class _RoundClamp(torch.autograd.Function):
    """``clamp(round(v), qmin, qmax)`` with the straight-through gradient: passed where the
    rounded value lies in the range, zero where it was clipped (what ``clamp(v + (round(v)
    - v).detach())`` gives, in three kernels forward and one backward instead of nine)."""

    @staticmethod
    def forward(ctx, v, qmin, qmax):
        rounded = torch.round(v)
        codes = rounded.clamp(qmin, qmax)
        ctx.save_for_backward(codes == rounded)
        return codes

    @staticmethod
    def backward(ctx, grad):
        inside, = ctx.saved_tensors
        return grad * inside, None, None
