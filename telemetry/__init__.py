"""Telemetry: recording measures in sim time, the SQL store, Prometheus, scorecards and reports.

The names below are loaded on first use (PEP 562): a command that only records measures or
reads a statistic does not pay for SQLAlchemy and Alembic, which only the store needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flagship.telemetry._lazy import lazy_exports

if TYPE_CHECKING:
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

#: Where each public name lives (tests check this agrees with ``__all__``).
_EXPORTS: dict[str, str] = {
    "ActionRow": "_run",
    "DEFAULT_URL": "_store_protocol",
    "Estimate": "_stats",
    "MeasureValue": "_recorder",
    "NullRecorder": "_recorder",
    "RunResult": "_run",
    "RunStore": "_store_protocol",
    "RunTelemetry": "_recorder",
    "ScopeRecorder": "_recorder",
    "SeriesPoint": "_recorder",
    "Store": "_store",
    "StoredRun": "_store_protocol",
    "StoredSweep": "_store_protocol",
    "Summary": "_recorder",
    "Telemetry": "_recorder",
    "mean_ci": "_stats",
    "open_store": "_store",
    "sweep_frame": "_results",
    "sweep_results": "_results",
    "t_critical": "_stats",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
