"""One multiplier per layer under an energy budget, as a 0-1 integer linear program
(FAMES, Sec. IV-D), solved by HiGHS through `scipy.optimize.milp`; `exhaustive` is the
brute-force reference for small instances."""

from __future__ import annotations

import itertools

import numpy as np

from .._errors import AppMultError

__all__ = ["solve", "exhaustive", "smallest_budget"]


def smallest_budget(energies: list[np.ndarray]) -> float:
    """The least total energy any assignment reaches."""
    return float(sum(np.min(e) for e in energies))


def _check(costs, energies, budget):
    if len(costs) != len(energies) or any(np.shape(c) != np.shape(e) for c, e in zip(costs, energies)):
        raise ValueError("one cost and one energy per candidate of every layer")
    low = smallest_budget(energies)
    if low > budget * (1 + 1e-12):
        raise AppMultError(f"no assignment fits the energy budget {budget:.6g}: the cheapest needs {low:.6g}")


def solve(costs: list[np.ndarray], energies: list[np.ndarray], budget: float) -> list[int]:
    """For layers l with candidates k: the choice (one index per layer) minimising
    ``sum_l costs[l][k_l]`` subject to ``sum_l energies[l][k_l] <= budget``."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    _check(costs, energies, budget)
    sizes = [len(c) for c in costs]
    n = sum(sizes)
    starts = np.cumsum([0] + sizes[:-1])
    one_hot = np.zeros((len(sizes), n))
    for l, (s, k) in enumerate(zip(starts, sizes)):
        one_hot[l, s:s + k] = 1.0
    c = np.concatenate([np.asarray(v, dtype=np.float64) for v in costs])
    e = np.concatenate([np.asarray(v, dtype=np.float64) for v in energies])
    scale = max(float(np.abs(c).max(initial=0.0)), 1e-300)  # costs of order 1e-6 or 1e6 solve alike
    result = milp(c / scale, integrality=np.ones(n), bounds=Bounds(0, 1),
                  constraints=[LinearConstraint(one_hot, 1, 1), LinearConstraint(e[None, :], -np.inf, budget)])
    if result.status != 0 or result.x is None:
        raise AppMultError(f"the selection program found no solution: {result.message}")
    x = np.round(result.x).astype(int)
    return [int(np.argmax(x[s:s + k])) for s, k in zip(starts, sizes)]


def exhaustive(costs: list[np.ndarray], energies: list[np.ndarray], budget: float) -> list[int]:
    """`solve` by trying every assignment (a reference for tests; ties: the first in
    lexicographic order)."""
    _check(costs, energies, budget)
    best, best_cost = None, np.inf
    for choice in itertools.product(*(range(len(c)) for c in costs)):
        energy = sum(energies[l][k] for l, k in enumerate(choice))
        if energy <= budget * (1 + 1e-12):
            cost = sum(costs[l][k] for l, k in enumerate(choice))
            if cost < best_cost:
                best, best_cost = list(choice), cost
    return best
