"""Guardrails: conditions on the live measures that pause the trial by themselves when crossed.

A scenario declares them in ``[[live.guardrails]]``, in the language of scorecard criteria
(:class:`~flagship.telemetry._criteria.Criterion`: a ``measure`` named ``area.name`` or
``scope.name``, an ``op`` and a ``threshold`` stating what must hold), plus ``min_entries``,
the log size below which it is not judged (too little data)::

    [[live.guardrails]]
    name = "turned_away"
    measure = "posted_price.turned_away_ratio"
    op = "<="
    threshold = 0.5
    min_entries = 20

The :class:`Guardrail` model is shared with a simulated trial that rehearses the same guardrails
(:mod:`flagship.sandbox._rehearsal`).

Lifecycle: the engine builds one :class:`Guardrails` with the scenario's list; after each
measure refresh (:func:`~flagship.sandbox._measure_worker.refresh_measures`) it calls
:meth:`Guardrails.judge` with the live arm's values and the log size. A guardrail that goes
from holding to crossed while the trial runs pauses it with an operator action (actor
``guardrail:<name>``) whose log entry names the guardrail, the measure, the value that
crossed and the threshold; while staged cohorts' treatment serves, the action is a ``rollback``
instead (:mod:`flagship.sandbox._cohorts`). Edge-triggered: after an operator resumes, a guardrail still
crossed does not pause again until it has held once. Its state is exported as
``flagship_guardrail_crossed{guardrail}`` (1 crossed, 0 holding, -1 not judged yet) and
``flagship_guardrail_value{guardrail}``; labels are the scenario's guardrail names only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from flagship.mechanisms import FlagshipError, Outcome
from flagship.sandbox._guardrail import Guardrail, crossing_payload
from flagship.telemetry import MeasureValue
from flagship.telemetry._prometheus import LiveMetrics

__all__ = ["Guardrail", "Guardrails"]

_log = logging.getLogger("flagship.live")


class Guardrails:
    """The scenario's guardrails, their last states, and the pause a crossing triggers."""

    def __init__(self, guardrails: Sequence[Guardrail], metrics: LiveMetrics,
                 pause: Callable[[str, dict[str, Any]], Awaitable[Outcome]],
                 running: Callable[[], bool]) -> None:
        self.guardrails = tuple(guardrails)
        self._pause = pause
        self._running = running
        self.crossed: dict[str, bool] = {}
        self._state = metrics.guardrail_crossed
        self._value = metrics.guardrail_value
        for g in self.guardrails:
            self._state.labels(g.name).set(-1)

    def holding(self) -> bool:
        """Whether every guardrail has been judged and held when last judged (a rollout widens only then)."""
        return all(self.crossed.get(g.name) is False for g in self.guardrails)

    async def judge(self, values: Iterable[MeasureValue], log_size: int) -> list[str]:
        """Judge every guardrail on the live arm's ``values``; pause on a new crossing. Returns the
        names of the guardrails that paused the trial."""
        values = list(values)
        fired: list[str] = []
        for g in self.guardrails:
            value = g.value_in(values)
            if value is None or log_size < g.min_entries:
                continue
            self._value.labels(g.name).set(value)
            crossed = not g.holds(value)
            was = self.crossed.get(g.name, False)
            self.crossed[g.name] = crossed
            self._state.labels(g.name).set(1 if crossed else 0)
            if crossed and not was and self._running():
                payload = crossing_payload(g, value, log_size)
                try:
                    outcome = await self._pause(f"guardrail:{g.name}", payload)
                except FlagshipError as exc:  # the store is down, the server stopping: judge again next time
                    self.crossed[g.name] = False
                    _log.warning("guardrail %s crossed but the pause failed (%s); retried at the next "
                                 "refresh", g.name, exc)
                    continue
                _log.warning("guardrail %s crossed (%s = %g, must be %s %g): %s", g.name, g.measure, value,
                             g.op, g.threshold, "acted on the trial" if outcome.accepted else outcome.reason,
                             extra={"event": "guardrail_crossed", "guardrail": g.name, "value": value})
                if outcome.accepted:
                    fired.append(g.name)
        return fired
