"""Shared-memory wavefronts per table lookup instruction of the 2-D backward kernels, by
Monte Carlo (CPU only): a warp's 32 lanes read table entries at ``row * 2^bits + column``;
lanes that hit one bank at different 32-bit words are served one after another, so an
instruction costs the largest number of distinct words any bank holds among its lanes.

Codes are drawn as `bench_gemm_resnet.operand_codes(..., "network")` draws them:
activations as after a ReLU (half zeros, the rest |N(0, top/4)|), weights clustered around
the middle code (N(2^(bits-1), top/8)). Input gradients read one row per output (an
activation code) at columns given by the weights along the reduction index; weight
gradients the other way round. With ``lanes`` lanes per output, an instruction reads
``32 / lanes`` rows.

``python benchmarks/bank_conflicts.py [--bits 7] [--trials 3000]``
"""

from __future__ import annotations

import argparse

import numpy as np


def codes(rng, n: int, bits: int, weights: bool) -> np.ndarray:
    top = (1 << bits) - 1
    if weights:
        v = (1 << (bits - 1)) + rng.standard_normal(n) * (top / 8)
    else:
        v = np.abs(rng.standard_normal(n)) * (top / 4) * (rng.random(n) < 0.5)
    return np.clip(np.round(v), 0, top).astype(np.int64)


def wavefronts(entries: np.ndarray, entry_bytes: int) -> float:
    """Mean over instructions (rows of `entries`, 32 lane addresses each) of the largest
    count of distinct 4-byte words among the lanes that share a bank."""
    words = entries * entry_bytes // 4
    worst = []
    for w in words:
        per_bank: dict[int, set] = {}
        for x in w:
            per_bank.setdefault(int(x) % 32, set()).add(int(x))
        worst.append(max(len(s) for s in per_bank.values()))
    return float(np.mean(worst))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bits", type=int, default=7)
    parser.add_argument("--trials", type=int, default=3000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    bits, n = args.bits, args.trials
    print(f"{bits}-bit tables, network codes: wavefronts per lookup instruction (float32 rows / 16-bit rows)")
    for product, row_weights in (("input gradients", False), ("weight gradients", True)):
        for lanes in (8, 16, 32):
            rows = codes(rng, n * (32 // lanes), bits, row_weights).reshape(n, -1).repeat(lanes, axis=1)
            cols = codes(rng, n * 32, bits, not row_weights).reshape(n, 32)
            entries = (rows << bits) + cols
            print(f"  {product:>16}, {lanes:2} lanes per output: {wavefronts(entries, 4):.2f} / "
                  f"{wavefronts(entries, 2):.2f}")


if __name__ == "__main__":
    main()
