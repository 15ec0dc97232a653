"""The flat combinational netlist of SOP nodes that every reader produces.

A `Node` is one ``.names`` cover: its fanin nets, its cubes (one string of ``0``/``1``/``-``
per cube, one character per fanin) and whether the cover lists the on-set (output column
``1``) or the off-set (``0``, the node is the complement of the cover). No cubes means
constant 0.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass, field

from ._errors import AppMultError

__all__ = ["Node", "Netlist"]


@dataclass(frozen=True)
class Node:
    """One SOP cover driving the net `name`."""

    name: str
    fanins: tuple[str, ...]
    cubes: tuple[str, ...]
    onset: bool = True
    line: int | None = None

    def evaluate(self, values: dict[str, int]) -> int:
        """Value (0/1) of the node for fanin values, by the definition of a cover."""
        if not self.cubes:
            return 0
        covered = any(
            all(c == "-" or int(c) == values[f] for c, f in zip(cube, self.fanins))
            for cube in self.cubes
        )
        return int(covered if self.onset else not covered)


@dataclass
class Netlist:
    """A flat combinational netlist: primary inputs, primary outputs and SOP nodes.

    `nodes` maps each driven net to its `Node`; every fanin and output is a primary input
    or a node. `tied` lists nets that were used but never driven and were tied to a
    constant the way ABC and yosys do (``$false``, ``$undef``, ``$true``, or any net when
    asked to); `swept` counts the nodes the reader removed because no output depends on them.
    """

    name: str
    inputs: list[str]
    outputs: list[str]
    nodes: dict[str, Node]
    source: str | None = None
    tied: list[str] = field(default_factory=list)
    swept: int = 0
    _order: list[str] | None = field(default=None, repr=False, compare=False)

    def order(self) -> list[str]:
        """Node names in topological order (fanins first); raises on a cycle."""
        if self._order is None:
            sorter = graphlib.TopologicalSorter(
                {name: [f for f in node.fanins if f in self.nodes] for name, node in self.nodes.items()}
            )
            try:
                self._order = list(sorter.static_order())
            except graphlib.CycleError as exc:
                cycle = exc.args[1]
                first = self.nodes.get(cycle[0])
                raise AppMultError(
                    "combinational cycle: " + " -> ".join(cycle),
                    self.source,
                    first.line if first else None,
                ) from None
        return self._order

    def cone(self) -> set[str]:
        """Names of the nodes some primary output depends on."""
        seen: set[str] = set()
        stack = [o for o in self.outputs if o in self.nodes]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(f for f in self.nodes[name].fanins if f in self.nodes and f not in seen)
        return seen

    def evaluate(self, values: dict[str, int]) -> dict[str, int]:
        """Plain-Python evaluation of one input pattern (a reference for tests)."""
        env = dict(values)
        for name in self.order():
            env[name] = self.nodes[name].evaluate(env)
        return {o: env[o] for o in self.outputs}

    def depth(self) -> int:
        """Largest number of nodes on a path from an input to an output."""
        level: dict[str, int] = {i: 0 for i in self.inputs}
        for name in self.order():
            level[name] = 1 + max((level[f] for f in self.nodes[name].fanins), default=0)
        return max((level[o] for o in self.outputs), default=0)

    def stats(self) -> dict[str, int]:
        """Counts for `appmult-char info`."""
        return {
            "inputs": len(self.inputs),
            "outputs": len(self.outputs),
            "nodes": len(self.nodes),
            "cubes": sum(len(n.cubes) for n in self.nodes.values()),
            "literals": sum(sum(c != "-" for c in cube) for n in self.nodes.values() for cube in n.cubes),
            "depth": self.depth(),
        }
