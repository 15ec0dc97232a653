"""The 2-D backward kernels of a few ResNet-18 GEMMs, for Nsight Compute (GPU only).

``ncu --profile-from-start off --clock-control none --section ... python
benchmarks/ncu_backward.py [--bits 7] [--table float32|uint16] [--shapes M,K,N;...]``

Each shape's two table products (``grad_A`` and the weight gradient) run once to compile,
then once between ``cudaProfilerStart`` and ``cudaProfilerStop``, so only they are
profiled. Codes fall as in a quantized network (`bench_gemm_resnet.operand_codes`, network
codes: the shared-memory bank conflicts depend on them). ``--table uint16`` keeps a 7-bit
multiplier's tables as 16-bit codes (two per 32-bit word) instead of float32.
"""

from __future__ import annotations

import argparse
import sys

import torch

from appmult_char import simulate
from appmult_char.generators import multiplier
from appmult_char.gemm import cuda as cuda_backend
from appmult_char.gemm import cuda_launch
from appmult_char.nn import Multiplier

sys.path.insert(0, "benchmarks")
from bench_gemm_resnet import cuda_ms, operand_codes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bits", type=int, default=7)
    parser.add_argument("--table", choices=("float32", "uint16"), default=None)
    parser.add_argument("--shapes", default="131072,576,64;32768,1152,128;8192,2304,256")
    args = parser.parse_args()
    if args.table == "uint16":
        cuda_backend.FLOAT_TABLE_BITS.update(ga=0, gbT=0)
    elif args.table == "float32":
        cuda_backend.FLOAT_TABLE_BITS.update(ga=16, gbT=16)
    bits = args.bits
    impl = Multiplier(simulate(multiplier(bits, bits, False, bits - 2))).gemm("window:4", "cuda").impl
    tables = impl.device_tables()
    print(f"{bits}-bit window:4, tables {tables['kind']}")
    cudart = torch.cuda.cudart()
    for shape in args.shapes.split(";"):
        M, K, N = (int(v) for v in shape.split(","))
        a = operand_codes("network", bits, (M, K), weights=False).to(torch.int16)[None]
        b = operand_codes("network", bits, (K, N), weights=True).to(torch.int16)[None]
        g = torch.randn(1, M, N, device="cuda")
        ws = cuda_launch.Workspace(a)
        bt, at, gt = (x.transpose(1, 2).contiguous() for x in (b, a, g))
        mask_a, mask_b = (1 << bits) - 1, (1 << bits) - 1

        def products():
            impl._table_gemm(ws, g, a, b, tables["ga"], 1 << bits, mask_a, mask_b)
            impl._table_gemm(ws, gt, bt, at, tables["gbT"], 1 << bits, mask_b, mask_a)

        ms = cuda_ms(products)
        print(f"M={M} K={K} N={N}: both products {ms:.2f} ms ({2 * M * K * N / ms * 1e3:.3e} lookups/s)", flush=True)
        torch.cuda.synchronize()
        cudart.cudaProfilerStart()
        products()
        torch.cuda.synchronize()
        cudart.cudaProfilerStop()


if __name__ == "__main__":
    main()
