"""Larger sizes: a full 12x12 LUT, and streamed metrics that never build a LUT."""

from __future__ import annotations

import numpy as np

from appmult_char import Simulator, circuit_metrics, simulate
from appmult_char.generators import exact_multiplier, truncated_multiplier


def test_exact_12x12_full_lut():
    lut = simulate(exact_multiplier(12, 12))
    a = np.arange(1 << 12, dtype=np.int64)
    assert lut.table.shape == (4096, 4096)
    assert np.array_equal(lut.table, np.multiply.outer(a, a))


def test_exact_12x12_signed_streamed_metrics_are_zero():
    m = circuit_metrics(exact_multiplier(12, 12, signed=True), signed=True)
    assert m.pairs == 1 << 24
    assert (m.error_count, m.sum_abs, m.sum_sq, m.sum_err, m.max_abs) == (0, 0, 0, 0, 0)
    assert m.histogram[(len(m.histogram) - 1) // 2] == 1 << 24
    assert m.nonzero_exact == 4095 * 4095


def test_streamed_metrics_equal_lut_metrics():
    netlist = truncated_multiplier(10, 11, 9, signed=True)
    sim = Simulator(netlist, signed=True)
    streamed, full = sim.metrics(), sim.lut().metrics()
    assert streamed.error_count > 0
    for name in ("pairs", "error_count", "sum_abs", "sum_sq", "sum_err", "max_abs", "nonzero_exact", "histogram"):
        assert getattr(streamed, name) == getattr(full, name), name
    assert np.isclose(streamed.sum_rel, full.sum_rel, rtol=1e-12)
    assert streamed.max_rel == full.max_rel


def _truncated_products(a, b, n, m, t):
    """Independent NumPy model of the truncated multiplier: partial products of weight >= 2^t."""
    total = np.zeros(a.shape, dtype=np.int64)
    for i in range(n):
        for j in range(m):
            if i + j >= t:
                total += ((a >> i) & 1) * ((b >> j) & 1) << (i + j)
    return total


def test_streamed_metrics_agree_with_a_random_sample():
    n, t = 14, 10
    streamed = circuit_metrics(truncated_multiplier(n, n, t))
    rng = np.random.default_rng(7)
    a = rng.integers(0, 1 << n, 200_000)
    b = rng.integers(0, 1 << n, 200_000)
    e = _truncated_products(a, b, n, n, t) - a * b
    size = e.size
    for value, sample in ((streamed.er, (e != 0).astype(float)), (streamed.med, np.abs(e).astype(float)),
                          (streamed.mse, (e.astype(float) ** 2)), (streamed.bias, e.astype(float))):
        assert abs(value - sample.mean()) <= 5 * sample.std() / np.sqrt(size) + 1e-12
    # the worst case drops every low partial product: a = b = 2^n - 1
    assert streamed.wce == sum(1 << (i + j) for i in range(n) for j in range(n) if i + j < t)
    assert streamed.wce >= np.abs(e).max()


def test_back_ends_stream_the_same_exact_sums_and_ranges_add_up():
    """NumPy and Numba compute the streamed sums independently; any split of the pattern
    words into ranges adds up to the whole."""
    from appmult_char.metrics import histogram_bins
    from appmult_char.sim.backend import resolve

    sim = Simulator(truncated_multiplier(7, 6, 5, signed=True), signed=True)
    bins = histogram_bins(7, 6)
    words = (1 << 13) // 64
    whole = {name: resolve(name, 0).stream_metrics(sim.layout, 0, words, bins) for name in ("numpy", "numba")}
    exact_fields = ("pairs", "error_count", "sum_abs", "sum_sq", "sum_err", "max_abs", "nonzero_exact", "histogram")
    for name in exact_fields:
        assert getattr(whole["numpy"], name) == getattr(whole["numba"], name), name
    parts = [resolve("numba", 0).stream_metrics(sim.layout, w0, w1, bins) for w0, w1 in ((0, 37), (37, 38), (38, words))]
    merged = parts[0] + parts[1] + parts[2]
    for name in exact_fields:
        assert getattr(merged, name) == getattr(whole["numba"], name), name
    assert np.isclose(merged.sum_rel, whole["numba"].sum_rel, rtol=1e-12) and merged.max_rel == whole["numba"].max_rel
    assert Simulator(sim.netlist, signed=True, backend="numpy").metrics() == sim.lut().metrics()
