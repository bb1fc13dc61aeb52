"""Rehearsing a scenario's guardrails in a simulated trial: how often would one have fired?

A scenario declares its guardrails once, in ``[[live.guardrails]]``; ``flagship serve``
judges them on the live measures as they refresh, and ``flagship run`` (and every sweep)
judges the same guardrails on the simulated trial, every ``[live.rehearsal] interval`` of
simulated time (default: the duration / 20). A judgment takes the measures the run would
report if it ended now (a forked copy of the host finishes:
:func:`~flagship.sandbox._fork_measures.finished_measures`, as the live measure worker does),
and a guardrail that goes from holding to crossed pauses the trial with the operator action
the live server logs (actor ``guardrail:<name>``, a payload naming the guardrail, the
measure, the value that crossed and the threshold). The simulated participants then meet the
trial paused as live clients would. No operator resumes it unless ``resume_after`` says when
one would (actor ``rehearsal``); edge-triggered as live: a guardrail still crossed after a
resume pauses again only once it has held.

Judgments happen at ``interval``, ``2 * interval``, ... before any other event due at that
time, and pauses are entries of the action log: a replay that feeds the log's operator
entries (advance-then-submit, :func:`~flagship.sandbox._replay.replay`) reproduces them and
every state hash without judging anything; :func:`run_commits` cuts a run's log into those
commits. Nothing reads a clock: judgments are in simulated time.

A scenario that stages cohorts (``[live.cohorts]``, :mod:`flagship.sandbox._cohorts`) rehearses
its rollout too: while the treatment serves, a new crossing rolls it back (operator action
``rollback``, actor ``guardrail:<name>``) instead of pausing, and after each judgment in which
every guardrail was judged and held, the schedule's next step is taken if it is due (operator
action ``widen``, actor ``rollout``). Both are log entries a replay feeds, like the pauses.

The run reports, under the scope ``guardrails``, ``guardrail_pauses`` and
``time_paused_share`` like any measure, so a sweep shows how often a guardrail would have
fired under each population and shock, with intervals across seeds. A scenario without
guardrails gets no judge and no such scope: its runs are unchanged.

Lifecycle: :func:`rehearse` after :func:`~flagship.sandbox._host.build_host` and before
``host.start()`` (it adds the scope and starts its judge when the host's environment runs);
the scope's measures are recorded by ``host.finish()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import simpy
from simpy.events import URGENT, ProcessGenerator

from flagship.mechanisms import SHARE, Action, Area, Measure, Outcome
from flagship.sandbox._cohorts import ROLLOUT_ACTOR
from flagship.sandbox._fork_measures import finished_measures
from flagship.sandbox._guardrail import Guardrail, GuardrailTables, crossing_payload
from flagship.sandbox._host import Host
from flagship.sandbox._replay import Commit, Recorded
from flagship.sandbox._scenario import ResolvedScenario
from flagship.sandbox._trial_control import OPERATOR
from flagship.telemetry import ActionRow

__all__ = ["GUARDRAILS_SCOPE", "MEASURES", "REHEARSING_OPERATOR", "Rehearsal", "rehearse",
           "rehearsed_measures", "run_commits"]

GUARDRAILS_SCOPE = "guardrails"
"""The scope of the rehearsal's measures (``guardrails.guardrail_pauses``)."""

REHEARSING_OPERATOR = "rehearsal"
"""The actor of the resumes ``[live.rehearsal] resume_after`` schedules."""

MEASURES = (
    Measure("guardrail_pauses", Area.ROBUSTNESS, "count", False,
            "times a guardrail paused the simulated trial"),
    Measure("time_paused_share", Area.ROBUSTNESS, "ratio", False,
            "share of the simulated time the trial spent paused", bounds=SHARE),
)


class _Due(simpy.events.Event):
    """An event due ``delay`` from now that is processed before any normal event due then."""

    def __init__(self, env: simpy.Environment, delay: float) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, URGENT, delay)


