"""The CUDA simulation back end (`sim.cuda_backend`): under Numba's CUDA simulator in CI,
on the GPU for real sizes. Products equal the CPU back end and the plain-Python
evaluator exactly; streamed sums equal exactly but for the relative-error float sum,
which is summed in another order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appmult_char import parse_blif
from appmult_char.generators import multiplier
from appmult_char.sim import simulator

from .conftest import REFDATA, SIMULATOR, refdata
from .test_properties import _blif, _random_design, assert_same_sums, reference_table


@refdata
@pytest.mark.filterwarnings("ignore:.*constant drivers added")
@pytest.mark.parametrize("path", sorted(REFDATA.glob("*_sop.blif")), ids=lambda p: p.stem)
def test_cuda_backend_equals_the_cpu_on_the_reference_circuits(path):
    cpu, gpu = simulator(path, backend="numba"), simulator(path, backend="cuda")
    assert np.array_equal(gpu.lut().table, cpu.lut().table)
    assert_same_sums(gpu.metrics(), cpu.metrics())


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_cuda_backend_on_random_netlists_against_the_reference_evaluator(seed):
    top, subs, half = _random_design(seed)
    signed = bool(seed & 1)
    netlist = parse_blif(_blif(top, subs))
    expected = reference_table(top, subs, half, signed)
    gpu = simulator(netlist, signed=signed, backend="cuda", a_bits=half, b_bits=half)
    assert np.array_equal(gpu.lut().table, expected)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 1 << half, 150), rng.integers(0, 1 << half, 150)
    assert np.array_equal(gpu.evaluate(a, b), expected[a, b])
    cpu = simulator(netlist, signed=signed, backend="numpy", a_bits=half, b_bits=half)
    assert_same_sums(gpu.metrics(), cpu.metrics())


@pytest.mark.parametrize("a_bits, b_bits, signed, t", [(3, 3, False, 0), (4, 3, True, 2), (5, 2, False, 3),
                                                       (1, 1, False, 0)])
def test_cuda_backend_on_generated_multipliers(a_bits, b_bits, signed, t):
    net = multiplier(a_bits, b_bits, signed, t)
    cpu, gpu = simulator(net, signed=signed, backend="numpy"), simulator(net, signed=signed, backend="cuda")
    assert np.array_equal(gpu.lut().table, cpu.lut().table)
    assert_same_sums(gpu.metrics(), cpu.metrics())


@pytest.mark.skipif(SIMULATOR, reason="real sizes need a CUDA GPU (run on the GPU machine, docs/gpu-runs.md)")
@pytest.mark.parametrize("bits, truncate", [(12, 0), (12, 9), (16, 14)])
def test_cuda_backend_at_real_sizes(bits, truncate):
    net = multiplier(bits, bits, False, truncate)
    cpu, gpu = simulator(net, backend="numba"), simulator(net, backend="cuda")
    if bits <= 12:
        assert np.array_equal(gpu.lut().table, cpu.lut().table)
        a, b = np.random.default_rng(0).integers(0, 1 << bits, (2, 100_000))
        assert np.array_equal(gpu.evaluate(a, b), cpu.evaluate(a, b))
    assert_same_sums(gpu.metrics(), cpu.metrics())
