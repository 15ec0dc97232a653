"""Product LUTs in the layouts other approximate-DNN frameworks read.

- ``.npy`` — TorchApprox's LUT (``torchapprox/operators/lut.py`` in etrommer/torch-approx:
  a 256 x 256 ``int16`` array, ``lut[x][w]`` indexed by the operands' raw 8-bit patterns,
  as its CPU kernel ``kernels/cpu/ta_gemm_cpu.cpp`` reads it); here any square table of
  raw patterns whose values fit ``int16``, 8 x 8 for TorchApprox itself. An unsigned 8 x 8
  multiplier is written the way TorchApprox builds the LUT of an unsigned EvoApprox design
  (``lut`` in ``torchapprox/utils/evoapprox.py``): as a sign-magnitude multiplier of signed
  codes, ``lut[i][j] = s_i s_j L[|v_i|][|v_j|]`` with ``v`` the two's-complement value of
  pattern ``i`` and ``s`` its sign — operands above 128 of the unsigned design are not
  used, so reading the file back gives that signed multiplier. `--signed` says how to
  read a square table back (the array does not record it).
- ``.bin`` — TFApprox's lookup table (ehw-fit/tf-approximate, ``tf2/README.md`` and
  ``LoadLookupTable`` in ``tf2/src/approx_ops_types.h``): 65,536 little-endian ``uint16``
  products, ``a`` the outer and ``b`` the inner loop; 8 x 8 unsigned only.
- ``.h`` — AdaPT's C header (dimdano/adapt, ``adapt/cpu-kernels/axx_mults/*.h``):
  ``const int16_t lut [256][256] = {{...}, ...};`` with rows by ``a``'s and columns by
  ``b``'s raw 8-bit patterns; 8 x 8 signed only.

Each writer refuses, in one line naming the file, widths, signedness or values its
format cannot hold.
"""

from __future__ import annotations

import os
import re

import numpy as np

from .._errors import AppMultError
from ..lut import ProductLUT
from ._files import atomic_output, read_text, suffix_kind

__all__ = ["FOREIGN_SUFFIXES", "save_foreign", "load_foreign", "sign_magnitude"]

FOREIGN_SUFFIXES = (".npy", ".bin", ".h")
_INT16 = (-(1 << 15), (1 << 15) - 1)


def _kind(path) -> str:
    return suffix_kind(path, FOREIGN_SUFFIXES, f"not a foreign LUT format ({', '.join(FOREIGN_SUFFIXES)})")


def _check(lut: ProductLUT, where: str, fmt: str, signed: bool | None, lo: int, hi: int, square8: bool) -> None:
    kind = "signed" if lut.signed else "unsigned"
    if square8 and (lut.a_bits, lut.b_bits) != (8, 8):
        raise AppMultError(f"{fmt} holds 8x8 multipliers only, not {lut.a_bits}x{lut.b_bits}", where)
    if signed is not None and lut.signed != signed:
        raise AppMultError(f"{fmt} holds {'signed' if signed else 'unsigned'} multipliers only, not {kind}", where)
    low, high = int(lut.table.min()), int(lut.table.max())
    if low < lo or high > hi:
        raise AppMultError(f"{fmt} holds products in [{lo}, {hi}]; this {kind} LUT has [{low}, {high}]", where)


def save_foreign(lut: ProductLUT, path) -> None:
    """Write `lut` in the format its suffix names (see the module docstring)."""
    where, kind = os.fspath(path), _kind(path)
    if kind == "npy":
        if lut.a_bits != lut.b_bits:
            raise AppMultError(f"TorchApprox LUTs are square, not {lut.a_bits}x{lut.b_bits}", where)
        if (lut.a_bits, lut.signed) == (8, False):
            lut = sign_magnitude(lut)
        _check(lut, where, "a TorchApprox LUT", None, *_INT16, square8=False)
        with atomic_output(path) as fh:
            np.save(fh, lut.table.astype(np.int16))
    elif kind == "bin":
        _check(lut, where, "a TFApprox .bin", False, 0, (1 << 16) - 1, square8=True)
        with atomic_output(path) as fh:
            fh.write(lut.table.astype("<u2").tobytes())
    else:
        _check(lut, where, "an AdaPT header", True, *_INT16, square8=True)
        rows = ",\n".join("{" + ", ".join(map(str, row)) + "}" for row in lut.table.astype(np.int64).tolist())
        with atomic_output(path, "w") as fh:
            fh.write(f"#include <stdint.h>\n\nconst int16_t lut [256][256] = {{{rows}}};\n")


def sign_magnitude(lut: ProductLUT) -> ProductLUT:
    """The signed multiplier TorchApprox makes of an unsigned 8 x 8 one (see the module
    docstring): magnitudes through `lut`, the product's sign from the operands'."""
    pattern = np.arange(256)
    value = np.where(pattern >= 128, pattern - 256, pattern)
    magnitude, sign = np.abs(value), np.sign(value) + (value == 0)
    table = lut.table.astype(np.int64)[np.ix_(magnitude, magnitude)] * np.outer(sign, sign)
    return ProductLUT(table, 8, 8, True, 16, lut.name, lut.source)


def _square(values: np.ndarray, where: str) -> tuple[np.ndarray, int]:
    side = int(round(values.size ** 0.5))
    bits = side.bit_length() - 1
    if side * side != values.size or side != 1 << bits or bits < 1:
        raise AppMultError(f"{values.size} entries are not a 2^n x 2^n table", where)
    return values.reshape(side, side), bits


def load_foreign(path, signed: bool = False) -> ProductLUT:
    """Read a LUT in the format its suffix names (`signed`: for ``.npy`` only; ``.bin``
    is unsigned and ``.h`` signed by definition)."""
    where, kind = os.fspath(path), _kind(path)
    name = os.path.basename(where).rsplit(".", 1)[0]
    if not os.path.exists(where):
        raise AppMultError("no such file", where)
    if kind == "npy":
        try:
            array = np.load(where, allow_pickle=False)
        except ValueError as exc:
            raise AppMultError(f"not a NumPy array file ({exc})".splitlines()[0], where) from None
        if array.ndim != 2 or array.shape[0] != array.shape[1] or not np.issubdtype(array.dtype, np.integer):
            raise AppMultError(f"want a square integer array, got {array.dtype} {array.shape}", where)
        table, bits = _square(array.ravel(), where)
    elif kind == "bin":
        raw = open(where, "rb").read()
        if len(raw) != 2 * 65536:
            raise AppMultError(f"a TFApprox table has 65536 uint16 entries (131072 bytes), this file {len(raw)}",
                               where)
        table, bits, signed = np.frombuffer(raw, dtype="<u2").reshape(256, 256), 8, False
    else:
        text = read_text(path)
        match = re.search(r"lut\s*\[\s*256\s*\]\s*\[\s*256\s*\]\s*=", text)
        if match is None:
            raise AppMultError("no 'lut [256][256] =' array in the header", where)
        body = text[match.end():]
        bad = re.search(r"[^\s\d,{}\-;]", body)
        if bad is not None:
            line = text[:match.end() + bad.start()].count("\n") + 1
            raise AppMultError(f"unexpected {bad.group()!r} in the array", where, line)
        values = np.array([int(v) for v in re.findall(r"-?\d+", body)], dtype=np.int64)
        if values.size != 65536:
            raise AppMultError(f"the array has {values.size} entries, want 65536", where)
        table, bits, signed = values.reshape(256, 256), 8, True
    return ProductLUT(np.asarray(table, dtype=np.int64), bits, bits, signed, 2 * bits, name, where)
