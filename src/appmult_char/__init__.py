"""appmult-char: characterize approximate multipliers from their gate-level netlists.

Parse a BLIF netlist, simulate it exhaustively into an exact product lookup table
(`ProductLUT`), compute its error metrics, derive gradient tables for
approximate-multiplier-aware retraining, fit fast floating-point surrogates, and run DNN
layers through the LUT on CPU and GPU (`appmult_char.gemm`).
"""

from ._errors import AppMultError, AppMultWarning, InternalError
from .io import load_lut, save_lut
from .gemm import LutGemm, lut_matmul
from .gradients import Gradient1D, GradientTables, lut1d, prediction_error, ste, window
from .io.appmult_text import read_gradient_text, read_lut_text, write_gradient_text, write_lut_text
from .io.blif import format_blif, parse_blif, read_blif, write_blif
from .lut import ProductLUT, exact_table, operand_values
from .metrics import ErrorMetrics
from .netlist import Netlist, Node
from .operands import OperandMap
from .sim import Simulator, circuit_metrics, evaluate, load_circuit, simulate
from .surrogates import (DrumHTP, HTPModel, LinearModel, MitchellHTP, NoiseModel, drum_lut, fidelity_report,
                         mitchell_lut, model_from_dict)

__all__ = [
    "AppMultError", "AppMultWarning", "InternalError",
    "Netlist", "Node", "OperandMap", "ProductLUT", "ErrorMetrics", "Simulator",
    "read_blif", "parse_blif", "write_blif", "format_blif",
    "load_lut", "save_lut", "read_lut_text", "write_lut_text",
    "simulate", "evaluate", "circuit_metrics", "load_circuit", "exact_table", "operand_values",
    "GradientTables", "Gradient1D", "ste", "window", "lut1d", "prediction_error",
    "read_gradient_text", "write_gradient_text",
    "HTPModel", "LinearModel", "NoiseModel", "MitchellHTP", "DrumHTP", "mitchell_lut", "drum_lut",
    "fidelity_report", "model_from_dict", "LutGemm", "lut_matmul",
]

__version__ = "0.1.0"
