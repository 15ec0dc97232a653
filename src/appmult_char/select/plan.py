"""The whole selection: statistics, estimates, energies, the program; and its result."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from .._errors import AppMultError
from .energy import activity_pdp
from .estimate import LayerStatistics, first_order, layer_statistics
from .ilp import smallest_budget, solve
from .library import Candidate, error_matrix

__all__ = ["Plan", "Selection", "select_multipliers", "assign", "OBJECTIVES"]

#: ``abs``: minimise ``|first-order term| + second-order term`` (a bound on the loss
#: change's magnitude; without the second-order term, the first-order magnitude);
#: ``signed``: the estimates as they are, the published formulation, which lets a large
#: error with a negative first-order term look like a gain.
OBJECTIVES = ("abs", "signed")


@dataclass
class Plan:
    """An assignment of candidates to layers, with what it was chosen from."""

    assignment: dict[str, str]
    budget: float
    energy_ratio: float
    estimates: dict[str, dict[str, float]]
    energies: dict[str, dict[str, float]]
    objective: str
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"assignment": self.assignment, "budget": self.budget, "energy_ratio": self.energy_ratio,
                "objective": self.objective, "estimates": self.estimates, "energies": self.energies, **self.meta}

    def apply(self, model, candidates: list[Candidate], *, forward: str = "lut"):
        """A copy of `model` with each layer's assigned candidate, in `forward` mode."""
        return assign(model, {l: _by_name(candidates, n).lut for l, n in self.assignment.items()}, forward=forward)

    def save(self, path: str | os.PathLike) -> None:
        from ..io._files import atomic_output

        with atomic_output(path, "w") as fh:
            fh.write(json.dumps(self.to_dict(), indent=2) + "\n")


def _by_name(candidates: list[Candidate], name: str) -> Candidate:
    for c in candidates:
        if c.name == name:
            return c
    raise AppMultError(f"no candidate named {name} in the library")


def assign(model, multipliers: dict[str, Any], *, forward: str = "lut"):
    """A copy of `model` with ``multipliers[layer]`` (a `Multiplier`, `ProductLUT` or file)
    in the named approximate layers, every approximate layer in `forward` mode."""
    import copy

    from ..nn.convert import approx_layers

    out = copy.deepcopy(model)
    layers = approx_layers(out)
    for name, m in multipliers.items():
        if name not in layers:
            raise AppMultError(f"the model has no approximate layer {name!r} (it has: {', '.join(layers)})")
        layers[name].use_multiplier(m)
    for layer in layers.values():
        layer.set_mode(forward)
    return out


def _energy_per_multiplication(candidates: list[Candidate], stats: dict[str, LayerStatistics],
                               table: dict[str, float] | None) -> dict[str, dict[str, float]]:
    """``{layer: {candidate: energy of the layer's multiplications}}``."""
    out: dict[str, dict[str, float]] = {}
    for name, s in stats.items():
        row = {}
        for c in candidates:
            if c.widths != s.widths:
                continue
            if table is not None:
                if c.name not in table:
                    raise AppMultError(f"the energy table has no row for {c.name}")
                pdp = table[c.name]
            elif c.netlist is not None:
                pdp = activity_pdp(c.netlist, s.counts)
            else:
                raise AppMultError(f"{c.name} has no netlist to estimate its energy from: give an energy table")
            row[c.name] = pdp * s.multiplications
        out[name] = row
    return out


