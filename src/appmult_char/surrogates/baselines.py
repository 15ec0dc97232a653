"""The baseline surrogates of Table III of "Fast Retraining of Approximate CNNs for High
Accuracy" (TorchApprox).

- `LinearModel`: least-squares regression on polynomial features of degree 2,
  ``x, w, x^2, x w, w^2`` (five coefficients) plus an intercept.
- `NoiseModel`: the exact product plus Gaussian noise with the mean and standard
  deviation of the multiplier's error; `predict` draws the noise from its `random_state`
  (a seed or a `numpy.random.Generator`), so a seed reproduces it and a generator moves on.
"""

from __future__ import annotations

import numpy as np

from .base import Surrogate, operand_pairs

__all__ = ["LinearModel", "NoiseModel"]

_FEATURES = ("x", "w", "x^2", "x*w", "w^2")


def _features(x, w):
    return np.stack([x, w, x * x, x * w, w * w])


class LinearModel(Surrogate):
    """Polynomial-feature linear regression; ``coef_`` (5), ``intercept_``."""

    _fitted = "coef_"

    def fit(self, X, y) -> "LinearModel":
        x, w = operand_pairs(X)
        y = np.asarray(y, dtype=np.float64).ravel()
        design = np.vstack([_features(x, w), np.ones_like(x)]).T
        solution, *_ = np.linalg.lstsq(design, y, rcond=None)
        self.coef_, self.intercept_ = solution[:5], float(solution[5])
        return self

    def predict(self, X) -> np.ndarray:
        self._check_fitted()
        x, w = operand_pairs(X)
        c = self.coef_  # same expression, in the same order, as `to_source`
        return c[0] * x + c[1] * w + c[2] * (x * x) + c[3] * (x * w) + c[4] * (w * w) + self.intercept_

    @property
    def terms(self):
        return [(float(c), f, "") for c, f in zip(self.coef_, _FEATURES)] + [(self.intercept_, "1", "")]

    def to_dict(self) -> dict:
        return {"type": "linear", "coef": self.coef_.tolist(), "intercept": self.intercept_}

    @classmethod
    def from_dict(cls, data) -> "LinearModel":
        model = cls()
        model.coef_ = np.array(data["coef"], dtype=np.float64)
        model.intercept_ = float(data["intercept"])
        return model

    def to_source(self, name: str = "linear") -> str:
        c = [repr(float(v)) for v in self.coef_]
        return (
            '"""Linear surrogate (degree-2 polynomial features), written by appmult-char."""\n\n'
            "import numpy as np\n\n\n"
            f"def {name}(x, w):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    w = np.asarray(w, dtype=np.float64)\n"
            f"    return {c[0]} * x + {c[1]} * w + {c[2]} * (x * x) + {c[3]} * (x * w) + {c[4]} * (w * w) "
            f"+ {self.intercept_!r}\n"
        )


class NoiseModel(Surrogate):
    """``x * w + N(mean_, std_^2)``, the noise drawn from `predict`'s ``random_state``."""

    _fitted = "mean_"

    def fit(self, X, y) -> "NoiseModel":
        x, w = operand_pairs(X)
        e = np.asarray(y, dtype=np.float64).ravel() - x * w
        self.mean_, self.std_ = float(e.mean()), float(e.std())
        return self

    def predict(self, X, random_state: int | np.random.Generator | None = None) -> np.ndarray:
        """Exact products plus noise from ``numpy.random.default_rng(random_state)``."""
        self._check_fitted()
        x, w = operand_pairs(X)
        noise = np.random.default_rng(random_state).standard_normal(x.shape)
        return x * w + self.mean_ + self.std_ * noise

    @property
    def terms(self):
        return [(1.0, "x", "w"), (self.mean_, "mean", ""), (self.std_, "std", "")]

    def to_dict(self) -> dict:
        return {"type": "noise", "mean": self.mean_, "std": self.std_}

    @classmethod
    def from_dict(cls, data) -> "NoiseModel":
        model = cls()
        model.mean_, model.std_ = float(data["mean"]), float(data["std"])
        return model

    def to_source(self, name: str = "noise") -> str:
        return (
            '"""Gaussian-noise surrogate, written by appmult-char."""\n\n'
            "import numpy as np\n\n\n"
            f"def {name}(x, w, random_state=None):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    w = np.asarray(w, dtype=np.float64)\n"
            "    noise = np.random.default_rng(random_state).standard_normal(np.broadcast(x, w).shape)\n"
            f"    return x * w + {self.mean_!r} + {self.std_!r} * noise\n"
        )
