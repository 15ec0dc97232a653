"""Property tests: generated multipliers are exact, random netlists simulate like a plain
Python evaluator of their (hierarchical) description, and every LUT format round-trips."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from appmult_char import ProductLUT, Simulator, evaluate, load_lut, parse_blif, save_lut, simulate
from appmult_char.generators import exact_multiplier

widths = st.integers(1, 8)
backends = st.sampled_from(["numba", "numpy"])


@settings(max_examples=40, deadline=None)
@given(n=widths, m=widths, signed=st.booleans(), backend=backends)
def test_generated_exact_multiplier_is_exact(n, m, signed, backend):
    lut = simulate(exact_multiplier(n, m, signed), signed=signed, backend=backend)
    a = np.arange(1 << n)[:, None]
    b = np.arange(1 << m)[None, :]
    if signed:
        a = np.where(a >= 1 << (n - 1), a - (1 << n), a)
        b = np.where(b >= 1 << (m - 1), b - (1 << m), b)
    assert np.array_equal(lut.table, a * b)


def assert_same_sums(got, want) -> None:
    """Every exact sum and histogram bin equal; the relative-error float sum (summed in
    another order by each path) equal within rounding."""
    import dataclasses

    import pytest

    a, b = dataclasses.asdict(got), dataclasses.asdict(want)
    assert a.pop("sum_rel") == pytest.approx(b.pop("sum_rel"), rel=1e-12, abs=1e-300)
    assert a == b


# -- random hierarchical SOP networks -----------------------------------------------------

def _random_cover(rng: random.Random, k: int):
    cubes = ["".join(rng.choice("01--") for _ in range(k)) for _ in range(rng.randint(0, 4))]
    return cubes, rng.random() < 0.7


def _random_model(rng: random.Random, name: str, inputs: list[str], n_nodes: int, n_out: int, subs: dict):
    """A model spec: items are ('names', fanins, out, cubes, onset) or ('subckt', sub, pins, outs)."""
    signals = list(inputs)
    items = []
    for i in range(n_nodes):
        if subs and rng.random() < 0.3:
            sub_name = rng.choice(sorted(subs))
            sub = subs[sub_name]
            pins = {p: rng.choice(signals) for p in sub["inputs"]}
            outs = {q: f"{name}_s{i}_{q}" for q in sub["outputs"]}
            items.append(("subckt", sub_name, pins, outs))
            signals.extend(outs.values())
        else:
            k = rng.randint(0, min(4, len(signals)))
            fanins = rng.sample(signals, k)
            cubes, onset = _random_cover(rng, k)
            out = f"{name}_n{i}"
            items.append(("names", fanins, out, cubes, onset))
            signals.append(out)
    outputs = [rng.choice(signals[len(inputs):] or signals) for _ in range(n_out)]
    # outputs get their own names, driven by buffers (an output may repeat a signal)
    named = [f"{name}_o{j}" for j in range(n_out)]
    for net, src in zip(named, outputs):
        items.append(("names", [src], net, ["1"], True))
    return {"inputs": inputs, "outputs": named, "items": items}


def _random_design(seed: int):
    rng = random.Random(seed)
    subs = {}
    for s in range(rng.randint(0, 2)):
        ins = [f"p{j}" for j in range(rng.randint(1, 3))]
        subs[f"sub{s}"] = _random_model(rng, f"sub{s}", ins, rng.randint(1, 5), rng.randint(1, 2), dict(subs))
    half = rng.randint(1, 5)
    top = _random_model(rng, "top", [f"x{j}" for j in range(2 * half)], rng.randint(1, 25), rng.randint(1, 12), subs)
    return top, subs, half


def _blif(top, subs) -> str:
    lines = []
    for name, model in [("top", top), *subs.items()]:
        lines += [f".model {name}", ".inputs " + " ".join(model["inputs"]), ".outputs " + " ".join(model["outputs"])]
        for item in model["items"]:
            if item[0] == "names":
                _, fanins, out, cubes, onset = item
                lines.append(" ".join([".names", *fanins, out]))
                lines += [f"{c} {int(onset)}" if fanins else str(int(onset)) for c in cubes]
            else:
                _, sub, pins, outs = item
                lines.append(" ".join([".subckt", sub] + [f"{f}={a}" for f, a in {**pins, **outs}.items()]))
        lines.append(".end")
    return "\n".join(lines) + "\n"


def _reference_eval(model, subs, values: dict[str, int]) -> list[int]:
    env = dict(values)
    for item in model["items"]:
        if item[0] == "names":
            _, fanins, out, cubes, onset = item
            hit = any(all(c == "-" or int(c) == env[f] for c, f in zip(cube, fanins)) for cube in cubes)
            env[out] = 0 if not cubes else int(hit == onset)
        else:
            _, sub, pins, outs = item
            sub_out = _reference_eval(subs[sub], subs, {p: env[a] for p, a in pins.items()})
            env.update({outs[q]: v for q, v in zip(subs[sub]["outputs"], sub_out)})
    return [env[o] for o in model["outputs"]]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), backend=backends)
def test_random_hierarchical_networks_match_reference(seed, backend):
    top, subs, half = _random_design(seed)
    netlist = parse_blif(_blif(top, subs))
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, 300))
    a = rng.integers(0, 1 << half, count)
    b = rng.integers(0, 1 << half, count)
    got = evaluate(netlist, a, b, a_bits=half, b_bits=half, backend=backend)
    for av, bv, value in zip(a.tolist(), b.tolist(), got.tolist()):
        bits = {f"x{j}": (av >> j) & 1 for j in range(half)}
        bits.update({f"x{half + j}": (bv >> j) & 1 for j in range(half)})
        expected = sum(bit << j for j, bit in enumerate(_reference_eval(top, subs, bits)))
        assert value == expected


def reference_table(top, subs, half: int, signed: bool) -> np.ndarray:
    """The exhaustive table of a random design by the plain-Python evaluator (outputs
    sign-extended when signed), indexed by the raw operand patterns."""
    nout = len(top["outputs"])
    expected = np.empty((1 << half, 1 << half), dtype=np.int64)
    for av in range(1 << half):
        for bv in range(1 << half):
            bits = {f"x{j}": (av >> j) & 1 for j in range(half)}
            bits.update({f"x{half + j}": (bv >> j) & 1 for j in range(half)})
            raw = sum(bit << j for j, bit in enumerate(_reference_eval(top, subs, bits)))
            expected[av, bv] = raw - (((raw >> (nout - 1)) & 1) << nout) if signed else raw
    return expected


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_exhaustive_lut_matches_the_reference_evaluator(seed):
    """Every entry of the exhaustive LUT, on both back ends, against the plain-Python
    evaluation of the random design (outputs sign-extended when signed)."""
    top, subs, half = _random_design(seed)
    signed = bool(seed & 1)
    netlist = parse_blif(_blif(top, subs))
    nout = len(top["outputs"])
    expected = reference_table(top, subs, half, signed)
    table = ProductLUT(expected, half, half, signed, nout).metrics()  # more product bits than a*b needs, too
    for backend in ("numba", "numpy"):
        sim = Simulator(netlist, signed=signed, backend=backend)
        assert np.array_equal(sim.lut().table, expected), backend
        assert_same_sums(sim.metrics(), table)


# -- formats ------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 7), m=st.integers(1, 7), signed=st.booleans(), seed=st.integers(0, 2**32 - 1),
       suffix=st.sampled_from([".npz", ".txt", ".txt.gz"]))
def test_formats_round_trip(tmp_path_factory, n, m, signed, seed, suffix):
    rng = np.random.default_rng(seed)
    bits = n + m
    low, high = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    lut = ProductLUT(rng.integers(low, high, (1 << n, 1 << m)).astype(np.int32), n, m, signed, bits, "r")
    path = tmp_path_factory.mktemp("rt") / f"lut{suffix}"
    save_lut(lut, path)
    back = load_lut(path, signed=signed)
    assert back == lut
    assert back.hash == lut.hash
