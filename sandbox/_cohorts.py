"""Staged cohorts: one mechanism served in two configurations at once, control and treatment.

A scenario stages one of its mechanisms with ``[live.cohorts]``::

    [live.cohorts]
    mechanism = "posted_price"          # the staged mechanism
    treatment = { price = 90 }          # the treatment's overrides of its configuration
    share = 0.05                        # rule: this share of participants, by a seeded draw...
    # participants = ["alice", "bob"]   # ...or exactly these (not both)
    schedule = [{ share = 0.25, after_entries = 200 }, { share = 0.5, after_seconds = 600 }]

The host then holds two instances of the mechanism: the scenario's, under its own name
(control), and one built with the overrides under ``<mechanism>_treatment`` (treatment; its
measures are that scope's, so every run reports them per cohort). Every action addressed to the
staged mechanism goes to the instance of its actor's cohort; both cohorts log under the staged
mechanism's name.

Assignment is sticky and recorded. When a participant's first logged action arrives, its cohort
is decided and written to the log as an entry of the reserved mechanism :data:`COHORTS`, kind
``assign``, just before that action: under the share rule it is treatment when the participant's
draw is below the current share. The draw is a pure function of the participant id and a key
taken from the run's seeded stream named ``cohorts`` (a SHA-256 of both, read as a number in
[0, 1)), so it never depends on arrival order or on any other stream. A participant keeps its
cohort until a rollback; widening admits a larger share of the participants first seen after it.

The rollout schedule widens the share in steps. A step is due ``after_seconds`` of simulated
time or ``after_entries`` log entries after the previous step (or the start); it is taken by a
judge of the guardrails (the live server after a measure refresh, a simulated trial at each
rehearsal judgment, :mod:`flagship.sandbox._rehearsal`) only while every guardrail has been
judged and holds, as an operator action ``widen`` (actor :data:`ROLLOUT_ACTOR`). A guardrail
crossed while the treatment serves writes an operator action ``rollback`` (actor
``guardrail:<name>``) instead of a pause: every participant is served by control from then on
and no step is taken again. The treatment instance is retired as it stands: nothing reaches it
any more, its resting state (resting orders, stock) stays frozen in its snapshot and its
measures, and it is not migrated to control. Because ``widen`` and ``rollback`` are entries of
the log that a replay feeds, and assignments are regenerated from the same draws, a replay
reproduces each assignment and both cohorts' states (the state hash includes both instances and
:meth:`Cohorts.snapshot`).

Lifecycle: :func:`cohort_spec` reads the table (validated by :func:`cohort_problems` when the
scenario resolves) -> ``Host.stage`` builds the treatment instance and a :class:`Cohorts`
before the populations -> :meth:`Cohorts.place` / :meth:`Cohorts.admit` per first action ->
:meth:`Cohorts.operate` per ``widen`` / ``rollback`` -> :meth:`Cohorts.record` at the run's end.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from flagship.mechanisms import SHARE, Action, Area, CommonReason, Measure, Mechanism, Outcome, Problem
from flagship.telemetry import ScopeRecorder

__all__ = ["COHORTS", "COHORT_KINDS", "CONTROL", "MEASURES", "ROLLOUT_ACTOR", "TREATMENT",
           "CohortReason", "CohortSpec", "Cohorts", "RolloutStep", "cohort_problems", "cohort_scopes",
           "cohort_spec", "draw",
           "treatment_config", "treatment_name"]

COHORTS = "cohorts"
"""The reserved mechanism name of assignment entries, the scope of the cohorts' measures and the
name of the seeded stream the draws' key comes from."""

CONTROL, TREATMENT = "control", "treatment"
"""The two cohorts (the only values of the ``cohort`` label of exported measures)."""

ROLLOUT_ACTOR = "rollout"
"""The actor of the ``widen`` steps the schedule takes."""

COHORT_KINDS = ("widen", "rollback")
"""Operator action kinds :meth:`Cohorts.operate` handles."""

MEASURES = (
    Measure("treatment_participants", Area.ROBUSTNESS, "count", False,
            "participants assigned to the treatment cohort"),
    Measure("control_participants", Area.ROBUSTNESS, "count", False,
            "participants assigned to the control cohort"),
    Measure("treatment_share", Area.ROBUSTNESS, "ratio", False,
            "the treatment share at the end (0 after a rollback)", bounds=SHARE),
    Measure("rollout_steps", Area.ROBUSTNESS, "count", False, "widening steps of the schedule taken"),
    Measure("participants_rolled_back", Area.ROBUSTNESS, "count", False,
            "treatment participants a rollback moved to control"),
)


class CohortReason(StrEnum):
    """Why an operator's ``widen`` or ``rollback`` was refused."""

    NO_COHORTS = "NO_COHORTS"
    """The scenario stages no cohorts."""
    ROLLED_BACK = "ROLLED_BACK"
    """The treatment was already rolled back: nothing widens or rolls back again."""
    SCHEDULE_DONE = "SCHEDULE_DONE"
    """Every step of the schedule was taken (or the rule is a list, which has no schedule)."""
    STEP_OUT_OF_ORDER = "STEP_OUT_OF_ORDER"
    """``widen`` named another step than the schedule's next, or another share than its."""


