"""Logarithmic multipliers: bit-level integer models and their analytic HTP models.

Both multipliers first truncate each operand magnitude to its ``k`` leading bits (seed
003, Eq. 21: ``g(x) = x`` if ``x < 2^k``, else ``x - x mod 2^(floor(log2 x) - k + 1)``).

- **Mitchell** (Mitchell 1962; with operand truncation as in Kim et al. 2019): with
  ``A = 2^k1 (1 + f1)``, ``B = 2^k2 (1 + f2)`` the product is ``2^(k1+k2) (1 + f1 + f2)``
  when ``f1 + f2 < 1`` and ``2^(k1+k2+1) (f1 + f2)`` otherwise — computed exactly on
  integers by the bit-level model.
- **DRUM-k** (Hashemi et al. 2015, as the TorchApprox paper models it): after truncation the bit below
  the kept ones is set (``+ 2^(floor(log2 x) - k)``, operands ``>= 2^k`` only), and the
  two operands are multiplied exactly.

Signed operands use sign-magnitude: the magnitudes are multiplied and the sign re-applied.
The analytic HTP models compute the same in floating point from ``log2``, ``floor``,
``mod`` and ``exp2`` (no integer conversion, no table); `MitchellHTP(product_form=True)`
is the plain product ``g(x) g(w)`` of the TorchApprox paper's Eq. 19-21, which leaves out Mitchell's
log/antilog approximation (its residual against the bit-level model is reported).
"""

from __future__ import annotations

import inspect

import numpy as np

from .._errors import AppMultError
from ..lut import ProductLUT, lut_dtype, operand_values
from .base import Surrogate, operand_pairs

__all__ = ["mitchell_lut", "drum_lut", "MitchellHTP", "DrumHTP", "truncate_leading", "drum_operand"]


def _check_leading_bits(bits: int, k: int) -> None:
    if not 1 <= k <= bits:
        raise AppMultError(f"k = {k} leading bits must be between 1 and the operand width {bits}")


def _leading_position(v: np.ndarray) -> np.ndarray:
    """floor(log2 v) for integers v >= 1 (exact, via frexp)."""
    return np.frexp(v.astype(np.float64))[1].astype(np.int64) - 1


def truncate_leading(v: np.ndarray, k: int) -> np.ndarray:
    """Keep the `k` leading bits of non-negative integers `v` (bit level)."""
    v = np.asarray(v, dtype=np.int64)
    shift = np.maximum(_leading_position(np.maximum(v, 1)) - k + 1, 0)
    return np.where(v >= 1 << k, (v >> shift) << shift, v)


def drum_operand(v: np.ndarray, k: int) -> np.ndarray:
    """DRUM operand: `k` leading bits, then the next lower bit set (operands >= 2^k)."""
    v = np.asarray(v, dtype=np.int64)
    p = _leading_position(np.maximum(v, 1))
    return np.where(v >= 1 << k, truncate_leading(v, k) + (np.int64(1) << np.maximum(p - k, 0)), v)


def _mitchell_magnitudes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    k1 = _leading_position(np.maximum(a, 1))
    k2 = _leading_position(np.maximum(b, 1))
    ma = a - (np.int64(1) << k1)
    mb = b - (np.int64(1) << k2)
    s = (ma << k2) + (mb << k1)
    base = np.int64(1) << (k1 + k2)
    product = np.where(s < base, base + s, 2 * s)
    return np.where((a == 0) | (b == 0), 0, product)


def _lut(a_bits: int, b_bits: int, signed: bool, magnitude_product, name: str) -> ProductLUT:
    x = operand_values(a_bits, signed)[:, None]
    w = operand_values(b_bits, signed)[None, :]
    product = magnitude_product(np.abs(x), np.abs(w)) * (np.sign(x) * np.sign(w) if signed else 1)
    return ProductLUT(product.astype(lut_dtype(a_bits + b_bits, signed)), a_bits, b_bits, signed, a_bits + b_bits, name)


def mitchell_lut(a_bits: int, k: int, signed: bool = False, b_bits: int | None = None) -> ProductLUT:
    """Bit-level Mitchell multiplier with operands truncated to `k` leading bits."""
    b_bits = b_bits or a_bits
    _check_leading_bits(min(a_bits, b_bits), k)
    return _lut(a_bits, b_bits, signed, lambda a, b: _mitchell_magnitudes(truncate_leading(a, k), truncate_leading(b, k)),
                f"mitchell{a_bits}x{b_bits}{'s' if signed else 'u'}_k{k}")


