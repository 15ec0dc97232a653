"""Bit-parallel simulation of netlists: one-call helpers over `Simulator`."""

from __future__ import annotations

import os

from ..lut import ProductLUT
from ..metrics import ErrorMetrics
from ..netlist import Netlist
from ..operands import OperandMap
from .engine import Simulator
from .program import Program, compile_netlist

__all__ = ["Simulator", "Program", "compile_netlist", "load_circuit", "simulate", "evaluate", "circuit_metrics"]


def load_circuit(circuit: "Netlist | str | os.PathLike") -> Netlist:
    """A `Netlist` as given, or read from a BLIF file."""
    if isinstance(circuit, Netlist):
        return circuit
    from ..io.blif import read_blif

    return read_blif(circuit)


def _simulator(circuit, signed, backend, mapping) -> Simulator:
    netlist = load_circuit(circuit)
    return Simulator(netlist, OperandMap.infer(netlist, **mapping), signed, backend)


def simulate(circuit, *, signed: bool = False, backend: str = "auto", **mapping) -> ProductLUT:
    """Exhaustively simulate a circuit (`Netlist` or BLIF path) into its `ProductLUT`.

    `mapping` takes the `OperandMap.infer` options: ``a_bits``, ``b_bits``, ``a_bus``,
    ``b_bus``, ``msb_first``.
    """
    return _simulator(circuit, signed, backend, mapping).lut()


def evaluate(circuit, a, b, *, signed: bool = False, backend: str = "auto", **mapping):
    """The circuit's output for each operand pair ``(a[i], b[i])`` of raw bit patterns."""
    return _simulator(circuit, signed, backend, mapping).evaluate(a, b)


def circuit_metrics(circuit, *, signed: bool = False, progress=None, **mapping) -> ErrorMetrics:
    """Exact error metrics streamed over all pairs, without building the LUT."""
    return _simulator(circuit, signed, "numba", mapping).metrics(progress)
