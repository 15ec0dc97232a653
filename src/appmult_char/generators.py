"""Gate-level multiplier generators, as `Netlist`s of SOP nodes.

- `exact_multiplier(a_bits, b_bits)`: unsigned array multiplier; ``signed=True`` gives the
  Baugh-Wooley form (complemented sign partial products plus a correction constant).
- `truncated_multiplier(a_bits, b_bits, t)`: the classic approximate family that drops every
  partial product of weight below ``2^t`` (truncated partial-product columns).

Partial products are summed column by column with full and half adders, carries moving
to the next column, and the result taken modulo ``2^(a_bits+b_bits)``. Inputs are ``A[i]``, ``B[j]``,
outputs ``O[k]``, all LSB first.
"""

from __future__ import annotations

from ._errors import AppMultError
from .netlist import Netlist, Node

__all__ = ["exact_multiplier", "truncated_multiplier", "broken_array_multiplier", "multiplier"]

_XOR3 = ("100", "010", "001", "111")
_MAJ = ("11-", "1-1", "-11")


class _NetlistBuilder:
    def __init__(self):
        self.nodes: dict[str, Node] = {}

    def node(self, fanins, cubes, onset=True, name=None) -> str:
        name = name or f"n{len(self.nodes)}"
        self.nodes[name] = Node(name, tuple(fanins), tuple(cubes), onset)
        return name


def multiplier(a_bits: int, b_bits: int, signed: bool = False, truncate: int = 0, name: str | None = None, *,
               break_rows: int = 0) -> Netlist:
    """An a_bits x b_bits array multiplier dropping the partial products ``a_i b_j`` of
    weight ``2^(i+j) < 2^truncate`` (a vertical break, 0: exact) and those of the rows
    ``j < break_rows`` (a horizontal break) — the broken-array multiplier of Mahdiani et
    al. ("Bio-inspired imprecise computational blocks for efficient VLSI implementation of
    soft-computing applications", IEEE TCAS-I 2010) with both break levels."""
    if a_bits < 1 or b_bits < 1:
        raise AppMultError(f"operand widths must be at least 1, got {a_bits} x {b_bits}")
    if not 0 <= break_rows <= b_bits:
        raise AppMultError(f"break_rows must be 0..{b_bits} for {b_bits}-bit b operands, got {break_rows}")
    width = a_bits + b_bits
    b = _NetlistBuilder()
    a_in = [f"A[{i}]" for i in range(a_bits)]
    b_in = [f"B[{j}]" for j in range(b_bits)]
    columns: list[list[str]] = [[] for _ in range(width)]
    negative = 0  # weight of the complemented partial products (Baugh-Wooley)
    for i in range(a_bits):
        for j in range(b_bits):
            k = i + j
            if k < truncate or j < break_rows:
                continue
            inverted = signed and (i == a_bits - 1) != (j == b_bits - 1)
            if inverted:  # -x*2^k == (1-x)*2^k - 2^k
                negative += 1 << k
            columns[k].append(b.node([a_in[i], b_in[j]], ["11"], onset=not inverted))
    correction = -negative % (1 << width)
    if correction:
        one = b.node([], [""])
        for k in range(width):
            if correction >> k & 1:
                columns[k].append(one)
    outputs = []
    for k in range(width):
        col = columns[k]
        while len(col) > 1:
            if len(col) >= 3:
                x, y, z = col.pop(), col.pop(), col.pop()
                col.insert(0, b.node([x, y, z], _XOR3))
                carry = [x, y, z], _MAJ
            else:
                x, y = col.pop(), col.pop()
                col.insert(0, b.node([x, y], ["10", "01"]))
                carry = [x, y], ["11"]
            if k + 1 < width:
                columns[k + 1].append(b.node(*carry))
        out = f"O[{k}]"
        if col:
            b.node([col[0]], ["1"], name=out)
        else:
            b.node([], [], name=out)
        outputs.append(out)
    kind = "s" if signed else "u"
    default = f"mul{a_bits}x{b_bits}{kind}_exact" if not truncate else f"mul{a_bits}x{b_bits}{kind}_trunc{truncate}"
    if break_rows:
        default = f"mul{a_bits}x{b_bits}{kind}_bam{truncate}_{break_rows}"
    return Netlist(name or default, a_in + b_in, outputs, b.nodes)


def exact_multiplier(a_bits: int, b_bits: int, signed: bool = False) -> Netlist:
    """Exact a_bits x b_bits multiplier (Baugh-Wooley when signed)."""
    return multiplier(a_bits, b_bits, signed)


def broken_array_multiplier(a_bits: int, b_bits: int, vertical: int, horizontal: int,
                            signed: bool = False) -> Netlist:
    """Broken-array multiplier: no partial products of weight below ``2^vertical`` nor in
    the ``horizontal`` lowest rows (see `multiplier`)."""
    return multiplier(a_bits, b_bits, signed, vertical, break_rows=horizontal)


def truncated_multiplier(a_bits: int, b_bits: int, truncate: int, signed: bool = False) -> Netlist:
    """a_bits x b_bits multiplier without the partial products of weight below ``2^truncate``."""
    return multiplier(a_bits, b_bits, signed, truncate)
