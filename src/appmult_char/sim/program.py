"""Compile a `Netlist` once into a flat program of word-wide operations.

Each instruction computes ``dst = ((x ^ mx) & (y ^ my)) ^ mo`` (AND family: AND, OR,
NAND, NOR and the forms with inverted inputs), ``dst = x ^ y ^ mo`` (XOR, XNOR) or
``dst = mo`` (constant), where the masks are all-zeros or all-ones words. Nodes of up to
six fanins are first reduced to their support and recognised as one AND-family or XOR
instruction when they are one; other covers become AND chains per cube joined by ORs.
Signals live in numbered slots that are reused once a signal is dead, so a chunk of
words for every live signal stays in cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..netlist import Netlist, Node

__all__ = ["Program", "compile_netlist", "AND", "XOR", "CONST", "LANE_MASKS"]

AND, XOR, CONST = 0, 1, 2
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
#: Word of pattern lanes whose bit i is set (patterns p = 64*word + lane), i < 6.
LANE_MASKS = np.array(
    [0xAAAAAAAAAAAAAAAA, 0xCCCCCCCCCCCCCCCC, 0xF0F0F0F0F0F0F0F0,
     0xFF00FF00FF00FF00, 0xFFFF0000FFFF0000, 0xFFFFFFFF00000000],
    dtype=np.uint64,
)


@dataclass(frozen=True)
class Program:
    """A compiled netlist: instructions, slot count, where inputs go and outputs come from."""

    ops: np.ndarray  # int64 (n, 4): kind, dst, x, y
    masks: np.ndarray  # uint64 (n, 3): mx, my, mo
    nslots: int
    input_slots: np.ndarray  # int64, one per primary input, in .inputs order
    output_slots: np.ndarray  # int64, one per primary output, in .outputs order

    @property
    def size(self) -> int:
        """Number of word operations per pattern word."""
        return len(self.ops)


def _truth_table(node: Node) -> int:
    """Truth table over the fanins (minterm bit i = fanin i), as an integer bitmask."""
    k = len(node.fanins)
    covered = 0
    for cube in node.cubes:
        care = sum(1 << i for i, c in enumerate(cube) if c != "-")
        value = sum(1 << i for i, c in enumerate(cube) if c == "1")
        for m in range(1 << k):
            if m & care == value:
                covered |= 1 << m
    full = (1 << (1 << k)) - 1
    if not node.cubes:
        return 0
    return covered if node.onset else full & ~covered


def _reduce_support(tt: int, k: int) -> tuple[list[int], int]:
    """Fanin positions the function depends on, and its truth table over them."""
    support = []
    for i in range(k):
        for m in range(1 << k):
            if not m >> i & 1 and (tt >> m & 1) != (tt >> (m | 1 << i) & 1):
                support.append(i)
                break
    reduced = 0
    for r in range(1 << len(support)):
        m = sum(1 << pos for j, pos in enumerate(support) if r >> j & 1)
        reduced |= (tt >> m & 1) << r
    return support, reduced


def _parity(k: int) -> int:
    return sum(1 << m for m in range(1 << k) if bin(m).count("1") & 1)


class _OpBuilder:
    """Emits instructions, allocating temporaries from the free slots."""

    def __init__(self, free: list[int], nslots: int):
        self.ops: list[tuple[int, int, int, int, int, int, int]] = []
        self.free = free
        self.nslots = nslots

    def alloc(self) -> int:
        if self.free:
            return self.free.pop()
        self.nslots += 1
        return self.nslots - 1

    def emit(self, kind, x=(0, 0), y=(0, 0), inv=0) -> tuple[int, int]:
        """Emit one instruction into a new temporary; return it as a literal (slot, 0)."""
        dst = self.alloc()
        self.ops.append((kind, dst, x[0], y[0], x[1], y[1], inv))
        return dst, 0

    def and_(self, x, y):
        return self.emit(AND, x, y)

    def or_(self, x, y):
        return self.emit(AND, (x[0], 1 - x[1]), (y[0], 1 - y[1]), 1)

    def xor(self, x, y):
        return self.emit(XOR, x, y, x[1] ^ y[1])


def _node_ops(node: Node, lits: list[int], b: _OpBuilder) -> None:
    """Emit the instructions of `node`; the last one writes the result (dst patched later)."""
    k = len(node.fanins)
    if k <= 6:
        tt = _truth_table(node)
        support, tt = _reduce_support(tt, k)
        s = [(lits[i], 0) for i in support]
        width = len(support)
        full = (1 << (1 << width)) - 1
        if width == 0:
            b.emit(CONST, inv=tt & 1)
            return
        if width == 1:  # buffer or inverter
            b.emit(AND, s[0], s[0], inv=int(tt == 0b01))
            return
        if tt in (_parity(width), full & ~_parity(width)):
            acc = s[0]
            for lit in s[1:-1]:
                acc = b.xor(acc, lit)
            b.emit(XOR, acc, s[-1], inv=int(tt != _parity(width)))
            return
        if width == 2 and bin(tt).count("1") in (1, 3):  # one AND-family instruction
            ones = bin(tt).count("1") == 1
            m = (tt if ones else full & ~tt).bit_length() - 1
            b.emit(AND, (s[0][0], 1 - (m & 1)), (s[1][0], 1 - (m >> 1 & 1)), inv=0 if ones else 1)
            return
    start = len(b.ops)
    terms = []
    for cube in node.cubes:
        cube_lits = [(lits[i], int(c == "0")) for i, c in enumerate(cube) if c != "-"]
        if not cube_lits:  # tautology: the cover is constant
            b.emit(CONST, inv=int(node.onset))
            return
        acc = cube_lits[0]
        for lit in cube_lits[1:]:
            acc = b.and_(acc, lit)
        terms.append(acc)
    if not terms:
        b.emit(CONST, inv=0)
        return
    acc = terms[0]
    for t in terms[1:]:
        acc = b.or_(acc, t)
    invert = int(not node.onset)
    if len(b.ops) > start and acc == (b.ops[-1][1], 0):  # fold the polarity into the last op
        kind, dst, x, y, ix, iy, io = b.ops[-1]
        b.ops[-1] = (kind, dst, x, y, ix, iy, io ^ invert)
    else:  # the cover is a single literal
        b.emit(AND, acc, acc, inv=invert)


def compile_netlist(netlist: Netlist) -> Program:
    """Compile `netlist` into a `Program` with dead-slot reuse."""
    order = netlist.order()
    end = len(order)
    last_use: dict[str, int] = {}
    for pos, name in enumerate(order):
        for f in netlist.nodes[name].fanins:
            last_use[f] = pos
    for o in netlist.outputs:
        last_use[o] = end
    slot = {name: i for i, name in enumerate(netlist.inputs)}
    free: list[int] = [slot[i] for i in netlist.inputs if i not in last_use][::-1]
    b = _OpBuilder(free, len(netlist.inputs))
    for pos, name in enumerate(order):
        node = netlist.nodes[name]
        start = len(b.ops)
        _node_ops(node, [slot[f] for f in node.fanins], b)
        temps = {op[1] for op in b.ops[start:]}
        dead = {slot[f] for f in set(node.fanins) if last_use[f] == pos}
        b.free.extend(sorted(temps | dead, reverse=True))
        dst = b.alloc()
        kind, _, x, y, ix, iy, io = b.ops[-1]
        b.ops[-1] = (kind, dst, x, y, ix, iy, io)
        slot[name] = dst
        if name not in last_use:  # drives nothing: free at once
            b.free.append(dst)
    ops = np.array([op[:4] for op in b.ops], dtype=np.int64).reshape(-1, 4)
    masks = (np.array([op[4:] for op in b.ops], dtype=np.uint64).reshape(-1, 3) * _ONES).astype(np.uint64)
    return Program(
        ops,
        masks,
        max(b.nslots, 1),
        np.array([slot[i] for i in netlist.inputs], dtype=np.int64),
        np.array([slot[o] for o in netlist.outputs], dtype=np.int64),
    )
