"""`ProductLUT`: a multiplier's full product table with its metadata.

``table[a][b]`` is the product for operand bit patterns ``a`` (n bits) and ``b`` (m bits):
rows and columns are indexed by the raw patterns, values are in the product's own
interpretation (two's-complement signed when `signed`). Numeric order (row ``i`` is
operand value ``i - 2^(n-1)`` for signed) is only ever produced by the explicit
`to_numeric_order`/`from_numeric_order` conversions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ._errors import AppMultError
from .metrics import ErrorMetrics

__all__ = ["ProductLUT", "operand_values", "exact_table", "lut_dtype", "to_numeric_order", "from_numeric_order"]


def operand_values(bits: int, signed: bool) -> np.ndarray:
    """Operand value of each raw bit pattern ``0 .. 2^bits - 1`` (int64)."""
    v = np.arange(1 << bits, dtype=np.int64)
    return v - ((v >> (bits - 1)) << bits) if signed else v


def exact_table(n: int, m: int, signed: bool) -> np.ndarray:
    """The exact product table of n x m operands, indexed by raw patterns."""
    return np.multiply.outer(operand_values(n, signed), operand_values(m, signed))


def to_numeric_order(table: np.ndarray, n: int, m: int, signed: bool) -> np.ndarray:
    """A copy of a raw-pattern-indexed table with rows/columns in operand value order."""
    if not signed:
        return table.copy()
    return np.roll(table, (1 << (n - 1), 1 << (m - 1)), axis=(0, 1))


def from_numeric_order(table: np.ndarray, n: int, m: int, signed: bool) -> np.ndarray:
    """Inverse of `to_numeric_order`."""
    if not signed:
        return table.copy()
    return np.roll(table, (-(1 << (n - 1)), -(1 << (m - 1))), axis=(0, 1))


def lut_dtype(output_bits: int, signed: bool) -> np.dtype:
    """Smallest of int32/int64 that holds every product value."""
    return np.dtype(np.int32 if output_bits <= (31 if not signed else 32) else np.int64)


@dataclass(frozen=True, eq=False)
class ProductLUT:
    """Product table ``table[a][b]`` of an n x m multiplier (see module docstring)."""

    table: np.ndarray
    n: int
    m: int
    signed: bool = False
    output_bits: int | None = None
    name: str = ""
    source: str | None = None

    def __post_init__(self):
        if self.table.ndim != 2 or self.table.shape != (1 << self.n, 1 << self.m):
            raise AppMultError(f"LUT of shape {self.table.shape} is not 2^{self.n} x 2^{self.m}")
        if self.table.dtype.kind not in "iu":
            raise AppMultError(f"LUT values must be integers, not {self.table.dtype}")
        if self.output_bits is None:
            object.__setattr__(self, "output_bits", self.n + self.m)

    @property
    def shape(self) -> tuple[int, int]:
        return self.table.shape

    @property
    def hash(self) -> str:
        """SHA-256 of widths, signedness and values (independent of dtype)."""
        h = hashlib.sha256(f"{self.n},{self.m},{int(self.signed)};".encode())
        h.update(np.ascontiguousarray(self.table, dtype="<i8").tobytes())
        return h.hexdigest()

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, ProductLUT)
            and (self.n, self.m, self.signed) == (other.n, other.m, other.signed)
            and np.array_equal(self.table, other.table)
        )

    __hash__ = None

    def __getitem__(self, index):
        return self.table[index]

    @classmethod
    def exact(cls, n: int, m: int, signed: bool = False) -> "ProductLUT":
        """The exact multiplier of these widths."""
        bits = n + m
        return cls(exact_table(n, m, signed).astype(lut_dtype(bits, signed)), n, m, signed, bits, f"exact{n}x{m}{'s' if signed else 'u'}")

    def exact_table(self) -> np.ndarray:
        return exact_table(self.n, self.m, self.signed)

    def error(self) -> np.ndarray:
        """``table - exact`` (int64), the error matrix."""
        return self.table.astype(np.int64) - self.exact_table()

    def metrics(self) -> ErrorMetrics:
        """All error metrics of this LUT against the exact product."""
        return ErrorMetrics.from_tables(self.table, self.exact_table(), self.n, self.m, self.signed, self.output_bits)

    def to_numeric_order(self) -> np.ndarray:
        """The table with rows/columns in operand value order (a copy)."""
        return to_numeric_order(self.table, self.n, self.m, self.signed)

    @classmethod
    def from_numeric_order(cls, table: np.ndarray, n: int, m: int, signed: bool, **meta) -> "ProductLUT":
        """A LUT from a table in operand value order (inverse of `to_numeric_order`)."""
        return cls(from_numeric_order(table, n, m, signed), n, m, signed, **meta)

    def save(self, path) -> None:
        """Save losslessly as `.npz` (the table under ``lut``)."""
        from .io import save_lut

        save_lut(self, path)

    @classmethod
    def load(cls, path) -> "ProductLUT":
        """Load a LUT saved by `save` (or an AppMult text file, by suffix)."""
        from .io import load_lut

        return load_lut(path)
