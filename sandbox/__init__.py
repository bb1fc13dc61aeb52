"""The drivers: scenarios, the seeded SimPy runner, replications, and the ``flagship`` CLI.

The sandbox knows no mechanism by name: it finds them in the registry
(:mod:`flagship.mechanisms`), wires them in a :class:`Host` and runs them.
"""

from flagship.sandbox._executors import open_executor
from flagship.sandbox._host import ActionLog, Host, LoggedAction, action_rows, log_digest
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
