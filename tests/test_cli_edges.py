"""The command line's edges: everything checked before anything is written, one-line
errors in one style, help with examples, progress reports, signed-name warnings, dead
logic in info, and Ctrl-C (exit 130, one line, no partial file, also during start-up)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from appmult_char.cli import main
from appmult_char.cli._progress import Progress

ROOT = Path(__file__).resolve().parents[1]
CIRCUITS = ROOT / "circuits"
TRUNC6 = str(CIRCUITS / "mul8x8u_trunc6.blif")


def _one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_gradient_checks_the_plot_folder_before_writing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = tmp_path / "g.txt"
    result = CliRunner().invoke(main, ["gradient", TRUNC6, "-o", str(out), "--plot", str(blocker / "plots")])
    _one_line_error(result, "cannot create the plot folder")
    assert not out.exists()


def test_gradient_without_matplotlib_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    out = tmp_path / "g.txt"
    result = CliRunner().invoke(main, ["gradient", TRUNC6, "-o", str(out), "--plot", str(tmp_path / "plots")])
    _one_line_error(result, "plots need matplotlib")
    assert not out.exists()


@pytest.mark.parametrize("failure", ["unavailable", "driver error"])
def test_verify_on_cuda_without_a_gpu_is_one_line(monkeypatch, failure):
    from numba import cuda

    def broken():
        raise RuntimeError("CUDA driver library cannot be found\nsecond line of detail")

    monkeypatch.setattr(cuda, "is_available", broken if failure == "driver error" else lambda: False)
    result = CliRunner().invoke(main, ["verify", TRUNC6, "--backend", "cuda", "--batch", "2", "--in-features", "8",
                                       "--out-features", "2"])
    _one_line_error(result, "no CUDA device was found")


def test_batch_with_a_missing_input_writes_nothing(tmp_path):
    out = tmp_path / "luts"
    result = CliRunner().invoke(main, ["simulate", TRUNC6, str(tmp_path / "missing.blif"), "-o", f"{out}/"])
    _one_line_error(result, "missing.blif", "no such file")
    assert not out.exists()


def test_batch_failure_after_writing_names_what_was_written(tmp_path, monkeypatch):
    import appmult_char.io as io_module
    from appmult_char import AppMultError

    real = io_module.save_lut
    calls = []

    def flaky(lut, target, *args):
        calls.append(target)
        if len(calls) == 2:
            raise AppMultError("cannot write: No space left on device", os.fspath(target))
        real(lut, target, *args)

    monkeypatch.setattr(io_module, "save_lut", flaky)
    exact = str(CIRCUITS / "mul4x4u_exact.blif")
    result = CliRunner().invoke(main, ["simulate", TRUNC6, exact, "-o", f"{tmp_path}/"])
    line = _one_line_error(result, "No space left", "already written:", "mul8x8u_trunc6.npz")
    assert "mul4x4u_exact.npz" in line.split("already written:")[0]  # the failing one is the error's subject
    assert (tmp_path / "mul8x8u_trunc6.npz").exists() and not (tmp_path / "mul4x4u_exact.npz").exists()


def test_inputs_that_would_share_an_output_are_refused(tmp_path):
    (tmp_path / "x").mkdir()
    copy = tmp_path / "x" / "mul8x8u_trunc6.blif"
    copy.write_text(Path(TRUNC6).read_text())
    result = CliRunner().invoke(main, ["simulate", TRUNC6, str(copy), "-o", f"{tmp_path}/out/"])
    _one_line_error(result, "same output file")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, fragment", [
    (["gradient", TRUNC6, "-o", "g.txt", "--half-window", "2,,4"], "--half-window takes integers"),
    (["gradient", TRUNC6, "-o", "g.txt", "--half-window", "0"], "half window must be at least 1"),
    (["verify", TRUNC6, "--half-window", "0"], "half window must be at least 1"),
    (["verify", TRUNC6, "--half-window", "200"], "half window 200 is too large for 8-bit operands"),
    (["simulate", TRUNC6, "--a-bits", "20", "-o", "x.npz"], "do not fit the 16 inputs: a and b need"),
])
def test_option_errors_share_one_style(tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    _one_line_error(CliRunner().invoke(main, args), fragment)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["simulate", "metrics", "info", "generate", "gradient", "htp", "verify", "retrain",
                                     "select"])
def test_every_help_has_examples_one_per_line(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "\b" not in result.output
    text = result.output.split("Examples:\n", 1)[1].split("\n\n", 1)[0]
    examples = text.splitlines()
    assert examples and all(line.startswith("    appmult-char " + command) for line in examples), text


def test_signed_name_warns_on_the_command_line(tmp_path):
    result = CliRunner().invoke(main, ["simulate", str(CIRCUITS / "mul8x8s_exact.blif"), "-o", str(tmp_path / "s.npz")])
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "suggests a signed multiplier" in result.stderr
    result = CliRunner().invoke(main, ["simulate", str(CIRCUITS / "mul8x8s_exact.blif"), "--signed",
                                       "-o", str(tmp_path / "s.npz")])
    assert "suggests a signed" not in result.stderr


def test_tie_undriven_and_swept_logic_in_info(tmp_path):
    path = tmp_path / "u.blif"
    path.write_text(".model u\n.inputs a0 a1 b0 b1\n.outputs p0 p1\n.names a0 b0 p0\n11 1\n.names a1 u p1\n11 1\n"
                    ".names ghost dead\n1 1\n.end\n")
    _one_line_error(CliRunner().invoke(main, ["info", str(path)]), ":6: net u is used but never driven")
    result = CliRunner().invoke(main, ["info", str(path), "--tie-undriven", "--json"])
    assert result.exit_code == 0 and "1 undriven nets tied to 0: u" in result.stderr
    [row] = json.loads(result.stdout)
    assert row["tied_constants"] == ["u"] and row["swept_nodes"] == 1
    result = CliRunner().invoke(main, ["info", str(path), "--tie-undriven"])
    assert "swept     1 nodes that no output depends on" in result.stdout


# -- progress ---------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_lines_off_a_terminal_even_without_updates():
    stream = io.StringIO()
    with Progress("work", 3, unit="files", delay=0, interval=0.05, stream=stream) as bar:
        bar.step("one long step")
        time.sleep(0.35)  # no updates: the ticker still reports
        bar.update(3)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3 and lines[0].startswith("work: 0% (0/3 files)") and "one long step" in lines[0]
    assert lines[-1].startswith("work: done after")


def test_progress_bar_on_a_terminal_and_silence_for_short_work():
    stream = _Terminal()
    with Progress("work", 4, delay=0, stream=stream) as bar:
        for _ in range(4):
            time.sleep(0.12)
            bar.update(1)
    assert "\r\033[K" in stream.getvalue() and "[" + "#" * 7 in stream.getvalue()
    quiet = io.StringIO()
    with Progress("work", 4, stream=quiet) as bar:  # under the one-second delay: nothing at all
        bar.update(4)
    assert quiet.getvalue() == ""


# -- Ctrl-C -----------------------------------------------------------------------------

def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "appmult_char.cli", *args]


def _interrupt_when(proc: subprocess.Popen, ready, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)


def test_ctrl_c_during_streamed_metrics_is_one_line_and_130():
    import threading

    proc = subprocess.Popen(_command("metrics", str(CIRCUITS / "mul16x16u_trunc14.blif")), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in proc.stderr))
    reader.start()
    # the first progress line comes a second in: start-up is over, the kernels are running
    _interrupt_when(proc, lambda: any(line.startswith("metrics:") for line in lines))
    proc.wait(60)
    reader.join(60)
    assert proc.returncode == 130, "\n".join(lines)
    assert [line for line in lines if line and not line.startswith("metrics:")] == ["interrupted"]


def test_ctrl_c_while_writing_leaves_no_partial_file(tmp_path):
    out = tmp_path / "m12.txt"
    proc = subprocess.Popen(_command("simulate", str(CIRCUITS / "mul12x12u_exact.blif"), "-o", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _interrupt_when(proc, lambda: any(p.name.endswith(".tmp") for p in tmp_path.iterdir()))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted"
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_start_up_is_one_line_and_130():
    """The interrupt arrives while the command modules are being imported."""
    code = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'appmult_char.cli.app':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "sys.argv = ['appmult-char', 'info', 'x.blif']\n"
        "from appmult_char.cli import run\n"
        "run()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130 and proc.stderr.strip() == "interrupted", proc.stderr


def test_ctrl_c_swallowed_by_a_library_callback_still_stops_the_command(tmp_path):
    """Ctrl-C while a library runs Python code that catches every exception (as a ctypes
    callback does while Numba writes its cache): the command still ends at once with 130,
    one line, and its unfinished output removed."""
    code = (
        "import sys, time\n"
        "from appmult_char import sim\n"
        "from appmult_char.io._files import atomic_output\n"
        "def metrics(self, progress=None):\n"
        f"    with atomic_output({str(tmp_path / 'out.txt')!r}) as fh:\n"
        "        fh.write(b'partial')\n"
        "        print('ready', file=sys.stderr, flush=True)\n"
        "        for _ in range(3000):\n"
        "            try:\n"
        "                time.sleep(0.01)\n"
        "            except BaseException:\n"
        "                pass\n"
        "sim.Simulator.metrics = metrics\n"
        f"sys.argv = ['appmult-char', 'metrics', {TRUNC6!r}]\n"
        "from appmult_char.cli import run\n"
        "run()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and err.strip() == "interrupted", err
    assert list(tmp_path.iterdir()) == []


def test_an_error_raised_while_handling_ctrl_c_counts_as_the_interrupt(monkeypatch):
    """Ctrl-C inside a library's critical section (Numba compiling a kernel) can surface as
    another exception chained to the KeyboardInterrupt: still exit 130, one line."""
    from appmult_char import sim

    def compile_interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("no compiled object yet for <Library '_run'>")

    monkeypatch.setattr(sim.Simulator, "metrics", compile_interrupted)
    result = CliRunner().invoke(main, ["metrics", TRUNC6])
    assert result.exit_code == 130 and result.stderr.strip() == "interrupted"
