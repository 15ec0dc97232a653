"""Unfolded convolution operands for the table products of `torch_bridge.lut_conv` (needs
torch): the integer codes of every input window as one int16 matrix, the gradient of
those columns folded back onto the input, and the two passes between the products and a
layer's float32 values (the zero-point terms and scale applied to the integer sums; the
scale applied to the output gradient).

Columns are tap-major within each group: the column of input channel ``c = g C_g + c_g``
at kernel tap ``(i, j)`` is ``g (kh kw C_g) + (i kw + j) C_g + c_g``, and the weight is
laid out alike (`weight_columns`). A tap's channels are then adjacent: the strided copy
that builds the matrix reads a channels-last input in runs, and the CUDA fold
(`cuda_kernels.fold_kernel`) reads each tap's channels in one coalesced run. Geometry is
``(kernel, stride, padding, dilation)``, each a pair (2-D form; a 1-D convolution has a
unit height).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..arrays import like
from . import cuda_kernels, cuda_launch
from .layers import conv_output_size

__all__ = ["code_columns", "weight_columns", "fold_columns", "output_size", "windows", "scaled_sums",
           "scaled_rows"]


def output_size(size: tuple[int, int], geometry) -> tuple[int, int]:
    """``(Ho, Wo)`` of an input of `size` ``(H, W)``."""
    kernel, stride, padding, dilation = geometry
    return tuple(conv_output_size(size[d], kernel[d], stride[d], padding[d], dilation[d]) for d in (0, 1))


def windows(t: torch.Tensor, geometry, dim: int = 1) -> torch.Tensor:
    """The view of the windows of a padded input ``t`` whose height and width are the
    dimensions `dim` and ``dim + 1``: those become ``(Ho, Wo)`` and the taps ``(kh, kw)``
    are appended — every dilation-th tap of each window of the dilated kernel."""
    kernel, stride, _, dilation = geometry
    for d in (0, 1):
        t = t.unfold(dim + d, dilation[d] * (kernel[d] - 1) + 1, stride[d])[..., ::dilation[d]]
    return t


def code_columns(cx: torch.Tensor, zx: torch.Tensor, geometry, groups: int,
                 code_bits: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """``(columns, sums)`` of centred input codes ``cx (n, C, H, W)`` (a code less the zero
    point `zx`): int16 codes ``cx + zx`` of every window, padded with `zx` (the code of a
    real zero), ``(n Ho Wo, C kh kw)`` tap-major per group; and int32 ``sums (n Ho Wo,
    groups)`` of each window's codes per group (the zero-point term of the product), taken
    from per-pixel channel sums rather than from the columns: in float32 where codes of
    `code_bits` bits keep every partial sum below 2^24 (exact in any order), else in
    float64. On the GPU the columns come from one kernel (`cuda_kernels.columns_kernel`),
    column-major: the transpose of a contiguous ``(C kh kw, n Ho Wo)`` matrix, the layout in
    which the weight-gradient product reads them and which the CUDA back end takes without a
    copy for the other two products as well. On the CPU they are row-major (the CPU
    kernels' layout)."""
    kernel, _, padding, _ = geometry
    n, C = cx.shape[:2]
    per = C // groups
    pads = (padding[1], padding[1], padding[0], padding[0])
    exact = torch.float32 if per * ((1 << code_bits) - 1) < 1 << 24 else torch.float64  # |q - z| < 2^bits
    per_pixel = cx.detach().unflatten(1, (groups, per)).sum(2, dtype=exact)  # (n, g, H, W)
    pixel = (F.pad(per_pixel, pads) + zx.to(exact) * per).to(torch.int32).permute(0, 2, 3, 1)
    sums = windows(pixel, geometry).sum((4, 5), dtype=torch.int32).reshape(-1, groups)
    if cx.is_cuda:
        return _columns_cuda(cx.detach(), zx.detach().to(torch.float64).reshape(1), geometry, groups).t(), sums
    xp = F.pad(cx.detach(), pads) + zx.to(cx.dtype)
    xp = xp.to(torch.int16, memory_format=torch.channels_last).permute(0, 2, 3, 1)  # (n, Hp, Wp, C), contiguous
    win = windows(xp, geometry).unflatten(3, (groups, per))  # (n, Ho, Wo, g, C_g, kh, kw)
    return win.permute(0, 1, 2, 3, 5, 6, 4).reshape(-1, C * kernel[0] * kernel[1]), sums


def _columns_cuda(x, zx, geometry, groups: int):
    """The contiguous ``(C kh kw, n Ho Wo)`` int16 transpose of `code_columns`' columns on
    the GPU, for torch CUDA tensors or NumPy arrays (the simulator); `zx` a 1-element
    float64 array."""
    n, C, H, W = x.shape
    kernel, stride, padding, dilation = geometry
    ho, wo = output_size((H, W), geometry)
    ws = cuda_launch.Workspace(x)
    taps, per = kernel[0] * kernel[1], C // groups
    out = ws.empty((C * taps, n * ho * wo), np.int16)
    chunk = min(per, 16)
    grid = ((n * ho * wo + 255) // 256, groups * taps, (per + chunk - 1) // chunk)
    cuda_launch.launch(cuda_kernels.columns_kernel(kernel, stride, dilation), grid, (256, 1), 0, ws, x, zx, out,
                       *map(np.int64, (*padding, ho, wo, per, chunk)))
    return like(out, x)


def weight_columns(wq: torch.Tensor) -> torch.Tensor:
    """int16 ``(C_out, kh kw C_g)``: weight codes ``(C_out, C_g, kh, kw)`` in column order."""
    return wq.detach().permute(0, 2, 3, 1).to(torch.int16, memory_format=torch.contiguous_format).reshape(len(wq), -1)


def fold_columns(grad_cols: torch.Tensor, rows: torch.Tensor, shape: tuple[int, int, int, int], geometry,
                 groups: int, channels_last: bool = False) -> torch.Tensor:
    """The gradient ``(n, C, H, W)`` (float32) of an input of `shape` from the gradient of
    its columns less a term per output position and group: ``grad_cols (n Ho Wo, C kh kw)
    - rows (n Ho Wo, groups)`` summed over the taps that read each input pixel (padding
    dropped); contiguous, or with `channels_last` in that memory format (the input's, so
    that the operations after it take it as it is). CUDA tensors: one kernel
    (`cuda_kernels.fold_kernel`, writing either layout); CPU: `F.fold`, then a copy where
    the format is channels-last."""
    if grad_cols.is_cuda:
        return _fold_cuda(grad_cols, rows, shape, geometry, groups, channels_last)
    n, C, H, W = shape
    kernel, stride, padding, dilation = geometry
    per, taps = C // groups, kernel[0] * kernel[1]
    g = grad_cols.reshape(n, -1, groups, taps, per) - rows.reshape(n, -1, groups, 1, 1)
    g = g.permute(0, 2, 4, 3, 1).reshape(n, C * taps, -1)  # F.fold's (n, C kh kw, L), channel-major
    out = F.fold(g, (H, W), kernel, dilation, padding, stride)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


def _fold_cuda(grad_cols, rows, shape, geometry, groups, channels_last=False):
    """`fold_columns` on the GPU, for torch CUDA tensors or any array `cuda_launch` takes
    (NumPy arrays under Numba's CUDA simulator; channels-last: a transposed view)."""
    n, C, H, W = shape
    kernel, stride, padding, dilation = geometry
    ho, wo = output_size((H, W), geometry)
    ws = cuda_launch.Workspace(grad_cols)
    cols, r = ws.operand(grad_cols, np.float32), ws.operand(rows, np.float32)
    out = ws.empty((n, H, W, C) if channels_last else (n, C, H, W), np.float32)
    scalars = (*padding, ho, wo, C // groups)
    grid = (((C + 31) // 32) * ((H * W + 31) // 32), 1, n)
    cuda_launch.launch(cuda_kernels.fold_kernel(kernel, stride, dilation, channels_last), grid, (32, 8), 0, ws, cols,
                       r, out, *map(np.int64, scalars))
    out = like(out, grad_cols)
    if not channels_last:
        return out
    return out.permute(0, 3, 1, 2) if isinstance(out, torch.Tensor) else out.transpose(0, 3, 1, 2)


def scaled_sums(acc: torch.Tensor, x_sums: torch.Tensor, col_terms: torch.Tensor, zw: torch.Tensor,
                scale: torch.Tensor, out: torch.Tensor) -> None:
    """Fill `out` ``(M, C)`` (any strides) with ``(acc + col_terms - x_sums zw) scale`` of
    integer sums ``acc (M, C)``, window code sums ``x_sums (M,)`` and float64 ``col_terms``,
    ``zw``, ``scale (C,)``: the integer terms exact in float64, the product rounded to
    float64 and then to `out`'s dtype, as ``(sums * scale).to(dtype)`` rounds. CUDA
    tensors: one kernel (`cuda_kernels.epilogue_kernel`); CPU: float64 tensor passes."""
    if out.is_cuda:
        _scaled_sums_cuda(acc, x_sums, col_terms, zw, scale, out)
    else:
        out.copy_(torch.addcmul(col_terms, x_sums[:, None].to(torch.float64), zw, value=-1).add_(acc).mul_(scale))


def _scaled_sums_cuda(acc, x_sums, col_terms, zw, scale, out) -> None:
    """`scaled_sums` on the GPU, for torch CUDA tensors or NumPy arrays (the simulator)."""
    grid = ((out.shape[1] + 31) // 32, min((out.shape[0] + 7) // 8, 65535), 1)
    cuda_launch.launch(cuda_kernels.epilogue_kernel(), grid, (32, 8), 0, cuda_launch.Workspace(out), acc, x_sums,
                       col_terms, zw, scale, out)


def scaled_rows(grad: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """float32 rows ``(n H W, C)`` of ``grad * scale`` for a gradient ``(n, C, H, W)`` of any
    strides and float64 ``scale (C,)``: the product in float64, rounded once (what the
    gradient of ``(sums * scale).to(float32)`` passes to ``sums``, laid out as the
    products' rows). CUDA tensors: one kernel (`cuda_kernels.scaled_rows_kernel`)."""
    if grad.is_cuda:
        return _scaled_rows_cuda(grad, scale)
    y = grad.to(torch.float64) * scale.reshape(1, -1, 1, 1)
    return y.permute(0, 2, 3, 1).to(torch.float32, memory_format=torch.contiguous_format).reshape(-1, grad.shape[1])


def _scaled_rows_cuda(grad, scale):
    """`scaled_rows` on the GPU, for torch CUDA tensors or NumPy arrays (the simulator)."""
    n, C, H, W = grad.shape
    ws = cuda_launch.Workspace(grad)
    out = ws.empty((n * H * W, C), np.float32)
    grid = (((C + 31) // 32) * ((H * W + 7) // 8), 1, n)
    cuda_launch.launch(cuda_kernels.scaled_rows_kernel(), grid, (32, 8), 0, ws, grad, scale, out)
    return like(out, grad)
