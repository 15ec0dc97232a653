"""BLIF reader: the constructs real netlists bring, and a located error for each bad one."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from appmult_char import AppMultError, AppMultWarning, parse_blif, simulate


def truth(text: str, **mapping) -> dict:
    """Outputs (as a tuple) for every input pattern, via the compiled simulator."""
    nl = parse_blif(text, "t.blif")
    results = {}
    for values in itertools.product((0, 1), repeat=len(nl.inputs)):
        env = dict(zip(nl.inputs, values))
        results[values] = tuple(nl.evaluate(env)[o] for o in nl.outputs)
    return results


def test_comments_continuations_offset_and_constants():
    text = """# a comment
.model t   # trailing comment
.inputs a \\
  b
.outputs y z one zero empty
.names a b y
11 0
.names a \\
 b z
1- 1
-1 1
.names one
 1
.names zero
 0
.names empty
.end
"""
    got = truth(text)
    for (a, b), (y, z, one, zero, empty) in got.items():
        assert y == 1 - (a & b)
        assert z == a | b
        assert (one, zero, empty) == (1, 0, 0)


@pytest.mark.filterwarnings("ignore::appmult_char.AppMultWarning")
def test_outputs_fed_by_inputs_and_other_outputs_and_any_order():
    text = """.model t
.inputs a b
.outputs p q r
.names q p
1 1
.names a b q
10 1
01 1
.names $true x
1 1
.names a r
1 1
.end
"""
    nl = parse_blif(text)
    for a, b in itertools.product((0, 1), repeat=2):
        out = nl.evaluate({"a": a, "b": b})
        assert out == {"p": a ^ b, "q": a ^ b, "r": a}


def test_output_that_is_an_input_and_yosys_constants():
    text = """.model t
.inputs a b
.outputs a o1 o2 o3
.names $false o1
1 1
.names $true o2
1 1
.names $undef o3
1 1
.end
"""
    with pytest.warns(AppMultWarning, match=r"\$false"):
        nl = parse_blif(text)
    assert sorted(nl.tied) == ["$false", "$true", "$undef"]
    assert nl.evaluate({"a": 1, "b": 0}) == {"a": 1, "o1": 0, "o2": 1, "o3": 0}


def test_hierarchy_is_flattened():
    text = """.model top
.inputs x0 x1 x2
.outputs s c
.subckt ha a=x0 b=x1 s=t c=c1
.subckt ha a=t b=x2 s=s c=c2
.names c1 c2 c
1- 1
-1 1
.end

.model ha
.inputs a b
.outputs s c
.subckt xor2 p=a q=b r=s
.names a b c
11 1
.end

.model xor2
.inputs p q
.outputs r
.names p q r
10 1
01 1
.end
"""
    nl = parse_blif(text)
    for bits in itertools.product((0, 1), repeat=3):
        out = nl.evaluate(dict(zip(["x0", "x1", "x2"], bits)))
        total = sum(bits)
        assert (out["s"], out["c"]) == (total & 1, int(total >= 2))


def test_non_square_bus_mapping_without_options():
    # a 3x2 multiplier with its operand buses shuffled (the first bus listed is a)
    from appmult_char.generators import exact_multiplier
    from appmult_char.io.blif import format_blif

    nl = exact_multiplier(3, 2)
    text = format_blif(nl).replace(".inputs A[0] A[1] A[2] B[0] B[1]", ".inputs A[2] B[1] A[0] B[0] A[1]")
    lut = simulate(parse_blif(text))
    assert (lut.a_bits, lut.b_bits) == (3, 2)
    assert np.array_equal(lut.table, lut.exact_table())


BAD = {
    "syntax": (".model t\n.inputs a\n.outputs y\n11 1\n.end\n", 4, "syntax error"),
    "unknown": (".model t\n.inputs a\n.outputs y\n.frobnicate\n.end\n", 4, "unknown directive"),
    "latch": (".model t\n.inputs a\n.outputs y\n.latch a y re clk 0\n.end\n", 4, ".latch is not supported"),
    "gate": (".model t\n.inputs a\n.outputs y\n.gate AND2 A=a Y=y\n.end\n", 4, ".gate is not supported"),
    "cycle": (".model t\n.inputs a\n.outputs y\n.names a z y\n11 1\n.names y z\n1 1\n.end\n", None, "cycle"),
    "double": (".model t\n.inputs a\n.outputs y\n.names a y\n1 1\n.names a y\n0 1\n.end\n", 6, "driven twice"),
    "input_driven": (".model t\n.inputs a\n.outputs y\n.names y a\n1 1\n.names a y\n1 1\n.end\n", 4, "primary input"),
    "width": (".model t\n.inputs a b\n.outputs y\n.names a b y\n1 1\n.end\n", 5, "has 1 inputs but y has 2"),
    "mixed": (".model t\n.inputs a b\n.outputs y\n.names a b y\n11 1\n00 0\n.end\n", 6, "mixes on-set and off-set"),
    "badchar": (".model t\n.inputs a\n.outputs y\n.names a y\nx 1\n.end\n", 5, "only contain"),
    "badvalue": (".model t\n.inputs a\n.outputs y\n.names a y\n1 2\n.end\n", 5, "must be 0 or 1"),
    "undefined_model": (".model t\n.inputs a\n.outputs y\n.subckt nope x=a y=y\n.end\n", 4, "undefined model nope"),
    "port": (".model t\n.inputs a\n.outputs y\n.subckt b q=a y=y\n.end\n.model b\n.inputs x\n.outputs y\n.names x y\n1 1\n.end\n",
             4, "has no port q"),
    "unconnected": (".model t\n.inputs a\n.outputs y\n.subckt b y=y\n.end\n.model b\n.inputs x\n.outputs y\n.names x y\n1 1\n.end\n",
                    4, "input x of model b is not connected"),
    "undriven": (".model t\n.inputs a\n.outputs y\n.names a w y\n11 1\n.end\n", 4, "w is used but never driven"),
    "undriven_output": (".model t\n.inputs a\n.outputs y\n.end\n", 1, "y is used but never driven"),
    "recursive": (".model t\n.inputs a\n.outputs y\n.subckt t a=a y=y\n.end\n", 4, "instantiates itself"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_located(case):
    text, line, message = BAD[case]
    with pytest.raises(AppMultError, match=message) as info:
        parse_blif(text, "bad.blif")
    err = info.value
    assert err.path == "bad.blif"
    if line is not None:
        assert err.line == line
    assert "\n" not in str(err)
    assert str(err).startswith("bad.blif:")
