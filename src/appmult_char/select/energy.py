"""Energy per multiplication: a user's table, or an estimate from the netlist.

A table (CSV with a header) names each multiplier and gives either ``energy`` or
``power`` and ``delay`` (any units, the same for every row): the power-delay product
(PDP) is the energy of one multiplication, as EvoApproxLib publishes it for its PDK45
synthesis.

`activity_pdp` is an estimate, not a synthesis result: dynamic energy taken as
proportional to the switched capacitance, every node's capacitance as one plus its
number of fanins (a gate and the wire into it), its switching activity as the fraction of
consecutive operand pairs that toggle it, operand pairs drawn from a layer's code-pair
counts (or uniformly), and delay as the netlist's depth in gate levels. Use it to rank
designs of the same widths; compare it with synthesis before trusting absolute figures.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from .._errors import AppMultError

__all__ = ["read_energy_table", "activity_pdp"]


def read_energy_table(path: str | os.PathLike) -> dict[str, float]:
    """``{name: energy per multiplication}`` from a CSV file (see the module docstring)."""
    path = os.fspath(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise AppMultError(f"cannot read: {exc.strerror}", path) from None
    if not rows:
        raise AppMultError("file is empty", path)
    header = [h.strip().lower() for h in rows[0]]
    if "name" not in header or not ("energy" in header or {"power", "delay"} <= set(header)):
        raise AppMultError("want a header with name and energy, or name, power and delay", path, 1)
    col = {h: i for i, h in enumerate(header)}
    table: dict[str, float] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            name = row[col["name"]].strip()
            energy = (float(row[col["energy"]]) if "energy" in col
                      else float(row[col["power"]]) * float(row[col["delay"]]))
        except (IndexError, ValueError):
            raise AppMultError("want a name and numbers in every column", path, line) from None
        if not np.isfinite(energy) or energy < 0:
            raise AppMultError(f"energy of {name} must be a finite number >= 0, got {energy}", path, line)
        if name in table:
            raise AppMultError(f"{name} appears twice", path, line)
        table[name] = energy
    return table


def _node_values(netlist, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every node's value (bool arrays) for the given input values, covers evaluated as
    sums of products."""
    env = dict(inputs)
    size = len(next(iter(inputs.values())))
    for name in netlist.order():
        node = netlist.nodes[name]
        covered = np.zeros(size, dtype=bool)
        for cube in node.cubes:
            term = np.ones(size, dtype=bool)
            for ch, fanin in zip(cube, node.fanins):
                if ch == "1":
                    term &= env[fanin]
                elif ch == "0":
                    term &= ~env[fanin]
            covered |= term
        env[name] = covered if node.onset or not node.cubes else ~covered
    return env


def activity_pdp(netlist, counts: np.ndarray | None = None, *, samples: int = 4096, seed: int = 0,
                 **mapping) -> float:
    """Estimated energy of one multiplication (see the module docstring): switched
    capacitance per operand change times depth. `counts` ``(2^a, 2^b)`` weights the
    operand pairs (a layer's `code_counts`); `mapping` as `appmult_char.simulate` takes."""
    from ..operands import OperandMap

    ops = OperandMap.infer(netlist, **mapping)
    A, B = 1 << ops.a_bits, 1 << ops.b_bits
    rng = np.random.default_rng(seed)
    if counts is None:
        a, b = rng.integers(0, A, samples), rng.integers(0, B, samples)
    else:
        p = np.asarray(counts, dtype=np.float64).ravel()
        if p.shape != (A * B,) or p.sum() <= 0:
            raise AppMultError(f"operand counts of shape {np.shape(counts)} do not fit a {ops.a_bits}x{ops.b_bits} "
                               "multiplier")
        pairs = rng.choice(A * B, size=samples, p=p / p.sum())
        a, b = pairs // B, pairs % B
    inputs = {name: np.zeros(samples, dtype=bool) for name in netlist.inputs}
    for bit, pos in enumerate(ops.a_inputs):
        inputs[netlist.inputs[pos]] = (a >> bit & 1).astype(bool)
    for bit, pos in enumerate(ops.b_inputs):
        inputs[netlist.inputs[pos]] = (b >> bit & 1).astype(bool)
    values = _node_values(netlist, inputs)
    switched = 0.0
    for name, node in netlist.nodes.items():
        v = values[name]
        switched += (1 + len(node.fanins)) * np.count_nonzero(v[1:] != v[:-1]) / (samples - 1)
    return switched * max(netlist.depth(), 1)
