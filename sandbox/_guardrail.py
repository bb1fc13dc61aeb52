"""A guardrail: what must hold on a measure of a trial, and from how much data it is judged.

One model for both drivers that judge guardrails: the live server (on the live arm's measures
as they refresh, :mod:`flagship.sandbox._live._guardrails`) and a simulated trial that
rehearses them (:mod:`flagship.sandbox._rehearsal`). A scenario declares them once, in
``[[live.guardrails]]``, in the language of scorecard criteria
(:class:`~flagship.telemetry._criteria.Criterion`: a ``measure`` named ``area.name`` or
``scope.name``, an ``op`` and a ``threshold`` stating what must hold), plus ``min_entries``,
the log size below which it is not judged (too little data). ``[live.rehearsal]``
(:class:`RehearsalSpec`) says how ``flagship run`` judges them in simulated time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from flagship.mechanisms import Problem
from flagship.telemetry import MeasureValue
from flagship.telemetry._bootstrap import Op

__all__ = ["Guardrail", "GuardrailTables", "RehearsalSpec", "crossing_payload", "guardrail_problems"]

_HOLDS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t, ">": lambda v, t: v > t, "<": lambda v, t: v < t}


class Guardrail(BaseModel):
    """One ``[[live.guardrails]]`` entry: what must hold on a measure, and from how much data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="names the guardrail in the log "
                                                                      "and the metrics' label")
    measure: str = Field(min_length=3, description="area.name or scope.name, as in criteria files")
    op: Op = Field(description="what must hold: measure op threshold")
    threshold: float = Field(allow_inf_nan=False, description="the bound")
    min_entries: int = Field(default=0, ge=0, description="log entries before it is judged at all")
    description: str = Field(default="", description="why it exists")

    def value_in(self, values: Iterable[MeasureValue]) -> float | None:
        """The guarded measure's value among ``values`` (``None``: undefined or absent)."""
        for m in values:
            if self.measure in (f"{m.area}.{m.name}", f"{m.scope}.{m.name}"):
                return m.value if m.value is not None and math.isfinite(m.value) else None
        return None

    def holds(self, value: float) -> bool:
        """Whether ``value`` of the guarded measure keeps this guardrail (``measure op threshold``)."""
        return _HOLDS[self.op](value, self.threshold)


def crossing_payload(guardrail: Guardrail, value: float, log_size: int) -> dict[str, Any]:
    """The payload of the pause a crossing triggers: it names the guardrail and what crossed it."""
    return {"guardrail": guardrail.name, "measure": guardrail.measure, "value": value,
            "op": guardrail.op, "threshold": guardrail.threshold, "log_entries": log_size}


class RehearsalSpec(BaseModel):
    """``[live.rehearsal]``: how a simulated trial (``flagship run``, sweeps) rehearses the guardrails."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: PositiveFloat | None = Field(default=None, description=(
        "simulated seconds between two judgments of the guardrails, as the live measure refresh "
        "(default: the duration / 20)"))
    resume_after: PositiveFloat | None = Field(default=None, description=(
        "simulated seconds after a guardrail's pause at which a rehearsing operator resumes the "
        "trial (default: never; the trial stays paused to its end)"))


class GuardrailTables(BaseModel):
    """The parts of a scenario's ``[live]`` table a simulated trial reads (the rest is ``serve``'s)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    guardrails: list[Guardrail] = Field(default_factory=list, description=(
        "conditions on the measures; crossing one pauses the trial"))
    rehearsal: RehearsalSpec = Field(default_factory=RehearsalSpec, description=(
        "how a simulated trial judges them"))


def guardrail_problems(guardrails: Iterable[Guardrail], measures: Collection[str]) -> list[Problem]:
    """Guardrails naming no measure among ``measures`` (``area.name`` and ``scope.name`` of every
    declared measure: one would never be judged), and names used twice."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, g in enumerate(guardrails):
        if g.measure not in measures:
            problems.append(Problem(f"live.guardrails.{i}.measure", f"no measure {g.measure!r} in this "
                                                                     "scenario (area.name or scope.name)"))
        if g.name in seen:
            problems.append(Problem(f"live.guardrails.{i}.name", f"guardrail {g.name!r} is named twice"))
        seen.add(g.name)
    return problems
