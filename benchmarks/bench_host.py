"""Host time of one LUT GEMM call from PyTorch (GPU only): the wall time of the Python
call after a synchronisation, without waiting for the GPU, median of many calls, beside
``torch.matmul`` on the same tensors in the same run (the ratio is what the package adds).

``python benchmarks/bench_host.py [--shape 2048,576,64] [--bits 7] [--gradient window:4]
[--profile]`` — `--profile` adds the functions where the time goes (cProfile, by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys

import torch

from appmult_char import simulate
from appmult_char.generators import multiplier
from appmult_char.gemm.torch_bridge import lut_matmul
from appmult_char.nn import Multiplier

sys.path.insert(0, "benchmarks")
from bench_gemm_resnet import host_us  # noqa: E402


def profile(label: str, fn, repeat: int = 500) -> None:
    fn()
    torch.cuda.synchronize()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(repeat):
        fn()
    prof.disable()
    torch.cuda.synchronize()
    print(f"--- {label}: {repeat} calls, by own time")
    pstats.Stats(prof).sort_stats("tottime").print_stats(18)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", default="2048,576,64", help="M,K,N")
    parser.add_argument("--bits", type=int, default=7)
    parser.add_argument("--gradient", default="window:4", help="ste, window:W or lut1d")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    M, K, N = (int(v) for v in args.shape.split(","))
    bits = args.bits
    gemm = Multiplier(simulate(multiplier(bits, bits, False, bits - 2))).gemm(args.gradient, "cuda")
    a = torch.randint(0, 1 << bits, (M, K), device="cuda").float().requires_grad_()
    b = torch.randint(0, 1 << bits, (K, N), device="cuda").float().requires_grad_()
    ai, bi = a.detach().to(torch.int16), b.detach().to(torch.int16)
    g = torch.randn(M, N, device="cuda")
    out = lut_matmul(a, b, gemm)
    calls = {
        "torch.matmul (baseline)": lambda: a @ b,
        "LutGemm.forward": lambda: gemm.forward(ai, bi),
        "LutGemm.backward": lambda: gemm.backward(ai, bi, g),
        "lut_matmul forward": lambda: lut_matmul(a, b, gemm),
        "lut_matmul backward": lambda: torch.autograd.grad(out, (a, b), g, retain_graph=True),
    }
    base = host_us(calls["torch.matmul (baseline)"], 200)
    print(f"{bits}-bit, M={M} K={K} N={N}, {args.gradient}: host microseconds per call (median of 200)")
    for label, fn in calls.items():
        t = host_us(fn, 200)
        print(f"{label:24s} {t:8.1f} us  {t / base:6.1f}x matmul", flush=True)
    if args.profile:
        for label in ("LutGemm.forward", "lut_matmul forward", "lut_matmul backward"):
            profile(label, calls[label])


if __name__ == "__main__":
    main()