class RolloutStep(BaseModel):
    """One step of ``[live.cohorts] schedule``: the share it widens to, and when it is due."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float = Field(gt=0, le=1, description="the treatment share after this step")
    after_seconds: PositiveFloat | None = Field(default=None, description=(
        "simulated seconds after the previous step (or the start) at which it is due"))
    after_entries: PositiveInt | None = Field(default=None, description=(
        "log entries after the previous step (or the start) at which it is due"))

    @model_validator(mode="after")
    def _one_trigger(self) -> Self:
        if (self.after_seconds is None) == (self.after_entries is None):
            raise ValueError("give exactly one of after_seconds and after_entries")
        return self


class CohortSpec(BaseModel):
    """``[live.cohorts]``: which mechanism is staged, the treatment, the rule and the schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mechanism: str = Field(min_length=1, description="the staged mechanism (a name in [mechanisms])")
    treatment: dict[str, Any] = Field(min_length=1, description=(
        "the treatment: overrides of the mechanism's configuration fields"))
    share: float | None = Field(default=None, ge=0, le=1, description=(
        "share rule: the treatment share of newly seen participants, by a seeded draw"))
    participants: list[str] | None = Field(default=None, min_length=1, description=(
        "list rule: exactly these participants are treatment"))
    schedule: list[RolloutStep] = Field(default_factory=list, description=(
        "share rule only: steps that widen the share while every guardrail holds"))

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        if (self.share is None) == (self.participants is None):
            raise ValueError("give exactly one rule: share or participants")
        if self.schedule and self.share is None:
            raise ValueError("a schedule widens a share: it needs the share rule")
        shares = [self.share or 0.0, *(step.share for step in self.schedule)]
        if any(later <= earlier for earlier, later in itertools.pairwise(shares)):
            raise ValueError("the schedule's shares must grow, step after step, above share")
        return self


class _CohortTable(BaseModel):
    """The part of ``[live]`` the runtime reads for cohorts (the rest is other readers')."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cohorts: CohortSpec | None = Field(default=None, description="staged cohorts, if any")


def cohort_spec(live: Mapping[str, Any]) -> CohortSpec | None:
    """The scenario's ``[live.cohorts]`` (validated when it resolved), or ``None``."""
    return _CohortTable.model_validate(live).cohorts


def treatment_name(mechanism: str) -> str:
    """The scope (and host name) of the staged ``mechanism``'s treatment instance."""
    return f"{mechanism}_{TREATMENT}"


def treatment_config(spec: CohortSpec, config: BaseModel) -> BaseModel:
    """The treatment's configuration: the control's with the spec's overrides (ValidationError if bad)."""
    return type(config).model_validate({**config.model_dump(), **spec.treatment})


Describe = Callable[[ValidationError, str, type[BaseModel]], list[Problem]]
"""Turns a validation error of a model at a path into problems (the scenario's own describer)."""


def cohort_problems(live: Mapping[str, Any], configs: Mapping[str, BaseModel],
                    classes: Mapping[str, type[Mechanism[Any]]], taken: Collection[str],
                    pydantic_problems: Describe) -> tuple[list[Problem], set[str]]:
    """What is wrong with ``[live.cohorts]``, and the measure names it adds (``scope.name`` of the
    treatment instance and of :data:`COHORTS`) for guardrails to name. ``configs`` and ``classes``
    are the scenario's validated mechanisms; ``taken``, every mechanism and population name."""
    try:
        spec = _CohortTable.model_validate(live).cohorts
    except ValidationError as exc:
        return pydantic_problems(exc, "live", _CohortTable), set()
    if spec is None:
        return [], set()
    if spec.mechanism not in classes:
        return [Problem("live.cohorts.mechanism", f"expected one of the scenario's mechanisms "
                                                  f"({', '.join(classes)}), got {spec.mechanism!r}")], set()
    problems: list[Problem] = []
    for name in (treatment_name(spec.mechanism), COHORTS):
        if name in taken:
            problems.append(Problem("live.cohorts", f"the name {name!r} is reserved for the cohorts; "
                                                    "rename the mechanism or population"))
    config = configs.get(spec.mechanism)
    if config is not None:
        try:
            treatment_config(spec, config)
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc, "live.cohorts.treatment", type(config)))
    measures = {f"{scope}.{m.name}" for scope, declared in
                ((treatment_name(spec.mechanism), classes[spec.mechanism].measures), (COHORTS, MEASURES))
                for m in declared}
    return problems, measures


def cohort_scopes(live: Mapping[str, Any], mechanism_class: Callable[[str], type[Mechanism[Any]]]
                  ) -> list[tuple[str, tuple[Measure, ...]]]:
    """The scopes staged cohorts add to a run, with their measures (none without cohorts)."""
    spec = cohort_spec(live)
    if spec is None:
        return []
    return [(treatment_name(spec.mechanism), mechanism_class(spec.mechanism).measures), (COHORTS, MEASURES)]


