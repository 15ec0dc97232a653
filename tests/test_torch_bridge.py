"""The PyTorch bridge, where PyTorch is installed (it is an optional dependency)."""

from __future__ import annotations

import numpy as np
import pytest

from appmult_char import ProductLUT, window
from appmult_char.gemm import LutGemm

from .conftest import SIMULATOR

torch = pytest.importorskip("torch")  # optional dependency: nothing to bridge to without it


def test_bridge_matches_the_kernels_forward_and_backward():
    from appmult_char.gemm.torch_bridge import lut_matmul

    rng = np.random.default_rng(0)
    lut = ProductLUT(np.multiply.outer(np.arange(128), np.arange(128)) + rng.integers(0, 5, (128, 128)), 7, 7)
    tables = window(lut, 3)
    A = rng.integers(0, 128, (9, 21))
    B = rng.integers(0, 128, (21, 7))
    G = rng.standard_normal((9, 7)).astype(np.float32)
    cpu = LutGemm(lut, tables)
    expected_c = cpu.forward(A, B)
    expected_ga, expected_gb = cpu.backward(A, B, G)
    devices = ["cpu"] + ([] if SIMULATOR or not torch.cuda.is_available() else ["cuda"])
    for device in devices:
        gemm = LutGemm(lut, tables, backend="cuda" if device == "cuda" else "cpu")
        a = torch.tensor(A, dtype=torch.float32, device=device, requires_grad=True)
        b = torch.tensor(B, dtype=torch.float32, device=device, requires_grad=True)
        c = lut_matmul(a, b, gemm)
        c.backward(torch.tensor(G, device=device))
        assert c.device.type == device and np.array_equal(c.detach().cpu().numpy(), expected_c)
        np.testing.assert_allclose(a.grad.cpu().numpy(), expected_ga, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(b.grad.cpu().numpy(), expected_gb, rtol=1e-5, atol=1e-3)


def test_lut_conv_sums_and_scaled_output_are_the_affine_integers():
    """`lut_conv`'s float64 sums equal the affine form evaluated in Python integers over
    every tap (padding holds the zero point), and with a scale its float32 output is those
    integers times the scale rounded once; the gradients of both forms agree."""
    from appmult_char.gemm.torch_bridge import lut_conv

    rng = np.random.default_rng(3)
    lut = ProductLUT(np.multiply.outer(np.arange(16), np.arange(16)) + rng.integers(0, 9, (16, 16)), 4, 4)
    gemm = LutGemm(lut, window(lut, 2))
    n, C_in, H, W, C, groups, (kh, kw), (sh, sw), (ph, pw) = 2, 4, 5, 6, 6, 2, (3, 2), (2, 1), (1, 1)
    zx, zw = 5, rng.integers(0, 16, C)
    q = rng.integers(0, 16, (n, C_in, H, W))
    wq = rng.integers(0, 16, (C, C_in // groups, kh, kw))
    geometry = ((kh, kw), (sh, sw), (ph, pw), (1, 1))
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    want = np.zeros((n, C, Ho, Wo), dtype=object)
    per_in, per = C_in // groups, C // groups
    for b, o, i, j in np.ndindex(n, C, Ho, Wo):
        g, total = o // per, 0
        for c, u, v in np.ndindex(per_in, kh, kw):
            h, w = i * sh - ph + u, j * sw - pw + v
            x = int(q[b, g * per_in + c, h, w]) if 0 <= h < H and 0 <= w < W else zx
            k = int(wq[o, c, u, v])
            total += int(lut.table[x, k]) - int(zw[o]) * x - zx * k + zx * int(zw[o])
        want[b, o, i, j] = total
    scale = rng.uniform(1e-4, 1e-2, C)

    def run(scaled):
        cx = torch.tensor(q - zx, dtype=torch.float32, requires_grad=True)
        w = torch.tensor(wq, dtype=torch.float32, requires_grad=True)
        s = torch.tensor(scale) if scaled else None
        y = lut_conv(cx, w, torch.tensor(float(zx), dtype=torch.float64), torch.tensor(zw, dtype=torch.float64), gemm,
                     geometry, groups, scale=s)
        out = y if scaled else (y * torch.tensor(scale).reshape(1, -1, 1, 1)).float()
        out.backward(torch.ones_like(out))
        return y.detach(), out.detach(), cx.grad, w.grad

    sums, plain, gx1, gw1 = run(False)
    scaled, fused, gx2, gw2 = run(True)
    assert sums.dtype == torch.float64 and np.array_equal(sums.numpy(), want.astype(np.float64))
    reference = np.array([[[[np.float32(float(want[b, o, i, j]) * float(scale[o])) for j in range(Wo)]
                            for i in range(Ho)] for o in range(C)] for b in range(n)])
    assert fused.dtype == torch.float32 and np.array_equal(fused.numpy(), reference)
    assert torch.equal(plain, fused) and torch.equal(gx1, gx2) and torch.equal(gw1, gw2)
