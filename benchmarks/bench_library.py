"""Batch characterization throughput: circuits per second for a library of 8x8 designs.

Run: ``python benchmarks/bench_library.py [--circuits 40]``. The library: generated 8x8
unsigned truncated and broken-array multipliers written as BLIF (and, with ``--verilog``,
also as Verilog, synthesised by yosys with an empty cache). Measured in the same run:
one worker in this process (the baseline), then ``--workers`` processes; each row is
computed from scratch (fresh output tables). Prints circuits/s and the ratio.
``--htp-pairs N`` fits the HTP surrogate on N seeded pairs instead of all 65,536 (the
least-squares fits are nearly all of a row's time).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from appmult_char.generators import broken_array_multiplier, multiplier
from appmult_char.io import write_circuit
from appmult_char.library import CharacterizeOptions, LocalExecutor, characterize


def library(folder: str, count: int, suffix: str) -> list[str]:
    nets = [multiplier(8, 8, False, t) for t in range(1, 15)]
    nets += [broken_array_multiplier(8, 8, v, h) for v in range(1, 8) for h in (1, 2, 3)]
    paths = []
    for i in range(count):
        net = nets[i % len(nets)]
        paths.append(os.path.join(folder, f"{net.name}_{i}{suffix}"))
        write_circuit(net, paths[-1])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--circuits", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--verilog", action="store_true", help="also a Verilog library (yosys synthesis included)")
    parser.add_argument("--htp-pairs", type=int, default=1 << 16, help="pairs the HTP fit uses (all 65,536 by default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["APPMULT_CHAR_CACHE"] = os.path.join(folder, "cache")
        for suffix in (".blif", ".v") if args.verilog else (".blif",):
            paths = library(folder, args.circuits, suffix)
            characterize(paths[:1], executor=LocalExecutor(1))  # Numba's caches loaded once, as in a real batch
            times = {}
            for workers in (1, args.workers):
                out = os.path.join(folder, f"t{workers}{suffix}.csv")
                os.environ["APPMULT_CHAR_CACHE"] = os.path.join(folder, f"cache{workers}")
                t0 = time.perf_counter()
                rows = characterize(paths, out, options=CharacterizeOptions(htp_pairs=args.htp_pairs),
                                    executor=LocalExecutor(workers))
                times[workers] = time.perf_counter() - t0
                assert not any(r["error"] for r in rows)
                print(f"{len(paths)} 8x8 {suffix} circuits, HTP on {args.htp_pairs} pairs, {workers} worker(s): "
                      f"{times[workers]:.1f} s, "
                      f"{len(paths) / times[workers]:.2f} circuits/s", flush=True)
            print(f"  {args.workers} workers vs 1: x{times[1] / times[args.workers]:.2f}")


if __name__ == "__main__":
    main()
