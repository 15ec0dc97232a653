"""BLIF reader (``.names`` SOP covers, hierarchical ``.subckt``) and writer.

The reader flattens every ``.subckt`` into one `Netlist` rooted at the first ``.model``
(other root-level models may sit beside it unused, as ABC writes them). Then:

- The constants yosys writes (``$false``/``$undef`` are 0, ``$true`` is 1) are recognised
  in each model before flattening: one a model uses without driving it is the global
  constant, tied with a warning as ABC does, not a net of that instance.
- Logic that no primary output depends on is swept (`Netlist.swept` counts it), so
  undriven nets left in dead logic — yosys leaves buffers behind for unconnected output
  ports of flattened submodules — do not matter.
- A net used but never driven inside an output's cone is an error, or with
  ``tie_undriven=True`` tied to 0 with a warning.

Sequential and library-gate content (``.latch``, ``.gate``, ``.mlatch``) is refused.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

from .._errors import AppMultError, AppMultWarning
from ..netlist import Netlist, Node
from ._files import atomic_output, read_text

__all__ = ["read_blif", "parse_blif", "write_blif", "format_blif"]

#: Undriven nets that yosys uses as constants, and their values.
YOSYS_CONSTANTS = {"$false": 0, "$undef": 0, "$true": 1}
_IGNORED = {".attr", ".param", ".cname"}
_SEQUENTIAL = {".latch", ".mlatch", ".gate", ".clock", ".clock_event", ".start_kiss"}


@dataclass
class _Names:
    output: str
    fanins: tuple[str, ...]
    line: int
    cubes: list[str] = field(default_factory=list)
    onset: bool | None = None


@dataclass
class _Model:
    name: str
    line: int
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    names: list[_Names] = field(default_factory=list)
    subckts: list[tuple[str, list[tuple[str, str]], int]] = field(default_factory=list)


def _logical_lines(text: str):
    """Yield (line number, tokens) with comments stripped and continuations joined."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        tokens = " ".join(pending).split()
        pending = []
        if tokens:
            yield start, tokens
    if pending and " ".join(pending).split():
        yield start, " ".join(pending).split()


def _parse_models(text: str, path: str | None) -> list[_Model]:
    models: list[_Model] = []
    model: _Model | None = None
    names: _Names | None = None
    for line, tokens in _logical_lines(text):
        head = tokens[0]
        if not head.startswith("."):
            if names is None:
                raise AppMultError(f"syntax error: unexpected '{' '.join(tokens)}' outside a .names cover", path, line)
            _add_cube(names, tokens, path, line)
            continue
        names = None
        if head == ".model":
            model = _Model(tokens[1] if len(tokens) > 1 else "top", line)
            models.append(model)
            continue
        if head in _SEQUENTIAL:
            raise AppMultError(f"{head} is not supported: only combinational .names/.subckt netlists can be simulated", path, line)
        if head == ".end":
            model = None
            continue
        if model is None:  # content before any .model: an implicit top model
            model = _Model(os.path.splitext(os.path.basename(path or "top"))[0], line)
            models.append(model)
        if head == ".inputs":
            model.inputs.extend(tokens[1:])
        elif head == ".outputs":
            model.outputs.extend(tokens[1:])
        elif head == ".names":
            if len(tokens) < 2:
                raise AppMultError("syntax error: .names needs an output net", path, line)
            names = _Names(tokens[-1], tuple(tokens[1:-1]), line)
            model.names.append(names)
        elif head == ".subckt":
            if len(tokens) < 2:
                raise AppMultError("syntax error: .subckt needs a model name", path, line)
            pins = []
            for tok in tokens[2:]:
                formal, eq, actual = tok.partition("=")
                if not eq or not formal or not actual:
                    raise AppMultError(f"syntax error: '{tok}' is not formal=actual", path, line)
                pins.append((formal, actual))
            model.subckts.append((tokens[1], pins, line))
        elif head in _IGNORED:
            pass
        else:
            raise AppMultError(f"unknown directive {head}", path, line)
    if not models:
        raise AppMultError("no .model found", path)
    return models


