"""Library-scale characterization: a table row per circuit, computed on local processes or
a Dask cluster, resumable; the table as CSV, JSON or Parquet."""

from __future__ import annotations

from .batch import CharacterizeOptions, characterize, characterize_circuit, journal_path
from .executors import DaskExecutor, Executor, LocalExecutor, executor_for
from .gates import AREA_WEIGHTS, GATE_TYPES, area_proxy, gate_counts, gate_type
from .report import pareto_front, render_report, write_report
from .sharded import sharded_metrics
from .table import COLUMNS, read_table, write_table

__all__ = ["CharacterizeOptions", "characterize", "characterize_circuit", "journal_path", "Executor",
           "LocalExecutor", "DaskExecutor", "executor_for", "GATE_TYPES", "AREA_WEIGHTS", "gate_type", "gate_counts",
           "area_proxy", "COLUMNS", "read_table", "write_table", "sharded_metrics",
           "pareto_front", "render_report", "write_report"]
