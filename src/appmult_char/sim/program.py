"""Compile a `Netlist` once into a flat program of word-wide operations.

Each instruction computes ``dst = ((x ^ mx) & (y ^ my)) ^ mo`` (AND family: AND, OR,
NAND, NOR and the forms with inverted inputs), ``dst = x ^ y ^ mo`` (XOR, XNOR) or
``dst = mo`` (constant), where the masks are all-zeros or all-ones words.

Compilation has two passes. The first emits instructions in single-assignment form:
every signal is a *literal*, a value number and a polarity, so inverters cost nothing,
and identical instructions are emitted once (structural hashing: shared cube prefixes,
repeated gates). A node is first reduced to the fanins it depends on, using its truth
table (up to `MAX_TABLE_FANINS` fanins); constants, buffers, inverters, XOR/XNOR and
two-input gates become at most one instruction per fanin, and other functions the
cheaper of their sum of products and a reduced decision diagram over the truth table
(Shannon expansion with shared sub-functions; a cover of 20,000 minterms becomes a
few thousand multiplexers). The second pass drops instructions no output depends on and
assigns value numbers to slots by liveness, reusing a slot as soon as its value is dead,
so a chunk of words for every live signal stays in cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..netlist import Netlist, Node

__all__ = ["Program", "compile_netlist", "AND", "XOR", "CONST", "LANE_MASKS", "MAX_TABLE_FANINS"]

AND, XOR, CONST = 0, 1, 2
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
#: Word of pattern lanes whose bit i is set (patterns p = 64*word + lane), i < 6.
LANE_MASKS = np.array(
    [0xAAAAAAAAAAAAAAAA, 0xCCCCCCCCCCCCCCCC, 0xF0F0F0F0F0F0F0F0,
     0xFF00FF00FF00FF00, 0xFFFF0000FFFF0000, 0xFFFFFFFF00000000],
    dtype=np.uint64,
)
#: Nodes with at most this many fanins are simplified through their truth table.
MAX_TABLE_FANINS = 16
_SMALL = 6  # up to this many fanins the truth table is built with plain integers
_TRIAL_CUBES = 64  # covers up to this size are emitted both ways and the smaller is kept
_TABLE_WORK = 1 << 24  # most word updates for one wide cover's truth table before giving up on it
_TABLE_CHUNK = 1 << 20  # word updates per vectorised step

Literal = tuple[int, int]  # (value number, inverted)


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


# --- truth tables ----------------------------------------------------------------------

def _small_table(node: Node) -> int:
    """Truth table of a cover of at most `_SMALL` fanins (minterm bit i = fanin i)."""
    k = len(node.fanins)
    covered = 0
    for cube in node.cubes:
        care = sum(1 << i for i, c in enumerate(cube) if c != "-")
        value = sum(1 << i for i, c in enumerate(cube) if c == "1")
        for m in range(1 << k):
            if m & care == value:
                covered |= 1 << m
    if not node.cubes:
        return 0
    return covered if node.onset else ((1 << (1 << k)) - 1) & ~covered


def _wide_table(node: Node) -> np.ndarray | None:
    """Truth table (bool array over the 2^k minterms) of a cover of 7 to
    `MAX_TABLE_FANINS` fanins, or None when it would take more than `_TABLE_WORK`
    table words. The first six fanins select a bit of a 64-bit word and the others the
    word: each cube is one word pattern ORed into every word its upper literals match."""
    k = len(node.fanins)
    upper = k - 6
    words = np.zeros(1 << upper, dtype=np.uint64)
    if node.cubes:
        codes = np.frombuffer("".join(node.cubes).encode(), dtype=np.uint8).reshape(len(node.cubes), k)
        lane = np.full(len(codes), _ONES)
        for i in range(6):
            col = codes[:, i]
            lane &= np.where(col == ord("1"), LANE_MASKS[i], np.where(col == ord("0"), ~LANE_MASKS[i], _ONES))
        weights = np.int64(1) << np.arange(upper, dtype=np.int64)
        value = (codes[:, 6:] == ord("1")).astype(np.int64) @ weights
        free = (codes[:, 6:] == ord("-")).astype(np.int64)
        counts = np.int64(1) << free.sum(axis=1)
        if counts.sum() > _TABLE_WORK:
            return None
        free = free @ weights
        bounds = np.searchsorted(np.cumsum(counts), np.arange(1, 1 + counts.sum() // _TABLE_CHUNK) * _TABLE_CHUNK)
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(codes)]):
            if lo == hi:
                continue
            rep = np.repeat(np.arange(lo, hi), counts[lo:hi])
            sub = np.arange(len(rep)) - np.repeat(np.cumsum(counts[lo:hi]) - counts[lo:hi], counts[lo:hi])
            index, free_rep, rank = value[rep], free[rep], np.zeros(len(rep), dtype=np.int64)
            for b in range(upper):  # deposit the bits of `sub` into each cube's free positions
                bit = free_rep >> b & 1
                index |= (sub >> rank & bit) << b
                rank += bit
            np.bitwise_or.at(words, index, lane[rep])
        if not node.onset:
            words = ~words
    return np.unpackbits(words.view(np.uint8), bitorder="little").astype(bool)


def _reduce_small(tt: int, k: int) -> tuple[list[int], int]:
    """Fanin positions an integer truth table depends on, and its table over them."""
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


def _reduce_wide(table: np.ndarray, k: int) -> tuple[list[int], int]:
    """`_reduce_small` for a bool-array truth table; the reduced table as an integer."""
    support = []
    for i in reversed(range(k)):
        halves = table.reshape(-1, 2, 1 << i)
        if np.array_equal(halves[:, 0], halves[:, 1]):
            table = np.ascontiguousarray(halves[:, 0]).ravel()
        else:
            support.append(i)
    support.reverse()
    packed = np.packbits(table, bitorder="little").tobytes()
    return support, int.from_bytes(packed, "little") & ((1 << table.size) - 1)


def _parity(k: int) -> int:
    return sum(1 << m for m in range(1 << k) if bin(m).count("1") & 1)


# --- instruction emission --------------------------------------------------------------

class _Emitter:
    """Emits instructions in single-assignment form with structural hashing; value
    numbers below `first` are the primary inputs."""

    def __init__(self, first: int):
        self.first = first
        self.ops: list[tuple[int, int, int, int, int]] = []  # kind, x, y, ix, iy
        self.table: dict[tuple, int] = {}
        self._const: int | None = None

    def _op(self, key: tuple) -> Literal:
        v = self.table.get(key)
        if v is None:
            v = self.first + len(self.ops)
            self.ops.append(key)
            self.table[key] = v
        return v, 0

    def const(self, value: int) -> Literal:
        v, _ = self._op((CONST, 0, 0, 0, 0))
        self._const = v
        return v, value

    def const_value(self, lit: Literal) -> int | None:
        return lit[1] if lit[0] == self._const else None

    def and_(self, x: Literal, y: Literal) -> Literal:
        if x == y:
            return x
        if x[0] == y[0]:  # x & ~x
            return self.const(0)
        for a, b in ((x, y), (y, x)):
            c = self.const_value(a)
            if c is not None:
                return b if c else self.const(0)
        (vx, ix), (vy, iy) = sorted((x, y))
        return self._op((AND, vx, vy, ix, iy))

    def or_(self, x: Literal, y: Literal) -> Literal:
        v, inv = self.and_((x[0], 1 - x[1]), (y[0], 1 - y[1]))
        return v, 1 - inv

    def xor(self, x: Literal, y: Literal) -> Literal:
        inv = x[1] ^ y[1]
        if x[0] == y[0]:
            return self.const(inv)
        for a, b in ((x, y), (y, x)):
            c = self.const_value(a)
            if c is not None:
                return b[0], b[1] ^ c
        vx, vy = sorted((x[0], y[0]))
        v, _ = self._op((XOR, vx, vy, 0, 0))
        return v, inv

    def mux(self, s: Literal, hi: Literal, lo: Literal) -> Literal:
        """``s ? hi : lo`` in as few instructions as the operands allow."""
        if hi == lo:
            return hi
        if hi == (lo[0], 1 - lo[1]):
            return self.xor(s, lo)
        c_hi, c_lo = self.const_value(hi), self.const_value(lo)
        if c_lo is not None:
            return self.and_(s, hi) if c_lo == 0 else self.or_((s[0], 1 - s[1]), hi)
        if c_hi is not None:
            return self.and_((s[0], 1 - s[1]), lo) if c_hi == 0 else self.or_(s, lo)
        return self.xor(self.and_(s, self.xor(hi, lo)), lo)

    def inverted(self, v: int) -> Literal:
        """A value number holding the complement of `v` (not a literal inversion)."""
        return self._op((AND, v, v, 1, 1))

    def mark(self) -> int:
        return len(self.ops)

    def rollback(self, mark: int) -> None:
        for key in self.ops[mark:]:
            del self.table[key]
        del self.ops[mark:]
        if self._const is not None and self._const >= self.first + mark:
            self._const = None


def _sop(node: Node, lits: list[Literal], e: _Emitter) -> Literal:
    """The cover as ANDs of each cube's literals (fanin order, so prefixes are shared)
    joined by ORs."""
    if not node.cubes:
        return e.const(0)
    terms = []
    for cube in dict.fromkeys(node.cubes):
        acc = e.const(1)
        for lit, c in zip(lits, cube):
            if c != "-":
                acc = e.and_(acc, (lit[0], lit[1] ^ (c == "0")))
        terms.append(acc)
    acc = e.const(0)
    for t in terms:
        acc = e.or_(acc, t)
    return acc if node.onset else (acc[0], 1 - acc[1])


def _diagram(tt: int, width: int, lits: list[Literal], e: _Emitter, memo: dict) -> Literal:
    """The function with truth table `tt` over ``lits[:width]`` by Shannon expansion on
    the last variable, with equal and complementary sub-functions shared."""
    full = (1 << (1 << width)) - 1
    if tt == 0 or tt == full:
        return e.const(int(tt != 0))
    found = memo.get((width, tt))
    if found is not None:
        return found
    found = memo.get((width, full ^ tt))
    if found is not None:
        return found[0], 1 - found[1]
    half = 1 << (width - 1)
    lo, hi = tt & ((1 << half) - 1), tt >> half
    if lo == hi:
        result = _diagram(lo, width - 1, lits, e, memo)
    else:
        result = e.mux(lits[width - 1], _diagram(hi, width - 1, lits, e, memo),
                       _diagram(lo, width - 1, lits, e, memo))
    memo[(width, tt)] = result
    return result


def _node_literal(node: Node, lits: list[Literal], e: _Emitter) -> Literal:
    """Emit the instructions of `node`; return the literal of its value."""
    k = len(node.fanins)
    if k <= _SMALL:
        support, tt = _reduce_small(_small_table(node), k)
    elif k <= MAX_TABLE_FANINS and (table := _wide_table(node)) is not None:
        support, tt = _reduce_wide(table, k)
    else:
        return _sop(node, lits, e)
    s = [lits[i] for i in support]
    width = len(support)
    if width == 0:
        return e.const(tt & 1)
    if tt in (_parity(width), ((1 << (1 << width)) - 1) & ~_parity(width)):
        acc = (s[0][0], s[0][1] ^ int(tt != _parity(width)))
        for lit in s[1:]:
            acc = e.xor(acc, lit)
        return acc
    if width <= 2:
        return _diagram(tt, width, s, e, {})
    mark = e.mark()
    if len(node.cubes) <= _TRIAL_CUBES:  # count the SOP's new instructions (shared ones are free)
        _sop(node, lits, e)
        sop_ops = e.mark() - mark
        e.rollback(mark)
    else:  # its size without sharing: an upper bound
        sop_ops = sum(len(c) - c.count("-") for c in node.cubes)
    diagram = _diagram(tt, width, s, e, {})
    if e.mark() - mark <= sop_ops:
        return diagram
    e.rollback(mark)
    return _sop(node, lits, e)


# --- slot assignment -------------------------------------------------------------------

def _allocate(e: _Emitter, n_inputs: int, outputs: list[int]) -> Program:
    """Drop dead instructions and map value numbers to reusable slots by liveness."""
    n_ops = len(e.ops)
    live = np.zeros(n_inputs + n_ops, dtype=bool)
    live[outputs] = True
    for j in range(n_ops - 1, -1, -1):
        if live[n_inputs + j]:
            kind, x, y, _, _ = e.ops[j]
            if kind != CONST:
                live[x] = live[y] = True
    keep = [j for j in range(n_ops) if live[n_inputs + j]]
    end = len(keep)
    last_use = {o: end for o in outputs}
    for pos, j in enumerate(keep):
        kind, x, y, _, _ = e.ops[j]
        if kind != CONST:
            last_use[x] = last_use[y] = pos
    for o in outputs:
        last_use[o] = end
    slot = {i: i for i in range(n_inputs)}
    free = [i for i in reversed(range(n_inputs)) if i not in last_use]
    nslots = n_inputs
    ops = np.zeros((end, 4), dtype=np.int64)
    masks = np.zeros((end, 3), dtype=np.uint64)
    for pos, j in enumerate(keep):
        kind, x, y, ix, iy = e.ops[j]
        if kind != CONST:
            ops[pos, 2], ops[pos, 3] = slot[x], slot[y]
            masks[pos, 0], masks[pos, 1] = ix, iy
            for v in {x, y}:
                if last_use[v] == pos:  # dead after this instruction, which may overwrite it
                    free.append(slot[v])
        if free:
            dst = free.pop()
        else:
            dst, nslots = nslots, nslots + 1
        ops[pos, 0], ops[pos, 1] = kind, dst
        v = n_inputs + j
        slot[v] = dst
        if v not in last_use:
            free.append(dst)
    return Program(ops, masks * _ONES, max(nslots, 1), np.arange(n_inputs, dtype=np.int64),
                   np.array([slot[o] for o in outputs], dtype=np.int64))


def compile_netlist(netlist: Netlist, progress: Callable[[int], None] | None = None) -> Program:
    """Compile `netlist` into a `Program`; `progress`, if given, is called with the number
    of nodes compiled since its last call."""
    n_inputs = len(netlist.inputs)
    e = _Emitter(n_inputs)
    lit: dict[str, Literal] = {name: (i, 0) for i, name in enumerate(netlist.inputs)}
    done = 0
    for name in netlist.order():
        node = netlist.nodes[name]
        lit[name] = _node_literal(node, [lit[f] for f in node.fanins], e)
        done += 1
        if progress is not None and (done >= 256 or len(node.cubes) > 256):
            progress(done)
            done = 0
    if progress is not None and done:
        progress(done)
    outputs = []
    for name in netlist.outputs:
        v, inv = lit[name]
        if inv:  # an inverted output is materialised by one instruction (shared between outputs)
            v, _ = e.inverted(v)
        outputs.append(v)
    return _allocate(e, n_inputs, outputs)
