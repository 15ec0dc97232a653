"""The AppMult LUT-text and gradient-text readers on damaged files: truncated, reordered,
non-numeric, out-of-range and duplicated lines give a located `AppMultError` (one line
on the command line), never another exception."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appmult_char import AppMultError, ProductLUT, load_lut, read_gradient_text, read_lut_text, save_lut, window
from appmult_char.cli import main
from appmult_char.io import save_gradients


def _good_lines(tmp_path, kind: str) -> list[str]:
    table = np.multiply.outer(np.arange(8), np.arange(8)) - np.eye(8, dtype=np.int64)  # 3x3, a few errors
    lut = ProductLUT(table, 3, 3, False)
    path = tmp_path / f"good_{kind}.txt"
    if kind == "lut":
        save_lut(lut, path)
    else:
        save_gradients(window(lut, 1), path)
    return path.read_text().splitlines(keepends=True)


_TOKENS = st.sampled_from(["x", "-", "1.5", "+3", "٣", "99999999999999999999999", "-99999999999999999999999",
                           "1e3", "0x10", "", "  ", "LUT for approximate multiplier:", "9 9 9", "-1 0 0",
                           "0 -1 0", "100000000000 0 0", "0 0", "0 0 0 0", "\x00", "7 7 4294967296"])


@st.composite
def _damage(draw, lines: list[str]) -> str:
    lines = list(lines)
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["truncate", "drop", "swap", "replace", "token", "duplicate"]))
        if action == "truncate":
            cut = draw(st.integers(0, len(lines[k])))
            lines = lines[:k] + [lines[k][:cut]]
        elif action == "drop":
            del lines[k]
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[k], lines[j] = lines[j], lines[k]
        elif action == "replace":
            lines[k] = draw(_TOKENS) + "\n"
        elif action == "token":
            parts = lines[k].split()
            if parts:
                parts[draw(st.integers(0, len(parts) - 1))] = draw(_TOKENS)
            lines[k] = " ".join(parts) + "\n"
        else:
            lines.insert(k, lines[k])
        if not lines:
            lines = [""]
    return "".join(lines)


@pytest.mark.parametrize("kind", ["lut", "gradient"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_text_files_raise_located_errors(tmp_path, kind, data):
    text = data.draw(_damage(_good_lines(tmp_path, kind)))
    path = tmp_path / f"damaged_{kind}.txt"
    path.write_text(text)
    reader = read_lut_text if kind == "lut" else read_gradient_text
    try:
        result = reader(path)
    except AppMultError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    table = result.table if kind == "lut" else result.lut.table  # what was accepted is a whole, valid table
    assert table.shape[0] & (table.shape[0] - 1) == 0 and table.shape[1] & (table.shape[1] - 1) == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_files_on_the_command_line_are_one_line_errors(tmp_path, data):
    text = data.draw(_damage(_good_lines(tmp_path, "lut")))
    path = tmp_path / "damaged.txt"
    path.write_text(text)
    out = tmp_path / "g.txt"
    out.unlink(missing_ok=True)  # hypothesis reuses the folder across examples
    result = CliRunner().invoke(main, ["gradient", str(path), "-o", str(out), "--half-window", "1"])
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code:
        assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith("error: ") and not out.exists()
    else:
        assert load_lut(path).table.shape == (8, 8)
