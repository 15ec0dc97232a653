"""LUT GEMM on the GEMM shapes of a training step: CIFAR-shaped ResNet-18 at batch 128.

Run on a CUDA machine: ``python benchmarks/bench_gemm_resnet.py [--bits 7,8] [--gradient
window:4|ste|lut1d] [--codes uniform|network]``. The multiplier is a truncated one (partial products below
2^(bits-2) dropped): an exact multiplier's window tables are straight-through ones, which
take the separable path. For every
distinct convolution/linear GEMM of the network (M = 128·H·W output positions, K = input
channels x kernel area, N = output channels), with its multiplicity in the network, it
times the LUT GEMM forward and the backward (grad_A and grad_B) through the
PyTorch autograd function the approximate layers use, beside fp32 ``torch.matmul`` on the
same shapes (TF32 off) in the same run, and the host time of one call from PyTorch (wall
time of the Python call, measured after a synchronisation, without waiting for the GPU).

``--codes uniform`` draws operand codes uniformly; ``--codes network`` draws them the way a
quantized network's fall (the 2-D backward's shared-memory bank conflicts depend on it):
activations as after a ReLU (half of them at the zero code, the rest half-normal, sigma a
quarter of the range), weights normal around the middle code (sigma an eighth of the range).
"""

from __future__ import annotations

import argparse
import time

import torch

from appmult_char import simulate
from appmult_char.generators import multiplier
from appmult_char.gemm.torch_bridge import lut_matmul
from appmult_char.nn import Multiplier
from appmult_char.nn.models import build_model


def resnet_shapes(batch: int = 128) -> dict[tuple[int, int, int], int]:
    """{(M, K, N): count} of the GEMMs of a ResNet-18 forward pass on 3x32x32 inputs."""
    model = build_model("resnet18", (3, 32, 32))
    shapes: dict[tuple[int, int, int], int] = {}

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            _, _, h, w = output.shape
            key = (batch * h * w, module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1],
                   module.out_channels)
        else:
            key = (batch, module.in_features, module.out_features)
        shapes[key] = shapes.get(key, 0) + 1

    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(batch, 3, 32, 32))
    return shapes


def operand_codes(kind: str, bits: int, shape: tuple[int, int], weights: bool) -> torch.Tensor:
    """Float codes in 0..2^bits-1 on the GPU, drawn as `kind` says (see the module docstring)."""
    top = (1 << bits) - 1
    if kind == "uniform":
        return torch.randint(0, top + 1, shape, device="cuda").float()
    if weights:
        codes = (1 << (bits - 1)) + torch.randn(shape, device="cuda") * (top / 8)
    else:
        codes = torch.randn(shape, device="cuda").abs() * (top / 4) * (torch.rand(shape, device="cuda") < 0.5)
    return codes.round().clamp(0, top)


def cuda_ms(fn, repeat: int = 5) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return sorted(times)[len(times) // 2]


def host_us(fn, repeat: int = 20) -> float:
    fn()
    times = []
    for _ in range(repeat):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        times.append(1e6 * (time.perf_counter() - t0))
    torch.cuda.synchronize()
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bits", default="7,8")
    parser.add_argument("--gradient", default="window:4", help="ste, window:W or lut1d")
    parser.add_argument("--codes", default="uniform", choices=("uniform", "network"))
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    shapes = resnet_shapes()
    print(f"{'bits':>4} {'M':>7} {'K':>5} {'N':>4} {'x':>2} {'fwd ms':>7} {'bwd ms':>7} {'fp32 fwd':>8} "
          f"{'fwd MAC/s':>9} {'bwd MAC/s':>9} {'host us fwd':>11} {'host us bwd':>11}")
    for bits in (int(b) for b in args.bits.split(",")):
        gemm = Multiplier(simulate(multiplier(bits, bits, False, bits - 2))).gemm(args.gradient, "cuda")
        totals = [0.0, 0.0, 0.0]
        for (M, K, N), count in sorted(shapes.items()):
            a = operand_codes(args.codes, bits, (M, K), weights=False).requires_grad_()
            b = operand_codes(args.codes, bits, (K, N), weights=True).requires_grad_()
            g = torch.randn(M, N, device="cuda")
            fwd = cuda_ms(lambda: lut_matmul(a, b, gemm))
            out = lut_matmul(a, b, gemm)
            bwd = cuda_ms(lambda: torch.autograd.grad(out, (a, b), g, retain_graph=True))
            ref = cuda_ms(lambda: a @ b)
            h_f = host_us(lambda: lut_matmul(a, b, gemm))
            h_b = host_us(lambda: torch.autograd.grad(out, (a, b), g, retain_graph=True))
            macs = M * K * N
            totals = [totals[0] + count * fwd, totals[1] + count * bwd, totals[2] + count * ref]
            print(f"{bits:4d} {M:7d} {K:5d} {N:4d} {count:2d} {fwd:7.2f} {bwd:7.2f} {ref:8.3f} {macs / fwd * 1e3:9.2e} "
                  f"{2 * macs / bwd * 1e3:9.2e} {h_f:11.0f} {h_b:11.0f}", flush=True)
        print(f"{bits}-bit {args.gradient} ({args.codes} codes) totals over the network: forward {totals[0]:.1f} ms, backward {totals[1]:.1f} ms, "
              f"fp32 forward {totals[2]:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
