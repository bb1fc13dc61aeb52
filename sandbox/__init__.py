"""The runtime and the drivers: scenarios, the Host that wires a run, the seeded runner,
replications, sweeps, the live pilot and the ``flagship`` CLI.

The sandbox knows no mechanism by name: it finds them in the registry
(:mod:`flagship.mechanisms`), wires them in a :class:`Host` and runs them.

The names below are loaded on first use (PEP 562), so that ``flagship --help`` and other
modules of this package do not pay for SimPy, NumPy and SQLAlchemy until a run needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flagship.telemetry._lazy import lazy_exports

if TYPE_CHECKING:
    from flagship.sandbox._executors import open_executor
    from flagship.sandbox._host import ActionLog, Host, LoggedAction, action_rows, log_digest
    from flagship.sandbox._receipt_keeper import ReceiptKeeper
    from flagship.sandbox._runner import (
        Batch,
        RunJob,
        build_host,
        default_executor,
        execute,
        jobs_for,
        run,
        run_batch,
        run_jobs,
    )
    from flagship.sandbox._scenario import (
        ArmSpec,
        PopulationSpec,
        ResolvedScenario,
        Scenario,
        ShockSpec,
        TelemetrySpec,
        apply_overrides,
        load_scenario,
        parse_override,
        resolve,
    )
    from flagship.sandbox._sweep import Axis, Range, SweepPlan, SweepSpec, plan_sweep, run_sweep

__all__ = [
    "ActionLog",
    "ArmSpec",
    "Axis",
    "Batch",
    "Host",
    "LoggedAction",
    "PopulationSpec",
    "Range",
    "ReceiptKeeper",
    "ResolvedScenario",
    "RunJob",
    "Scenario",
    "ShockSpec",
    "SweepPlan",
    "SweepSpec",
    "TelemetrySpec",
    "action_rows",
    "apply_overrides",
    "build_host",
    "default_executor",
    "execute",
    "jobs_for",
    "load_scenario",
    "log_digest",
    "open_executor",
    "parse_override",
    "plan_sweep",
    "resolve",
    "run",
    "run_batch",
    "run_jobs",
    "run_sweep",
]

#: Where each public name lives (tests check this agrees with ``__all__``).
_EXPORTS: dict[str, str] = {
    "ActionLog": "_host",
    "ArmSpec": "_scenario",
    "Axis": "_sweep",
    "Batch": "_runner",
    "Host": "_host",
    "LoggedAction": "_host",
    "PopulationSpec": "_scenario",
    "Range": "_sweep",
    "ReceiptKeeper": "_receipt_keeper",
    "ResolvedScenario": "_scenario",
    "RunJob": "_runner",
    "Scenario": "_scenario",
    "ShockSpec": "_scenario",
    "SweepPlan": "_sweep",
    "SweepSpec": "_sweep",
    "TelemetrySpec": "_scenario",
    "action_rows": "_host",
    "apply_overrides": "_scenario",
    "build_host": "_runner",
    "default_executor": "_runner",
    "execute": "_runner",
    "jobs_for": "_runner",
    "load_scenario": "_scenario",
    "log_digest": "_host",
    "open_executor": "_executors",
    "parse_override": "_scenario",
    "plan_sweep": "_sweep",
    "resolve": "_scenario",
    "run": "_runner",
    "run_batch": "_runner",
    "run_jobs": "_runner",
    "run_sweep": "_sweep",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
