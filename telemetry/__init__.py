"""Telemetry: recording measures in sim time, the SQL store, Prometheus, scorecards and reports."""

from flagship.telemetry._recorder import (
    MeasureValue,
    NullRecorder,
    RunTelemetry,
    ScopeRecorder,
    SeriesPoint,
    Summary,
    Telemetry,
)
from flagship.telemetry._results import sweep_frame, sweep_results
from flagship.telemetry._run import ActionRow, RunResult
from flagship.telemetry._stats import Estimate, mean_ci, t_critical
from flagship.telemetry._store import Store, open_store
from flagship.telemetry._store_protocol import DEFAULT_URL, RunStore, StoredRun, StoredSweep

__all__ = [
    "DEFAULT_URL",
    "ActionRow",
    "Estimate",
    "MeasureValue",
    "NullRecorder",
    "RunResult",
    "RunStore",
    "RunTelemetry",
    "ScopeRecorder",
    "SeriesPoint",
    "Store",
    "StoredRun",
    "StoredSweep",
    "Summary",
    "Telemetry",
    "mean_ci",
    "open_store",
    "sweep_frame",
    "sweep_results",
    "t_critical",
]
