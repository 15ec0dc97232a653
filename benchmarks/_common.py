"""What the benchmark scripts share: where the reference data is, and a timer."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFDATA = Path(os.environ.get("APPMULT_CHAR_REFDATA", ROOT.parent / "shared" / "refdata")) / "appmult"
warnings.simplefilter("ignore")


def best_of(fn, repeat: int = 3, warm_up: bool = False) -> float:
    """Shortest wall time of `repeat` calls of `fn` (after one untimed call if `warm_up`)."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
