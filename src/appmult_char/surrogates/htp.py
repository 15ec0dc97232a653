"""HTP regression ("Fast Retraining of Approximate CNNs for High Accuracy", TorchApprox, section III-D): ``h(x, w) = sum c_ij g_i(x) g_j(w)`` over the
bases ``G_x = {1, x, x mod 2^l}`` and ``G_w = {1, w, w mod 2^k}``.

`HTPModel.fit` solves the least-squares problem for every ``(l, k)`` of the grid (or
``l == k`` only, with ``tie=True``), rounds the coefficients to one decimal, keeps the
``(l, k)`` with the lowest MAE (fewer terms break ties), then prunes: it repeatedly drops
the term whose removal (with the others refitted and rounded) raises the MAE least, as
long as the MAE stays within ``(1 + prune_tolerance)`` of the unpruned one.
"""

from __future__ import annotations

import numpy as np

from .._errors import AppMultError
from .base import Surrogate, operand_pairs

__all__ = ["HTPModel", "basis_names"]


def basis_names(l: int, k: int) -> tuple[list[str], list[str]]:
    """Readable names of the basis functions for these moduli."""
    return (["1", "x", f"(x mod {1 << l})"], ["1", "w", f"(w mod {1 << k})"])


def _basis(v: np.ndarray, bits: int) -> np.ndarray:
    """Rows: 1, v, v mod 2^bits (the low bits, also for negative v)."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([np.ones_like(v), v, np.mod(v, float(1 << bits))])


def _basis_function(v: np.ndarray, index: int, bits: int):
    """One basis function: 0 -> 1, 1 -> v, 2 -> v mod 2^bits."""
    if index == 0:
        return 1.0
    return v if index == 1 else np.mod(v, float(1 << bits))


def _bits(v: np.ndarray) -> int:
    peak = int(np.abs(v).max(initial=0))
    return max(1, peak.bit_length())


class HTPModel(Surrogate):
    """High-throughput surrogate; scikit-learn style: configure, `fit`, `predict`.

    Parameters: fixed moduli `l`, `k` (else searched), `tie` (search ``l == k`` only),
    `decimals` of the rounded coefficients, `prune_tolerance`, and `a_bits`, `b_bits`:
    the largest ``l``, ``k`` searched (default: the width of the largest operand seen).
    Learned attributes: ``coef_`` (3x3, rows ``1, x, x mod 2^l``, columns
    ``1, w, w mod 2^k``), ``l_``, ``k_``, ``mae_`` (of the final rounded model on the fit
    data) and ``grid_`` (``{(l, k): MAE}`` of the rounded unpruned fits).
    """

    _fitted = "coef_"

    def __init__(self, l: int | None = None, k: int | None = None, tie: bool = False, decimals: int = 1,
                 prune_tolerance: float = 0.01, a_bits: int | None = None, b_bits: int | None = None):
        self.l = l
        self.k = k
        self.tie = tie
        self.decimals = decimals
        self.prune_tolerance = prune_tolerance
        self.a_bits = a_bits
        self.b_bits = b_bits

    # -- fitting -------------------------------------------------------------------------
    def _design(self, x, w, l, k):
        gx, gw = _basis(x, l), _basis(w, k)
        return (gx[:, None, :] * gw[None, :, :]).reshape(9, -1).T

    def _solve(self, design, y, mask):
        coef = np.zeros(9)
        if mask.any():
            solution, *_ = np.linalg.lstsq(design[:, mask], y, rcond=None)
            coef[mask] = np.round(solution, self.decimals)
        mae = float(np.mean(np.abs(design @ coef - y)))
        return coef, mae

    def fit(self, X, y) -> "HTPModel":
        """Fit to operand pairs `X` (n, 2) and products `y` (n)."""
        x, w = operand_pairs(X)
        y = np.asarray(y, dtype=np.float64).ravel()
        if x.size != y.size or x.size == 0:
            raise AppMultError("X and y must be non-empty and of one length")
        ls = [self.l] if self.l else range(1, (self.a_bits or _bits(x)) + 1)
        ks = [self.k] if self.k else range(1, (self.b_bits or _bits(w)) + 1)
        if self.tie:
            pairs = [(v, v) for v in ls if v in ks]
        else:
            pairs = [(a, b) for a in ls for b in ks]
        if not pairs:
            raise AppMultError("the (l, k) grid is empty")
        full = np.ones(9, dtype=bool)
        self.grid_ = {}
        best = None
        for l, k in pairs:
            design = self._design(x, w, l, k)
            coef, mae = self._solve(design, y, full)
            self.grid_[(l, k)] = mae
            key = (mae, int(np.count_nonzero(coef)))
            if best is None or key < best[0]:
                best = (key, l, k, coef)
        (_, _), l, k, coef = best
        design = self._design(x, w, l, k)
        coef, mae = self._prune(design, y, coef)
        self.l_, self.k_, self.mae_ = l, k, mae
        self.coef_ = coef.reshape(3, 3)
        return self

    def _prune(self, design, y, coef):
        mask = coef != 0
        coef, mae = self._solve(design, y, mask)
        limit = mae * (1 + self.prune_tolerance) + 1e-12
        while True:
            mask = coef != 0
            trials = []
            for i in np.flatnonzero(mask):
                trial = mask.copy()
                trial[i] = False
                c, m = self._solve(design, y, trial)
                trials.append((m, int(np.count_nonzero(c)), c))
            acceptable = [t for t in trials if t[0] <= limit]
            if not acceptable:
                return coef, float(np.mean(np.abs(design @ coef - y)))
            _, _, coef = min(acceptable, key=lambda t: (t[0], t[1]))

    # -- using ---------------------------------------------------------------------------
    def predict(self, X) -> np.ndarray:
        """``h(x, w)`` for each operand pair of `X` (n, 2), float64."""
        self._check_fitted()
        x, w = operand_pairs(X)
        rows, cols = np.nonzero(self.coef_)
        gx = {i: _basis_function(x, i, self.l_) for i in set(rows.tolist())}  # only what the terms use
        gw = {j: _basis_function(w, j, self.k_) for j in set(cols.tolist())}
        out = np.zeros(x.shape)
        for i, j in zip(rows.tolist(), cols.tolist()):
            out += self.coef_[i, j] * gx[i] * gw[j]
        return out

    @property
    def terms(self) -> list[tuple[float, str, str]]:
        """Non-zero terms ``(coefficient, g_x, g_w)``: the evaluation cost is their count."""
        self._check_fitted()
        names_x, names_w = basis_names(self.l_, self.k_)
        return [(float(self.coef_[i, j]), names_x[i], names_w[j]) for i, j in zip(*np.nonzero(self.coef_))]

    def __repr__(self) -> str:
        if not hasattr(self, "coef_"):
            return "HTPModel(unfitted)"
        body = " + ".join(f"{c:g}*{gx}*{gw}" for c, gx, gw in self.terms) or "0"
        return f"HTPModel(l={self.l_}, k={self.k_}: {body})"

    def to_dict(self) -> dict:
        self._check_fitted()
        return {"type": "htp", "l": self.l_, "k": self.k_, "coef": self.coef_.tolist(), "mae": self.mae_}

    @classmethod
    def from_dict(cls, data: dict) -> "HTPModel":
        model = cls(data["l"], data["k"])
        model.l_, model.k_ = int(data["l"]), int(data["k"])
        model.coef_ = np.array(data["coef"], dtype=np.float64).reshape(3, 3)
        model.mae_ = float(data.get("mae", float("nan")))
        return model

    def to_source(self, name: str = "htp") -> str:
        """Python/NumPy source of a function ``name(x, w)`` that evaluates this model."""
        self._check_fitted()
        gx = ["1.0", "x", f"np.mod(x, {float(1 << self.l_)!r})"]
        gw = ["1.0", "w", f"np.mod(w, {float(1 << self.k_)!r})"]
        terms = [f"{float(self.coef_[i, j])!r} * {gx[i]} * {gw[j]}" for i, j in zip(*np.nonzero(self.coef_))]
        body = "\n        + ".join(terms) if terms else "0.0 * x * w"
        return (
            f'"""HTP surrogate (l={self.l_}, k={self.k_}) written by appmult-char."""\n\n'
            "import numpy as np\n\n\n"
            f"def {name}(x, w):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    w = np.asarray(w, dtype=np.float64)\n"
            f"    return (\n        {body}\n    ) + np.zeros(np.broadcast(x, w).shape)\n"
        )
