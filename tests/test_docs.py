"""Every command-line example in the README and docs/ runs on the shipped circuits."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .conftest import ROOT

DOCS = ["README.md", "docs/cli.md", "docs/gradients.md", "docs/surrogates.md", "docs/gemm.md"]


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


@pytest.mark.parametrize("doc", DOCS)
def test_documented_commands_run(doc, tmp_path):
    commands = _commands(doc)
    assert commands, f"no examples found in {doc}"
    (tmp_path / "circuits").symlink_to(ROOT / "circuits")
    shutil.copytree(ROOT / "luts", tmp_path / "luts")  # examples may write there
    for command in commands:
        proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0, f"{doc}: `{command}` failed:\n{proc.stderr}"
