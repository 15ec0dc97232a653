"""Choosing one approximate multiplier per layer under an energy budget (FAMES).

After "FAMES: Fast Approximate Multiplier Substitution for Mixed-Precision Quantized
DNNs" (arXiv 2411.18055): every candidate's effect on the loss is estimated from one
calibration batch by a first-order Taylor expansion through each layer's
gradient-weighted counting matrix (`counting`, `estimate`), every candidate's energy per
multiplication comes from a table or an activity estimate on its netlist (`energy`), and
an integer linear program picks the assignment (`ilp`); `plan.select_multipliers` runs
the whole. `library` reads and generates the candidates. Needs torch (the model) and
scipy (the program).
"""

from __future__ import annotations

from .calibrate import calibrate_substitution
from .counting import code_counts, counting_matrix, counting_matrix_torch
from .energy import activity_pdp, read_energy_table
from .estimate import LayerStatistics, first_order, layer_statistics
from .ilp import exhaustive, smallest_budget, solve
from .library import Candidate, error_matrix, generated_library, load_library
from .plan import OBJECTIVES, Plan, Selection, assign, select_multipliers
from .second_order import second_order, top_eigenpairs

__all__ = ["calibrate_substitution", "Candidate", "load_library", "generated_library", "error_matrix", "counting_matrix", "counting_matrix_torch",
           "code_counts", "LayerStatistics", "layer_statistics", "first_order", "read_energy_table", "activity_pdp",
           "solve", "exhaustive", "smallest_budget", "Plan", "Selection", "select_multipliers", "assign", "OBJECTIVES", "top_eigenpairs", "second_order"]
