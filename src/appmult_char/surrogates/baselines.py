"""The baseline surrogates of Table III of "Fast Retraining of Approximate CNNs for High
Accuracy" (TorchApprox).

- `LinearModel`: least-squares regression on polynomial features of degree 2,
  ``x, w, x^2, x w, w^2`` (five coefficients) plus an intercept.
- `NoiseModel`: the exact product plus Gaussian noise with the mean and standard
  deviation of the multiplier's error (seeded, so predictions are reproducible).
"""

from __future__ import annotations

import numpy as np

from .._errors import AppMultError

__all__ = ["LinearModel", "NoiseModel"]

_FEATURES = ("x", "w", "x^2", "x*w", "w^2")


def _features(x, w):
    return np.stack([x, w, x * x, x * w, w * w])


class LinearModel:
    """Polynomial-feature linear regression; ``coef_`` (5), ``intercept_``."""

    def fit(self, x, w, y, **_) -> "LinearModel":
        x, w, y = (np.asarray(v, dtype=np.float64).ravel() for v in (x, w, y))
        design = np.vstack([_features(x, w), np.ones_like(x)]).T
        solution, *_ = np.linalg.lstsq(design, y, rcond=None)
        self.coef_, self.intercept_ = solution[:5], float(solution[5])
        return self

    def predict(self, x, w) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise AppMultError("this LinearModel is not fitted yet")
        x = np.asarray(x, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
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


class NoiseModel:
    """``x * w + N(mean_, std_^2)``, the noise drawn with ``default_rng(seed)``."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, x, w, y, **_) -> "NoiseModel":
        e = np.asarray(y, dtype=np.float64) - np.asarray(x, dtype=np.float64) * np.asarray(w, dtype=np.float64)
        self.mean_, self.std_ = float(e.mean()), float(e.std())
        return self

    def predict(self, x, w) -> np.ndarray:
        if not hasattr(self, "mean_"):
            raise AppMultError("this NoiseModel is not fitted yet")
        x = np.asarray(x, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        shape = np.broadcast(x, w).shape
        noise = np.random.default_rng(self.seed).standard_normal(shape)
        return x * w + self.mean_ + self.std_ * noise

    @property
    def terms(self):
        return [(1.0, "x", "w"), (self.mean_, "mean", ""), (self.std_, "std", "")]

    def to_dict(self) -> dict:
        return {"type": "noise", "mean": self.mean_, "std": self.std_, "seed": self.seed}

    @classmethod
    def from_dict(cls, data) -> "NoiseModel":
        model = cls(int(data.get("seed", 0)))
        model.mean_, model.std_ = float(data["mean"]), float(data["std"])
        return model

    def to_source(self, name: str = "noise") -> str:
        return (
            '"""Gaussian-noise surrogate, written by appmult-char."""\n\n'
            "import numpy as np\n\n\n"
            f"def {name}(x, w, seed={self.seed}):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    w = np.asarray(w, dtype=np.float64)\n"
            "    noise = np.random.default_rng(seed).standard_normal(np.broadcast(x, w).shape)\n"
            f"    return x * w + {self.mean_!r} + {self.std_!r} * noise\n"
        )
