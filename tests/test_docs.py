"""Every command-line example in the README and docs/ runs on the shipped circuits and
prints what its command prints when it works."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .conftest import ROOT

DOCS = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
#: Docs that describe without command-line examples (reference pages, measurement records
#: whose commands need a GPU or run for minutes: they name `python benchmarks/...` instead).
NO_EXAMPLES = {"docs/architecture.md", "docs/conventions.md", "docs/gpu-runs.md", "docs/performance.md",
               "docs/selection.md"}  # selection: a method and measurement page; its commands are in docs/cli.md
#: What each command prints on success (a line of it, as a regular expression).
EXPECTED = {
    "simulate": r"\d+x\d+ (un)?signed, ER [\d.e-]+, MED [\d.e-]+, WCE \d+",
    "metrics": r'(^|\n)\s+("med": |med\s+)[\d.e-]+',
    "info": r"(model \S+|\"model\": )",
    "gradient": r"\n\s+\d+\s+[\d.]+\s+\S+",
    "htp": r'(HTP: HTPModel\(l=\d+, k=\d+|"htp": \{)',
    "verify": r'(LUT GEMM == circuit:\s+yes|"lut_equals_circuit": true)',
    "generate": r"\.(blif|v): mul\d+x\d+[us]_\w+, \d+ nodes",
    "retrain": r'(approximate, retrained\s+[\d.]+ %|"approx_after": )',
    "select": r"energy ratio [\d.]+; accuracy exact-quantized [\d.]+ %",
    "characterize": r": \d+ circuits \(\d+ reused, 0 failed\)",
    "convert": r": \d+x\d+ (un)?signed LUT from ",
    "report": r"\.html: \d+ circuits, Pareto front of \w+ against the area proxy",
}


def _commands(doc: str) -> list[str]:
    """`appmult-char …` commands of the doc's ``sh`` blocks, in order, comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", (ROOT / doc).read_text(), re.S):
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.split("  #")[0].strip()
                if part.startswith("appmult-char"):
                    commands.append(part)
    return commands


def test_every_doc_is_covered():
    assert set(DOCS) >= NO_EXAMPLES
    for doc in DOCS:
        assert bool(_commands(doc)) != (doc in NO_EXAMPLES), doc


@pytest.mark.parametrize("doc", [d for d in DOCS if d not in NO_EXAMPLES])
def test_documented_commands_run(doc, tmp_path):
    (tmp_path / "circuits").symlink_to(ROOT / "circuits")
    shutil.copytree(ROOT / "luts", tmp_path / "luts")  # examples may write there
    for command in _commands(doc):
        proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0, f"{doc}: `{command}` failed:\n{proc.stderr}"
        assert "Traceback" not in proc.stderr, f"{doc}: `{command}`:\n{proc.stderr}"
        name = command.split()[1]
        assert re.search(EXPECTED[name], proc.stdout), f"{doc}: `{command}` printed:\n{proc.stdout}"


def test_selection_doc_example_runs():
    """The Python example of docs/selection.md, on a small exact-quantized model."""
    import torch

    from appmult_char import ProductLUT
    from appmult_char.nn import approximate, calibrate

    block = re.search(r"```python\n(.*?)```", (ROOT / "docs/selection.md").read_text(), re.S).group(1)
    torch.manual_seed(0)
    qat_model = approximate(torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)),
                            ProductLUT.exact(8, 8), forward="exact")
    x_calib, y_calib = torch.randn(16, 6), torch.randint(0, 3, (16,))
    calibrate(qat_model, [x_calib])
    scope = {"qat_model": qat_model, "x_calib": x_calib, "y_calib": y_calib}
    exec(compile(block, "docs/selection.md", "exec"), scope)
    assert set(scope["plan"].assignment) == {"0", "2"} and scope["approx_model"] is not qat_model
