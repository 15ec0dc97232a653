"""Approximate-multiplier-aware training in PyTorch (needs the ``torch`` extra).

`approximate` converts a model's linear and convolution layers into `ApproxLinear`,
`ApproxConv1d` and `ApproxConv2d`, whose products go through a `Multiplier` (its LUT,
or its HTP surrogate) with fake quantization in the multiplier's own codes and a
backward pass through its gradient tables; `calibrate` sets the activation quantizers.
"""

from __future__ import annotations

from .convert import approx_layers, approximate, calibrate, set_mode
from .layers import FORWARD_MODES, ApproxConv1d, ApproxConv2d, ApproxLayer, ApproxLinear
from .multiplier import GradientSpec, Multiplier, parse_gradient
from .quant import Quantizer, code_range

__all__ = ["Multiplier", "GradientSpec", "parse_gradient", "Quantizer", "code_range", "ApproxLayer", "ApproxLinear",
           "ApproxConv1d", "ApproxConv2d", "FORWARD_MODES", "approximate", "calibrate", "approx_layers", "set_mode"]
