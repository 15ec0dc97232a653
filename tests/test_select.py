"""Multiplier selection (`appmult_char.select`): counting matrices against per-output
brute force, first-order estimates against the linearised loss change autograd gives
through an error-injected layer, the program against exhaustive search, the netlist
activity against plain evaluation, and one clear error per bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from appmult_char import AppMultError, ProductLUT, simulate
from appmult_char.generators import broken_array_multiplier
from appmult_char.nn import ApproxConv2d, ApproxLinear, Multiplier, approximate, calibrate
from appmult_char.select import (activity_pdp, code_counts, counting_matrix, counting_matrix_torch, error_matrix,
                                 assign, exhaustive, first_order, generated_library, layer_statistics, read_energy_table,
                                 select_multipliers, solve)
from appmult_char.select.energy import _node_values


def _signed_value(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) & 1 else v


@pytest.mark.parametrize("signed", [False, True])
def test_broken_array_multiplier_keeps_exactly_the_unbroken_partial_products(signed):
    n, m, vertical, horizontal = 4, 3, 2, 1
    lut = simulate(broken_array_multiplier(n, m, vertical, horizontal, signed), signed=signed)
    for a, b in itertools.product(range(1 << n), range(1 << m)):
        total = 0
        for i, j in itertools.product(range(n), range(m)):
            if i + j >= vertical and j >= horizontal:
                sign = -1 if signed and (i == n - 1) != (j == m - 1) else 1
                total += sign * (a >> i & 1) * (b >> j & 1) << (i + j)
        expected = _signed_value(total % (1 << (n + m)), n + m) if signed else total
        assert lut.table[a, b] == expected, (a, b)


def _brute_counting(x, w, g, a_bits, b_bits):
    """Per output (r, c): the count of every code pair in its sum, weighted by g[r, c]."""
    G = np.zeros((1 << a_bits, 1 << b_bits))
    for r in range(x.shape[0]):
        for c in range(w.shape[0]):
            counts = np.zeros_like(G)
            for k in range(x.shape[1]):
                counts[x[r, k] % (1 << a_bits), w[c, k] % (1 << b_bits)] += 1
            G += g[r, c] * counts
    return G


@pytest.mark.parametrize("signed", [False, True])
def test_counting_matrix_equals_per_output_counting(signed):
    rng = np.random.default_rng(1)
    lo_a, hi_a = (-8, 8) if signed else (0, 16)
    x = rng.integers(lo_a, hi_a, (11, 7))
    w = rng.integers(-4 if signed else 0, 4 if signed else 8, (5, 7))
    g = rng.standard_normal((11, 5))
    expected = _brute_counting(x, w, g, 4, 3)
    np.testing.assert_allclose(counting_matrix(x, w, g, 4, 3), expected, rtol=1e-12, atol=1e-12)
    got = counting_matrix_torch(torch.tensor(x), torch.tensor(w), torch.tensor(g), 4, 3).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(code_counts(x, w, 4, 3), _brute_counting(x, w, np.ones((11, 5)), 4, 3))


def _error_lut(a_bits, b_bits, signed, seed):
    exact = ProductLUT.exact(a_bits, b_bits, signed)
    noise = np.random.default_rng(seed).integers(-5, 6, exact.table.shape)
    return ProductLUT(exact.table.astype(np.int64) + noise, a_bits, b_bits, signed, name=f"noisy{seed}")


LAYERS = {
    "linear": lambda m: ApproxLinear(12, 5, m, forward="exact"),
    "conv": lambda m: ApproxConv2d(4, 6, 3, m, stride=2, padding=1, groups=2, forward="exact"),
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("signed,weight_quant", [(False, "per_channel"), (True, "per_tensor")])
def test_first_order_estimate_is_the_linearised_loss_change(kind, signed, weight_quant):
    torch.manual_seed(0)
    layer = LAYERS[kind](Multiplier(ProductLUT.exact(5, 4, signed)))
    layer.weight_quant.channel_axis = 0 if weight_quant == "per_channel" else None
    model = nn.Sequential(layer, nn.Flatten()).double()
    x = torch.randn(6, 12, dtype=torch.float64) if kind == "linear" else torch.randn(3, 4, 6, 5, dtype=torch.float64)
    calibrate(model, [x])
    width = model(x).shape[1]
    target = torch.randint(0, width, (x.shape[0],))
    loss = nn.functional.cross_entropy
    stats = layer_statistics(model, [(x, target)])["0"]
    y = model(x).detach().requires_grad_()
    g, = torch.autograd.grad(loss(y, target), y)
    for seed in range(3):
        lut = _error_lut(5, 4, signed, seed)
        approx = assign(model, {"0": lut})
        linearised = float((g * (approx(x) - model(x))).sum().detach())
        estimate = float((stats.gradient_counts * error_matrix(lut)).sum())
        assert estimate == pytest.approx(linearised, rel=1e-9, abs=1e-12)
    # the whole library as one product: the same numbers
    libs = [type("C", (), {"name": f"n{s}", "lut": _error_lut(5, 4, signed, s), "widths": (5, 4, signed)})()
            for s in range(3)]
    names, values = first_order({"0": stats}, libs)["0"]
    for c, v in zip(libs, values):
        assert v == pytest.approx(float((stats.gradient_counts * error_matrix(c.lut)).sum()), rel=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_program_equals_exhaustive_search(seed):
    rng = np.random.default_rng(seed)
    costs = [rng.random(6) for _ in range(3)]
    energies = [np.sort(rng.random(6))[::-1] for _ in range(3)]
    budget = sum(e.min() for e in energies) + rng.random() * sum(e.max() - e.min() for e in energies)
    got, best = solve(costs, energies, budget), exhaustive(costs, energies, budget)
    cost = lambda ch: sum(c[k] for c, k in zip(costs, ch))  # noqa: E731
    assert cost(got) == pytest.approx(cost(best), rel=1e-9)
    assert sum(e[k] for e, k in zip(energies, got)) <= budget * (1 + 1e-9)


def test_program_below_the_cheapest_assignment_names_it():
    with pytest.raises(AppMultError, match="cheapest needs 2"):
        solve([np.zeros(2), np.zeros(2)], [np.array([1.0, 2.0]), np.array([1.0, 3.0])], 1.5)


def test_node_activity_values_equal_plain_evaluation():
    netlist = broken_array_multiplier(4, 4, 2, 1)
    rng = np.random.default_rng(3)
    bits = {name: rng.integers(0, 2, 40).astype(bool) for name in netlist.inputs}
    values = _node_values(netlist, bits)
    for t in range(40):
        env = {name: int(v[t]) for name, v in bits.items()}
        for name in netlist.order():
            env[name] = netlist.nodes[name].evaluate(env)
            assert env[name] == int(values[name][t])
    exact, broken = activity_pdp(broken_array_multiplier(4, 4, 0, 0)), activity_pdp(netlist)
    assert broken < exact  # fewer gates, fewer levels, less switching


def test_energy_table_forms_and_errors(tmp_path):
    good = tmp_path / "e.csv"
    good.write_text("name,power,delay\nmul_a,2.0,0.5\nmul_b,1,1\n")
    assert read_energy_table(good) == {"mul_a": 1.0, "mul_b": 1.0}
    (tmp_path / "f.csv").write_text("name,energy\nx,abc\n")
    with pytest.raises(AppMultError, match=r"f\.csv:2: want a name and numbers"):
        read_energy_table(tmp_path / "f.csv")
    (tmp_path / "h.csv").write_text("label,energy\nx,1\n")
    with pytest.raises(AppMultError, match="header"):
        read_energy_table(tmp_path / "h.csv")


def _tiny_model():
    torch.manual_seed(0)
    float_model = nn.Sequential(nn.Linear(8, 12), nn.ReLU(), nn.Linear(12, 3))
    model = approximate(float_model, ProductLUT.exact(4, 4), forward="exact")
    x = torch.randn(32, 8)
    calibrate(model, [x])
    return model, [(x, torch.randint(0, 3, (32,)))]


def test_selection_is_the_optimum_of_its_estimates_under_the_budget():
    model, batches = _tiny_model()
    library = generated_library(4, 4)
    plan = select_multipliers(model, library, batches, 0.6)
    assert set(plan.assignment) == {"0", "2"} and plan.energy_ratio <= 0.6 + 1e-9
    layers = list(plan.assignment)
    names = [list(plan.estimates[l]) for l in layers]
    costs = [np.abs(list(plan.estimates[l].values())) for l in layers]
    energies = [np.array([plan.energies[l][n] for n in names[i]]) for i, l in enumerate(layers)]
    exact = library[0].name
    best = exhaustive(costs, energies, 0.6 * sum(plan.energies[l][exact] for l in layers))
    cost = lambda choice: sum(c[k] for c, k in zip(costs, choice))  # noqa: E731
    chosen = [names[i].index(plan.assignment[l]) for i, l in enumerate(layers)]
    assert cost(chosen) == pytest.approx(cost(best), rel=1e-9, abs=1e-15)
    whole = select_multipliers(model, library, batches, 1.0)  # the exact multiplier fits: estimated change 0
    assert sum(abs(whole.estimates[l][whole.assignment[l]]) for l in layers) == 0.0


def test_selection_errors_name_the_problem(tmp_path):
    model, batches = _tiny_model()
    library = generated_library(4, 4)
    low = select_multipliers(model, library, batches, 1.0).meta["smallest_budget"]
    assert 0 < low < 1
    with pytest.raises(AppMultError, match=f"smallest feasible budget with this library is {low:.4g}"):
        select_multipliers(model, library, batches, low / 2)
    with pytest.raises(AppMultError, match="no 4x4 unsigned multiplier for layer 0 .*it has: 3x3 unsigned"):
        select_multipliers(model, generated_library(3, 3), batches, 0.8)
    with pytest.raises(AppMultError, match="energy table has no row for"):
        select_multipliers(model, library, batches, 0.8, energy_table={library[0].name: 1.0})
    with pytest.raises(AppMultError, match="is a 3x3 unsigned multiplier; this layer quantizes to 4x4"):
        assign(model, {"0": ProductLUT.exact(3, 3)})
    with pytest.raises(AppMultError, match="no approximate layer 'x'"):
        assign(model, {"x": ProductLUT.exact(4, 4)})
    with pytest.raises(AppMultError, match="no approximate layer"):
        select_multipliers(nn.Sequential(nn.Linear(2, 2)), library, batches, 0.8)


def test_top_eigenpair_is_that_of_the_dense_error_hessian():
    """One approximate layer giving the logits directly: every column of J is the exact
    logit change of a LUT raised by one at one code pair (the LUT path, not `spread`);
    the dense J^T H_z J against the power iteration's top eigenpair."""
    from appmult_char.select.second_order import top_eigenpairs

    torch.manual_seed(1)
    model = nn.Sequential(ApproxLinear(6, 4, Multiplier(ProductLUT.exact(3, 3)), forward="exact", gradient="ste")).double()
    x = torch.randn(10, 6, dtype=torch.float64)
    calibrate(model, [x])
    target = torch.randint(0, 4, (10,))
    lam, v = top_eigenpairs(model, (x, target), iterations=200)["0"]
    base = assign(model, {})(x).detach()
    exact = ProductLUT.exact(3, 3)
    columns = []
    for a, b in itertools.product(range(8), range(8)):
        table = exact.table.astype(np.int64).copy()
        table[a, b] += 1
        columns.append((assign(model, {"0": ProductLUT(table, 3, 3)})(x).detach() - base).reshape(-1))
    J = torch.stack(columns, dim=1)  # (samples * classes, 64)
    p = torch.softmax(base, dim=1)
    Hz = torch.block_diag(*[(torch.diag(q) - torch.outer(q, q)) / len(x) for q in p])
    H = (J.T @ Hz @ J).numpy()
    values, vectors = np.linalg.eigh(H)
    assert lam == pytest.approx(values[-1], rel=1e-6)
    assert abs(float(vectors[:, -1] @ v.ravel())) == pytest.approx(1.0, abs=1e-6)