class Selection:
    """Everything the program needs, computed once: per-layer statistics, estimates,
    energies; `plan` solves for one budget, `pareto` for many (see `select_multipliers`
    for the arguments)."""

    def __init__(self, model, candidates: list[Candidate], batches: Iterable, *,
                 energy_table: dict[str, float] | None = None, objective: str = "abs", second_order: bool = False,
                 iterations: int = 20, loss: Callable | None = None, exact: str | None = None):
        if objective not in OBJECTIVES:
            raise AppMultError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
        batches = list(batches)
        self.objective = objective
        self.stats = layer_statistics(model, batches, loss)
        estimates = first_order(self.stats, candidates)
        if second_order:
            from .second_order import second_order as term
            from .second_order import top_eigenpairs

            extra = term(top_eigenpairs(model, batches[0], iterations=iterations), estimates, candidates)
        else:
            extra = {l: (names, np.zeros(len(names))) for l, (names, _) in estimates.items()}
        self.energies = _energy_per_multiplication(candidates, self.stats, energy_table)
        self.layers = list(self.stats)
        self.names = [estimates[l][0] for l in self.layers]
        self.estimates = {l: dict(zip(self.names[i], map(float, estimates[l][1] + extra[l][1])))
                          for i, l in enumerate(self.layers)}
        self.costs = [(np.abs(estimates[l][1]) if objective == "abs" else estimates[l][1]) + extra[l][1]
                      for l in self.layers]
        self.layer_energy = [np.array([self.energies[l][n] for n in self.names[i]]) for i, l in enumerate(self.layers)]
        self.total = sum(_reference_energy(candidates, self.stats, self.energies, exact).values())
        self.smallest = smallest_budget(self.layer_energy) / self.total

    def plan(self, budget: float) -> Plan:
        """The assignment of least summed cost within `budget` (a ratio of the exact energy)."""
        if not budget > 0:
            raise AppMultError(f"the energy budget must be a ratio > 0, got {budget}")
        if self.smallest > budget * (1 + 1e-12):
            raise AppMultError(f"no assignment fits the energy budget {budget:.4g}: the smallest feasible budget with "
                               f"this library is {self.smallest:.4g}")
        choice = solve(self.costs, self.layer_energy, budget * self.total)
        assignment = {l: self.names[i][k] for i, (l, k) in enumerate(zip(self.layers, choice))}
        used = sum(self.energies[l][assignment[l]] for l in self.layers)
        cost = float(sum(c[k] for c, k in zip(self.costs, choice)))
        return Plan(assignment, budget, used / self.total, self.estimates, self.energies, self.objective,
                    {"smallest_budget": self.smallest, "cost": cost})

    def pareto(self, budgets: Iterable[float]) -> list[Plan]:
        """`plan` at each feasible budget."""
        return [self.plan(b) for b in budgets if b >= self.smallest]


def select_multipliers(model, candidates: list[Candidate], batches: Iterable, budget: float, *,
                       energy_table: dict[str, float] | None = None, objective: str = "abs",
                       second_order: bool = False, iterations: int = 20, loss: Callable | None = None,
                       exact: str | None = None) -> Plan:
    """Choose a candidate for every approximate layer of `model` minimising the estimated
    loss change, with the layers' energy at most `budget` times their energy with the
    `exact` candidate (default: the library's exact multiplier of each format, found by
    its error matrix being zero); estimates from `batches` of ``(input, target)``.

    `second_order` adds the top-eigenpair Hessian term (`second_order.top_eigenpairs`,
    `iterations` power steps, on the first batch); `objective` is one of `OBJECTIVES`."""
    if not budget > 0:
        raise AppMultError(f"the energy budget must be a ratio > 0, got {budget}")
    return Selection(model, candidates, batches, energy_table=energy_table, objective=objective,
                     second_order=second_order, iterations=iterations, loss=loss, exact=exact).plan(budget)


def _reference_energy(candidates, stats, energies, exact: str | None) -> dict[str, float]:
    out = {}
    for l, s in stats.items():
        if exact is not None:
            if exact not in energies[l]:
                raise AppMultError(f"the reference multiplier {exact} does not fit layer {l}")
            out[l] = energies[l][exact]
            continue
        exacts = [c.name for c in candidates if c.widths == s.widths and not error_matrix(c.lut).any()]
        if not exacts:
            raise AppMultError(f"the library has no exact {s.a_bits}x{s.b_bits} multiplier to measure the budget "
                               f"against (layer {l}); add one or name the reference")
        out[l] = energies[l][exacts[0]]
    return out
