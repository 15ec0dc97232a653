"""LUT GEMM kernels on CPU and CUDA (Numba's simulator without a GPU, small shapes): exact
multipliers give integer matmul, STE backward gives the analytic gradients, any shape."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appmult_char import AppMultError, ProductLUT, lut1d, window
from appmult_char.gemm import LutGemm

from .conftest import SIMULATOR


def codes(rng, shape, bits, signed):
    lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    return rng.integers(lo, hi, shape).astype(np.int16)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), m=st.integers(1, 8), signed=st.booleans(), M=st.integers(1, 70), K=st.integers(1, 70),
       N=st.integers(1, 70), seed=st.integers(0, 2**32 - 1))
def test_cpu_exact_lut_gemm_is_integer_matmul(n, m, signed, M, K, N, seed):
    rng = np.random.default_rng(seed)
    A, B = codes(rng, (M, K), n, signed), codes(rng, (K, N), m, signed)
    C = LutGemm(ProductLUT.exact(n, m, signed)).forward(A, B)
    assert np.array_equal(C, A.astype(np.int64) @ B.astype(np.int64))


def test_cpu_batched_and_folded_shapes_and_int64_accumulation():
    rng = np.random.default_rng(1)
    g = LutGemm(ProductLUT.exact(8, 8))
    A, B = codes(rng, (3, 5, 17), 8, False), codes(rng, (3, 17, 6), 8, False)
    assert np.array_equal(g.forward(A, B), A.astype(np.int64) @ B.astype(np.int64))
    A4 = codes(rng, (2, 3, 4, 17), 8, False)
    B2 = codes(rng, (17, 6), 8, False)
    assert np.array_equal(g.forward(A4, B2), A4.astype(np.int64) @ B2.astype(np.int64))
    assert g.accumulator(40_000) == np.int64 and g.accumulator(1000) == np.int32
    A = np.full((1, 40_000), 255, dtype=np.uint8)
    B = np.full((40_000, 1), 255, dtype=np.uint8)
    assert g.forward(A, B)[0, 0] == 40_000 * 255 * 255  # beyond int32


def test_cpu_approximate_lut_gemm_sums_table_entries():
    rng = np.random.default_rng(2)
    table = rng.integers(-500, 500, (16, 8))
    A, B = rng.integers(0, 16, (9, 13)), rng.integers(0, 8, (13, 7))
    C = LutGemm(ProductLUT(table, 4, 3, output_bits=12)).forward(A, B)
    assert np.array_equal(C, table[A[:, :, None], B[None, :, :]].sum(axis=1))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 8), m=st.integers(2, 8), signed=st.booleans(), M=st.integers(1, 40), K=st.integers(1, 40),
       N=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_cpu_ste_backward_is_analytic(n, m, signed, M, K, N, seed):
    rng = np.random.default_rng(seed)
    A, B = codes(rng, (M, K), n, signed), codes(rng, (K, N), m, signed)
    grad_C = rng.standard_normal((M, N)).astype(np.float32)
    for gradients in (None, lut1d(ProductLUT.exact(n, m, signed))):
        gA, gB = LutGemm(ProductLUT.exact(n, m, signed), gradients).backward(A, B, grad_C)
        np.testing.assert_allclose(gA, grad_C.astype(np.float64) @ B.T, rtol=1e-4, atol=1e-3 * (1 << m))
        np.testing.assert_allclose(gB, A.T.astype(np.float64) @ grad_C, rtol=1e-4, atol=1e-3 * (1 << n))


def test_cpu_window_backward_uses_the_tables():
    rng = np.random.default_rng(3)
    lut = ProductLUT(rng.integers(0, 4000, (64, 64)), 6, 6)
    tables = window(lut, 2)
    A, B = rng.integers(0, 64, (5, 7)), rng.integers(0, 64, (7, 4))
    grad_C = rng.standard_normal((5, 4)).astype(np.float32)
    gA, gB = LutGemm(lut, tables).backward(A, B, grad_C)
    qa, qb = (q.astype(np.float64) / 16 for q in tables.quantized())
    np.testing.assert_allclose(gA, np.einsum("ij,ikj->ik", grad_C, qa[A[:, :, None], B[None, :, :]]), rtol=1e-5)
    np.testing.assert_allclose(gB, np.einsum("ij,ikj->kj", grad_C, qb[A[:, :, None], B[None, :, :]]), rtol=1e-5)


def test_shape_and_type_errors():
    g = LutGemm(ProductLUT.exact(4, 4))
    with pytest.raises(AppMultError, match="inner dimensions"):
        g.forward(np.zeros((2, 3), int), np.zeros((4, 2), int))
    with pytest.raises(AppMultError, match="integers"):
        g.forward(np.zeros((2, 3)), np.zeros((3, 2), int))
    with pytest.raises(AppMultError, match="backend"):
        LutGemm(ProductLUT.exact(4, 4), backend="tpu")
    with pytest.raises(AppMultError, match="shared memory"):
        LutGemm(ProductLUT.exact(9, 8), backend="cuda")


# -- CUDA: the same kernels the GPU runs (simulated in CI, small shapes there) -------------

# One case per kernel configuration (7/8-bit tables, narrow and wide outputs, 8 and 16
# lanes per backward reduction), each one tile.
CUDA_CASES = [(7, 7, False, (1, 9, 40, 65)), (8, 8, True, (1, 5, 37, 9)), (8, 8, False, (1, 3, 17, 65)),
              (4, 3, True, (2, 70, 5, 3)), (7, 7, True, (1, 3, 9, 300))]
if not SIMULATOR:  # a real GPU: also shapes that are not multiples of any tile, and larger
    CUDA_CASES += [(7, 7, False, (1, 257, 300, 129)), (8, 8, False, (1, 1000, 517, 999)), (8, 8, True, (3, 65, 129, 255))]


def _column_major(A):
    """`A` (z, M, K) with the same values, laid out as the transpose of a contiguous (z, K, M)."""
    return np.swapaxes(np.ascontiguousarray(np.swapaxes(A, 1, 2)), 1, 2)


@pytest.mark.parametrize("layout", ["rows", "columns"])
@pytest.mark.parametrize("n,m,signed,shape", CUDA_CASES)
def test_cuda_forward_and_backward(n, m, signed, shape, layout):
    """Exact products and gradients; ``A`` row-major, or column-major (read as it is laid
    out, by the kernels' transposed-operand forms)."""
    Z, M, K, N = shape
    rng = np.random.default_rng(n * 100 + M)
    A = codes(rng, (Z, M, K), n, signed).astype(np.int8 if signed else np.uint8)
    if layout == "columns":
        A = _column_major(A)
        assert not A.flags.c_contiguous
    B = codes(rng, (Z, K, N), m, signed).astype(np.int8 if signed else np.uint8)
    lut = ProductLUT.exact(n, m, signed)
    gpu, cpu = LutGemm(lut, backend="cuda"), LutGemm(lut)
    C = gpu.forward(A, B)
    assert np.array_equal(C, A.astype(np.int64) @ B.astype(np.int64))
    grad_C = rng.standard_normal((Z, M, N)).astype(np.float32)
    gA, gB = gpu.backward(A, B, grad_C)
    cA, cB = cpu.backward(A, B, grad_C)
    np.testing.assert_allclose(gA, cA, rtol=1e-4, atol=1e-3 * (1 << m))
    np.testing.assert_allclose(gB, cB, rtol=1e-4, atol=1e-3 * (1 << n))
    exact_A = grad_C.astype(np.float64) @ np.swapaxes(B, 1, 2).astype(np.float64)
    np.testing.assert_allclose(gA, exact_A, rtol=1e-4, atol=1e-3 * (1 << m))


# The simulator spends most of its time loading tables: column-major A there on two cases
# (a batch of two with a small table, and an 8-bit narrow output), on a GPU on all.
LAYOUT_CASES = [(c, "rows") for c in CUDA_CASES] + [(c, "columns") for c in (CUDA_CASES[3:4] + CUDA_CASES[1:2]
                                                                            if SIMULATOR else CUDA_CASES)]


@pytest.mark.parametrize("case,layout", LAYOUT_CASES)
def test_cuda_two_dimensional_tables_of_an_approximate_lut(case, layout):
    """The table-weighted backward kernels (window tables of a LUT with errors: not
    separable), against the CPU kernels, with ``A`` row- or column-major; and the forward
    product of that LUT against the CPU's."""
    n, m, signed, (Z, M, K, N) = case
    rng = np.random.default_rng(n * 10 + N)
    noise = rng.integers(-5 if signed else 0, 6, (1 << n, 1 << m))  # unsigned entries stay in 0..65535
    lut = ProductLUT(ProductLUT.exact(n, m, signed).table + noise, n, m, signed)
    tables = window(lut, 2)
    A, B = codes(rng, (Z, M, K), n, signed), codes(rng, (Z, K, N), m, signed)
    grad_C = rng.standard_normal((Z, M, N)).astype(np.float32)
    gpu, cpu = LutGemm(lut, tables, backend="cuda"), LutGemm(lut, tables)
    assert not gpu.one_dimensional
    A_gpu = _column_major(A) if layout == "columns" else A
    assert np.array_equal(gpu.forward(A_gpu, B), cpu.forward(A, B))
    for got, want in zip(gpu.backward(A_gpu, B, grad_C), cpu.backward(A, B, grad_C)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3 * (1 << max(n, m)))


def test_cuda_forward_split_reduction(monkeypatch):
    """Few output tiles, a long reduction: chunks of k added atomically into a zeroed
    output (forced at a small size by shrinking the chunk floor)."""
    from appmult_char.gemm import cuda_kernels

    monkeypatch.setattr(cuda_kernels, "MIN_FWD_CHUNK", 32)
    rng = np.random.default_rng(12)
    lut = ProductLUT(rng.integers(-2000, 2000, (128, 128)), 7, 7)
    A, B = rng.integers(0, 128, (2, 9, 300)), rng.integers(0, 128, (2, 300, 40))
    assert cuda_kernels.forward_plan(2, 300, 8)[0] > 1
    assert np.array_equal(LutGemm(lut, backend="cuda").forward(A, B), LutGemm(lut).forward(A, B))


@given(st.integers(1, 10**5), st.integers(1, 10**5), st.integers(1, 2000))
def test_forward_plan_covers_every_term_once(tiles, depth, resident):
    from appmult_char.gemm.cuda_kernels import MIN_FWD_CHUNK, forward_plan

    splits, chunk = forward_plan(tiles, depth, resident)
    assert chunk % 32 == 0 and (splits - 1) * chunk < depth <= splits * chunk
    assert splits == 1 or (tiles * splits <= resident and chunk >= MIN_FWD_CHUNK - 32)


def test_cuda_backward_split_reductions_and_tile_loops(monkeypatch):
    """Weight gradients split into chunks (partial sums added in order) and blocks that
    loop over several output tiles: forced at a small size by shrinking the chunk floor."""
    from appmult_char.gemm import cuda_kernels
    from appmult_char.gemm.cuda import CudaGemm

    monkeypatch.setattr(cuda_kernels, "MIN_CHUNK", 32)
    monkeypatch.setattr(CudaGemm, "_resident", lambda self, *shape: 8)  # 10 row tiles, 7 chunks
    rng = np.random.default_rng(11)
    lut = ProductLUT(np.multiply.outer(np.arange(16), np.arange(8)) + rng.integers(-3, 4, (16, 8)), 4, 3)
    tables = window(lut, 2)
    A, B = rng.integers(0, 16, (600, 5)), rng.integers(0, 8, (5, 3))
    G = rng.standard_normal((600, 3)).astype(np.float32)
    gA, gB = LutGemm(lut, tables, backend="cuda").backward(A, B, G)
    cA, cB = LutGemm(lut, tables).backward(A, B, G)
    np.testing.assert_allclose(gA, cA, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gB, cB, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("ga_bits,gbt_bits", [(0, 14), (14, 0)])
def test_cuda_backward_with_a_table_in_each_format(monkeypatch, ga_bits, gbt_bits):
    """One table as float32 and the other as biased 16-bit codes (`FLOAT_TABLE_BITS` by
    table): each product reads its own table's format."""
    from appmult_char.gemm import cuda as cuda_backend

    monkeypatch.setattr(cuda_backend, "FLOAT_TABLE_BITS", {"ga": ga_bits, "gbT": gbt_bits})
    rng = np.random.default_rng(ga_bits)
    lut = ProductLUT(np.multiply.outer(np.arange(16), np.arange(8)) + rng.integers(-3, 4, (16, 8)), 4, 3)
    tables = window(lut, 2)
    A, B = rng.integers(0, 16, (40, 9)), rng.integers(0, 8, (9, 6))
    G = rng.standard_normal((40, 6)).astype(np.float32)
    gemm = LutGemm(lut, tables, backend="cuda")
    assert gemm.impl.device_tables()["kind"] == {"ga": "uint16" if ga_bits == 0 else "float32",
                                                 "gbT": "uint16" if gbt_bits == 0 else "float32"}
    for got, want in zip(gemm.backward(A, B, G), LutGemm(lut, tables).backward(A, B, G)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("config,lanes", [((8, 4, 2, 255), 32), ((4, 4, 2, 255), 32), ((2, 2, 2, 255), 16),
                                          ((4, 4, 1, 255), 8), ((2, 4, 4, 255, 2, 2), 32), ((4, 2, 2, 255, 2, 3), 8)])
def test_cuda_backward_reduction_layouts(monkeypatch, config, lanes):
    """Each output's sum over its lane group comes back to the right output, whether a lane
    group holds more outputs than lanes, as many, or fewer (several lanes then hold one sum),
    with warps side by side along the output columns and the reduction loop unrolled."""
    from appmult_char.gemm import cuda_kernels

    monkeypatch.setitem(cuda_kernels.BWD_CONFIG, (14, lanes), config)
    monkeypatch.setattr(cuda_kernels, "reduction_lanes", lambda length: lanes)
    rng = np.random.default_rng(lanes + config[0])
    lut = ProductLUT(np.multiply.outer(np.arange(16), np.arange(8)) + rng.integers(-3, 4, (16, 8)), 4, 3)
    tables = window(lut, 2)
    A, B = rng.integers(0, 16, (1, 11, 7)), rng.integers(0, 8, (1, 7, 37))
    G = rng.standard_normal((1, 11, 37)).astype(np.float32)
    for got, want in zip(LutGemm(lut, tables, backend="cuda").backward(A, B, G), LutGemm(lut, tables).backward(A, B, G)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_cuda_table_product_rejects_disagreeing_operands():
    """An operand given in the wrong orientation (here V transposed) is refused before any
    kernel reads past its end."""
    lut = ProductLUT.exact(4, 3)
    impl = LutGemm(lut, window(lut, 2), backend="cuda").impl
    X, F, V = np.zeros((1, 5, 7), np.float32), np.zeros((1, 5, 3), np.int16), np.zeros((1, 7, 3), np.int16)
    with pytest.raises(ValueError, match="want X"):
        impl._table_gemm(None, X, F, V, None, 8, 15, 7)
    with pytest.raises(ValueError, match="want X"):  # F row-major where it is declared transposed
        impl._table_gemm(None, X, F, np.zeros((1, 3, 7), np.int16), None, 8, 15, 7, f_t=True)


@given(st.integers(1, 10**5), st.integers(1, 4), st.integers(1, 10**6), st.integers(1, 2000))
def test_backward_plan_covers_every_term_once(tiles, batch, length, resident):
    from appmult_char.gemm.cuda_kernels import MIN_CHUNK, backward_plan

    blocks, splits, chunk = backward_plan(tiles, batch, length, resident)
    assert 1 <= blocks <= tiles and chunk % 32 == 0
    assert (splits - 1) * chunk < length <= splits * chunk  # the chunks tile 0..length exactly
    assert splits == 1 or (chunk >= MIN_CHUNK - 32 and tiles * batch < resident)


def test_cuda_approximate_lut_and_device_arrays():
    from numba import cuda

    rng = np.random.default_rng(5)
    table = rng.integers(0, 60000, (256, 256))
    lut = ProductLUT(table, 8, 8)
    A, B = rng.integers(0, 256, (1, 6, 21)).astype(np.uint8), rng.integers(0, 256, (1, 21, 5)).astype(np.uint8)
    expected = table[A[0][:, :, None], B[0][None, :, :]].sum(axis=1)
    gemm = LutGemm(lut, backend="cuda")
    out = gemm.forward(cuda.to_device(A), cuda.to_device(B))
    if SIMULATOR:  # simulated device arrays are host arrays in disguise
        out = out.copy_to_host() if hasattr(out, "copy_to_host") else out
    else:  # results stay on the GPU, in the kind of array the operands were
        assert cuda.is_cuda_array(out)
        out = out.copy_to_host()
        import torch  # the test extra installs it

        t = gemm.forward(torch.as_tensor(A, device="cuda"), torch.as_tensor(B, device="cuda"))
        assert t.is_cuda and np.array_equal(t.cpu().numpy()[0], expected)
        cupy = pytest.importorskip("cupy", reason="CuPy arrays need CuPy (the cuda extra)")
        c = gemm.forward(cupy.asarray(A), cupy.asarray(B))
        assert isinstance(c, cupy.ndarray) and np.array_equal(cupy.asnumpy(c)[0], expected)
    assert np.array_equal(out[0], expected)


def test_a_used_cuda_gemm_copies_and_pickles_without_its_device_tables():
    """A model that ran on the GPU can be deep-copied (as `approximate` and EMA copies do)
    and pickled: the copy leaves the device tables behind and makes them again, with the
    same results. (Device arrays cannot be copied on the host: this once raised TypeError.)"""
    import pickle

    rng = np.random.default_rng(8)
    lut = ProductLUT(rng.integers(0, 200, (16, 16)), 4, 4)
    gemm = LutGemm(lut, window(lut, 2), backend="cuda")
    A, B = rng.integers(0, 16, (5, 7)), rng.integers(0, 16, (7, 3))
    G = rng.standard_normal((5, 3)).astype(np.float32)
    before = gemm.forward(A, B), *gemm.backward(A, B, G)
    assert gemm.impl._tables  # the tables are on the device now
    for other in (copy.deepcopy(gemm), pickle.loads(pickle.dumps(gemm))):
        assert not other.impl._tables and other.impl.gemm is other
        for got, want in zip((other.forward(A, B), *other.backward(A, B, G)), before):
            np.testing.assert_array_equal(got, want)
    assert gemm.impl._tables  # the original keeps its own


def test_cuda_lut1d_backward_takes_and_returns_numpy_arrays():
    """NumPy operands on the CUDA back end with LUT-1D tables: host arrays back, equal to
    the CPU back end (this raised AttributeError from the result conversion once)."""
    lut = ProductLUT(np.multiply.outer(np.arange(16), np.arange(16)) + np.eye(16, dtype=np.int64), 4, 4)
    rng = np.random.default_rng(0)
    A, B = rng.integers(0, 16, (5, 7)), rng.integers(0, 16, (7, 3))
    G = rng.standard_normal((5, 3)).astype(np.float32)
    tables = lut1d(lut, 2)
    got = LutGemm(lut, tables, backend="cuda").backward(A, B, G)
    expected = LutGemm(lut, tables).backward(A, B, G)
    for g, e in zip(got, expected):
        assert isinstance(g, np.ndarray)
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-4)