# -- the command line --------------------------------------------------------------------

def _select(*args):
    from click.testing import CliRunner

    from appmult_char.cli import main

    return CliRunner().invoke(main, ["select", "--bits", "4", "--float-epochs", "0", "--qat-epochs", "0", *args])


def test_select_command_writes_the_plan_and_the_front(tmp_path):
    plan, front = tmp_path / "plan.json", tmp_path / "front.png"
    result = _select("--budget", "0.4", "-o", str(plan), "--plot", str(front), "--calibrate")
    assert result.exit_code == 0, result.output
    import json

    saved = json.loads(plan.read_text())
    assert saved["energy_ratio"] <= 0.4 + 1e-9 and set(saved["accuracy"]) == {"exact_quantized", "selected", "calibrated"}
    assert front.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "energy ratio" in result.output and "calibrated" in result.output


def test_select_command_errors_are_one_line(tmp_path):
    import shutil

    from .conftest import ROOT

    wide = tmp_path / "wide"
    wide.mkdir()
    shutil.copy(ROOT / "luts" / "mul8x8u_exact.npz", wide)
    for args, fragment in ((["--budget", "0.00001"], "smallest feasible budget with this library is"),
                           (["--budget", "0.5", "--library", str(wide)], "no 4x4 unsigned multiplier in the library"),
                           (["--budget", "0"], "must be a ratio > 0")):
        result = _select(*args)
        assert result.exit_code == 1 and fragment in result.output and "Traceback" not in result.output, result.output
        assert len([line for line in result.output.splitlines() if line.startswith("error")]) == 1
    folder = _select("--budget", "0.5", "-o", str(tmp_path))  # a usage error, before any work
    assert folder.exit_code == 2 and "is a directory" in folder.output
    csv = tmp_path / "e.csv"
    csv.write_text("name,energy\nmul4x4u_exact,1\n")
    result = _select("--budget", "0.5", "--energy", str(csv))
    assert result.exit_code == 1 and "energy table has no row for" in result.output