def _add_cube(names: _Names, tokens: list[str], path: str | None, line: int) -> None:
    k = len(names.fanins)
    if k == 0:
        if len(tokens) != 1:
            raise AppMultError(f"syntax error: constant cover of {names.output} takes one value, got '{' '.join(tokens)}'", path, line)
        cube, value = "", tokens[0]
    else:
        if len(tokens) != 2:
            raise AppMultError(f"syntax error: cube of {names.output} must be 'inputs output', got '{' '.join(tokens)}'", path, line)
        cube, value = tokens
        if len(cube) != k:
            raise AppMultError(f"cube '{cube}' has {len(cube)} inputs but {names.output} has {k} fanins", path, line)
        if set(cube) - set("01-"):
            raise AppMultError(f"cube '{cube}' may only contain 0, 1 and -", path, line)
    if value not in ("0", "1"):
        raise AppMultError(f"cube output must be 0 or 1, got '{value}'", path, line)
    onset = value == "1"
    if names.onset is not None and names.onset != onset:
        raise AppMultError(f"cover of {names.output} mixes on-set and off-set cubes", path, line)
    names.onset = onset
    names.cubes.append(cube)


def _flatten(models: list[_Model], path: str | None, tie_undriven: bool) -> Netlist:
    by_name: dict[str, _Model] = {}
    for m in models:
        if m.name in by_name:
            raise AppMultError(f"model {m.name} is defined twice", path, m.line)
        by_name[m.name] = m
    top = models[0]
    nodes: dict[str, Node] = {}
    inputs = set(top.inputs)
    if len(inputs) != len(top.inputs):
        dup = next(i for i in top.inputs if top.inputs.count(i) > 1)
        raise AppMultError(f"input {dup} is listed twice", path, top.line)

    def drive(node: Node) -> None:
        if node.name in inputs:
            raise AppMultError(f"net {node.name} is a primary input and is also driven", path, node.line)
        if node.name in nodes:
            first = nodes[node.name].line
            raise AppMultError(f"net {node.name} is driven twice (first at line {first})", path, node.line)
        nodes[node.name] = node

    def instantiate(model: _Model, netmap: dict[str, str], prefix: str, stack: tuple[str, ...]) -> None:
        local = _driven_in(model, by_name)

        def net(n: str) -> str:
            if n in netmap:
                return netmap[n]
            if not prefix or (n in YOSYS_CONSTANTS and n not in local):
                return n
            return prefix + n

        for nm in model.names:
            drive(Node(net(nm.output), tuple(net(f) for f in nm.fanins), tuple(nm.cubes), nm.onset is not False, nm.line))
        for index, (sub_name, pins, line) in enumerate(model.subckts):
            sub = by_name.get(sub_name)
            if sub is None:
                raise AppMultError(f".subckt refers to undefined model {sub_name}", path, line)
            if sub_name in stack:
                raise AppMultError(f"model {sub_name} instantiates itself", path, line)
            ports = set(sub.inputs) | set(sub.outputs)
            submap: dict[str, str] = {}
            for formal, actual in pins:
                if formal not in ports:
                    raise AppMultError(f"port mismatch: model {sub_name} has no port {formal}", path, line)
                if formal in submap:
                    raise AppMultError(f"port mismatch: port {formal} of {sub_name} connected twice", path, line)
                submap[formal] = net(actual)
            missing = [p for p in sub.inputs if p not in submap]
            if missing:
                raise AppMultError(f"port mismatch: input {missing[0]} of model {sub_name} is not connected", path, line)
            inner = f"{prefix}{sub_name}#{index}/"
            for formal in sub.outputs:
                submap.setdefault(formal, inner + formal)
            instantiate(sub, submap, inner, stack + (sub_name,))

    instantiate(top, {}, "", (top.name,))
    return _check_drivers(Netlist(top.name, list(top.inputs), list(top.outputs), nodes, path), top, tie_undriven)


