"""Which primary inputs form operands `a` and `b`, and which outputs the product bits.

By default two input buses (``A[i]``/``B[i]``, ``IN1[i]``/``IN2[i]``, …) map by bus name
and index, the first bus being `a`; otherwise the first half of the inputs in ``.inputs``
order is `a` (LSB first) and the second half `b`. Explicit widths or bus prefixes
override that; ``msb_first`` reverses positional operands and outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._compat import renamed_attribute
from ._errors import AppMultError
from .netlist import Netlist

__all__ = ["OperandMap", "MAX_OUTPUT_BITS", "signed_hint"]

#: Products are held in int64.
MAX_OUTPUT_BITS = 63
_BUS = re.compile(r"^(.*)[\[<](\d+)[\]>]$")


#: Names that say "signed": ``mul8s``, ``mul8x8s_1KV6``, a ``s`` or ``signed`` word (``mult_s_8``).
_SIGNED_NAME = re.compile(r"mul\d+(x\d+)?s(?![a-z])|(?<![a-z0-9])(s|signed)(?![a-z0-9])")


def signed_hint(netlist: Netlist) -> str | None:
    """The model, file or input-bus name that suggests a signed multiplier, if any."""
    import os

    names = [netlist.name]
    if netlist.source:
        names.append(os.path.basename(netlist.source).split(".")[0])
    names.extend(sorted({p[0] for p in map(_bus, netlist.inputs) if p}))
    return next((n for n in names if _SIGNED_NAME.search(n.lower().replace("_", " "))), None)


def _bus(name: str) -> tuple[str, int] | None:
    match = _BUS.match(name)
    return (match.group(1), int(match.group(2))) if match else None


def _buses(names: list[str]) -> dict[str, dict[int, int]] | None:
    """Bus name -> {bit index: position in `names`}, or None if some name is not a bus bit."""
    buses: dict[str, dict[int, int]] = {}
    for pos, name in enumerate(names):
        parsed = _bus(name)
        if parsed is None:
            return None
        buses.setdefault(parsed[0], {})[parsed[1]] = pos
    return buses


def _ordered(bits: dict[int, int]) -> tuple[int, ...] | None:
    """Positions LSB first, if the bus indices are exactly 0..k-1."""
    return tuple(bits[i] for i in range(len(bits))) if set(bits) == set(range(len(bits))) else None


@dataclass(frozen=True)
class OperandMap:
    """Positions (in ``.inputs``/``.outputs`` order) of the bits of `a`, `b` and the product, LSB first."""

    a_inputs: tuple[int, ...]
    b_inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    @property
    def a_bits(self) -> int:
        return len(self.a_inputs)

    @property
    def b_bits(self) -> int:
        return len(self.b_inputs)

    n = renamed_attribute("a_bits", "n")
    m = renamed_attribute("b_bits", "m")

    @classmethod
    def infer(
        cls,
        netlist: Netlist,
        a_bits: int | None = None,
        b_bits: int | None = None,
        a_bus: str | None = None,
        b_bus: str | None = None,
        msb_first: bool = False,
    ) -> "OperandMap":
        """Map `netlist`'s ports to operands; see the module docstring for the rules."""
        where = netlist.source or netlist.name
        nin = len(netlist.inputs)
        if (a_bus is None) != (b_bus is None):
            raise AppMultError("give both operand bus names (a and b) or neither", where)
        if a_bus is not None and (a_bits is not None or b_bits is not None):
            raise AppMultError("give operand bus names or operand widths, not both", where)
        buses = _buses(netlist.inputs)
        if a_bus is not None:
            a, b = (cls._named_bus(buses, name, netlist) for name in (a_bus, b_bus))
            if len(a) + len(b) != nin:
                raise AppMultError(f"buses {a_bus} and {b_bus} cover {len(a) + len(b)} of the {nin} inputs", where)
        elif a_bits is not None or b_bits is not None:
            asked = ", ".join(f"{name} {v} bits" for name, v in (("a", a_bits), ("b", b_bits)) if v is not None)
            a_bits = nin - b_bits if a_bits is None else a_bits
            b_bits = nin - a_bits if b_bits is None else b_bits
            if a_bits < 1 or b_bits < 1 or a_bits + b_bits != nin:
                half = max(1, nin // 2)
                raise AppMultError(f"operand widths ({asked}) do not fit the {nin} inputs: a and b need at least 1 bit "
                                   f"each and {nin} together, e.g. --a-bits {half} --b-bits {nin - half}", where)
            a, b = cls._positional(nin, a_bits, msb_first)
        elif buses is not None and len(buses) == 2 and all(_ordered(bits) for bits in buses.values()):
            a, b = (_ordered(bits) for bits in buses.values())
        elif nin >= 2 and nin % 2 == 0:
            a, b = cls._positional(nin, nin // 2, msb_first)
        else:
            raise AppMultError(f"cannot split {nin} inputs into two operands: give the operand widths or bus names", where)
        outputs = cls._outputs(netlist, msb_first)
        if len(outputs) > MAX_OUTPUT_BITS:
            raise AppMultError(f"{len(outputs)} product bits do not fit 64-bit integers (at most {MAX_OUTPUT_BITS})", where)
        return cls(tuple(a), tuple(b), outputs)

    @staticmethod
    def _positional(nin: int, a_bits: int, msb_first: bool):
        a, b = list(range(a_bits)), list(range(a_bits, nin))
        return (a[::-1], b[::-1]) if msb_first else (a, b)

    @staticmethod
    def _named_bus(buses, name: str, netlist: Netlist) -> tuple[int, ...]:
        where = netlist.source or netlist.name
        if buses is None or name not in buses:
            found = sorted({p[0] for p in map(_bus, netlist.inputs) if p})
            raise AppMultError(f"no input bus named {name} (buses: {', '.join(found) or 'none'})", where)
        ordered = _ordered(buses[name])
        if ordered is None:
            raise AppMultError(f"bus {name} does not have bits 0..{len(buses[name]) - 1}", where)
        return ordered

    @staticmethod
    def _outputs(netlist: Netlist, msb_first: bool) -> tuple[int, ...]:
        buses = _buses(netlist.outputs)
        if buses is not None and len(buses) == 1:
            ordered = _ordered(next(iter(buses.values())))
            if ordered is not None:
                return ordered
        positions = list(range(len(netlist.outputs)))
        return tuple(positions[::-1] if msb_first else positions)
