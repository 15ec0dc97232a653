"""LUT-based GEMM on CPU and GPU, quantized layers built on it, and end-to-end
verification of a layer against the circuit."""

from .ops import LutGemm, lut_matmul

__all__ = ["LutGemm", "lut_matmul"]
