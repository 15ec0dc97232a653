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

from ._compat import renamed_attribute

__all__ = ["ErrorMetrics", "ErrorSums", "max_exact_product", "histogram_bins", "histogram_edges"]


def max_exact_product(a_bits: int, b_bits: int, signed: bool) -> int:
    """Largest ``|a*b|`` over the operand ranges."""
    return (1 << (a_bits + b_bits - 2)) if signed else ((1 << a_bits) - 1) * ((1 << b_bits) - 1)


def histogram_bins(a_bits: int, b_bits: int, output_bits: int = 0) -> int:
    """Number of signed log2 error buckets for a_bits x b_bits operands and an
    `output_bits`-bit product: ``|error| < 2^(max(a_bits + b_bits, output_bits) + 1)``."""
    return 2 * (max(a_bits + b_bits, output_bits) + 2) + 1


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
class ErrorSums:
    """Exact sums of the errors ``e = approx - exact`` over a set of operand pairs.

    Sums of disjoint sets add (``a + b``) exactly in their integer fields, so pattern
    ranges computed apart (threads, back ends, machines) combine into the same metrics.
    """

    pairs: int = 0
    error_count: int = 0
    sum_abs: int = 0
    sum_sq: int = 0
    sum_err: int = 0
    max_abs: int = 0
    nonzero_exact: int = 0
    sum_rel: float = 0.0
    max_rel: float = 0.0
    histogram: tuple[int, ...] = ()

    def __add__(self, other: "ErrorSums") -> "ErrorSums":
        if not self.histogram or not other.histogram:
            hist = self.histogram or other.histogram
        else:
            hist = tuple(x + y for x, y in zip(self.histogram, other.histogram))
        return ErrorSums(
            self.pairs + other.pairs, self.error_count + other.error_count, self.sum_abs + other.sum_abs,
            self.sum_sq + other.sum_sq, self.sum_err + other.sum_err, max(self.max_abs, other.max_abs),
            self.nonzero_exact + other.nonzero_exact, self.sum_rel + other.sum_rel,
            max(self.max_rel, other.max_rel), hist,
        )

    @classmethod
    def of(cls, approx: np.ndarray, exact: np.ndarray, bins: int) -> "ErrorSums":
        """Sums of `approx` against `exact` (integer arrays of one shape), with a signed
        log2 error histogram of `bins` buckets."""
        e = approx.astype(np.int64).ravel() - exact.astype(np.int64).ravel()
        ae = np.abs(e)
        ex = exact.ravel()
        nz = ex != 0
        rel = ae[nz] / np.abs(ex[nz]).astype(np.float64)
        bit_length = np.frexp(ae.astype(np.float64))[1]  # exact for |e| < 2**53
        hist = np.bincount((bins - 1) // 2 + np.sign(e) * bit_length, minlength=bins)
        return cls(
            pairs=int(e.size), error_count=int(np.count_nonzero(e)), sum_abs=_exact_sum(ae),
            sum_sq=_exact_sum_sq(ae), sum_err=_exact_sum(e), max_abs=int(ae.max(initial=0)),
            nonzero_exact=int(nz.sum()), sum_rel=float(rel.sum()), max_rel=float(rel.max(initial=0.0)),
            histogram=tuple(int(c) for c in hist),
        )


@dataclass(frozen=True)
class ErrorMetrics:
    """Exact sums over all operand pairs, and the metrics derived from them."""

    a_bits: int
    b_bits: int
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

    n = renamed_attribute("a_bits", "n")
    m = renamed_attribute("b_bits", "m")

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
        return self.med / max_exact_product(self.a_bits, self.b_bits, self.signed)

    @property
    def nmed_pow2(self) -> float:
        """MED divided by ``2^(n+m)`` (the reference simulator's normalization)."""
        return self.med / (1 << (self.a_bits + self.b_bits))

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
    def from_sums(cls, sums: ErrorSums, a_bits: int, b_bits: int, signed: bool, output_bits: int) -> "ErrorMetrics":
        """The metrics of exhaustive `sums` over a_bits x b_bits operands."""
        return cls(a_bits, b_bits, signed, output_bits, **asdict(sums))

    @classmethod
    def from_tables(cls, approx: np.ndarray, exact: np.ndarray, a_bits: int, b_bits: int, signed: bool,
                    output_bits: int) -> "ErrorMetrics":
        """Metrics of `approx` against `exact` (same shape, integer arrays)."""
        sums = ErrorSums.of(approx, exact, histogram_bins(a_bits, b_bits, output_bits))
        return cls.from_sums(sums, a_bits, b_bits, signed, output_bits)


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
