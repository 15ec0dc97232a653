"""`ProductLUT`: a multiplier's full product table with its metadata.

``table[a][b]`` is the product for operand bit patterns ``a`` (`a_bits` wide) and ``b``
(`b_bits` wide):
rows and columns are indexed by the raw patterns, values are in the product's own
interpretation (two's-complement signed when `signed`). Numeric order (row ``i`` is
operand value ``i - 2^(a_bits-1)`` for signed) is only ever produced by the explicit
`to_numeric_order`/`from_numeric_order` conversions. Reading and writing LUT files is
`appmult_char.io` (`load_lut`, `save_lut`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._compat import renamed_attribute
from ._errors import AppMultError
from .metrics import ErrorMetrics, histogram_bins

__all__ = ["ProductLUT", "operand_values", "exact_table", "lut_dtype", "to_numeric_order", "from_numeric_order"]


#: Tables of at least this many entries get their metrics from the compiled kernel (one
#: pass, no temporaries); smaller ones from NumPy, which needs no compilation.
COMPILED_METRICS_MIN = 1 << 18


def operand_values(bits: int, signed: bool) -> np.ndarray:
    """Operand value of each raw bit pattern ``0 .. 2^bits - 1`` (int64)."""
    v = np.arange(1 << bits, dtype=np.int64)
    return v - ((v >> (bits - 1)) << bits) if signed else v


def exact_table(a_bits: int, b_bits: int, signed: bool) -> np.ndarray:
    """The exact product table of a_bits x b_bits operands, indexed by raw patterns."""
    return np.multiply.outer(operand_values(a_bits, signed), operand_values(b_bits, signed))


def to_numeric_order(table: np.ndarray, a_bits: int, b_bits: int, signed: bool) -> np.ndarray:
    """A copy of a raw-pattern-indexed table with rows/columns in operand value order."""
    if not signed:
        return table.copy()
    return np.roll(table, (1 << (a_bits - 1), 1 << (b_bits - 1)), axis=(0, 1))


def from_numeric_order(table: np.ndarray, a_bits: int, b_bits: int, signed: bool) -> np.ndarray:
    """Inverse of `to_numeric_order`."""
    if not signed:
        return table.copy()
    return np.roll(table, (-(1 << (a_bits - 1)), -(1 << (b_bits - 1))), axis=(0, 1))


def lut_dtype(output_bits: int, signed: bool) -> np.dtype:
    """Smallest of int32/int64 that holds every product value."""
    return np.dtype(np.int32 if output_bits <= (31 if not signed else 32) else np.int64)


@dataclass(frozen=True, eq=False)
class ProductLUT:
    """Product table ``table[a][b]`` of an a_bits x b_bits multiplier (see module docstring)."""

    table: np.ndarray
    a_bits: int
    b_bits: int
    signed: bool = False
    output_bits: int | None = None
    name: str = ""
    source: str | None = None

    def __post_init__(self):
        if self.table.ndim != 2 or self.table.shape != (1 << self.a_bits, 1 << self.b_bits):
            raise AppMultError(f"LUT of shape {self.table.shape} is not 2^{self.a_bits} x 2^{self.b_bits}")
        if self.table.dtype.kind not in "iu":
            raise AppMultError(f"LUT values must be integers, not {self.table.dtype}")
        if self.output_bits is None:
            object.__setattr__(self, "output_bits", self.a_bits + self.b_bits)

    n = renamed_attribute("a_bits", "n")
    m = renamed_attribute("b_bits", "m")

    @property
    def shape(self) -> tuple[int, int]:
        return self.table.shape

    @property
    def hash(self) -> str:
        """SHA-256 of widths, signedness and values (independent of dtype)."""
        import hashlib

        h = hashlib.sha256(f"{self.a_bits},{self.b_bits},{int(self.signed)};".encode())
        flat = self.table.reshape(-1)
        for start in range(0, flat.size, 1 << 20):  # bounded memory: 8 MB at a time
            h.update(np.ascontiguousarray(flat[start:start + (1 << 20)], dtype="<i8").data)
        return h.hexdigest()

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, ProductLUT)
            and (self.a_bits, self.b_bits, self.signed) == (other.a_bits, other.b_bits, other.signed)
            and np.array_equal(self.table, other.table)
        )

    __hash__ = None

    def __getitem__(self, index):
        return self.table[index]

    @classmethod
    def exact(cls, a_bits: int, b_bits: int, signed: bool = False) -> "ProductLUT":
        """The exact multiplier of these widths."""
        bits = a_bits + b_bits
        return cls(exact_table(a_bits, b_bits, signed).astype(lut_dtype(bits, signed)), a_bits, b_bits, signed, bits,
                   f"exact{a_bits}x{b_bits}{'s' if signed else 'u'}")

    def exact_table(self) -> np.ndarray:
        return exact_table(self.a_bits, self.b_bits, self.signed)

    def error(self) -> np.ndarray:
        """``table - exact`` (int64), the error matrix."""
        return self.table.astype(np.int64) - self.exact_table()

    def metrics(self) -> ErrorMetrics:
        """All error metrics of this LUT against the exact product."""
        if self.table.size < COMPILED_METRICS_MIN:
            return ErrorMetrics.from_tables(self.table, self.exact_table(), self.a_bits, self.b_bits, self.signed,
                                            self.output_bits)
        from .metrics_kernels import new_blocks, sums_from_blocks, table_sums

        acc, facc, hist = new_blocks(histogram_bins(self.a_bits, self.b_bits, self.output_bits))
        table_sums(np.ascontiguousarray(self.table).ravel(), self.a_bits, self.b_bits, self.signed, acc, facc, hist)
        sums = sums_from_blocks(self.table.size, acc, facc, hist)
        return ErrorMetrics.from_sums(sums, self.a_bits, self.b_bits, self.signed, self.output_bits)

    def to_numeric_order(self) -> np.ndarray:
        """The table with rows/columns in operand value order (a copy)."""
        return to_numeric_order(self.table, self.a_bits, self.b_bits, self.signed)

    @classmethod
    def from_numeric_order(cls, table: np.ndarray, a_bits: int, b_bits: int, signed: bool, **meta) -> "ProductLUT":
        """A LUT from a table in operand value order (inverse of `to_numeric_order`)."""
        return cls(from_numeric_order(table, a_bits, b_bits, signed), a_bits, b_bits, signed, **meta)
