"""Bit-parallel simulation of netlists: one-call helpers over `Simulator`."""

from __future__ import annotations

import os

from ..io import read_circuit
from ..lut import ProductLUT
from ..metrics import ErrorMetrics
from ..netlist import Netlist
from ..operands import OperandMap
from .backend import Layout, SimBackend, backend_names
from .engine import Simulator
from .program import Program, compile_netlist

__all__ = ["Simulator", "SimBackend", "Layout", "backend_names", "Program", "compile_netlist", "load_circuit",
           "simulator", "simulate", "evaluate", "circuit_metrics"]


def load_circuit(circuit: "Netlist | str | os.PathLike", *, tie_undriven: bool = False, top: str | None = None,
                 yosys: str | None = None) -> Netlist:
    """A `Netlist` as given, or read from a BLIF or Verilog file (`tie_undriven`: see
    `read_blif`; `top`, `yosys`: see `io.verilog`)."""
    if isinstance(circuit, Netlist):
        return circuit
    return read_circuit(circuit, tie_undriven=tie_undriven, top=top, yosys=yosys)


def simulator(circuit, *, signed: bool = False, backend: str = "auto", tie_undriven: bool = False,
              top: str | None = None, yosys: str | None = None, **mapping) -> Simulator:
    """A `Simulator` for a circuit (`Netlist`, BLIF or Verilog path), operands mapped by
    `mapping` (the `OperandMap.infer` options: ``a_bits``, ``b_bits``, ``a_bus``,
    ``b_bus``, ``msb_first``)."""
    netlist = load_circuit(circuit, tie_undriven=tie_undriven, top=top, yosys=yosys)
    return Simulator(netlist, OperandMap.infer(netlist, **mapping), signed, backend)


def simulate(circuit, *, signed: bool = False, backend: str = "auto", **mapping) -> ProductLUT:
    """Exhaustively simulate a circuit into its `ProductLUT` (options as `simulator`)."""
    return simulator(circuit, signed=signed, backend=backend, **mapping).lut()


def evaluate(circuit, a, b, *, signed: bool = False, backend: str = "auto", **mapping):
    """The circuit's output for each operand pair ``(a[i], b[i])`` of raw bit patterns."""
    return simulator(circuit, signed=signed, backend=backend, **mapping).evaluate(a, b)


def circuit_metrics(circuit, *, signed: bool = False, backend: str = "auto", progress=None,
                    **mapping) -> ErrorMetrics:
    """Exact error metrics streamed over all pairs, without building the LUT."""
    return simulator(circuit, signed=signed, backend=backend, **mapping).metrics(progress)
