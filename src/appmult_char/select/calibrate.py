"""Calibration after substitution (FAMES, Sec. IV-E, Algorithm 1), no retraining: per
layer, the activation range scaled by the factor (from `SCALES`) that minimises the mean
relative error of the layer's output against the exact model's, layers in order; then
learnable weight clipping (`Quantizer.enable_clipping`) trained by Adam on the summed,
normalised squared error of every layer's output against the exact model's, with
gradients through the approximate layers (their backward tables), nothing else trained."""

from __future__ import annotations

from typing import Iterable

import torch

from .._errors import AppMultError

__all__ = ["calibrate_substitution", "SCALES"]

#: Activation-range factors the search tries (1: the range as calibrated).
SCALES = tuple(round(0.5 + 0.05 * i, 2) for i in range(11))


def _outputs(model, x) -> dict[str, torch.Tensor]:
    """Every approximate layer's output for input `x`, by layer name."""
    from ..nn.convert import approx_layers

    out: dict[str, torch.Tensor] = {}
    handles = [layer.register_forward_hook(lambda m, i, o, name=name: out.__setitem__(name, o))
               for name, layer in approx_layers(model).items()]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return out


def _mre(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean() / b.abs().mean().clamp_min(1e-30))


def calibrate_substitution(approx, exact, batches: Iterable, *, epochs: int = 3, lr: float = 5e-3) -> dict:
    """Calibrate `approx` (an approximate model, changed in place) against `exact` (the same
    network with exact multipliers) on `batches` of inputs (or ``(input, target)``);
    returns ``{layer: {"mre_before", "mre_after", "scale"}}``."""
    from ..nn.convert import approx_layers

    xs = [b[0] if isinstance(b, (tuple, list)) else b for b in batches]
    if not xs:
        raise AppMultError("no calibration batch was given")
    layers, exact_layers = approx_layers(approx), approx_layers(exact)
    if not layers or set(layers) != set(exact_layers):
        raise AppMultError("calibration needs the approximate model and its exact counterpart with the same layers")
    was_training = approx.training
    approx.eval()
    exact.eval()
    with torch.no_grad():
        targets = [_outputs(exact, x) for x in xs]

        def error(name: str) -> float:
            return sum(_mre(_outputs(approx, x)[name], t[name]) for x, t in zip(xs, targets)) / len(xs)

        report = {name: {"mre_before": error(name)} for name in layers}
        for name, layer in layers.items():  # in network order: later layers see earlier choices
            q = layer.act_quant
            lo, hi = q.lo.clone(), q.hi.clone()
            best = (report[name]["mre_before"], 1.0)
            for factor in SCALES:
                q.lo, q.hi = lo * factor, hi * factor
                best = min(best, (error(name), factor))
            q.lo, q.hi = lo * best[1], hi * best[1]
            report[name]["scale"] = best[1]
    params = []
    for name, layer in layers.items():
        w = layer.weight_quant
        if w.clip_lo is None:
            w.enable_clipping(layer.weight.shape[0])
            w.to(layer.weight.device)
        params += [w.clip_lo, w.clip_hi]
    frozen = [p for p in approx.parameters() if p.requires_grad and all(p is not q for q in params)]
    for p in frozen:
        p.requires_grad_(False)
    try:
        optimizer = torch.optim.Adam(params, lr=lr)
        for _ in range(epochs):
            for x, t in zip(xs, targets):
                optimizer.zero_grad()
                outs = _outputs(approx, x)
                loss = sum(((outs[n] - t[n]) ** 2).mean() / (t[n] ** 2).mean().clamp_min(1e-30) for n in layers)
                loss.backward()
                optimizer.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
        approx.train(was_training)
    with torch.no_grad():
        for name in layers:
            report[name]["mre_after"] = error(name)
    return report
