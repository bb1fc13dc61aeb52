"""The gate's measures: their declarations and the statistics they are computed from.

Lifecycle: the gate's parts report what happens as it happens (a decision and its reasons,
an admission, a revocation, an appeal decided); :meth:`GateTally.finish` records every
declared measure once at the end of the run. Nothing here decides an outcome, and none of
it is in the snapshot: these statistics may change on a rejected action.
"""

from __future__ import annotations

from collections.abc import Sequence

from flagship.mechanisms import SHARE, Area, Measure, Recorder

__all__ = ["MEASURES", "GateTally"]

MEASURES = (
    Measure("appeal_overturn_rate", Area.LEGITIMACY, "ratio", False,
            "appeals upheld / appeals decided (appeals made moot by the sanction ending excluded)",
            bounds=SHARE),
    Measure("time_to_admission", Area.UX, "seconds", False,
            "mean time from an identity's first accepted application to its first admission"),
    Measure("steps_per_admission", Area.UX, "count", False,
            "mean gate actions (accepted or rejected) an identity sent up to its first admission"),
    Measure("time_to_revocation", Area.ROBUSTNESS, "seconds", False,
            "mean time from an agent's first observed violation to its revocation by strikes"),
    Measure("violations_before_revocation", Area.ROBUSTNESS, "count", False,
            "mean violations observed while admitted (trading, not yet sanctioned) per agent with any"),
)
"""The ``agent_gate`` measures (``AgentGate.measures``). That every decision carries reason codes from
the closed sets is an invariant by construction, not a measure: tests/agents/test_agents_gate.py checks
it on every outcome and event of random action sequences."""


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


class GateTally:
    """Counts and delays behind the gate's measures, fed by its parts as decisions are taken."""

    __slots__ = ("_admission_delays", "_admission_steps", "_admitted_once", "_first_apply", "_recorder",
                 "_revocation_delays", "_revoked_once", "appeals_denied", "appeals_upheld", "first_violation",
                 "steps", "violations_admitted")

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self.appeals_upheld = 0
        self.appeals_denied = 0
        self.steps: dict[str, int] = {}
        """Gate actions per identity, counted until its first admission."""
        self._first_apply: dict[str, float] = {}
        self._admission_delays: list[float] = []
        self._admission_steps: list[int] = []
        self._admitted_once: set[str] = set()
        self.first_violation: dict[str, float] = {}
        self._revocation_delays: list[float] = []
        self._revoked_once: set[str] = set()
        self.violations_admitted: dict[str, int] = {}
        """Violations observed while the agent was admitted (trading, not yet sanctioned)."""

    def decided(self, decision: str, reasons: Sequence[str]) -> None:
        """Count a decision (its ``reasons`` are from the closed sets by construction)."""
        self._recorder.count(f"decision.{decision}")

    def applied(self, actor: str, now: float) -> None:
        """An application of ``actor`` was accepted (its first one starts the admission clock)."""
        self._first_apply.setdefault(actor, now)

    def admitted(self, actor: str, now: float) -> None:
        """``actor`` passed its exam (only its first admission counts)."""
        if actor not in self._admitted_once:
            self._admitted_once.add(actor)
            self._admission_delays.append(now - self._first_apply.get(actor, now))
            self._admission_steps.append(self.steps.get(actor, 0))

    def revoked(self, actor: str, now: float) -> None:
        """``actor`` was revoked by strikes (only its first revocation counts)."""
        if actor not in self._revoked_once:
            self._revoked_once.add(actor)
            self._revocation_delays.append(now - self.first_violation.get(actor, now))

    def finish(self) -> None:
        """Record the final value of every measure in :data:`MEASURES`."""
        record = self._recorder.measure
        appeals = self.appeals_upheld + self.appeals_denied
        record("appeal_overturn_rate", self.appeals_upheld / appeals if appeals else None)
        record("time_to_admission", _mean(self._admission_delays))
        record("steps_per_admission", _mean([float(n) for n in self._admission_steps]))
        record("time_to_revocation", _mean(self._revocation_delays))
        record("violations_before_revocation",
               _mean([float(n) for n in self.violations_admitted.values()]))
