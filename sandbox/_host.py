"""The host: one SimPy world with its mechanisms, populations, bus, telemetry and action log.

Every driver builds a :class:`Host`: the sandbox runner (with populations and
shocks), replay (feeding a recorded log), the conformance kit (feeding a test
script) and the live server (feeding HTTP actions on a real-time clock). So
"same actions at the same times give the same outcomes" holds by construction:
there is one code path from an action to its outcome.

Lifecycle: ``Host(seed)`` -> ``add_mechanism`` / ``add_population`` (in scenario
order) -> ``schedule_shock`` -> ``start()`` -> ``env.run(until)`` or
``run_feed(...)`` -> ``finish()``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import simpy
from pydantic import BaseModel
from simpy.events import ProcessGenerator

from flagship.mechanisms import (
    Action,
    Arrival,
    Bus,
    Context,
    ContractError,
    Mechanism,
    Outcome,
    Population,
    PopulationContext,
    Streams,
    Submit,
    canonical_bytes,
    canonical_json,
    sha256_hex,
)
from flagship.mechanisms._measures import Measure
from flagship.mechanisms.events import ShockFired
from flagship.sandbox._cohorts import COHORTS, MEASURES, TREATMENT, Cohorts, cohort_spec, treatment_config
from flagship.sandbox._gc import no_collection
from flagship.sandbox._scenario import ResolvedScenario
from flagship.sandbox._trial_control import OPERATOR, TrialControl
from flagship.telemetry import ActionRow, RunTelemetry, ScopeRecorder, Telemetry

__all__ = ["ActionLog", "Host", "LoggedAction", "action_rows", "build_host", "log_digest"]

SCENARIO_SOURCE = "scenario"


@dataclass(frozen=True, slots=True)
class LoggedAction:
    """One entry of the in-memory action log: what was asked of which mechanism, and the answer."""

    mechanism: str
    action: Action
    outcome: Outcome


class ActionLog:
    """The in-memory action log, as three parallel lists.

    Parallel lists rather than one record per entry: the log grows by one entry per
    action in the hot loop, and every extra container object per entry costs the
    garbage collector (one tuple per entry made a 1,000-participant run 3x slower).
    """

    __slots__ = ("actions", "mechanisms", "outcomes")

    def __init__(self) -> None:
        self.mechanisms: list[str] = []
        self.actions: list[Action] = []
        self.outcomes: list[Outcome] = []

    def __len__(self) -> int:
        return len(self.actions)

    def __iter__(self) -> Iterator[LoggedAction]:
        for mechanism, action, outcome in zip(self.mechanisms, self.actions, self.outcomes,
                                              strict=True):
            yield LoggedAction(mechanism, action, outcome)

    def append(self, mechanism: str, action: Action, outcome: Outcome) -> None:
        """Add one entry (the hot path binds the three list appends directly instead)."""
        self.mechanisms.append(mechanism)
        self.actions.append(action)
        self.outcomes.append(outcome)


def action_rows(log: ActionLog) -> list[ActionRow]:
    """The log as storable rows in canonical JSON: the byte-identical form that determinism is about."""
    encode = canonical_json
    empty = encode({})
    rows: list[ActionRow] = []
    append = rows.append
    for seq, (mechanism, action, outcome) in enumerate(
        zip(log.mechanisms, log.actions, log.outcomes, strict=True)
    ):
        payload, effects, reason = action.payload, outcome.effects, outcome.reason
        append((
            seq,
            float(action.time),
            mechanism,
            action.actor,
            action.kind,
            encode(payload) if payload else empty,
            outcome.accepted,
            None if reason is None else str(reason),
            encode(effects) if effects else empty,
        ))
    return rows


def log_digest(rows: Sequence[ActionRow]) -> str:
    """SHA-256 of the rows' canonical JSON (one array): equal logs, equal digests."""
    return hashlib.sha256(canonical_bytes(rows)).hexdigest()


