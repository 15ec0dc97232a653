"""Per-layer statistics from a calibration batch and first-order loss estimates (FAMES,
Eq. 9-10) for every (layer, candidate) pair as one matrix product per operand format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from .._errors import AppMultError
from .counting import code_counts, group_parts, layer_counting_matrix
from .library import Candidate, error_matrix

__all__ = ["LayerStatistics", "layer_statistics", "first_order"]


@dataclass
class LayerStatistics:
    """What selection needs of one approximate layer: its operand format, the
    gradient-weighted counting matrix `gradient_counts` (mean over the batches) and the
    code-pair counts `counts` of one batch (their sum: multiplications per batch)."""

    name: str
    a_bits: int
    b_bits: int
    signed: bool
    gradient_counts: np.ndarray
    counts: np.ndarray

    @property
    def widths(self) -> tuple[int, int, bool]:
        return self.a_bits, self.b_bits, self.signed

    @property
    def multiplications(self) -> float:
        return float(self.counts.sum())


def _observer(record: dict) -> Callable:
    def observe(layer, x_codes, w_codes, scale, groups, y) -> None:
        a_bits, b_bits = layer.act_quant.bits, layer.weight_quant.bits
        parts = group_parts(x_codes.detach().round().long(), w_codes.detach().round().long(), groups)
        if "counts" not in record:  # the code-pair counts of one batch
            record["counts"] = sum(code_counts(xg, wg, a_bits, b_bits)
                                   for xg, wg, _ in parts)

        def on_grad(grad) -> None:
            g = grad.detach().double() * scale.detach().double()
            record["G"] = record.get("G", 0.0) + layer_counting_matrix(parts, g, a_bits, b_bits).cpu().numpy()

        if y.requires_grad:
            y.register_hook(on_grad)

    return observe


def layer_statistics(model, batches: Iterable, loss: Callable | None = None) -> dict[str, LayerStatistics]:
    """Counting matrices of every approximate layer of `model`, from `batches` of
    ``(input, target)`` run in evaluation mode with exact products (the quantized
    model the multipliers replace); `loss` defaults to cross-entropy."""
    import torch

    from ..nn.convert import approx_layers

    layers = approx_layers(model)
    if not layers:
        raise AppMultError("the model has no approximate layer to select multipliers for (convert it with "
                           "appmult_char.nn.approximate first)")
    loss = loss or torch.nn.functional.cross_entropy
    records = {name: {} for name in layers}
    modes = {name: layer.forward_mode for name, layer in layers.items()}
    grads = {p: p.grad for p in model.parameters()}
    was_training = model.training
    n = 0
    try:
        model.eval()
        for name, layer in layers.items():
            layer.set_mode("exact")
            layer.product_observer = _observer(records[name])
        for batch in batches:
            x, target = batch[0], batch[1]
            with torch.enable_grad():
                loss(model(x), target).backward()
            n += 1
    finally:
        for name, layer in layers.items():
            layer.set_mode(modes[name])
            layer.product_observer = None
        for p, g in grads.items():
            p.grad = g
        model.train(was_training)
    if n == 0:
        raise AppMultError("no calibration batch was given")
    out = {}
    for name, layer in layers.items():
        rec = records[name]
        G = rec.get("G")
        if G is None:
            raise AppMultError(f"layer {name}: no gradient reached it (is it used in the forward pass?)")
        out[name] = LayerStatistics(name, layer.act_quant.bits, layer.weight_quant.bits, layer.multiplier.lut.signed,
                                    G / n, rec["counts"])
    return out


def first_order(stats: dict[str, LayerStatistics], candidates: list[Candidate]) -> dict[str, tuple[list[str], np.ndarray]]:
    """``{layer: (candidate names, estimated loss changes)}``: ``<G_l, E_k>`` for every
    candidate whose operand format is the layer's, as one matrix product per format."""
    by_format: dict[tuple, list[Candidate]] = {}
    for c in candidates:
        by_format.setdefault(c.widths, []).append(c)
    out: dict[str, Any] = {}
    for fmt in {s.widths for s in stats.values()}:
        names = [n for n, s in stats.items() if s.widths == fmt]
        cands = by_format.get(fmt)
        if not cands:
            a, b, signed = fmt
            have = ", ".join(sorted({f"{x}x{y} {'signed' if s else 'unsigned'}" for x, y, s in by_format})) or "none"
            raise AppMultError(f"the library has no {a}x{b} {'signed' if signed else 'unsigned'} multiplier for "
                               f"layer {names[0]} (it has: {have})")
        G = np.stack([stats[n].gradient_counts.ravel() for n in names])  # (layers, A*B)
        E = np.stack([error_matrix(c.lut).ravel() for c in cands])  # (candidates, A*B)
        estimates = G @ E.T
        for i, n in enumerate(names):
            out[n] = ([c.name for c in cands], estimates[i])
    return out
