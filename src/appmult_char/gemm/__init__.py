"""LUT-based GEMM on CPU and GPU (`LutGemm` over the back ends of `backend`), quantized
layers built on it (`layers`), and end-to-end verification of a layer against the circuit
(`verify`)."""

from __future__ import annotations

import warnings

from .backend import BACKENDS, GemmBackend
from .ops import LutGemm, lut_gemm

__all__ = ["LutGemm", "lut_gemm", "GemmBackend", "BACKENDS"]


def __getattr__(name: str):
    if name == "lut_matmul":  # renamed: torch_bridge's autograd function had the same name
        warnings.warn("appmult_char.gemm.lut_matmul is deprecated; use lut_gemm", DeprecationWarning, stacklevel=2)
        return lut_gemm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
