"""The GEMM back-end interface: what `LutGemm` hands its products to.

A back end is built for one `LutGemm` (a `GemmTables`: it reads the LUT and gradient
tables, and may copy them to its device once) and implements

- ``forward(A, B)``: ``C[..., i, j] = sum_k lut[A[..., i, k], B[..., k, j]]``, exact integers;
- ``backward(A, B, grad_C)``: ``(grad_A, grad_B)`` float32 through the gradient tables;

on arrays of its own kind (NumPy on the CPU; any ``__cuda_array_interface__`` array, or
NumPy copied over, on CUDA), returning results in the kind of array ``A`` was.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, ClassVar, Protocol

import numpy as np

from .._errors import AppMultError

__all__ = ["GemmTables", "GemmBackend", "BACKENDS", "create"]

#: Back-end name -> (module of this package, class); imported on first use.
BACKENDS = {"cpu": ("cpu", "CpuGemm"), "cuda": ("cuda", "CudaGemm")}


class GemmTables(Protocol):
    """What a back end reads from its `LutGemm`: the LUT, the gradient tables and the
    shape rules."""

    a_bits: int
    b_bits: int
    a_mask: int
    b_mask: int
    table: np.ndarray  # int64, flat, index (a << b_bits) + b

    @property
    def one_dimensional(self) -> bool: ...

    def fixed_point_tables(self) -> tuple[np.ndarray, np.ndarray]: ...

    def vectors_1d(self) -> tuple[np.ndarray, np.ndarray]: ...

    def fold(self, A: Any, B: Any) -> tuple[Any, Any, tuple[int, ...]]: ...

    def codes(self, x: np.ndarray) -> np.ndarray: ...

    def accumulator(self, K: int) -> np.dtype: ...


class GemmBackend(Protocol):
    name: ClassVar[str]

    def forward(self, A: Any, B: Any) -> Any: ...

    def backward(self, A: Any, B: Any, grad_C: Any) -> tuple[Any, Any]: ...


def create(name: str, gemm: GemmTables) -> GemmBackend:
    """The back end called `name` for `gemm`."""
    if name not in BACKENDS:
        raise AppMultError(f"unknown backend {name!r} ({' or '.join(BACKENDS)})")
    module, cls = BACKENDS[name]
    return getattr(import_module(f".{module}", __package__), cls)(gemm)