def drum_lut(a_bits: int, k: int, signed: bool = False, b_bits: int | None = None) -> ProductLUT:
    """Bit-level DRUM-k multiplier (exact product of the corrected truncated operands)."""
    b_bits = b_bits or a_bits
    _check_leading_bits(min(a_bits, b_bits), k)
    return _lut(a_bits, b_bits, signed, lambda a, b: drum_operand(a, k) * drum_operand(b, k),
                f"drum{a_bits}x{b_bits}{'s' if signed else 'u'}_k{k}")


# -- analytic HTP models ------------------------------------------------------------------

def _g_truncate(v: np.ndarray, k: int) -> np.ndarray:
    """Seed 003 Eq. 21 in floating point, for v >= 0."""
    safe = np.maximum(v, 1.0)
    return np.where(v < 2.0 ** k, v, v - np.mod(v, np.exp2(np.floor(np.log2(safe)) - k + 1)))


def _g_drum(v: np.ndarray, k: int) -> np.ndarray:
    safe = np.maximum(v, 1.0)
    return np.where(v < 2.0 ** k, v, _g_truncate(v, k) + np.exp2(np.floor(np.log2(safe)) - k))


def _mitchell_float(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mitchell's log, sum and antilog in floating point, for x, w >= 0."""
    def log_m(v):
        p = np.floor(np.log2(np.maximum(v, 1.0)))
        return p + v / np.exp2(p) - 1.0

    s = log_m(x) + log_m(w)
    whole = np.floor(s)
    return np.where((x == 0) | (w == 0), 0.0, np.exp2(whole) * (1.0 + s - whole))


class _LogHTP(Surrogate):
    """Common part of the analytic models: sign-magnitude wrapper, JSON, source."""

    kind = ""

    def __init__(self, k: int):
        self.k = k

    def fit(self, X=None, y=None) -> "_LogHTP":
        """Nothing to learn: the model is analytic (present for a uniform interface)."""
        return self

    def predict(self, X) -> np.ndarray:
        """``h(x, w)`` for each operand pair of `X` (n, 2)."""
        x, w = operand_pairs(X)
        return np.sign(x) * np.sign(w) * self._magnitude(np.abs(x), np.abs(w))

    def to_dict(self) -> dict:
        return {"type": self.kind, "k": self.k, **self._extra()}

    def _extra(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(k={self.k})"


class DrumHTP(_LogHTP):
    """``h(x, w) = g(x) g(w)`` with the DRUM-corrected Eq. 21 truncation (2 transforms)."""

    kind = "drum"
    terms = [(1.0, "g_drum(x)", "g_drum(w)")]

    def _magnitude(self, x, w):
        return _g_drum(x, self.k) * _g_drum(w, self.k)

    def to_source(self, name: str = "htp") -> str:
        return _source_head(f"DRUM-{self.k} HTP model") + (
            f"def {name}(x, w):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    w = np.asarray(w, dtype=np.float64)\n"
            f"    return np.sign(x) * np.sign(w) * _g_drum(np.abs(x), {self.k}) * _g_drum(np.abs(w), {self.k})\n"
        )

    @classmethod
    def from_dict(cls, data):
        return cls(int(data["k"]))


class MitchellHTP(_LogHTP):
    """Mitchell's multiplier on Eq. 21-truncated operands, in floating point.

    ``product_form=True`` gives the TorchApprox paper's ``g(x) g(w)`` instead (truncation only)."""

    kind = "mitchell"

    def __init__(self, k: int, product_form: bool = False):
        super().__init__(k)
        self.product_form = product_form

    @property
    def terms(self):
        if self.product_form:
            return [(1.0, "g_trunc(x)", "g_trunc(w)")]
        return [(1.0, "antilog_m(log_m(g_trunc(x)) + log_m(g_trunc(w)))", "")]

    def _magnitude(self, x, w):
        gx, gw = _g_truncate(x, self.k), _g_truncate(w, self.k)
        return gx * gw if self.product_form else _mitchell_float(gx, gw)

    def _extra(self):
        return {"product_form": self.product_form}

    @classmethod
    def from_dict(cls, data):
        return cls(int(data["k"]), bool(data.get("product_form", False)))

    def to_source(self, name: str = "htp") -> str:
        core = "gx * gw" if self.product_form else "_mitchell_float(gx, gw)"
        return _source_head(f"Mitchell k={self.k} HTP model") + (
            f"def {name}(x, w):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    w = np.asarray(w, dtype=np.float64)\n"
            f"    gx, gw = _g_truncate(np.abs(x), {self.k}), _g_truncate(np.abs(w), {self.k})\n"
            f"    return np.sign(x) * np.sign(w) * {core}\n"
        )


def _source_head(doc: str) -> str:
    """Header of emitted model source: the float helpers above, verbatim."""
    helpers = "\n\n".join(inspect.getsource(f) for f in (_g_truncate, _g_drum, _mitchell_float))
    return f'"""{doc}, written by appmult-char."""\n\nimport numpy as np\n\n\n{helpers}\n\n'
