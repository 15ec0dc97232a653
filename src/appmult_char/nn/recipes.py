"""The retraining recipe: train a float model, quantization-aware training with the exact
multiplier, convert to the approximate multiplier, evaluate, retrain, evaluate.

Every stage uses the same optimizer (Adam) and batch size; the seed fixes the initial
weights and the batch order. Accuracy with the approximate multiplier is always measured
with the LUT forward, the circuit's own behaviour, also when a surrogate (``htp``) or
``noise`` forward mode trains. A run folder holds `checkpoint.pt` (written atomically
after every epoch, so an interrupted run resumes where it stopped), the exact-quantized
network saved whole, `exact_quantized.pt` (what multiplier selection starts from),
`results.json` and, with matplotlib, `accuracy.png`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._errors import AppMultError
from ..io._files import atomic_output
from ..lut import ProductLUT
from .convert import approximate, calibrate, set_mode
from .data import load_dataset
from .models import build_model
from .multiplier import Multiplier, parse_gradient

__all__ = ["RetrainConfig", "retrain", "exact_quantized", "evaluate", "train_epoch"]

STAGES = ("float", "qat", "retrain")


@dataclass(frozen=True)
class RetrainConfig:
    """What a run does; two runs with equal configs give equal results (on one device)."""

    dataset: str = "digits"
    model: str = "cnn"
    gradient: str = "window"
    forward: str = "lut"
    epochs: int = 3  # retraining epochs with the approximate multiplier
    float_epochs: int = 10
    qat_epochs: int = 2
    seed: int = 0
    lr: float = 1e-3
    batch_size: int = 64
    weight_quant: str = "per_channel"
    skip_first_last: bool = False


def evaluate(model: nn.Module, data, device: str = "cpu", batch_size: int = 512) -> float:
    """Top-1 accuracy (%) on the test set."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in data.batches(batch_size, train=False):
            correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
    return 100.0 * correct / len(data.y_test)


def train_epoch(model: nn.Module, optimizer, data, generator: torch.Generator, batch_size: int,
                device: str = "cpu") -> float:
    """One epoch of cross-entropy training; the mean loss."""
    model.train()
    total, count = 0.0, 0
    for x, y in data.batches(batch_size, generator):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x.to(device)), y.to(device))
        loss.backward()
        optimizer.step()
        total, count = total + loss.item() * len(y), count + len(y)
    return total / max(count, 1)


def _save(path: Path, state: dict) -> None:
    with atomic_output(path) as fh:
        torch.save(state, fh)


def _float_key(config: RetrainConfig) -> dict:
    """What the float stage depends on."""
    return {k: getattr(config, k) for k in ("dataset", "model", "float_epochs", "seed", "lr", "batch_size")}


def retrain(multiplier: Any, config: RetrainConfig, run_dir: str | os.PathLike | None = None, *,
            device: str = "cpu", progress: Callable[[str, int, int], None] | None = None,
            float_cache: str | os.PathLike | None = None) -> dict:
    """Run the recipe (see the module docstring) and return its results; with `run_dir`,
    checkpoint every epoch, resume from an earlier interrupted run of the same config and
    write `results.json` (and `accuracy.png`). `progress(stage, epoch, epochs)` hears
    each finished epoch. `float_cache` names a file holding the trained float model for
    this config's float stage (written when missing, reused when present), so runs that
    differ only after it (other multipliers or gradients) share it."""
    mult = Multiplier.load(multiplier)
    parse_gradient(config.gradient)
    exact = Multiplier(ProductLUT.exact(mult.a_bits, mult.b_bits, mult.signed), name="exact")
    folder = Path(run_dir) if run_dir is not None else None
    state: dict = {"config": asdict(config), "multiplier": mult.hash, "stage": "float", "epoch": 0, "history": []}
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        checkpoint = folder / "checkpoint.pt"
        if checkpoint.exists():
            saved = torch.load(checkpoint, weights_only=False)
            if saved.get("config") != asdict(config) or saved.get("multiplier") != mult.hash:
                raise AppMultError("the run folder holds another run (other options or multiplier); use a new folder",
                                   os.fspath(folder))
            state = saved
    torch.manual_seed(config.seed)
    data = load_dataset(config.dataset)
    model = build_model(config.model, data.input_shape).to(device)
    generator = torch.Generator().manual_seed(config.seed)
    options = dict(forward="exact", gradient="ste", weight_quant=config.weight_quant,
                   skip_first_last=config.skip_first_last)
    epochs = {"float": config.float_epochs, "qat": config.qat_epochs, "retrain": config.epochs}
    results: dict = state.get("results", {})
    started = time.perf_counter()

    def fresh(stage: str) -> nn.Module:  # a stage's network, to load a checkpoint into
        if stage == "float":
            return model
        qat = approximate(model, exact, **options)
        return qat if stage == "qat" else _swap_multiplier(qat, mult, config)

    def checkpoint_now(stage: str, epoch: int) -> None:
        state.update(stage=stage, epoch=epoch, model=net.state_dict(), optimizer=optimizer.state_dict(),
                     generator=generator.get_state(), results=results)
        if folder is not None:
            _save(folder / "checkpoint.pt", state)

    cache = Path(float_cache) if float_cache is not None else None
    if cache is not None and cache.exists() and state["stage"] == "float" and state["epoch"] == 0:
        saved = torch.load(cache, weights_only=False)
        if saved["key"] != _float_key(config):
            raise AppMultError("the float cache holds a model of other options", os.fspath(cache))
        model.load_state_dict(saved["model"])
        generator.set_state(saved["generator"])
        state["history"].extend(saved["history"])
        state["epoch"] = config.float_epochs
    net = fresh(state["stage"])
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    if "model" in state:  # resuming
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
    for stage in STAGES[STAGES.index(state["stage"]):]:
        for epoch in range(state["epoch"], epochs[stage]):
            train_epoch(net, optimizer, data, generator, config.batch_size, device)
            state["history"].append((stage, epoch + 1, evaluate(net, data, device)))
            checkpoint_now(stage, epoch + 1)
            if progress:
                progress(stage, epoch + 1, epochs[stage])
        if stage == "retrain":
            results["approx_after"] = _circuit_accuracy(net, data, device, config)
            if config.forward != "lut":
                results["approx_after_in_training_mode"] = evaluate(net, data, device)
            break
        if stage == "float":
            results["float"] = evaluate(net, data, device)
            if cache is not None and not cache.exists():
                _save(cache, {"key": _float_key(config), "model": net.state_dict(), "generator": generator.get_state(),
                              "history": [h for h in state["history"] if h[0] == "float"]})
            net, following = calibrate(approximate(net, exact, **options), data.batches(256, generator)), "qat"
        else:
            results["exact_quant"] = evaluate(net, data, device)
            if folder is not None:  # the whole exact-quantized network, for `select`
                with atomic_output(folder / "exact_quantized.pt") as fh:
                    torch.save(net, fh)
            net, following = _swap_multiplier(net, mult, config), "retrain"
            results["approx_before"] = _circuit_accuracy(net, data, device, config)
        optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        checkpoint_now(following, 0)
    summary = {"config": asdict(config), "multiplier": {"name": mult.name, "hash": mult.hash, "a_bits": mult.a_bits,
                                                        "b_bits": mult.b_bits, "signed": mult.signed},
               "accuracy": results, "history": [list(h) for h in state["history"]],
               "seconds_this_invocation": time.perf_counter() - started}
    if folder is not None:
        checkpoint_now("retrain", config.epochs)
        with atomic_output(folder / "results.json", "w") as fh:
            fh.write(json.dumps(summary, indent=2) + "\n")
        _plot(summary, folder / "accuracy.png")
    return summary


