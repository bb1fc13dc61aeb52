"""Staged cohorts on the live server: the rollout schedule's steps, and each cohort's measures exported.

A scenario with ``[live.cohorts]`` (:mod:`flagship.sandbox._cohorts`) serves its staged mechanism
in two cohorts. After every measure refresh, once the guardrails have judged the live arm
(:class:`~flagship.sandbox._live._guardrails.Guardrails`, whose crossing rolls the treatment back
while it serves, instead of pausing), :meth:`LiveRollout.after_refresh`:

1. publishes the staged mechanism's measures per cohort, as
   ``flagship_cohort_measure_<area>[_<unit>]{cohort, measure}`` (``cohort`` is ``control`` or
   ``treatment``, ``measure`` one of the mechanism's declared names: both bounded), and the
   cohorts' state: ``flagship_cohort_participants{cohort}``, ``flagship_cohort_treatment_share``
   and ``flagship_cohort_rolled_back`` (1 after a rollback);
2. takes the schedule's next step when it is due, the trial runs and every guardrail has been
   judged and holds: an operator action ``widen`` (actor ``rollout``) through the single writer,
   logged and committed like any action, so a replay feeds it and reproduces the widening.

Lifecycle: :meth:`~flagship.sandbox._live._sequencer.Engine.start` builds one
:class:`LiveRollout` when the host stages cohorts, and the measure refresher awaits
:meth:`LiveRollout.after_refresh` after each refresh.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import Gauge

from flagship.mechanisms import FlagshipError, Outcome
from flagship.sandbox._cohorts import CONTROL, ROLLOUT_ACTOR, TREATMENT, Cohorts
from flagship.telemetry import MeasureValue
from flagship.telemetry._prometheus import LiveMetrics, measure_metric

__all__ = ["CohortMetrics", "LiveRollout", "cohort_metric"]

_log = logging.getLogger("flagship.live")


def cohort_metric(area: str, unit: str) -> str:
    """The gauge family of one area's per-cohort measures in one unit (``flagship_cohort_measure_ux``)."""
    return measure_metric(area, unit).replace("flagship_measure", "flagship_cohort_measure", 1)


class CohortMetrics:
    """The per-cohort gauges, registered on the server's registry when first needed."""

    def __init__(self, metrics: LiveMetrics) -> None:
        registry = metrics.registry
        self._registry = registry
        self.families: dict[str, Gauge] = {}
        self.participants = Gauge("flagship_cohort_participants", "Participants assigned to each cohort "
                                  "of the staged mechanism", ["cohort"], registry=registry)
        self.share = Gauge("flagship_cohort_treatment_share", "The treatment share newly seen "
                           "participants are drawn against (0 after a rollback)", registry=registry)
        self.rolled_back = Gauge("flagship_cohort_rolled_back", "1 after a guardrail (or an operator) "
                                 "rolled the treatment back", registry=registry)

    def publish(self, cohorts: Cohorts, values: Iterable[MeasureValue]) -> None:
        """Publish the cohorts' state and the staged mechanism's measures of each cohort."""
        scopes = {cohorts.mechanism: CONTROL, cohorts.treatment: TREATMENT}
        for name in (CONTROL, TREATMENT):
            self.participants.labels(name).set(cohorts.counts[name])
        self.share.set(0.0 if cohorts.rolled_back else (cohorts.share if cohorts.share is not None else 0.0))
        self.rolled_back.set(1.0 if cohorts.rolled_back else 0.0)
        for m in values:
            cohort = scopes.get(m.scope)
            if cohort is None or m.value is None:
                continue
            self.family(m.area, m.unit).labels(cohort, m.name).set(m.value)

    def declare(self, declared: Iterable[tuple[str, str]]) -> None:
        """Register the per-cohort families of these (area, unit) pairs now, so a scrape lists them
        before the first refresh (as :meth:`LiveMetrics.declare_measures` does for the arms')."""
        for area, unit in declared:
            self.family(area, unit)

    def family(self, area: str, unit: str) -> Gauge:
        """The gauge of the staged mechanism's measures of ``area`` in ``unit``, by cohort and measure."""
        name = cohort_metric(area, unit)
        gauge = self.families.get(name)
        if gauge is None:
            gauge = self.families[name] = Gauge(
                name, f"Current value of the staged mechanism's {area} measures in {unit}, "
                      "by cohort (control or treatment) and measure",
                ["cohort", "measure"], registry=self._registry)
        return gauge


class LiveRollout:
    """The staged cohorts of a live trial: their gauges and the schedule's automatic steps."""

    def __init__(self, metrics: LiveMetrics, cohorts: Callable[[], Cohorts | None],
                 widen: Callable[[str, dict[str, Any]], Awaitable[Outcome]],
                 holding: Callable[[], bool], running: Callable[[], bool]) -> None:
        self.metrics = CohortMetrics(metrics)
        self._cohorts = cohorts  # read per refresh: a rebuild replaces the host and its cohorts
        self._widen = widen
        self._holding = holding
        self._running = running

    async def after_refresh(self, values: Iterable[MeasureValue], log_size: int, now: float) -> bool:
        """Publish the cohorts' gauges; take the schedule's next step if due and every guardrail holds.
        Returns whether a step was taken."""
        cohorts = self._cohorts()
        if cohorts is None:
            return False
        self.metrics.publish(cohorts, values)
        if not (self._running() and self._holding()) or cohorts.next_step(now, log_size) is None:
            return False
        try:
            outcome = await self._widen(ROLLOUT_ACTOR, cohorts.widen_payload(log_size))
        except FlagshipError as exc:  # the store is down, the server stopping: due again next time
            _log.warning("the rollout's next step failed (%s); retried at the next refresh", exc)
            return False
        _log.info("rollout step: %s", outcome.effects if outcome.accepted else outcome.reason,
                  extra={"event": "rollout_step", "accepted": outcome.accepted})
        if outcome.accepted:
            self.metrics.publish(cohorts, ())
        return outcome.accepted