class Host:
    """Wires mechanisms, populations, the bus, telemetry and the action log in one environment."""

    def __init__(
        self,
        seed: int,
        *,
        env: simpy.Environment | None = None,
        keep_actions: bool = True,
        telemetry: bool = True,
        series_interval: float | None = None,
        keep_events: bool = False,
    ) -> None:
        self.env = env if env is not None else simpy.Environment()
        self.streams = Streams(seed)
        self.bus = Bus(keep_log=keep_events)
        self.telemetry = Telemetry(self.env, enabled=telemetry, series_interval=series_interval)
        self.mechanisms: dict[str, Mechanism[Any]] = {}
        self.populations: dict[str, Population[Any]] = {}
        self.log: ActionLog | None = ActionLog() if keep_actions else None
        self.n_actions = 0
        # Log entries already part of a commit of a live trial (or of a replayed one): what a
        # population submits from start() belongs to the first commit, not to no commit.
        self.committed = 0
        self.unlogged: Callable[[str, Outcome], None] | None = None
        """Set by the live server around a client's action: a rejection its mechanism declares unlogged
        (:meth:`Mechanism.logs_rejection`) stays out of the log and is reported here instead;
        when None, every action is logged (simulations, replays)."""
        self._submitters: dict[str, Submit] = {}
        self._scopes: dict[str, tuple[tuple[Measure, ...], Callable[[], None]]] = {}
        self._started = False
        self.control = TrialControl(self.mechanisms)
        """Operator state (paused, closed, live parameters): actions to :data:`OPERATOR` go to it."""
        self.cohorts: Cohorts | None = None
        """Staged cohorts (:mod:`flagship.sandbox._cohorts`), set by :meth:`stage`; ``None``: none."""

    # -- building -----------------------------------------------------------------------

    def add_mechanism(self, name: str, cls: type[Mechanism[Any]], config: BaseModel) -> Mechanism[Any]:
        """Build mechanism ``cls`` under ``name`` with a validated ``config``."""
        self._check_new(name)
        ctx = Context(
            name=name,
            env=self.env,
            bus=self.bus,
            recorder=self.telemetry.recorder(name),
            stream=self.streams,
            publishes=cls.publishes,
            subscribes=cls.subscribes,
        )
        mechanism = cls(config, ctx)
        self.mechanisms[name] = mechanism
        return mechanism

    def add_population(
        self,
        name: str,
        cls: type[Population[Any]],
        params: BaseModel,
        *,
        count: int,
        arrival: Arrival,
        mechanism: str | None,
    ) -> Population[Any]:
        """Build population ``cls`` under ``name``; its participants submit to ``mechanism``."""
        self._check_new(name)
        if mechanism is not None and mechanism not in self.mechanisms:
            raise ContractError(f"population {name!r} targets unknown mechanism {mechanism!r}")
        ctx = PopulationContext(
            name=name,
            env=self.env,
            bus=self.bus,
            recorder=self.telemetry.recorder(name),
            stream=self.streams,
            publishes=cls.publishes,
            subscribes=cls.subscribes,
            count=count,
            arrival=arrival,
            mechanism=mechanism or "",
            submit_to=self.submitter,
        )
        population = cls(params, ctx)
        self.populations[name] = population
        return population

    def add_scope(self, name: str, measures: Sequence[Measure], finish: Callable[[], None]
                  ) -> ScopeRecorder:
        """A scope of measures that is neither a mechanism nor a population (e.g. ``guardrails``,
        the guardrails a simulated trial rehearses): its recorder. :meth:`finish` calls ``finish``
        after the populations'; it records every one of ``measures``, as a mechanism would."""
        self._check_new(name)
        recorder = self.telemetry.recorder(name)
        self._scopes[name] = (tuple(measures), finish)
        return recorder

    def stage(self, cohorts: Cohorts, config: BaseModel) -> None:
        """Serve ``cohorts.mechanism`` in two cohorts: build its treatment instance with ``config``,
        route its actions by cohort and add the :data:`COHORTS` scope (before any population)."""
        if self.populations or self._submitters:
            raise ContractError("stage the cohorts before adding populations or submitting")
        control = self.mechanisms[cohorts.mechanism]
        self.add_mechanism(cohorts.treatment, type(control), config)
        recorder = self.add_scope(COHORTS, MEASURES, lambda: cohorts.record(recorder))
        self.cohorts = cohorts
        self.control.staged = cohorts.operate

    def _routed(self, control: Mechanism[Any], cohorts: Cohorts) -> Callable[[Action], Outcome]:
        """The staged mechanism's handler: each action to its actor's cohort's instance; a first
        logged action is preceded by its ``assign`` entry (a first action that stays unlogged,
        see :attr:`unlogged`, assigns nothing: replay never sees it)."""
        treatment = self.mechanisms[cohorts.treatment]
        log = self.log
        host = self

        def handle(action: Action) -> Outcome:
            cohort, fresh = cohorts.place(action.actor)
            target = treatment if cohort == TREATMENT else control
            outcome = target.handle(action)
            if fresh and (outcome.accepted or host.unlogged is None
                          or target.logs_rejection(action, outcome)):
                assigned, answer = cohorts.admit(action.actor, cohort, float(action.time))
                if log is not None:
                    log.append(COHORTS, assigned, answer)
            return outcome

        return handle

    def _check_new(self, name: str) -> None:
        if self._started:
            raise ContractError(f"cannot add {name!r}: the host has already started")
        if name == OPERATOR:
            raise ContractError(f"name {name!r} is reserved for operator actions")
        if name in self.mechanisms or name in self.populations or name in self._scopes:
            raise ContractError(f"name {name!r} is used twice in one scenario")

    def schedule_shock(self, at: float, kind: str, payload: dict[str, Any]) -> None:
        """Publish a :class:`ShockFired` on the bus at sim time ``at``."""

        def fire() -> ProcessGenerator:
            yield self.env.timeout(at - float(self.env.now))
            self.bus.publish(ShockFired(time=float(self.env.now), source=SCENARIO_SOURCE,
                                        kind=kind, payload=payload))

        self.env.process(fire())

    # -- acting -------------------------------------------------------------------------

    def submitter(self, mechanism: str) -> Submit:
        """A function that hands an action to ``mechanism`` and logs the pair (the hot path)."""
        existing = self._submitters.get(mechanism)
        if existing is not None:
            return existing
        control = self.control
        if mechanism == OPERATOR:
            target: Mechanism[Any] | None = None
            handle: Callable[[Action], Outcome] = control.handle

            def logs_rejection(action: Action, outcome: Outcome) -> bool:
                return True  # an operator's refused action is part of the trial's record
        else:
            target = self.mechanisms.get(mechanism)
            if target is None:
                raise ContractError(f"no mechanism named {mechanism!r} in this host")
            handle = target.handle
            logs_rejection = target.logs_rejection
            if self.cohorts is not None and mechanism == self.cohorts.mechanism:
                handle = self._routed(target, self.cohorts)
        gated = target

        def refused(action: Action) -> Outcome | None:
            # Asked only while paused or closed (one attribute read on the hot path otherwise).
            return None if gated is None else control.refusal(gated, action.kind)

        log = self.log
        host = self

        if log is None:

            def submit(action: Action) -> Outcome:
                host.n_actions += 1
                if control.status != "running":
                    refusal = refused(action)
                    if refusal is not None:
                        return refusal
                return handle(action)

        else:
            log_mechanism = log.mechanisms.append
            log_action = log.actions.append
            log_outcome = log.outcomes.append

            def submit(action: Action) -> Outcome:
                outcome = None if control.status == "running" else refused(action)
                if outcome is None:
                    outcome = handle(action)
                if not outcome.accepted and host.unlogged is not None and \
                        not logs_rejection(action, outcome):
                    host.unlogged(mechanism, outcome)  # a rejection changes nothing: replay needs no entry
                    return outcome
                log_mechanism(mechanism)
                log_action(action)
                log_outcome(outcome)
                return outcome

        self._submitters[mechanism] = submit
        return submit

    def submit(self, mechanism: str, action: Action) -> Outcome:
        """Hand ``action`` to ``mechanism`` now (``action.time`` must equal ``env.now``)."""
        if action.time != self.env.now:
            raise ContractError(f"action at t={action.time} submitted at env.now={self.env.now}")
        return self.submitter(mechanism)(action)

    def run_feed(self, feed: Iterable[tuple[str, Action]], until: float | None = None) -> list[Outcome]:
        """Submit each (mechanism, action) at its recorded time, in order; then run to ``until``.

        Advance-then-submit, exactly as the live server does: before an action at
        time ``t`` the environment runs every event scheduled before ``t``
        (``env.run(until=t)``), then the action is handled at ``env.now == t``, before
        any timer that falls due at ``t`` itself. Actions at equal times keep their
        feed order. This is how replay and the conformance kit drive mechanisms: the
        same path, in the same order, as live participants.
        """
        outcomes: list[Outcome] = []
        env = self.env
        for mechanism, action in feed:
            if action.time < float(env.now):
                raise ContractError(f"feed goes back in time: t={action.time} after {env.now}")
            if action.time > float(env.now):
                env.run(until=action.time)
            outcomes.append(self.submit(mechanism, action))
        if until is not None and until > float(env.now):
            env.run(until=until)
        return outcomes

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start telemetry, then every mechanism, then every population (in insertion order)."""
        if self._started:
            raise ContractError("host started twice")
        self._started = True
        self.telemetry.start()
        for mechanism in self.mechanisms.values():
            mechanism.start()
        for population in self.populations.values():
            population.start()

    def finish(self) -> RunTelemetry:
        """Let everything record its final measures; collect telemetry."""
        for mechanism in self.mechanisms.values():
            mechanism.finish()
        for population in self.populations.values():
            population.finish()
        for _, finish in self._scopes.values():
            finish()
        if self.log is not None:
            self.n_actions = len(self.log)
        return self.telemetry.collect(self.declared_measures(), final_time=float(self.env.now))

    def declared_measures(self) -> dict[str, tuple[Measure, ...]]:
        """Declared measures by scope (mechanism or population name)."""
        declared: dict[str, tuple[Measure, ...]] = {}
        for name, mechanism in self.mechanisms.items():
            declared[name] = type(mechanism).measures
        for name, population in self.populations.items():
            declared[name] = type(population).measures
        for name, (measures, _) in self._scopes.items():
            declared[name] = measures
        return declared

    def state(self) -> dict[str, Any]:
        """Every mechanism's snapshot, by name."""
        state = {name: mechanism.snapshot() for name, mechanism in self.mechanisms.items()}
        if self.control.acted:  # only then: a trial no operator touched keeps its hashes
            state[OPERATOR] = self.control.snapshot()
        if self.cohorts is not None:
            state[COHORTS] = self.cohorts.snapshot()
        return state

    def state_sha256(self) -> str:
        """SHA-256 of :meth:`state` as canonical JSON (built with collection paused: it is large
        and short-lived, see :func:`flagship.sandbox._gc.no_collection`)."""
        with no_collection():
            return sha256_hex(self.state())


def build_host(resolved: ResolvedScenario, seed: int) -> Host:
    """A host with the scenario's mechanisms, populations and shocks, not yet started."""
    scenario = resolved.scenario
    series_interval = scenario.telemetry.series_interval or scenario.duration / 100
    host = Host(seed, keep_actions=scenario.keep_actions, telemetry=scenario.telemetry.enabled,
                series_interval=series_interval)
    for name, config in resolved.mechanism_configs.items():
        host.add_mechanism(name, resolved.mechanism_class(name), config)
    staged = cohort_spec(scenario.live)
    if staged is not None:  # resolve() checked the spec and the treatment's configuration
        key = int(host.streams(COHORTS).integers(0, 2**63))
        config = treatment_config(staged, resolved.mechanism_configs[staged.mechanism])
        host.stage(Cohorts(staged, key), config)
    for name, spec in scenario.populations.items():
        target = resolved.data["populations"][name]["mechanism"]
        host.add_population(name, resolved.population_class(name), resolved.population_params[name],
                            count=spec.count, arrival=spec.arrival, mechanism=target)
    for shock in scenario.shocks:
        host.schedule_shock(shock.at, shock.kind, shock.payload)
    return host
