"""Error metrics of an approximate multiplier against the exact product.

`ErrorMetrics` keeps exact integer sums (error count, sum of ``|e|``, of ``e**2``, of
``e``) so a LUT and a streamed exhaustive run agree to the last bit; every metric is
derived from them. Normalizations (papers disagree, so each is named):

- ``nmed``: MED / largest ``|exact product|`` (e.g. ``(2^n-1)(2^m-1)`` unsigned).
- ``nmed_pow2``: MED / ``2^(n+m)``, what the reference LUT simulator prints.
- EvoApproxLib names: ``mae``, ``wce``, ``ep`` (% of pairs in error), ``mse``, ``mre`` and
  ``wcre`` (% over pairs with ``exact != 0``), ``mae_percent`` = MAE / 2^W and
  ``wce_percent`` = WCE / 2^W (in %), W the output width.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["ErrorMetrics", "max_exact_product", "histogram_bins", "histogram_edges"]


def max_exact_product(n: int, m: int, signed: bool) -> int:
    """Largest ``|a*b|`` over the operand ranges."""
    return (1 << (n + m - 2)) if signed else ((1 << n) - 1) * ((1 << m) - 1)


def histogram_bins(n: int, m: int) -> int:
    """Number of signed log2 error buckets for n x m operands."""
    return 2 * (n + m + 2) + 1


def histogram_edges(bins: int) -> list[str]:
    """Labels of the signed log2 error buckets: ``0``, then ``[2^(k-1), 2^k)`` by sign."""
    mid = (bins - 1) // 2
    labels = []
    for i in range(bins):
        k = i - mid
        if k == 0:
            labels.append("0")
        else:
            lo, hi = 1 << (abs(k) - 1), 1 << abs(k)
            labels.append(f"{'+' if k > 0 else '-'}[{lo},{hi})")
    return labels


@dataclass(frozen=True)
class ErrorMetrics:
    """Exact sums over all operand pairs, and the metrics derived from them."""

    n: int
    m: int
    signed: bool
    output_bits: int
    pairs: int
    error_count: int
    sum_abs: int
    sum_sq: int
    sum_err: int
    max_abs: int
    nonzero_exact: int
    sum_rel: float
    max_rel: float
    histogram: tuple[int, ...] = field(default=())

    # -- standard metrics ---------------------------------------------------------------
    @property
    def er(self) -> float:
        """Error rate: share of pairs with ``approx != exact``."""
        return self.error_count / self.pairs

    @property
    def med(self) -> float:
        """Mean error distance, mean ``|e|``."""
        return self.sum_abs / self.pairs

    @property
    def nmed(self) -> float:
        """MED divided by the largest exact product."""
        return self.med / max_exact_product(self.n, self.m, self.signed)

    @property
    def nmed_pow2(self) -> float:
        """MED divided by ``2^(n+m)`` (the reference simulator's normalization)."""
        return self.med / (1 << (self.n + self.m))

    @property
    def mred(self) -> float:
        """Mean ``|e| / |exact|`` over pairs with ``exact != 0``."""
        return self.sum_rel / self.nonzero_exact if self.nonzero_exact else 0.0

    @property
    def mse(self) -> float:
        return self.sum_sq / self.pairs

    @property
    def wce(self) -> int:
        """Worst-case error, max ``|e|``."""
        return self.max_abs

    @property
    def wcre(self) -> float:
        """Worst-case relative error over pairs with ``exact != 0``."""
        return self.max_rel

    @property
    def bias(self) -> float:
        """Mean error ``mean(e)``."""
        return self.sum_err / self.pairs

    @property
    def std(self) -> float:
        """Standard deviation of ``e`` (population), from the exact sums."""
        var_num = self.pairs * self.sum_sq - self.sum_err**2
        return math.sqrt(var_num) / self.pairs

    # -- EvoApproxLib names --------------------------------------------------------------
    @property
    def mae(self) -> float:
        return self.med

    @property
    def ep(self) -> float:
        """Error probability in %."""
        return 100.0 * self.er

    @property
    def mre(self) -> float:
        """Mean relative error in %."""
        return 100.0 * self.mred

    @property
    def wcre_percent(self) -> float:
        return 100.0 * self.max_rel

    @property
    def mae_percent(self) -> float:
        return 100.0 * self.med / (1 << self.output_bits)

    @property
    def wce_percent(self) -> float:
        return 100.0 * self.max_abs / (1 << self.output_bits)

    _DERIVED = ("er", "med", "nmed", "nmed_pow2", "mred", "mse", "wce", "wcre", "bias", "std",
                "mae", "ep", "mre", "wcre_percent", "mae_percent", "wce_percent")

    def to_dict(self) -> dict:
        """Sums and derived metrics, JSON-ready."""
        out = asdict(self)
        out["histogram"] = dict(zip(histogram_edges(len(self.histogram)), self.histogram))
        out.update({name: getattr(self, name) for name in self._DERIVED})
        return out

    @classmethod
    def from_tables(cls, approx: np.ndarray, exact: np.ndarray, n: int, m: int, signed: bool,
                    output_bits: int) -> "ErrorMetrics":
        """Metrics of `approx` against `exact` (same shape, integer arrays)."""
        e = approx.astype(np.int64).ravel() - exact.astype(np.int64).ravel()
        ae = np.abs(e)
        ex = exact.ravel()
        nz = ex != 0
        rel = ae[nz] / np.abs(ex[nz]).astype(np.float64)
        bins = histogram_bins(n, m)
        bit_length = np.frexp(ae.astype(np.float64))[1]  # exact for |e| < 2**53
        hist = np.bincount((bins - 1) // 2 + np.sign(e) * bit_length, minlength=bins)
        return cls(
            n=n, m=m, signed=signed, output_bits=output_bits, pairs=int(e.size),
            error_count=int(np.count_nonzero(e)), sum_abs=_exact_sum(ae), sum_sq=_exact_sum_sq(ae),
            sum_err=_exact_sum(e), max_abs=int(ae.max(initial=0)), nonzero_exact=int(nz.sum()),
            sum_rel=float(rel.sum()), max_rel=float(rel.max(initial=0.0)),
            histogram=tuple(int(c) for c in hist),
        )


def _exact_sum(x: np.ndarray) -> int:
    """Sum of int64 values without overflow (chunks that cannot overflow, Python-int total)."""
    peak = int(np.abs(x).max(initial=0)) or 1
    step = max(1, (1 << 62) // peak)
    return sum(int(x[i:i + step].sum()) for i in range(0, x.size, step))


def _exact_sum_sq(ae: np.ndarray) -> int:
    """Sum of squares of non-negative int64 values, exact."""
    peak = int(ae.max(initial=0))
    if peak < (1 << 31):
        sq = ae * ae
        return _exact_sum(sq)
    return sum(int(v) * int(v) for v in ae[ae != 0])
