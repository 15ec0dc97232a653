"""Tuning sweep of the 2-D backward kernel (GPU only): the two table products of every GEMM
of a ResNet-18 training step (batch 128, `bench_gemm_resnet.resnet_shapes`), with codes
drawn as a quantized network's fall (`operand_codes(..., "network")`: the shared-memory
bank conflicts depend on them), for each candidate (rows, columns per lane group, warps,
register cap[, warps along the columns[, reduction steps per loop iteration]]) of
`cuda_kernels.BWD_CONFIG`.

``python benchmarks/sweep_backward.py [--bits 7] [--table float32|uint16]
[--configs "default;8,4,8,255;4,4,8,80;4,4,8,80,4,2"] [--lanes 8,16,32]``

Each configuration (``default``: `BWD_CONFIG` as shipped) is given to every lane count (`cuda_kernels.reduction_lanes`: the input
gradients' short sums take 8 or 16 lanes, the weight gradients' long ones 32) and each
product is timed on its own (`CudaGemm._table_gemm`, transposes excluded). Printed per
configuration: the network total, the totals of the products by lane count (so that each
lane count's row of `BWD_CONFIG` can be chosen from one run), and the largest difference
from the first configuration's results (the same terms summed in another order).
`--lanes` instead forces one lane count on every product, a sweep of its own per value.
"""

from __future__ import annotations

import argparse
import sys

import torch

from appmult_char import simulate
from appmult_char.generators import multiplier
from appmult_char.gemm import cuda as cuda_backend
from appmult_char.gemm import cuda_kernels, cuda_launch
from appmult_char.nn import Multiplier

sys.path.insert(0, "benchmarks")
from bench_gemm_resnet import cuda_ms, operand_codes, resnet_shapes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bits", type=int, default=7)
    parser.add_argument("--table", choices=("float32", "uint16"), default=None,
                        help="table format in shared memory (default: float32 up to 7 bits)")
    parser.add_argument("--configs", default="default;8,4,8,128;4,4,8,128;4,4,8,80;8,2,8,96")
    parser.add_argument("--lanes", default="", help="comma-separated lanes per reduction to force, each "
                        "a sweep of its own (default: cuda_kernels.reduction_lanes by reduction length)")
    args = parser.parse_args()
    if args.table:
        cuda_backend.FLOAT_TABLE_BITS.update(dict.fromkeys(("ga", "gbT"), 16 if args.table == "float32" else 0))
    bits = args.bits
    key = 14 if 2 * bits <= 14 else 16
    impl = Multiplier(simulate(multiplier(bits, bits, False, bits - 2))).gemm("window:4", "cuda").impl
    tables = impl.device_tables()
    shapes = sorted(resnet_shapes().items())
    mask = (1 << bits) - 1
    products = []  # (label, count, reduction length, call)
    for (M, K, N), count in shapes:
        a = operand_codes("network", bits, (M, K), weights=False).to(torch.int16)[None]
        b = operand_codes("network", bits, (K, N), weights=True).to(torch.int16)[None]
        g = torch.randn(1, M, N, device="cuda")
        ws = cuda_launch.Workspace(a)
        bt, at, gt = (x.transpose(1, 2).contiguous() for x in (b, a, g))
        products.append((f"{M},{K},{N}x{count} dA", count, N,
                         lambda ws=ws, g=g, a=a, b=b: impl._table_gemm(ws, g, a, b, tables["ga"], 1 << bits, mask, mask)))
        products.append((f"{M},{K},{N}x{count} dB", count, M,
                         lambda ws=ws, gt=gt, bt=bt, at=at: impl._table_gemm(ws, gt, bt, at, tables["gbT"], 1 << bits,
                                                                             mask, mask)))
    print(f"{bits}-bit window:4 table products, network codes, tables {tables['kind']}; ms per product: "
          + " ".join(label for label, *_ in products), flush=True)
    reference = None
    by_length = cuda_kernels.reduction_lanes
    shipped = dict(cuda_kernels.BWD_CONFIG)
    runs = [(text, lanes) for lanes in (args.lanes.split(",") if args.lanes else [""]) for text in args.configs.split(";")]
    for text, lanes in runs:
        for n in (8, 16, 32):
            cuda_kernels.BWD_CONFIG[(key, n)] = shipped[(key, n)] if text == "default" else tuple(
                int(v) for v in text.split(","))
        cuda_kernels.reduction_lanes = (lambda length, n=int(lanes): n) if lanes else by_length
        impl._plans.clear()
        label = f"{text} lanes {lanes or 'by length'}"
        try:
            times = [cuda_ms(call) for *_, call in products]
        except Exception as exc:  # noqa: BLE001 - a configuration that does not compile or launch
            print(f"{label:>24}: {type(exc).__name__}: {exc}".splitlines()[0], flush=True)
            continue
        results = [call() for *_, call in products[:6]]
        if reference is None:
            reference, diff = results, 0.0
        else:
            diff = max(float(((x - y).abs().max() / y.abs().max()).item()) for x, y in zip(results, reference))
        classes: dict = {}
        for t, (_, count, length, _) in zip(times, products):
            n = cuda_kernels.reduction_lanes(length)
            classes[n] = classes.get(n, 0.0) + t * count
        print(f"{label:>24}: network {sum(classes.values()):7.1f} ms  " +
              " ".join(f"{n} lanes {classes[n]:6.1f}" for n in sorted(classes)) +
              f"  (max rel. diff {diff:.1e})  " + " ".join(f"{t:.2f}" for t in times), flush=True)


if __name__ == "__main__":
    main()