def _driven_in(model: _Model, by_name: dict[str, _Model]) -> set[str]:
    """Nets a model drives or receives: its inputs, covers and subcircuit outputs."""
    nets = set(model.inputs) | {nm.output for nm in model.names}
    for sub_name, pins, _ in model.subckts:
        sub = by_name.get(sub_name)
        outputs = set(sub.outputs) if sub else set()
        nets.update(actual for formal, actual in pins if formal in outputs)
    return nets


def _check_drivers(netlist: Netlist, top: _Model, tie_undriven: bool) -> Netlist:
    """Sweep logic no output depends on, then tie or refuse the undriven nets left."""
    path = netlist.source
    live = netlist.cone()
    swept = len(netlist.nodes) - len(live)
    nodes = {name: node for name, node in netlist.nodes.items() if name in live}
    driven = set(netlist.inputs) | set(nodes)
    first_use: dict[str, int | None] = {}
    for node in nodes.values():
        for f in node.fanins:
            if f not in driven:
                first_use.setdefault(f, node.line)
    for o in netlist.outputs:
        if o not in driven:
            first_use.setdefault(o, top.line)
    constants = [n for n in first_use if n in YOSYS_CONSTANTS]
    others = [n for n in first_use if n not in YOSYS_CONSTANTS]
    if others and not tie_undriven:
        name = others[0]
        more = f" (and {len(others) - 1} more)" if len(others) > 1 else ""
        raise AppMultError(f"net {name} is used but never driven{more} (--tie-undriven ties such nets to 0)",
                           path, first_use[name])
    where = path or netlist.name
    for name in constants + others:
        value = YOSYS_CONSTANTS.get(name, 0)
        nodes[name] = Node(name, (), ("",) if value else (), True, None)
    if constants:
        warnings.warn(AppMultWarning(f"{where}: constant drivers added to {len(constants)} non-driven nets: "
                                     f"{' '.join(constants)}"), stacklevel=4)
    if others:
        shown = " ".join(others[:8]) + (" ..." if len(others) > 8 else "")
        warnings.warn(AppMultWarning(f"{where}: {len(others)} undriven nets tied to 0: {shown}"), stacklevel=4)
    result = Netlist(netlist.name, netlist.inputs, netlist.outputs, nodes, path, constants + others, swept)
    result.order()  # cycle check with a located message
    return result


def parse_blif(text: str, path: str | None = None, *, tie_undriven: bool = False) -> Netlist:
    """Parse BLIF text into a flat `Netlist` (the first `.model` is the top); see the
    module docstring for constants, sweeping and `tie_undriven`."""
    return _flatten(_parse_models(text, path), path, tie_undriven)


def read_blif(path: str | os.PathLike, *, tie_undriven: bool = False) -> Netlist:
    """Read a BLIF file into a flat `Netlist`; errors name the file and line."""
    return parse_blif(read_text(path), os.fspath(path), tie_undriven=tie_undriven)


def format_blif(netlist: Netlist) -> str:
    """BLIF text of a flat netlist, nodes in topological order."""
    out = [f".model {netlist.name}", ".inputs " + " ".join(netlist.inputs), ".outputs " + " ".join(netlist.outputs)]
    for name in netlist.order():
        node = netlist.nodes[name]
        out.append(" ".join([".names", *node.fanins, name]))
        value = "1" if node.onset else "0"
        out.extend(f"{cube} {value}" if cube else value for cube in node.cubes)
    out.append(".end")
    return "\n".join(out) + "\n"


def write_blif(netlist: Netlist, path: str | os.PathLike) -> None:
    """Write `format_blif(netlist)` to `path` atomically."""
    with atomic_output(path, "w") as fh:
        fh.write(format_blif(netlist))