class Rehearsal:
    """The guardrails of one simulated trial, their last states, and the time it spent paused."""

    def __init__(self, host: Host, guardrails: Sequence[Guardrail], *, interval: float,
                 resume_after: float | None) -> None:
        self.host = host
        self.guardrails = tuple(guardrails)
        self.interval = interval
        self.resume_after = resume_after
        self.crossed: dict[str, bool] = {}
        self.pauses = 0
        self._operator = host.submitter(OPERATOR)
        self._paused_since: float | None = None
        self._paused = 0.0
        self._recorder = host.add_scope(GUARDRAILS_SCOPE, MEASURES, self._finish) if guardrails else None
        host.env.process(self._judge_forever())

    def _judge_forever(self) -> ProcessGenerator:
        env = self.host.env
        while True:
            yield _Due(env, self.interval)
            self.judge()

    def judge(self) -> list[str]:
        """Judge every guardrail on the measures of the run so far; pause (or, while staged cohorts'
        treatment serves, roll it back) on a new crossing; then take the rollout schedule's next
        step if it is due and every guardrail holds. Returns the names of the guardrails that
        paused the trial or rolled it back."""
        host = self.host
        cohorts = host.cohorts
        log_size = len(host.log) if host.log is not None else host.n_actions
        due = [g for g in self.guardrails if log_size >= g.min_entries]
        if not due and cohorts is None:
            return []
        values = finished_measures(host) if due else []
        fired: list[str] = []
        holding = len(due) == len(self.guardrails)  # one not judged yet has not shown it holds
        for g in due:
            value = g.value_in(values)
            if value is None:
                holding = False
                continue
            crossed = not g.holds(value)
            holding = holding and not crossed
            was = self.crossed.get(g.name, False)
            self.crossed[g.name] = crossed
            if crossed and not was and host.control.status == "running":
                now = float(host.env.now)
                if cohorts is not None and cohorts.serving:
                    rolled = self._operator(Action(now, f"guardrail:{g.name}", "rollback",
                                                   crossing_payload(g, value, log_size)))
                    if rolled.accepted:
                        fired.append(g.name)
                    continue
                outcome = self._operator(Action(now, f"guardrail:{g.name}", "pause",
                                                crossing_payload(g, value, log_size)))
                if outcome.accepted:
                    fired.append(g.name)
                    self.pauses += 1
                    self._paused_since = now
                    if self.resume_after is not None:
                        host.env.process(self._resume_later(self.resume_after))
        if holding and cohorts is not None and host.control.status == "running" and \
                cohorts.next_step(float(host.env.now), log_size) is not None:
            widen = Action(float(host.env.now), ROLLOUT_ACTOR, "widen", cohorts.widen_payload(log_size))
            self._operator(widen)
        return fired

    def _resume_later(self, delay: float) -> ProcessGenerator:
        yield _Due(self.host.env, delay)
        now = float(self.host.env.now)
        outcome = self._operator(Action(now, REHEARSING_OPERATOR, "resume", {}))
        if outcome.accepted and self._paused_since is not None:
            self._paused += now - self._paused_since
            self._paused_since = None

    def _finish(self) -> None:
        if self._recorder is None:
            return
        now = float(self.host.env.now)
        paused = self._paused + (now - self._paused_since if self._paused_since is not None else 0.0)
        self._recorder.measure("guardrail_pauses", self.pauses)
        self._recorder.measure("time_paused_share", min(1.0, paused / now) if now > 0 else 0.0)


def rehearsed_measures(resolved: ResolvedScenario) -> tuple[Measure, ...]:
    """The measures a run of ``resolved`` reports under :data:`GUARDRAILS_SCOPE` (none without guardrails)."""
    return MEASURES if GuardrailTables.model_validate(resolved.scenario.live).guardrails else ()


def rehearse(host: Host, resolved: ResolvedScenario) -> Rehearsal | None:
    """Rehearse ``resolved``'s guardrails and rollout schedule on ``host`` (built, not started);
    ``None``: it has neither."""
    tables = GuardrailTables.model_validate(resolved.scenario.live)  # resolve() reported any problem
    staged = host.cohorts is not None and bool(host.cohorts.spec.schedule)
    if not tables.guardrails and not staged:
        return None
    spec = tables.rehearsal
    interval = spec.interval if spec.interval is not None else resolved.scenario.duration / 20
    return Rehearsal(host, tables.guardrails, interval=interval, resume_after=spec.resume_after)


def run_commits(rows: Sequence[ActionRow], end: float) -> list[Commit]:
    """A simulated run's action log as the commits a replay feeds: each operator entry closes a
    commit at its time (the simulated participants' entries before it are regenerated), and the
    last commit runs to ``end``, the run's duration."""
    commits: list[Commit] = []
    pending: list[Recorded] = []
    for seq, time, mechanism, actor, kind, payload, accepted, reason, effects in rows:
        action = Action(time, actor, kind, orjson.loads(payload))
        outcome = Outcome(accepted, reason, orjson.loads(effects))
        external = mechanism == OPERATOR
        pending.append(Recorded(seq, mechanism, action, outcome, external))
        if external:
            commits.append(Commit(time, tuple(pending), None))
            pending = []
    commits.append(Commit(end, tuple(pending), None))
    return commits
