"""Gate types of SOP nodes and the area and delay proxies of a netlist.

Each node is classified by its truth table over its fanins (inverted inputs are free:
``a & ~b`` counts as an AND): constants, buffers, inverters, AND/NAND/OR/NOR (one on-set
or off-set minterm), XOR/XNOR (parity), 2:1 multiplexers, 3-input majority, and
``complex`` for everything else (or more than `MAX_CLASSIFIED` fanins).

The area proxy weighs each gate in NAND2 equivalents, typical of a standard-cell library
(a k-input AND/OR/XOR costs k - 1 two-input gates; a complex node one NAND2 per literal
of its cover; buffers and constants nothing: wires). The delay proxy is the depth in
gate levels. Both are estimates for ranking circuits of one library against each
other, not timing or area sign-off.
"""

from __future__ import annotations

from ..netlist import Netlist, Node

__all__ = ["GATE_TYPES", "AREA_WEIGHTS", "gate_type", "gate_counts", "area_proxy", "MAX_CLASSIFIED"]

GATE_TYPES = ("const", "buf", "not", "and", "nand", "or", "nor", "xor", "xnor", "mux", "maj", "complex")
#: NAND2 equivalents per two-input gate (per gate for not, mux, maj; per literal for complex).
AREA_WEIGHTS = {"const": 0.0, "buf": 0.0, "not": 0.67, "and": 1.33, "nand": 1.0, "or": 1.33, "nor": 1.0,
                "xor": 2.33, "xnor": 2.33, "mux": 2.33, "maj": 2.33, "complex": 1.0}
MAX_CLASSIFIED = 6


def _truth_table(node: Node) -> tuple[int, ...]:
    k = len(node.fanins)
    return tuple(node.evaluate({f: (m >> i) & 1 for i, f in enumerate(node.fanins)}) for m in range(1 << k))


def _is_mux(tt: tuple[int, ...]) -> bool:
    for s, x, y in ((0, 1, 2), (1, 0, 2), (2, 0, 1)):  # select input, data inputs
        for inv in range(8):
            ok = True
            for m in range(8):
                bits = [((m >> i) & 1) ^ ((inv >> i) & 1) for i in range(3)]
                if tt[m] != (bits[y] if bits[s] else bits[x]):
                    ok = False
                    break
            if ok:
                return True
    return False


def gate_type(node: Node) -> str:
    """One of `GATE_TYPES` (see the module docstring)."""
    k = len(node.fanins)
    if k > MAX_CLASSIFIED:
        return "complex"
    tt = _truth_table(node)
    ones = [m for m, v in enumerate(tt) if v]
    if len(ones) in (0, len(tt)):
        return "const"
    if k == 1:
        return "buf" if tt == (0, 1) else "not"
    full = (1 << k) - 1
    if len(ones) == 1:
        return "nor" if ones[0] == 0 else "and"
    if len(ones) == len(tt) - 1:
        zero = next(m for m, v in enumerate(tt) if not v)
        return "nand" if zero == full else "or"
    if all(tt[m] == (bin(m).count("1") + tt[0]) % 2 for m in range(len(tt))):
        return "xnor" if tt[0] else "xor"
    if k == 3:
        if _is_mux(tt):
            return "mux"
        for inv in range(8):
            if all(tt[m] == (bin(m ^ inv).count("1") >= 2) for m in range(8)):
                return "maj"
    return "complex"


def gate_counts(netlist: Netlist) -> dict[str, int]:
    """How many nodes of each `GATE_TYPES` type the netlist has."""
    counts = dict.fromkeys(GATE_TYPES, 0)
    for node in netlist.nodes.values():
        counts[gate_type(node)] += 1
    return counts


def _area(node: Node, kind: str) -> float:
    k = len(node.fanins)
    if kind == "complex":
        return AREA_WEIGHTS["complex"] * sum(sum(c != "-" for c in cube) for cube in node.cubes)
    if kind in ("and", "nand", "or", "nor", "xor", "xnor"):
        return AREA_WEIGHTS[kind] * (k - 1)
    return AREA_WEIGHTS[kind]


def area_proxy(netlist: Netlist) -> float:
    """Summed NAND2-equivalent area of the netlist's gates (see the module docstring)."""
    return float(sum(_area(node, gate_type(node)) for node in netlist.nodes.values()))
