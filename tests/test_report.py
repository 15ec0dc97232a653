"""The library report: one offline HTML page, checked in Python and rendered in a real
headless browser (Debian's chromium; `.ci/run` installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from appmult_char.cli import main
from appmult_char.generators import broken_array_multiplier, multiplier
from appmult_char.io.blif import write_blif
from appmult_char.library import LocalExecutor, characterize, write_table
from appmult_char.library.report import pareto_front

from .conftest import _required

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
if BROWSER is None and _required():
    raise RuntimeError("CI needs chromium for the report tests (.ci/run installs it)")
browser = pytest.mark.skipif(BROWSER is None, reason="needs chromium (apt install chromium; .ci/run installs it)")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=12))
def test_pareto_front_is_the_set_of_undominated_points(points):
    cost, error = [float(c) for c, _ in points], [float(e) for _, e in points]
    dominated = {i for i in range(len(points)) for j in range(len(points))
                 if cost[j] <= cost[i] and error[j] <= error[i] and (cost[j], error[j]) != (cost[i], error[i])}
    front = pareto_front(cost, error)
    undominated = {(cost[i], error[i]) for i in range(len(points)) if i not in dominated}
    assert {(cost[i], error[i]) for i in front} == undominated and len(front) == len(undominated)


@pytest.fixture
def library(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    nets = [multiplier(5, 5, False, t) for t in range(0, 8, 2)] + [broken_array_multiplier(5, 5, v, 1)
                                                                   for v in (1, 3)]
    paths = []
    for net in nets:
        paths.append(folder / f"{net.name}.blif")
        write_blif(net, paths[-1])
    bad = folder / "bad.blif"
    bad.write_text(".model bad\n.inputs a\n.outputs y\n.names a y\n2 1\n.end\n")
    rows = characterize([*paths, bad], executor=LocalExecutor(1))
    table = tmp_path / "lib.csv"
    write_table(rows, table)
    return table, rows


def test_report_page_has_a_row_per_circuit_a_front_and_heatmaps(library, tmp_path):
    table, rows = library
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(table), "-o", str(out), "--metric", "mred"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count('<tr class="row') == len(rows) == 7
    good = [r for r in rows if not r["error"]]
    front = pareto_front([r["area_proxy"] for r in good], [r["mred"] for r in good])
    assert page.count('<tr class="row front"') == page.count('class="front"') == len(front)
    assert page.count("<img ") == len(good)  # the failed circuit has none
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert "1 failed" in page


def test_report_refuses_a_metric_that_is_not_a_number(library, tmp_path):
    table, _ = library
    result = CliRunner().invoke(main, ["report", str(table), "-o", str(tmp_path / "r.html"), "--metric", "name"])
    assert result.exit_code == 1 and "no numeric column 'name'" in result.output and not (tmp_path / "r.html").exists()


def _render(page, tmp_path, name="shot.png"):
    """Chromium's DOM after the page's scripts ran, its console messages and a screenshot."""
    profile = tmp_path / "profile"
    args = [BROWSER, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([*args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60)
    shot = tmp_path / name
    subprocess.run([*args, "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()], capture_output=True,
                   timeout=60, cwd=tmp_path)
    console = [l for l in dom.stderr.splitlines() if "CONSOLE" in l]
    return dom.stdout, console, shot


@browser
def test_the_page_renders_in_a_real_browser_without_console_errors(library, tmp_path):
    import matplotlib.image

    table, rows = library
    out = tmp_path / "report.html"
    assert CliRunner().invoke(main, ["report", str(table), "-o", str(out)]).exit_code == 0
    dom, console, shot = _render(out, tmp_path)
    assert console == [], console
    assert len(re.findall(r'<tr class="row', dom)) == len(rows)
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1400, 1200) and pixels[..., :3].std() > 0.05  # not blank
    broken = tmp_path / "broken.html"  # the console check can fail: a page with a script error
    broken.write_text("<html><body><p>x</p><script>undefinedFunction();</script></body></html>")
    assert _render(broken, tmp_path, "broken.png")[1], "chromium reported no console error for a broken page"
