"""The record of one run: what the runner produces and the store keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from flagship.telemetry._recorder import RunTelemetry

__all__ = ["ActionRow", "RunResult"]

ActionRow = tuple[int, float, str, str, str, str, bool, "str | None", str]
"""(seq, time, mechanism, actor, kind, payload JSON, accepted, reason, effects JSON)."""


@dataclass
class RunResult:
    """What one run produced. Plain data, picklable: it travels back from worker processes.

    ``sweep_id``, ``cell`` and ``arm`` place the run in an experiment; the store keys
    results by (sweep, cell, arm, seed) so a rerun never duplicates one.
    """

    run_id: str
    scenario: str
    arm: str | None
    seed: int
    replication: int
    status: Literal["completed", "failed"]
    manifest: dict[str, Any]
    wall_seconds: float = 0.0
    sim_time: float = 0.0
    telemetry: RunTelemetry | None = None
    actions: list[ActionRow] | None = None
    n_actions: int = 0
    action_log_sha256: str | None = None
    state_sha256: str | None = None
    events: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    sweep_id: str | None = None
    cell: str | None = None

    @property
    def ok(self) -> bool:
        """True when the run completed."""
        return self.status == "completed"

    def measures(self) -> dict[str, float | None]:
        """``scope.name -> value`` of every measure (empty for a failed run)."""
        return self.telemetry.measure_map() if self.telemetry else {}
