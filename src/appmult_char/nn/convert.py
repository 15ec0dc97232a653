"""Turn a float PyTorch model into one whose linear and convolution layers run through
approximate multipliers, and calibrate its activation quantizers."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from .._errors import AppMultError
from .layers import ApproxConv1d, ApproxConv2d, ApproxLayer, ApproxLinear
from .multiplier import Multiplier

__all__ = ["approximate", "calibrate", "approx_layers", "set_mode"]

_CONVERTIBLE = (nn.Linear, nn.Conv1d, nn.Conv2d)


def _replacement(module: nn.Module, multiplier: Multiplier, options: dict) -> ApproxLayer:
    if isinstance(module, nn.Linear):
        layer = ApproxLinear(module.in_features, module.out_features, multiplier, bias=module.bias is not None,
                             **options)
    else:
        if module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise AppMultError(f"{type(module).__name__} with padding {module.padding!r}, mode {module.padding_mode!r}: "
                               "only explicit zero padding is supported")
        cls = ApproxConv2d if isinstance(module, nn.Conv2d) else ApproxConv1d
        layer = cls(module.in_channels, module.out_channels, module.kernel_size, multiplier, stride=module.stride,
                    padding=module.padding, dilation=module.dilation, groups=module.groups,
                    bias=module.bias is not None, **options)
    with torch.no_grad():
        layer.weight.copy_(module.weight)
        if module.bias is not None:
            layer.bias.copy_(module.bias)
    return layer.to(module.weight.device)


def approximate(model: nn.Module, multiplier: Any, *, layers: Iterable[str] | None = None,
                skip_first_last: bool = False, inplace: bool = False, **options: Any) -> nn.Module:
    """A copy of `model` (the model itself with `inplace`) whose `nn.Linear`, `nn.Conv1d`
    and `nn.Conv2d` layers are `ApproxLinear`/`ApproxConv1d`/`ApproxConv2d` with the float
    weights copied.

    `multiplier`: one for every layer (a `Multiplier`, a `ProductLUT`, or a circuit or LUT
    file) or a ``{layer name: multiplier}`` mapping (only those layers are converted).
    `layers` restricts conversion to these names; `skip_first_last` leaves the first and
    last convertible layers in float. `options` go to the layers: ``forward``,
    ``gradient``, ``weight_quant``, ``act_observer``, ``act_bits``, ``weight_bits``.
    """
    model = model if inplace else copy.deepcopy(model)
    names = [name for name, m in model.named_modules() if isinstance(m, _CONVERTIBLE)]
    if not names:
        raise AppMultError(f"{type(model).__name__} has no nn.Linear, nn.Conv1d or nn.Conv2d layer to approximate")
    if isinstance(multiplier, Mapping):
        unknown = sorted(set(multiplier) - set(names))
        if unknown:
            raise AppMultError(f"no convertible layer named {', '.join(unknown)} (layers: {', '.join(names)})")
        chosen = {name: Multiplier.load(m) for name, m in multiplier.items()}
    else:
        shared = Multiplier.load(multiplier)
        chosen = {name: shared for name in names}
    if layers is not None:
        layers = list(layers)
        unknown = sorted(set(layers) - set(names))
        if unknown:
            raise AppMultError(f"no convertible layer named {', '.join(unknown)} (layers: {', '.join(names)})")
        chosen = {name: m for name, m in chosen.items() if name in layers}
    if skip_first_last:
        for name in {names[0], names[-1]}:
            chosen.pop(name, None)
    if not chosen:
        raise AppMultError("no layer left to approximate (check layers= and skip_first_last=)")
    for name, mult in chosen.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, _replacement(getattr(parent, child), mult, options))
    return model


def approx_layers(model: nn.Module) -> dict[str, ApproxLayer]:
    """The approximate layers of a model, by name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, ApproxLayer)}


def set_mode(model: nn.Module, forward: str | None = None, gradient: Any = None) -> nn.Module:
    """Set the forward mode and/or gradient of every approximate layer; returns `model`."""
    for layer in approx_layers(model).values():
        layer.set_mode(forward, gradient)
    return model


@torch.no_grad()
def calibrate(model: nn.Module, batches: Iterable, *, reset: bool = True) -> nn.Module:
    """Run `batches` (tensors, or tuples whose first item is the input) through `model` in
    evaluation mode with every activation quantizer observing; returns `model`."""
    layers = approx_layers(model)
    if not layers:
        raise AppMultError("the model has no approximate layer to calibrate")
    was_training = model.training
    model.eval()
    for layer in layers.values():
        if reset:
            layer.act_quant.reset()
        layer.act_quant.calibrating = True
    try:
        count = 0
        for batch in batches:
            model(batch[0] if isinstance(batch, (tuple, list)) else batch)
            count += 1
        if count == 0:
            raise AppMultError("calibration needs at least one batch")
    finally:
        for layer in layers.values():
            layer.act_quant.calibrating = False
        model.train(was_training)
    return model
