"""`Multiplier`: an approximate multiplier as the approximate layers use it — its LUT,
its gradient tables per method, an optional surrogate, and the LUT GEMM per device."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .._errors import AppMultError
from ..lut import ProductLUT

if TYPE_CHECKING:
    import torch

__all__ = ["Multiplier", "GradientSpec", "parse_gradient"]

GRADIENT_METHODS = ("ste", "window", "lut1d")


class GradientSpec(tuple):
    """``(method, half_window, boundary)`` of a backward pass; see `parse_gradient`."""

    @property
    def method(self) -> str:
        return self[0]

    @property
    def half_window(self) -> int | None:
        return self[1]

    @property
    def boundary(self) -> str:
        return self[2]

    def __str__(self) -> str:
        return self.method + (f":{self.half_window}" if self.half_window else "")


def parse_gradient(spec: Any, half_window: int | None = None, boundary: str = "symmetric") -> GradientSpec:
    """``"ste"``, ``"window"`` (W=4), ``"window:8"``, ``"lut1d"``, ``"lut1d:4"`` (smoothed),
    or a `GradientSpec`."""
    if isinstance(spec, GradientSpec):
        return spec
    method, _, w = str(spec).partition(":")
    if method not in GRADIENT_METHODS:
        raise AppMultError(f"unknown gradient {spec!r}: use ste, window[:W] or lut1d[:W]")
    if w:
        if not w.isdigit():
            raise AppMultError(f"gradient {spec!r}: the half window after ':' must be an integer")
        half_window = int(w)
    if method == "ste":
        half_window = None
    elif method == "window" and half_window is None:
        half_window = 4
    if boundary not in ("symmetric", "reference"):
        raise AppMultError(f"unknown boundary rule {boundary!r} (symmetric or reference)")
    return GradientSpec((method, half_window, boundary))


class Multiplier:
    """A multiplier for the approximate layers (see the module docstring).

    `surrogate`: a fitted `HTPModel` for the ``htp`` forward mode (fitted on the whole LUT
    when first needed if not given)."""

    def __init__(self, lut: ProductLUT, *, surrogate: Any = None, name: str | None = None):
        if not isinstance(lut, ProductLUT):
            raise AppMultError(f"a Multiplier needs a ProductLUT, not {type(lut).__name__}")
        self.lut = lut
        self.name = name or lut.name or "multiplier"
        self._surrogate = surrogate
        self._noise = None
        self._device_tensors: dict[tuple, Any] = {}
        self._tables: dict[GradientSpec, Any] = {}
        self._gemms: dict[tuple, Any] = {}
        self.hash = lut.hash

    @classmethod
    def load(cls, source: Any, *, signed: bool = False, **mapping: Any) -> "Multiplier":
        """A `Multiplier` from a `Multiplier`, a `ProductLUT`, or a BLIF / ``.npz`` /
        AppMult text file, or a Verilog circuit (circuit options as `appmult_char.simulate` takes them)."""
        if isinstance(source, Multiplier):
            return source
        if isinstance(source, ProductLUT):
            return cls(source)
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            from ..io import is_circuit_file

            if is_circuit_file(path):
                from ..sim import simulate

                return cls(simulate(path, signed=signed, **mapping))
            from ..io import load_lut

            return cls(load_lut(path, signed=signed))
        raise AppMultError(f"cannot make a multiplier of {type(source).__name__}: give a Multiplier, a ProductLUT "
                           "or a circuit or LUT file")

    @property
    def a_bits(self) -> int:
        return self.lut.a_bits

    @property
    def b_bits(self) -> int:
        return self.lut.b_bits

    @property
    def signed(self) -> bool:
        return self.lut.signed

    def __repr__(self) -> str:
        return (f"Multiplier({self.name!r}, {self.a_bits}x{self.b_bits} {'signed' if self.signed else 'unsigned'}, "
                f"hash {self.hash[:12]})")

    def tables(self, gradient: Any):
        """The gradient tables of a backward pass (`GradientTables` or `Gradient1D`), built once."""
        spec = parse_gradient(gradient)
        if spec not in self._tables:
            from ..gradients import lut1d, ste, window

            if spec.method == "ste":
                self._tables[spec] = ste(self.lut)
            elif spec.method == "window":
                self._tables[spec] = window(self.lut, spec.half_window, boundary=spec.boundary)
            else:
                self._tables[spec] = lut1d(self.lut, spec.half_window or 0)
        return self._tables[spec]

    def use_tables(self, gradient: Any, tables: Any) -> GradientSpec:
        """Register tables computed elsewhere (e.g. read from a gradient file) under a
        gradient spec; they must belong to this multiplier's LUT."""
        if tables.lut.hash != self.hash:
            raise AppMultError(f"these gradient tables belong to another LUT ({tables.lut.name or 'unnamed'}, "
                               f"hash {tables.lut.hash[:12]}), not to {self.name} (hash {self.hash[:12]})")
        spec = parse_gradient(gradient)
        self._tables[spec] = tables
        return spec

    def gemm(self, gradient: Any, device: str = "cpu"):
        """The `LutGemm` with this backward pass, for tensors on `device` (cpu or cuda)."""
        spec = parse_gradient(gradient)
        backend = "cuda" if str(device).startswith("cuda") else "cpu"
        key = (spec, backend)
        if key not in self._gemms:
            from ..gemm import LutGemm

            self._gemms[key] = LutGemm(self.lut, self.tables(spec), backend=backend)
        return self._gemms[key]

    def device_tensor(self, name: str, array: Any, device: Any, dtype: Any = None) -> "torch.Tensor":
        """`array` as a tensor (float64 unless `dtype` says) on `device`, copied there once and kept."""
        import torch

        key = (name, str(device))
        if key not in self._device_tensors:
            self._device_tensors[key] = torch.as_tensor(array, dtype=dtype or torch.float64).to(device)
        return self._device_tensors[key]

    def gradient_vectors(self, gradient: Any, device: Any) -> tuple["torch.Tensor", "torch.Tensor"]:
        """The float32 vectors ``(g_a, g_b)`` of a separable backward pass
        (`LutGemm.vectors_1d`: ``g_a`` per raw pattern of b, ``g_b`` per raw pattern of a),
        as tensors on `device`."""
        import torch

        spec = parse_gradient(gradient)
        vectors = self.gemm(spec, str(device)).vectors_1d()
        method, half_window, boundary = spec  # formatted field by field: traceable by torch.compile
        return tuple(self.device_tensor(f"{name} {method} {half_window} {boundary}", v, device, torch.float32)
                     for name, v in zip("ab", vectors))

    @property
    def surrogate(self):
        """The HTP surrogate of the ``htp`` forward mode (fitted on every pair when first used)."""
        if self._surrogate is None:
            from ..surrogates import HTPModel, training_pairs

            X, y = training_pairs(self.lut)
            self._surrogate = HTPModel(a_bits=self.a_bits, b_bits=self.b_bits).fit(X, y)
        return self._surrogate

    @property
    def noise(self):
        """A fitted `NoiseModel` (mean and deviation of the error) for the ``noise`` forward mode."""
        if self._noise is None:
            from ..surrogates import NoiseModel, training_pairs

            X, y = training_pairs(self.lut)
            self._noise = NoiseModel().fit(X, y)
        return self._noise