def _circuit_accuracy(net: nn.Module, data, device: str, config: RetrainConfig) -> float:
    """Accuracy with the LUT forward (what the hardware computes), whatever mode trains."""
    if config.forward == "lut":
        return evaluate(net, data, device)
    set_mode(net, "lut")
    try:
        return evaluate(net, data, device)
    finally:
        set_mode(net, config.forward)


def _swap_multiplier(qat: nn.Module, mult: Multiplier, config: RetrainConfig) -> nn.Module:
    """The QAT model with every approximate layer's multiplier replaced by `mult` (weights,
    biases and observed activation ranges kept), in the configured modes."""
    import copy

    from .convert import approx_layers

    approx = copy.deepcopy(qat)
    for layer in approx_layers(approx).values():
        layer.use_multiplier(mult)
    return set_mode(approx, config.forward, config.gradient)


def exact_quantized(config: RetrainConfig, a_bits: int, b_bits: int, signed: bool = False, device: str = "cpu",
                    progress: Callable[[str, int, int], None] | None = None) -> tuple[nn.Module, Any]:
    """The recipe's first two stages without checkpoints: `config.float_epochs` of float
    training, conversion to exact `a_bits` x `b_bits` quantization, `config.qat_epochs`
    of quantization-aware training; ``(model, dataset)``, the model in exact mode."""
    torch.manual_seed(config.seed)
    data = load_dataset(config.dataset)
    model = build_model(config.model, data.input_shape).to(device)
    generator = torch.Generator().manual_seed(config.seed)
    exact = Multiplier(ProductLUT.exact(a_bits, b_bits, signed), name="exact")
    net = model
    for stage, count in (("float", config.float_epochs), ("qat", config.qat_epochs)):
        if stage == "qat":
            net = approximate(model, exact, forward="exact", gradient="ste", weight_quant=config.weight_quant,
                              skip_first_last=config.skip_first_last)
            calibrate(net, [data.x_train[:512].to(device)])
        optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        for epoch in range(count):
            train_epoch(net, optimizer, data, generator, config.batch_size, device)
            if progress:
                progress(stage, epoch + 1, count)
    return net, data


def _plot(summary: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    step = 0
    for stage in STAGES:
        points = [(step + e, acc) for s, e, acc in summary["history"] if s == stage]
        if points:
            ax.plot(*zip(*points), marker="o", label=stage)
            step = points[-1][0]
    acc = summary["accuracy"]
    if "approx_before" in acc:
        ax.axhline(acc["approx_before"], ls=":", color="gray", label="approximate, before retraining")
    c = summary["config"]
    ax.set(xlabel="epoch", ylabel="test accuracy (%)",
           title=f"{summary['multiplier']['name']}: {c['model']} on {c['dataset']}, {c['forward']} forward, "
                 f"{c['gradient']} backward, seed {c['seed']}")
    ax.legend(fontsize=8)
    with atomic_output(path) as fh:
        fig.savefig(fh, dpi=90, format="png")
    plt.close(fig)
