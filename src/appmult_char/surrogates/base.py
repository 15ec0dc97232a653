"""What every surrogate shares, after scikit-learn's estimator conventions: constructor
arguments are the parameters (`get_params`, `set_params`), `fit(X, y)` learns attributes
ending in ``_``, and using an unfitted model raises `NotFittedError`.

``X`` is an ``(n, 2)`` array of operand value pairs ``(x, w)`` (the multiplier's operands
`a` and `b`), ``y`` the ``n`` products.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from .._errors import AppMultError

__all__ = ["Surrogate", "NotFittedError", "operand_pairs"]


class NotFittedError(AppMultError):
    """A surrogate was used before `fit` (or `from_dict`)."""


def operand_pairs(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """The operand columns ``x``, ``w`` (float64) of an ``(n, 2)`` array of pairs."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise AppMultError(f"X must be an (n, 2) array of operand pairs, not of shape {X.shape}")
    return X[:, 0], X[:, 1]


class Surrogate:
    """Base of the surrogate models; subclasses name the attribute that `fit` sets."""

    _fitted: str = ""  # a learned attribute, present once fitted

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments of this model."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "Surrogate":
        """Change constructor arguments (takes effect at the next `fit`)."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise AppMultError(f"{type(self).__name__} has no parameter {name!r} ({', '.join(valid) or 'none'})")
            setattr(self, name, value)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return not self._fitted or hasattr(self, self._fitted)

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit() or from_dict()")
