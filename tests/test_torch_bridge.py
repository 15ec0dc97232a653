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
