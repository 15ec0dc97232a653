"""LUT converters (`io.foreign`, `appmult-char convert`): round trips, the layouts each
framework reads (built independently here), and one-line refusals."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from appmult_char import ProductLUT, load_lut, save_lut
from appmult_char.cli import main

from .conftest import REFDATA, ROOT, refdata


def _random_lut(seed: int, bits: int, signed: bool, lo: int, hi: int) -> ProductLUT:
    rng = np.random.default_rng(seed)
    exact = ProductLUT.exact(bits, bits, signed).table.astype(np.int64)
    return ProductLUT(np.clip(exact + rng.integers(-300, 301, exact.shape), lo, hi), bits, bits, signed)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), fmt=st.sampled_from([".npy", ".bin", ".h", ".npz", ".txt"]))
def test_formats_round_trip(tmp_path_factory, seed, fmt):
    signed = {".bin": False, ".h": True}.get(fmt, bool(seed & 1))
    bits = 8 if fmt in (".bin", ".h") else 2 + seed % (7 if signed or fmt != ".npy" else 6)  # unsigned 8x8 .npy:
    # TorchApprox's sign-magnitude layout, not a round trip (its own test below)
    lo, hi = (-(1 << 15), (1 << 15) - 1) if signed or fmt == ".npy" else (0, (1 << 16) - 1)
    lut = _random_lut(seed, bits, signed, max(lo, -(1 << 2 * bits - 1) if signed else 0),
                      min(hi, (1 << 2 * bits) - 1 >> signed))
    path = tmp_path_factory.mktemp("c") / f"t{fmt}"
    save_lut(lut, path)
    back = load_lut(path, signed=signed)
    assert np.array_equal(back.table, lut.table) and (back.a_bits, back.signed) == (bits, signed)


def test_tfapprox_bin_is_a_outer_b_inner_little_endian_uint16(tmp_path):
    path = tmp_path / "exact.bin"
    save_lut(ProductLUT.exact(8, 8), path)
    expected = b"".join(struct.pack("<H", a * b) for a in range(256) for b in range(256))
    assert path.read_bytes() == expected  # what tf-approximate's tf2/README.md packs (its mul8u_1JFF.bin)


def test_adapt_header_rows_by_a_columns_by_b_raw_patterns(tmp_path):
    path = tmp_path / "exact.h"
    save_lut(ProductLUT.exact(8, 8, signed=True), path)
    value = [v - 256 if v >= 128 else v for v in range(256)]
    rows = ",\n".join("{" + ", ".join(str(value[a] * value[b]) for b in range(256)) + "}" for a in range(256))
    assert path.read_text() == "#include <stdint.h>\n\nconst int16_t lut [256][256] = {" + rows + "};\n"


def test_torchapprox_array_is_its_accurate_lut_for_the_exact_multiplier(tmp_path):
    path = tmp_path / "exact.npy"
    save_lut(ProductLUT.exact(8, 8, signed=True), path)
    x = np.arange(256)
    x[x >= 128] -= 256
    xx, yy = np.meshgrid(x, x)
    array = np.load(path)
    assert array.dtype == np.int16 and np.array_equal(array, (xx * yy).astype(np.int16))


def test_unsigned_8x8_becomes_torchapprox_sign_magnitude_layout(tmp_path):
    """TorchApprox's own LUT of an unsigned EvoApprox design (utils/evoapprox.py): sign
    times the unsigned product of the magnitudes; for the exact multiplier, its signed
    accurate LUT."""
    from appmult_char.generators import multiplier
    from appmult_char.sim import simulate

    for t, path in ((0, tmp_path / "exact.npy"), (7, tmp_path / "t7.npy")):
        lut = simulate(multiplier(8, 8, False, t))
        save_lut(lut, path)
        array = np.load(path)
        for i in range(0, 256, 5):
            for j in range(0, 256, 3):
                vi, vj = (i - 256 if i >= 128 else i), (j - 256 if j >= 128 else j)
                sign = (-1 if vi < 0 else 1) * (-1 if vj < 0 else 1)
                assert array[i, j] == sign * lut.table[abs(vi), abs(vj)]
        if t == 0:
            x = np.arange(256)
            x[x >= 128] -= 256
            assert np.array_equal(array, np.outer(x, x).astype(np.int16))
        assert load_lut(path, signed=True).signed


@refdata
def test_reference_luts_convert_to_tfapprox_and_back(tmp_path):
    for ref in sorted(REFDATA.glob("mul8u_*_lutfp.txt.gz")):
        lut = load_lut(ref)
        out = tmp_path / f"{ref.name}.bin"
        result = CliRunner().invoke(main, ["convert", str(ref), str(out)])
        assert result.exit_code == 0, result.output
        assert np.array_equal(np.fromfile(out, dtype="<u2").reshape(256, 256), lut.table)


@pytest.mark.parametrize("source, target, signed, message", [
    ("mul7x7u_trunc5.blif", "t.bin", False, "a TFApprox .bin holds 8x8 multipliers only, not 7x7"),
    ("mul8x8s_exact.blif", "t.bin", True, "a TFApprox .bin holds unsigned multipliers only, not signed"),
    ("mul8x8u_trunc6.blif", "t.h", False, "an AdaPT header holds signed multipliers only, not unsigned"),
    ("mul7x7u_trunc5.blif", "t.bin", False, "a TFApprox .bin holds 8x8 multipliers only, not 7x7"),
    ("mul8x8u_trunc6.blif", "t.xlsx", False, "unknown LUT format"),
])
def test_formats_refuse_what_they_cannot_hold(tmp_path, source, target, signed, message):
    out = tmp_path / target
    args = ["convert", str(ROOT / "circuits" / source), str(out), *(["--signed"] if signed else [])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output
    assert not out.exists()


@pytest.mark.parametrize("name, content, message", [
    ("short.bin", b"\x00" * 100, "65536 uint16 entries (131072 bytes), this file 100"),
    ("bad.h", b"const int16_t lut [256][256] = {{0, 1,\n x}};", "bad.h:2: unexpected 'x' in the array"),
    ("few.h", b"const int16_t lut [256][256] = {{0, 1}};", "the array has 2 entries, want 65536"),
    ("none.h", b"int main() {}", "no 'lut [256][256] =' array"),
    ("odd.npy", None, "want a square integer array"),
])
def test_bad_foreign_files_are_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        np.save(path, np.zeros((4, 8), dtype=np.int16))
    else:
        path.write_bytes(content)
    result = CliRunner().invoke(main, ["convert", str(path), str(tmp_path / "out.npz")])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output
