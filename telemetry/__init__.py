"""Telemetry: recording measures in sim time, the SQL store, Prometheus, scorecards and reports."""

from telemetry._recorder import (
    MeasureValue,
    NullRecorder,
    RunTelemetry,
    ScopeRecorder,
    SeriesPoint,
    Summary,
    Telemetry,
)
from telemetry._run import ActionRow, RunResult
from telemetry._stats import Estimate, mean_ci, t_critical
from telemetry._store import DEFAULT_URL, Store, StoredRun, StoredSweep

__all__ = [
    "DEFAULT_URL",
    "ActionRow",
    "Estimate",
    "MeasureValue",
    "NullRecorder",
    "RunResult",
    "RunTelemetry",
    "ScopeRecorder",
    "SeriesPoint",
    "Store",
    "StoredRun",
    "StoredSweep",
    "Summary",
    "Telemetry",
    "mean_ci",
    "t_critical",
]
