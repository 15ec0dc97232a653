"""Netlists as real flows write them: wide and huge covers, yosys constants inside
sub-models, dead logic with undriven nets, several root-level models, and names that
say signed. Each is built here and checked against exact products or a plain evaluation
of its cubes."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appmult_char import AppMultError, AppMultWarning, evaluate, parse_blif, simulate
from appmult_char.sim.program import compile_netlist


def _cover_value(cubes: list[str], onset: bool, bits: list[int]) -> int:
    if not cubes:
        return 0
    hit = any(all(c == "-" or int(c) == v for c, v in zip(cube, bits)) for cube in cubes)
    return int(hit == onset)


def _wide_blif(k: int, covers: list[tuple[list[str], bool]]) -> str:
    ins = [f"x{i}" for i in range(k)]
    lines = [".model wide", ".inputs " + " ".join(ins), ".outputs " + " ".join(f"o{j}" for j in range(len(covers)))]
    for j, (cubes, onset) in enumerate(covers):
        lines.append(".names " + " ".join(ins) + f" o{j}")
        lines += [f"{c} {int(onset)}" for c in cubes]
    return "\n".join(lines + [".end"]) + "\n"


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(7, 19), backend=st.sampled_from(["numba", "numpy"]))
def test_wide_covers_match_their_cubes(seed, k, backend):
    """Covers of 7 to 19 fanins (truth-table path up to 16, sum of products above), few
    to many cubes, dense to sparse, on- and off-set, duplicates and tautologies."""
    rng = random.Random(seed)
    covers = []
    for _ in range(rng.randint(1, 3)):
        dc = rng.choice([0.0, 0.2, 0.5, 0.8])
        cubes = ["".join("-" if rng.random() < dc else rng.choice("01") for _ in range(k))
                 for _ in range(rng.choice([0, 1, 5, 60, 400]))]
        cubes += cubes[: rng.randint(0, 3)]
        covers.append((cubes, rng.random() < 0.7))
    netlist = parse_blif(_wide_blif(k, covers))
    a_bits = k // 2
    gen = np.random.default_rng(seed)
    a = gen.integers(0, 1 << a_bits, 200)
    b = gen.integers(0, 1 << (k - a_bits), 200)
    got = evaluate(netlist, a, b, a_bits=a_bits, b_bits=k - a_bits, backend=backend)
    for av, bv, value in zip(a.tolist(), b.tolist(), got.tolist()):
        bits = [(av >> i) & 1 for i in range(a_bits)] + [(bv >> i) & 1 for i in range(k - a_bits)]
        assert value == sum(_cover_value(c, on, bits) << j for j, (c, on) in enumerate(covers))


def _minterm_multiplier(n: int) -> str:
    """An n x n multiplier written as one minterm cover per product bit (a LUT dumped as SOP)."""
    ins = [f"a[{i}]" for i in range(n)] + [f"b[{i}]" for i in range(n)]
    lines = [".model lutmul", ".inputs " + " ".join(ins), ".outputs " + " ".join(f"p[{j}]" for j in range(2 * n))]
    for j in range(2 * n):
        lines.append(".names " + " ".join(ins) + f" p[{j}]")
        lines += ["".join(str(a >> i & 1) for i in range(n)) + "".join(str(b >> i & 1) for i in range(n)) + " 1"
                  for a in range(1 << n) for b in range(1 << n) if (a * b) >> j & 1]
    return "\n".join(lines + [".end"]) + "\n"


def test_minterm_covers_compile_to_a_small_exact_program():
    netlist = parse_blif(_minterm_multiplier(6))
    cubes = sum(len(node.cubes) for node in netlist.nodes.values())
    program = compile_netlist(netlist)
    assert cubes > 10_000 and program.size < cubes // 4  # a decision diagram, not 10,000 AND chains
    a = np.arange(64)[:, None]
    b = np.arange(64)[None, :]
    assert np.array_equal(simulate(netlist).table, a * b)


def test_compile_reports_progress_per_node():
    netlist = parse_blif(_minterm_multiplier(4))
    seen = []
    compile_netlist(netlist, seen.append)
    assert sum(seen) == len(netlist.nodes)


# -- hierarchical netlists as yosys writes them (constants undefined, dead ports) ----------

def _hierarchical_multiplier(n: int, *, dead_port: bool = True, define_false_in: str | None = None) -> str:
    """An n x n array multiplier as separate models: partial products, a ripple row adder
    (carry-in from $false, which the model uses without defining it, as ``write_blif
    -impltf`` leaves it) built from full adders, and the top; an unused root-level model
    follows the top. With `dead_port`, the row adder has an extra output driven by a
    buffer of a net nothing drives, and the top leaves it unconnected."""
    a = [f"a[{i}]" for i in range(n)]
    b = [f"b[{i}]" for i in range(n)]
    pp = [f"pp_{i}_{j}" for i in range(n) for j in range(n)]  # a[j] & b[i]
    top = [".model top", ".inputs " + " ".join(a + b), ".outputs " + " ".join(f"p[{k}]" for k in range(2 * n))]
    top.append(".subckt ppgen " + " ".join(f"a{i}={x}" for i, x in enumerate(a)) + " "
               + " ".join(f"b{i}={x}" for i, x in enumerate(b)) + " " + " ".join(f"{q}={q}" for q in pp))
    acc = [f"pp_0_{j}" for j in range(n)] + ["$false"]
    top.append(".names pp_0_0 p[0]\n1 1")
    for i in range(1, n):
        s = [f"s{i}_{j}" for j in range(n + 1)]
        pins = [f"x{j}={acc[j + 1]}" for j in range(n)] + [f"y{j}=pp_{i}_{j}" for j in range(n)]
        pins += [f"s{j}={s[j]}" for j in range(n + 1)]
        top.append(".subckt row " + " ".join(pins))
        top.append(f".names {s[0]} p[{i}]\n1 1")
        acc = s
    for j in range(1, n + 1):
        top.append(f".names {acc[j]} p[{n - 1 + j}]\n1 1")
    top.append(".end")
    ppgen = [".model ppgen", ".inputs " + " ".join(f"a{i}" for i in range(n)) + " " + " ".join(f"b{i}" for i in range(n)),
             ".outputs " + " ".join(pp)]
    ppgen += [f".names a{j} b{i} pp_{i}_{j}\n11 1" for i in range(n) for j in range(n)]
    ppgen.append(".end")
    row = [".model row", ".inputs " + " ".join(f"x{j}" for j in range(n)) + " " + " ".join(f"y{j}" for j in range(n)),
           ".outputs " + " ".join(f"s{j}" for j in range(n + 1)) + (" c_out" if dead_port else "")]
    if define_false_in == "row":
        row.append(".names $false")
    carry = "$false"
    for j in range(n):
        row.append(f".subckt fa x=x{j} y=y{j} c={carry} s=s{j} co=CC[{j + 1}]")
        carry = f"CC[{j + 1}]"
    row.append(f".names {carry} s{n}\n1 1")
    if dead_port:
        row.append(f".names CC[{n + 2}] c_out\n1 1")  # CC[n+2] lost its driver
    row.append(".end")
    fa = [".model fa", ".inputs x y c", ".outputs s co", ".names x y c s", "100 1", "010 1", "001 1", "111 1",
          ".names x y c co", "11- 1", "1-1 1", "-11 1", ".end"]
    unused = [".model spare", ".inputs u", ".outputs v", ".names w v", "1 1", ".end"]
    return "\n".join(top + ppgen + row + fa + unused) + "\n"


@pytest.mark.parametrize("n", [2, 3, 5])
def test_hierarchical_multiplier_with_yosys_constants_and_dead_ports(n):
    with pytest.warns(AppMultWarning, match=r"constant drivers added to 1 non-driven nets: \$false"):
        netlist = parse_blif(_hierarchical_multiplier(n), "h.blif")
    assert netlist.tied == ["$false"]
    assert netlist.swept == n - 1  # one dead c_out buffer per row instance
    a = np.arange(1 << n)[:, None]
    b = np.arange(1 << n)[None, :]
    assert np.array_equal(simulate(netlist).table, a * b)


def test_a_constant_a_sub_model_defines_is_its_own_net():
    text = _hierarchical_multiplier(3, dead_port=False, define_false_in="row")
    with pytest.warns(AppMultWarning) as record:  # only the top's own $false is tied
        netlist = parse_blif(text, "h.blif")
    assert [str(w.message).count("$false") for w in record] == [1]
    assert any(name.endswith("/$false") for name in netlist.nodes)
    assert np.array_equal(simulate(netlist).table, np.arange(8)[:, None] * np.arange(8)[None, :])


UNDRIVEN = """.model t
.inputs a0 a1 b0 b1
.outputs p0 p1 p2 p3
.names a0 b0 p0
11 1
.names a1 b1 u p1
111 1
.names a0 p2
1 1
.names b0 p3
1 1
.names ghost dead
1 1
"""


def test_undriven_net_in_an_output_cone_is_an_error_or_tied_to_zero():
    with pytest.raises(AppMultError, match=r"t.blif:6: net u is used but never driven \(--tie-undriven"):
        parse_blif(UNDRIVEN, "t.blif")
    with pytest.warns(AppMultWarning, match="1 undriven nets tied to 0: u"):
        netlist = parse_blif(UNDRIVEN, "t.blif", tie_undriven=True)
    assert netlist.tied == ["u"] and netlist.swept == 1  # the ghost buffer drives nothing
    table = simulate(netlist).table
    for a in range(4):
        for b in range(4):
            expected = (a & b & 1) | (a & 1) << 2 | (b & 1) << 3  # p1 = a1 & b1 & 0
            assert table[a, b] == expected


def test_dead_logic_with_a_cycle_or_undriven_nets_is_swept_silently():
    text = UNDRIVEN.replace(".names a1 b1 u p1\n111 1", ".names a1 b1 p1\n11 1") + ".names dead loop x\n11 1\n.names x loop\n1 1\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        netlist = parse_blif(text, "t.blif")
    assert netlist.swept == 3 and netlist.tied == []


@pytest.mark.parametrize("name, hinted", [("mul8s_1KV6", True), ("mult_s_8", True), ("mul8x8s", True),
                                          ("mul8u_1KV6", False), ("unsigned_mult", False)])
def test_signed_looking_names_warn_when_simulated_unsigned(name, hinted):
    netlist = parse_blif(UNDRIVEN.replace(".model t", f".model {name}").replace(" u p1", " p1").replace("111", "11"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        simulate(netlist)
        simulate(netlist, signed=True)
    messages = [str(w.message) for w in caught if issubclass(w.category, AppMultWarning)]
    assert len(messages) == int(hinted)
    if hinted:
        assert "suggests a signed multiplier" in messages[0] and name in messages[0]
