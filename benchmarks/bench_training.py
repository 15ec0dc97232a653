"""Time per training step: CIFAR-shaped ResNet-18 (or -20), random data, for fp32, exact
QAT and the approximate forward/backward modes, 7- and 8-bit; on a GPU it also counts the
host synchronisations inside a step (``torch.cuda.set_sync_debug_mode``).

Run: ``python benchmarks/bench_training.py [--device cuda|cpu] [--steps N] [--model
resnet18|resnet20] [--batch B] [--modes "exact QAT,LUT + window"] [--compile] [--graph]``
(GPU record: batch 128, ResNet-18; CPU: batch 32, ResNet-20). ``--compile`` runs every
model, the fp32 baseline included, through ``torch.compile`` (the time to compile is
reported apart). ``--graph`` (GPU) captures one whole training step of every model as a
CUDA graph and times its replays: the step without its host time. The fp32 step measured
in the same run is the baseline of the ratios.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from appmult_char import simulate
from appmult_char.generators import multiplier
from appmult_char.nn import approximate, calibrate
from appmult_char.nn.models import build_model

MODES = {"exact QAT": ("exact", "ste"), "LUT + STE": ("lut", "ste"), "LUT + window": ("lut", "window:4"),
         "LUT + LUT-1D": ("lut", "lut1d"), "HTP + STE": ("htp", "ste"), "HTP + window": ("htp", "window:4")}


def _sync(x) -> None:
    if x.is_cuda:
        torch.cuda.synchronize()


def _captured(step):
    """`step` (warmed up on a side stream) captured as a CUDA graph: its replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def step_time(model, x, y, steps: int, graph: bool = False) -> tuple[float, int]:
    """Median ms per step (forward, backward, Adam) and host synchronisations per step;
    with `graph`, of the step replayed as a CUDA graph."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=graph)
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=not graph)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    for _ in range(2):
        step()
    _sync(x)
    if graph:
        step = _captured(step)
    syncs = -1
    if x.is_cuda:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            step()
            torch.cuda.set_sync_debug_mode("default")
        torch.cuda.synchronize()
        syncs = sum("synchroniz" in str(w.message) for w in caught)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        _sync(x)
        times.append(1000 * (time.perf_counter() - t0))
    return sorted(times)[len(times) // 2], syncs


def _compiled(model, x, y, enabled: bool):
    """`model`, through ``torch.compile`` when `enabled` (compiled by one timed training step)."""
    if not enabled:
        return model
    compiled = torch.compile(model)
    t0 = time.perf_counter()
    torch.nn.functional.cross_entropy(compiled(x), y).backward()
    _sync(x)
    print(f"  (compiled in {time.perf_counter() - t0:.0f} s)", flush=True)
    return compiled


def profile(base, x, y, name: str) -> None:
    """The most expensive operations (host, and GPU where there is one) of one 7-bit
    training step of mode `name`."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    forward, gradient = MODES[name]
    model = approximate(base, simulate(multiplier(7, 7, False, 5)), forward=forward, gradient=gradient)
    calibrate(model, [x[:32]])
    step_time(model, x, y, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if x.is_cuda else [])
    with torch_profile(activities=activities) as prof:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        _sync(x)
    print(f"-- profile of one 7-bit {name} step")
    table = prof.key_averages()
    print(table.table(sort_by="cpu_time_total", row_limit=12, max_name_column_width=40))
    if x.is_cuda:
        print(table.table(sort_by="self_device_time_total", row_limit=60, max_name_column_width=70))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--bits", default="7,8")
    parser.add_argument("--profile", default="", help="comma-separated modes to profile one step of (7-bit)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes to time")
    parser.add_argument("--compile", action="store_true", help="torch.compile every model first")
    parser.add_argument("--graph", action="store_true", help="time steps replayed as CUDA graphs (GPU)")
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32, device=args.device)
    y = torch.randint(0, 10, (args.batch,), device=args.device)
    base = build_model(args.model, (3, 32, 32)).to(args.device)
    fp32, syncs = step_time(_compiled(base, x, y, args.compile), x, y, args.steps, args.graph)
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.model}, batch {args.batch}, {where} (host syncs: -1 = not counted off a GPU)")
    print(f"{'mode':24s} {'ms/step':>9s} {'vs fp32':>8s} {'host syncs':>10s}")
    print(f"{'fp32':24s} {fp32:9.1f} {1.0:8.1f} {syncs:10d}", flush=True)
    for name in filter(None, args.profile.split(",")):
        profile(base, x, y, name)
    for bits in (int(b) for b in args.bits.split(",")):
        lut = simulate(multiplier(bits, bits, False, bits - 2))
        for name in filter(None, args.modes.split(",")):
            forward, gradient = MODES[name]
            model = approximate(base, lut, forward=forward, gradient=gradient)
            calibrate(model, [x[:32]])
            try:
                ms, syncs = step_time(_compiled(model, x, y, args.compile), x, y, args.steps, args.graph)
                print(f"{f'{bits}-bit {name}':24s} {ms:9.1f} {ms / fp32:8.1f} {syncs:10d}", flush=True)
            except Exception as exc:  # report and go on: one failing mode must not hide the others
                print(f"{f'{bits}-bit {name}':24s} failed: {type(exc).__name__}: {str(exc)[:200]}", flush=True)


if __name__ == "__main__":
    main()
