"""Floating-point surrogates of an approximate multiplier (after "Fast Retraining of Approximate CNNs for High
Accuracy", TorchApprox):
HTP regression models, analytic HTP models of logarithmic multipliers, and the linear and
noise baselines, with a fidelity report against the LUT."""

from .base import NotFittedError, Surrogate
from .baselines import LinearModel, NoiseModel
from .data import training_pairs
from .htp import HTPModel
from .logmult import DrumHTP, MitchellHTP, drum_lut, mitchell_lut
from .report import fidelity_report, model_from_dict

__all__ = ["HTPModel", "LinearModel", "NoiseModel", "MitchellHTP", "DrumHTP", "mitchell_lut", "drum_lut",
           "training_pairs", "fidelity_report", "model_from_dict", "Surrogate", "NotFittedError"]
