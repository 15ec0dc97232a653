"""Tuning sweep of the 2-D backward kernel (GPU only): the window backward of every GEMM of
a ResNet-18 training step (batch 128, `bench_gemm_resnet.resnet_shapes`), with codes drawn
as a quantized network's fall (`operand_codes(..., "network")`: the shared-memory bank
conflicts depend on them), for each candidate (rows, columns per lane group, warps, register
cap) of `cuda_kernels.BWD_CONFIG`.

``python benchmarks/sweep_backward.py [--bits 7] [--table float32|uint16]
[--configs "8,4,8,255;4,4,8,80"]``

Each configuration is timed through `LutGemm.backward` (both gradients, transposes
included) and its network total printed beside the per-shape times, with the largest
difference from the first configuration's gradients (the sums are the same terms in
another order: float rounding only).
"""

from __future__ import annotations

import argparse
import sys

import torch

from appmult_char import simulate
from appmult_char.generators import multiplier
from appmult_char.gemm import cuda as cuda_backend
from appmult_char.gemm import cuda_kernels
from appmult_char.nn import Multiplier

sys.path.insert(0, "benchmarks")
from bench_gemm_resnet import cuda_ms, operand_codes, resnet_shapes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bits", type=int, default=7)
    parser.add_argument("--table", choices=("float32", "uint16"), default=None,
                        help="table format in shared memory (default: float32 up to 7 bits)")
    parser.add_argument("--configs", default="8,4,8,255;8,4,8,128;4,4,8,128;4,4,8,80;8,2,8,96")
    parser.add_argument("--lanes", default="", help="comma-separated lanes per reduction to force, each "
                        "a sweep of its own (default: cuda_kernels.reduction_lanes by reduction length)")
    args = parser.parse_args()
    if args.table:
        cuda_backend.FLOAT_TABLE_BITS = 16 if args.table == "float32" else 0
    bits = args.bits
    key = 14 if 2 * bits <= 14 else 16
    gemm = Multiplier(simulate(multiplier(bits, bits, False, bits - 2))).gemm("window:4", "cuda")
    shapes = sorted(resnet_shapes().items())
    operands = []
    for (M, K, N), count in shapes:
        a = operand_codes("network", bits, (M, K), weights=False).to(torch.int16)
        b = operand_codes("network", bits, (K, N), weights=True).to(torch.int16)
        operands.append((a, b, torch.randn(M, N, device="cuda"), count))
    print(f"{bits}-bit window:4 backward, network codes, tables {gemm.impl.device_tables()['kind']}; "
          f"ms per shape (M,K,N x count): " + " ".join(f"{M},{K},{N}x{c}" for (M, K, N), c in shapes), flush=True)
    reference = None
    by_length = cuda_kernels.reduction_lanes
    runs = [(text, lanes) for lanes in (args.lanes.split(",") if args.lanes else [""]) for text in args.configs.split(";")]
    for text, lanes in runs:
        cuda_kernels.BWD_CONFIG[key] = tuple(int(v) for v in text.split(","))
        cuda_kernels.reduction_lanes = (lambda length, n=int(lanes): n) if lanes else by_length
        text = f"{text} lanes {lanes or 'by length'}"
        try:
            times = [cuda_ms(lambda: gemm.backward(a, b, g)) for a, b, g, _ in operands]
        except Exception as exc:  # noqa: BLE001 - a configuration that does not compile or launch
            print(f"{text:>24}: {type(exc).__name__}: {exc}".splitlines()[0], flush=True)
            continue
        grads = [gemm.backward(a, b, g) for a, b, g, _ in operands[:3]]
        if reference is None:
            reference, diff = grads, 0.0
        else:
            diff = max(float(((x - y).abs().max() / y.abs().max()).item())
                       for got, want in zip(grads, reference) for x, y in zip(got, want))
        total = sum(t * c for t, (_, _, _, c) in zip(times, operands))
        print(f"{text:>24}: network {total:7.1f} ms  (max rel. diff {diff:.1e})  " +
              " ".join(f"{t:.2f}" for t in times), flush=True)


if __name__ == "__main__":
    main()
