"""`gemm.columns`: tap-major int16 columns of convolution codes and the fold of their
gradient, against plain-Python loops over every output position, tap and channel; the
CUDA kernels under Numba's simulator (NumPy arrays) or on the GPU (torch tensors)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from .conftest import SIMULATOR

torch = pytest.importorskip("torch")

from appmult_char.gemm import columns  # noqa: E402  (needs torch)

# (n, C, H, W, groups, kernel, stride, padding, dilation)
SHAPES = [(2, 4, 5, 6, 1, (3, 3), (1, 1), (1, 1), (1, 1)),
          (1, 6, 7, 5, 2, (3, 2), (2, 1), (1, 0), (1, 2)),
          (2, 3, 1, 9, 3, (1, 4), (1, 2), (0, 2), (1, 1)),
          (1, 2, 6, 6, 1, (2, 2), (3, 3), (2, 1), (2, 1)),
          (1, 37, 3, 4, 1, (3, 3), (1, 1), (1, 1), (1, 1)),  # channel chunks of the columns kernel, the last partial
          (1, 40, 2, 3, 2, (2, 2), (1, 2), (1, 1), (1, 1))]


def _taps(shape, geometry):
    """Every (b, ho, wo, g, i, j, cg, h, w) of a convolution: output position, group, tap,
    channel in the group, and the input pixel it reads (h, w may fall in the padding)."""
    n, C, H, W, groups = shape
    kernel, stride, padding, dilation = geometry
    ho_n, wo_n = ((H + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1,
                  (W + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1)
    per = C // groups
    for b, ho, wo, g, i, j, cg in itertools.product(range(n), range(ho_n), range(wo_n), range(groups),
                                                      range(kernel[0]), range(kernel[1]), range(per)):
        h = ho * stride[0] - padding[0] + i * dilation[0]
        w = wo * stride[1] - padding[1] + j * dilation[1]
        m = (b * ho_n + ho) * wo_n + wo
        col = g * kernel[0] * kernel[1] * per + (i * kernel[1] + j) * per + cg
        yield m, col, g, b, g * per + cg, h, w


@pytest.mark.parametrize("where", ["cpu", "cuda"])
@pytest.mark.parametrize("case", SHAPES)
def test_code_columns_are_every_window_tap_major(case, where):
    """Row-major columns on the CPU; the CUDA kernel (`columns_kernel`) on NumPy arrays
    (under the simulator, or on a GPU where torch has no CUDA), and `code_columns` on CUDA
    tensors (column-major) where it has."""
    n, C, H, W, groups, *geometry = case
    rng = np.random.default_rng(C + H)
    zx = torch.tensor(3.0, dtype=torch.float64)
    q = rng.integers(-5, 60, (n, C, H, W))
    cx = torch.tensor(q, dtype=torch.float32) - 3.0
    sums = None
    if where == "cpu":
        cols, sums = columns.code_columns(cx, zx, geometry, groups)
        assert cols.is_contiguous()
    elif SIMULATOR or not torch.cuda.is_available():
        cols = torch.tensor(np.asarray(columns._columns_cuda(cx.numpy(), np.array([3.0]), geometry, groups))).t()
    else:
        cols, sums = columns.code_columns(cx.cuda(), zx.cuda(), geometry, groups)
        assert cols.t().is_contiguous()
        cols, sums = cols.cpu(), sums.cpu()
    want_cols = {}
    want_sums = {}
    for m, col, g, b, c, h, w in _taps((n, C, H, W, groups), geometry):
        v = q[b, c, h, w] if 0 <= h < H and 0 <= w < W else 3  # the padding holds the zero point
        want_cols[m, col] = v
        want_sums[m, g] = want_sums.get((m, g), 0) + v
    assert cols.dtype == torch.int16
    assert cols.shape == (max(k[0] for k in want_cols) + 1, C * geometry[0][0] * geometry[0][1])
    assert all(cols[k].item() == v for k, v in want_cols.items())
    if sums is not None:
        assert sums.dtype == torch.int32
        assert all(sums[k].item() == v for k, v in want_sums.items())


def test_weight_columns_follow_the_column_order():
    wq = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 4)
    got = columns.weight_columns(wq)
    for o, cg, i, j in itertools.product(range(2), range(3), range(2), range(4)):
        assert got[o, (i * 4 + j) * 3 + cg] == wq[o, cg, i, j]


def _fold_reference(grad_cols, rows, shape, geometry, groups):
    out = np.zeros(shape)
    n, C, H, W = shape
    for m, col, g, b, c, h, w in _taps((n, C, H, W, groups), geometry):
        if 0 <= h < H and 0 <= w < W:
            out[b, c, h, w] += grad_cols[m, col] - rows[m, g]
    return out


def _fold_inputs(case):
    n, C, H, W, groups, *geometry = case
    ho, wo = columns.output_size((H, W), geometry)
    rng = np.random.default_rng(n + C + W)
    grad_cols = rng.standard_normal((n * ho * wo, C * geometry[0][0] * geometry[0][1])).astype(np.float32)
    rows = rng.standard_normal((n * ho * wo, groups)).astype(np.float32)
    return grad_cols, rows, (n, C, H, W), geometry, groups


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("case", SHAPES)
def test_fold_sums_every_tap_that_reads_a_pixel(case, channels_last):
    grad_cols, rows, shape, geometry, groups = _fold_inputs(case)
    want = _fold_reference(grad_cols, rows, shape, geometry, groups)
    got = columns.fold_columns(torch.tensor(grad_cols), torch.tensor(rows), shape, geometry, groups, channels_last)
    assert got.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("case", SHAPES)
def test_cuda_fold_kernel_sums_every_tap_that_reads_a_pixel(case, channels_last):
    """The kernel on NumPy arrays (the simulator in CI) and, on a GPU, on torch tensors;
    written contiguous or channels-last."""
    grad_cols, rows, shape, geometry, groups = _fold_inputs(case)
    want = _fold_reference(grad_cols, rows, shape, geometry, groups)
    got = np.asarray(columns._fold_cuda(grad_cols, rows, shape, geometry, groups, channels_last))
    assert got.shape == shape and got.flags.c_contiguous != channels_last
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if not SIMULATOR and torch.cuda.is_available():
        got = columns.fold_columns(torch.tensor(grad_cols, device="cuda"), torch.tensor(rows, device="cuda"), shape,
                                   geometry, groups, channels_last)
        assert got.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("code_bits,top", [(8, 255), (16, 65535)])
def test_window_sums_are_exact_at_any_code_width(code_bits, top):
    """Window sums of 300 channels x 9 taps: codes of 8 bits sum in float32 (every partial
    sum below 2^24), of 16 bits in float64 (in float32 per-pixel sums near 2e7 would round);
    both against Python integers."""
    rng = np.random.default_rng(code_bits)
    q = rng.integers(top - 40, top + 1, (1, 300, 3, 3))
    q[0, :, 1, 1] = rng.integers(0, top + 1, 300)
    zx = torch.tensor(float(top // 3), dtype=torch.float64)
    geometry = ((3, 3), (1, 1), (1, 1), (1, 1))
    _, sums = columns.code_columns(torch.tensor(q, dtype=torch.float32) - zx.float(), zx, geometry, 1, code_bits)
    padded = np.pad(q.astype(object), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=top // 3)
    want = [sum(int(v) for v in padded[0, :, i:i + 3, j:j + 3].ravel()) for i in range(3) for j in range(3)]
    assert sums[:, 0].tolist() == want


def _epilogue_inputs(seed, groups=1):
    rng = np.random.default_rng(seed)
    M, C = 37, 45
    acc = rng.integers(-2**28, 2**28, (M, C)).astype(np.int32)  # beyond float32 integers
    x_sums = rng.integers(0, 5000, (M, groups)).astype(np.int32)
    col_terms = rng.integers(-10**6, 10**6, C).astype(np.float64)
    zw = rng.integers(0, 128, C).astype(np.float64)
    scale = rng.uniform(1e-5, 1e-2, C)
    return acc, x_sums, col_terms, zw, scale


def _epilogue_reference(acc, x_sums, col_terms, zw, scale):
    """Plain Python: the exact integer sum, one product in float64, one rounding to float32."""
    out = np.empty(acc.shape, np.float32)
    for m, c in itertools.product(range(acc.shape[0]), range(acc.shape[1])):
        exact = int(acc[m, c]) + int(col_terms[c]) - int(x_sums[m]) * int(zw[c])
        out[m, c] = np.float32(float(exact) * float(scale[c]))
    return out


def test_scaled_sums_round_once_from_the_exact_integers():
    """On the CPU, under the simulator (NumPy arrays) and on a GPU (torch tensors)."""
    acc, x_sums, col_terms, zw, scale = _epilogue_inputs(0, groups=2)
    want = _epilogue_reference(acc, x_sums[:, 1], col_terms, zw, scale)
    out = torch.zeros((acc.shape[0], 2 * acc.shape[1]), dtype=torch.float32)
    view = out[:, 1::2]  # a strided destination, as a group's columns are
    columns.scaled_sums(torch.tensor(acc), torch.tensor(x_sums)[:, 1], torch.tensor(col_terms), torch.tensor(zw),
                        torch.tensor(scale), view)
    assert np.array_equal(view.numpy(), want)
    if SIMULATOR:  # the kernel on NumPy arrays
        got = np.zeros_like(want)
        columns._scaled_sums_cuda(acc, np.ascontiguousarray(x_sums[:, 1]), col_terms, zw, scale, got)
        assert np.array_equal(got, want)
    elif torch.cuda.is_available():
        dev = [torch.tensor(v, device="cuda") for v in (acc, x_sums, col_terms, zw, scale)]
        out = torch.zeros((acc.shape[0], 2 * acc.shape[1]), dtype=torch.float32, device="cuda")
        columns.scaled_sums(dev[0], dev[1][:, 1], *dev[2:], out[:, 1::2])
        assert np.array_equal(out[:, 1::2].cpu().numpy(), want)


def test_scaled_rows_are_the_gradient_rows_rounded_once():
    rng = np.random.default_rng(1)
    n, C, H, W = 2, 35, 3, 10
    grad = rng.standard_normal((n, C, H, W)).astype(np.float32)
    scale = rng.uniform(1e-5, 1e-2, C)
    want = np.empty((n * H * W, C), np.float32)
    for b, c, h, w in itertools.product(range(n), range(C), range(H), range(W)):
        want[(b * H + h) * W + w, c] = np.float32(float(grad[b, c, h, w]) * float(scale[c]))
    channels_last = torch.tensor(grad).to(memory_format=torch.channels_last)
    assert np.array_equal(columns.scaled_rows(channels_last, torch.tensor(scale)).numpy(), want)
    if SIMULATOR:  # the kernel on NumPy arrays
        assert np.array_equal(np.asarray(columns._scaled_rows_cuda(grad, scale)), want)
    elif torch.cuda.is_available():
        for g in (torch.tensor(grad, device="cuda"), channels_last.cuda()):
            assert np.array_equal(columns.scaled_rows(g, torch.tensor(scale, device="cuda")).cpu().numpy(), want)
