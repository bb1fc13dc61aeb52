"""The drivers: scenarios, the seeded SimPy runner, replications, and the ``flagship`` CLI.

The sandbox knows no mechanism by name: it finds them in the registry
(:mod:`mechanisms`), wires them in a :class:`Host` and runs them.
"""

from sandbox._host import ActionLog, Host, LoggedAction, action_rows, log_digest
from sandbox._runner import (
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
from sandbox._scenario import (
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

__all__ = [
    "ActionLog",
    "ArmSpec",
    "Batch",
    "Host",
    "LoggedAction",
    "PopulationSpec",
    "ResolvedScenario",
    "RunJob",
    "Scenario",
    "ShockSpec",
    "TelemetrySpec",
    "action_rows",
    "apply_overrides",
    "build_host",
    "default_executor",
    "execute",
    "jobs_for",
    "load_scenario",
    "log_digest",
    "parse_override",
    "resolve",
    "run",
    "run_batch",
    "run_jobs",
]
