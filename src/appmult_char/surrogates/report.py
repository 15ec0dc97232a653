"""Fidelity of surrogates against a LUT: MAE, max error, error rate of the rounded
prediction, and the number of terms (the evaluation cost)."""

from __future__ import annotations

import numpy as np

from .._errors import AppMultError
from .baselines import LinearModel, NoiseModel
from .data import FULL_LIMIT, training_pairs
from .htp import HTPModel
from .logmult import DrumHTP, MitchellHTP

__all__ = ["fidelity", "fidelity_report", "model_from_dict"]

_TYPES = {"htp": HTPModel, "linear": LinearModel, "noise": NoiseModel, "mitchell": MitchellHTP, "drum": DrumHTP}


def model_from_dict(data: dict):
    """Rebuild any surrogate from its `to_dict()`."""
    kind = data.get("type")
    if kind not in _TYPES:
        raise AppMultError(f"unknown surrogate type {kind!r} (one of {', '.join(_TYPES)})")
    return _TYPES[kind].from_dict(data)


def fidelity(model, X, y, **predict_options) -> dict:
    """Scores of one fitted model on operand pairs `X` (n, 2) and products `y`."""
    prediction = model.predict(X, **predict_options)
    error = prediction - y
    return {
        "mae": float(np.mean(np.abs(error))),
        "max_error": float(np.max(np.abs(error))),
        "error_rate": float(np.mean(np.round(prediction) != y)),
        "terms": len(model.terms),
    }


def fidelity_report(source, max_pairs: int = FULL_LIMIT, seed: int = 0, tie: bool = False):
    """Fit HTP, linear and noise surrogates to a `ProductLUT` or `Simulator` and score each
    on the same pairs (see `training_pairs`; the noise drawn with `seed`). Returns
    ``(report dict, fitted models)``."""
    X, y = training_pairs(source, max_pairs, seed)
    models = {
        "htp": HTPModel(tie=tie, a_bits=source.a_bits, b_bits=source.b_bits).fit(X, y),
        "linear": LinearModel().fit(X, y),
        "noise": NoiseModel().fit(X, y),
    }
    options = {"noise": {"random_state": seed}}
    report = {
        "a_bits": source.a_bits, "b_bits": source.b_bits, "signed": source.signed, "pairs": int(y.size),
        "sampled": bool(y.size < 1 << (source.a_bits + source.b_bits)), "seed": seed,
        "models": {name: {**fidelity(model, X, y, **options.get(name, {})), "model": model.to_dict()}
                   for name, model in models.items()},
    }
    return report, models
