"""The retraining recipe: it recovers accuracy a strongly approximate multiplier costs,
resumes an interrupted run to the same result, and refuses a folder of another run."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from appmult_char import AppMultError, simulate
from appmult_char.cli import main
from appmult_char.generators import multiplier
from appmult_char.nn.data import load_dataset
from appmult_char.nn.recipes import RetrainConfig, retrain

# 7x7 unsigned, partial products of weight below 2^9 dropped: on digits (every layer
# approximate, per-channel weights) accuracy falls from about 96 % to 13-41 % and
# retraining brings it back to 94-97 % (seeds 0-3, STE, window W=4 and LUT-1D alike).
STRONG = simulate(multiplier(7, 7, False, 9))
QUICK = dict(float_epochs=6, qat_epochs=1, epochs=3)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("gradient", ["ste", "window:4"])
def test_retraining_recovers_what_the_multiplier_costs(seed, gradient):
    result = retrain(STRONG, RetrainConfig(gradient=gradient, seed=seed, **QUICK))
    acc = result["accuracy"]
    assert acc["approx_before"] < acc["exact_quant"] - 30  # the multiplier costs a lot ...
    assert acc["approx_after"] > acc["approx_before"] + 40  # ... and retraining wins most of it back


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path):
    config = RetrainConfig(gradient="window:2", seed=3, **QUICK)
    whole = retrain(STRONG, config, tmp_path / "whole")

    class Stop(Exception):
        pass

    def stop_in_retraining(stage, epoch, epochs):
        if stage == "retrain" and epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        retrain(STRONG, config, tmp_path / "resumed", progress=stop_in_retraining)
    resumed = retrain(STRONG, config, tmp_path / "resumed")
    assert resumed["accuracy"] == whole["accuracy"] and resumed["history"] == whole["history"]
    assert json.loads((tmp_path / "resumed" / "results.json").read_text())["accuracy"] == whole["accuracy"]
    from appmult_char.nn.recipes import evaluate

    saved = torch.load(tmp_path / "whole" / "exact_quantized.pt", weights_only=False)  # what `select` reads
    assert evaluate(saved, load_dataset("digits")) == whole["accuracy"]["exact_quant"]
    with pytest.raises(AppMultError, match="holds another run"):
        retrain(STRONG, RetrainConfig(gradient="ste", seed=3, **QUICK), tmp_path / "resumed")


def test_retrain_command(tmp_path):
    blif = tmp_path / "strong.blif"
    from appmult_char.io.blif import write_blif

    write_blif(multiplier(7, 7, False, 9), blif)
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["retrain", str(blif), "--float-epochs", "4", "--qat-epochs", "1", "--epochs", "2",
                                       "--gradient", "lut1d", "-o", str(run)])
    assert result.exit_code == 0, result.output
    assert "approximate, retrained" in result.stdout and (run / "results.json").exists()
    bad = CliRunner().invoke(main, ["retrain", str(blif), "--gradient", "window:x"])
    assert bad.exit_code == 1 and bad.stderr.strip().startswith("error: ") and "half window" in bad.stderr


def test_datasets_are_generated_offline_and_fixed():
    digits = load_dataset("digits")
    assert digits.x_train.shape == (1437, 1, 8, 8) and digits.x_test.shape == (360, 1, 8, 8)
    one, two = load_dataset("mnist1d"), load_dataset("mnist1d")
    assert one.x_train.shape == (4000, 1, 40) and one.x_test.shape == (1000, 1, 40)
    assert (one.x_train == two.x_train).all() and set(one.y_train.tolist()) == set(range(10))
    with pytest.raises(AppMultError, match="unknown dataset"):
        load_dataset("cifar")