def test_select_command_reads_a_saved_model_and_chooses_as_when_it_trained_it(tmp_path):
    import json

    saved, first, second = tmp_path / "q.pt", tmp_path / "a.json", tmp_path / "b.json"
    trained = _select("--budget", "0.5", "--save-model", str(saved), "-o", str(first))
    assert trained.exit_code == 0, trained.output
    from click.testing import CliRunner

    from appmult_char.cli import main

    loaded = CliRunner().invoke(main, ["select", str(saved), "--budget", "0.5", "-o", str(second)])
    assert loaded.exit_code == 0, loaded.output
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert a["assignment"] == b["assignment"] and a["estimates"] == b["estimates"]
    assert a["accuracy"] == b["accuracy"] and "4x4 unsigned" in loaded.output


def test_select_command_rejects_what_is_not_a_usable_model(tmp_path):
    from click.testing import CliRunner

    from appmult_char.cli import main

    text, weights, plain, q = (tmp_path / n for n in ("m.txt", "w.pt", "plain.pt", "q.pt"))
    text.write_text("not a model\n")
    torch.save({"weight": torch.zeros(2)}, weights)
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), plain)
    assert _select("--budget", "0.5", "--save-model", str(q)).exit_code == 0
    for args, fragment in (([str(text)], "not a saved PyTorch model"),
                           ([str(weights)], "holds a dict, not a network saved whole"),
                           ([str(plain)], "the model has no approximate layer"),
                           ([str(q), "--dataset", "mnist1d"], "the model does not take inputs of shape (1, 40)"),
                           ([str(q), "--bits", "4"], "a MODEL has its own widths"),
                           ([str(tmp_path / "missing.pt")], "no such file")):
        result = CliRunner().invoke(main, ["select", *args, "--budget", "0.5"])
        assert result.exit_code == 1 and fragment in result.output and "Traceback" not in result.output, result.output
        assert len([line for line in result.output.splitlines() if line.startswith("error")]) == 1


def test_clipping_starts_as_the_identity_and_calibration_lowers_the_layer_errors():
    from appmult_char.generators import multiplier
    from appmult_char.select import calibrate_substitution

    model, batches = _tiny_model()
    lut = simulate(multiplier(4, 4, False, 3))
    approx = assign(model, {"0": lut, "2": lut})
    exact = assign(model, {})
    x = batches[0][0]
    approx.eval()  # the activation observers keep still
    before = approx(x).detach()
    for layer in (approx[0], approx[2]):
        layer.weight_quant.enable_clipping(layer.weight.shape[0])
    assert torch.equal(approx(x).detach(), before)  # factors 2 sigmoid(0) = 1 exactly
    report = calibrate_substitution(approx, exact, batches, epochs=5)
    total = lambda key: sum(r[key] for r in report.values())  # noqa: E731
    assert total("mre_after") < total("mre_before")
    assert all(r["scale"] in (1.0, *__import__("appmult_char.select.calibrate", fromlist=["SCALES"]).SCALES)
               for r in report.values())