def draw(key: int, actor: str) -> float:
    """The participant's draw in [0, 1): SHA-256 of the run's cohort key and its id."""
    digest = hashlib.sha256(key.to_bytes(8, "big") + actor.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Cohorts:
    """Who is in which cohort, the current share, the steps taken, and the rollback (see the module)."""

    def __init__(self, spec: CohortSpec, key: int) -> None:
        self.spec = spec
        self.mechanism = spec.mechanism
        self.treatment = treatment_name(spec.mechanism)
        self.key = key
        self.share = spec.share
        self.steps = 0
        self.last_step_at = 0.0
        self.last_step_entries = 0
        self.rolled_back = False
        self.rolled_back_count = 0
        self.assigned: dict[str, str] = {}
        self.counts = {CONTROL: 0, TREATMENT: 0}
        self._listed = frozenset(spec.participants or ())

    # -- assignment ------------------------------------------------------------------------

    def place(self, actor: str) -> tuple[str, bool]:
        """The cohort that serves ``actor`` now, and whether it is new (not yet admitted)."""
        known = self.assigned.get(actor)
        if known is not None:
            return (CONTROL if self.rolled_back else known), False
        if self.rolled_back:
            return CONTROL, True
        if self.share is None:
            return (TREATMENT if actor in self._listed else CONTROL), True
        return (TREATMENT if draw(self.key, actor) < self.share else CONTROL), True

    def admit(self, actor: str, cohort: str, now: float) -> tuple[Action, Outcome]:
        """Record ``actor``'s first placement; the ``assign`` entry that logs it."""
        self.assigned[actor] = cohort
        self.counts[cohort] += 1
        payload: dict[str, Any] = {"mechanism": self.mechanism}
        if self.rolled_back:
            payload["rule"] = "rolled_back"
        elif self.share is None:
            payload["rule"] = "list"
        else:
            payload.update(rule="share", share=self.share, draw=draw(self.key, actor))
        return Action(now, actor, "assign", payload), Outcome.accept({"cohort": cohort})

    # -- the schedule and the rollback --------------------------------------------------------

    def next_step(self, now: float, log_size: int) -> RolloutStep | None:
        """The schedule's next step if it is due at ``now`` with ``log_size`` entries, else ``None``."""
        if self.rolled_back or self.steps >= len(self.spec.schedule):
            return None
        step = self.spec.schedule[self.steps]
        if step.after_seconds is not None:
            return step if now - self.last_step_at >= step.after_seconds else None
        return step if log_size - self.last_step_entries >= (step.after_entries or 0) else None

    def widen_payload(self, log_size: int) -> dict[str, Any]:
        """The payload of the ``widen`` that takes the next step at ``log_size`` entries."""
        return {"step": self.steps, "share": self.spec.schedule[self.steps].share, "log_entries": log_size}

    @property
    def serving(self) -> bool:
        """Whether the treatment still serves (no rollback yet): a crossing rolls it back then."""
        return not self.rolled_back

    def operate(self, action: Action) -> Outcome:
        """Apply an operator ``widen`` or ``rollback``; a refusal changes nothing."""
        if self.rolled_back:
            return Outcome.reject(CohortReason.ROLLED_BACK, "the treatment was rolled back")
        if action.kind == "rollback":
            self.rolled_back = True
            self.rolled_back_count = self.counts[TREATMENT]
            return Outcome.accept({"rolled_back": self.rolled_back_count, "share": 0.0})
        if action.kind != "widen":
            return Outcome.reject(CommonReason.UNKNOWN_KIND, f"cohort actions: {', '.join(COHORT_KINDS)}")
        if self.steps >= len(self.spec.schedule):
            return Outcome.reject(CohortReason.SCHEDULE_DONE, "no step of the schedule is left")
        step = self.spec.schedule[self.steps]
        entries = action.payload.get("log_entries")
        if action.payload.get("step") != self.steps or action.payload.get("share") != step.share or \
                isinstance(entries, bool) or not isinstance(entries, int) or entries < 0:
            return Outcome.reject(CohortReason.STEP_OUT_OF_ORDER,
                                  f"the next step is {self.steps} (share {step.share}), with log_entries")
        self.share = step.share
        self.steps += 1
        self.last_step_at = float(action.time)
        self.last_step_entries = entries
        return Outcome.accept({"share": self.share, "step": self.steps - 1})

    # -- state and measures ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The cohorts' state as JSON-able data (sorted, so equal states hash equal)."""
        return {"share": self.share, "steps": self.steps, "last_step_at": self.last_step_at,
                "last_step_entries": self.last_step_entries, "rolled_back": self.rolled_back,
                "assigned": dict(sorted(self.assigned.items()))}

    def record(self, recorder: ScopeRecorder) -> None:
        """Record :data:`MEASURES` at the run's end."""
        recorder.measure("treatment_participants", self.counts[TREATMENT])
        recorder.measure("control_participants", self.counts[CONTROL])
        recorder.measure("treatment_share", 0.0 if self.rolled_back else
                         (self.share if self.share is not None else
                          self.counts[TREATMENT] / max(1, sum(self.counts.values()))))
        recorder.measure("rollout_steps", self.steps)
        recorder.measure("participants_rolled_back", self.rolled_back_count)
