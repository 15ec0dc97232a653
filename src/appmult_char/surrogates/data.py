"""Operand/product triples to fit and score surrogates on: the whole LUT when it is small
enough, otherwise a seeded uniform random sample of operand pairs."""

from __future__ import annotations

import numpy as np

from ..lut import ProductLUT, operand_values

__all__ = ["training_pairs", "FULL_LIMIT"]

#: Up to this many pairs the full input space is used (8x8 and smaller).
FULL_LIMIT = 1 << 16


def training_pairs(source, max_pairs: int = FULL_LIMIT, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: float64 operand value pairs ``X`` (n, 2) and products ``y`` of a
    `ProductLUT` or a `Simulator` (whose circuit is then evaluated on the pairs, no LUT
    needed).

    All ``2^(n+m)`` pairs when that is at most `max_pairs`, else `max_pairs` pairs drawn
    uniformly with ``numpy.random.default_rng(seed)`` (with replacement).
    """
    n, m, signed = source.a_bits, source.b_bits, source.signed
    total = 1 << (n + m)
    if total <= max_pairs:
        ia, ib = np.divmod(np.arange(total), 1 << m)
    else:
        rng = np.random.default_rng(seed)
        ia = rng.integers(0, 1 << n, max_pairs)
        ib = rng.integers(0, 1 << m, max_pairs)
    y = source.table[ia, ib] if isinstance(source, ProductLUT) else source.evaluate(ia, ib)
    xv = operand_values(n, signed).astype(np.float64)
    wv = operand_values(m, signed).astype(np.float64)
    return np.stack([xv[ia], wv[ib]], axis=1), y.astype(np.float64)
