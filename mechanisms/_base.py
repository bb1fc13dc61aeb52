"""The plug-in contract: mechanisms, populations, and the context they run in.

Lifecycle of a mechanism in any driver (sandbox, live server, replay, conformance kit):

1. The driver validates the scenario's config for it with ``cls.Config`` and builds
   a :class:`Context` (SimPy environment, its own seeded RNG stream, the bus, its
   recorder).
2. ``Mechanism(config, ctx)``: set up state; no events, no processes yet.
3. ``start()``: subscribe to events, set timers (``ctx.call_at`` / ``ctx.call_later``:
   deadlines, sunsets) or start SimPy processes.
4. ``handle(action)`` any number of times, always with ``action.time == env.now``,
   in the driver's deterministic order. It returns an :class:`Outcome`; a rejected
   action leaves the state exactly as it was.
5. ``finish()`` once at the end of the run: record the final value of every
   declared measure.

A population has the same lifecycle without ``handle``: ``start()`` launches its
participants (by default one chain of SimPy timeouts per participant, see ``_chains``, arriving by the
declared arrival process, each arrival calling :meth:`Population.act`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from flagship.mechanisms._action import Action, CommonReason, Outcome
from flagship.mechanisms._bus import Bus, Event
from flagship.mechanisms._errors import ContractError, Problem
from flagship.mechanisms._measures import Measure
from flagship.mechanisms._pages import PageSet
from flagship.mechanisms._stream import RandomStream

if TYPE_CHECKING:
    import simpy


__all__ = [
    "Arrival",
    "Context",
    "Mechanism",
    "NoConfig",
    "Population",
    "PopulationContext",
    "RecordTable",
    "Recorder",
    "RoutesFactory",
    "Submit",
    "Timer",
]


class Recorder(Protocol):
    """Where a mechanism or population records telemetry, in simulated time.

    All methods are cheap (a dict update) and never touch SQL or Prometheus.
    """

    def count(self, name: str, n: float = 1) -> None:
        """Add ``n`` to a counter (monotone)."""

    def gauge(self, name: str, value: float) -> None:
        """Set a gauge's current value; the series sampler snapshots it over time."""

    def sample(self, name: str, value: float) -> None:
        """Add one observation (a latency, a size) to a distribution summarised per run."""

    def measure(self, name: str, value: float | None) -> None:
        """Set the final value of a declared measure (``None``: undefined for this run)."""

    # Per-action handles: bound once (in ``start``), called on every action, with no name lookup
    # or method binding per call (sampler and gauge_setter are C-level calls with no Python
    # frame); the results equal those of the name-keyed methods above.

    def counter(self, name: str) -> Callable[[], object]:
        """A function of no arguments that does ``count(name)``."""

    def sampler(self, name: str) -> Callable[[float], object]:
        """A function of one value that does ``sample(name, value)``."""

    def gauge_setter(self, name: str) -> Callable[[float], object]:
        """A function of one value that does ``gauge(name, value)``."""


Submit = Callable[[Action], Outcome]


class NoConfig(BaseModel):
    """The config of a mechanism or population that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Participant:
    """What mechanisms and populations share: a name, a context, declared events and measures."""

    name: ClassVar[str] = ""
    measures: ClassVar[tuple[Measure, ...]] = ()
    publishes: ClassVar[tuple[type[Event], ...]] = ()
    subscribes: ClassVar[tuple[type[Event], ...]] = ()


class Timer:
    """A callback set for a simulated time by :meth:`Context.call_at` or :meth:`Context.call_later`.

    Lifecycle: *pending* from the call until its time; then *fired* (the callback ran once)
    unless :meth:`cancel` was called before, in which case it never runs. Timers due at the
    same time fire in the order they were set.
    """

    __slots__ = ("cancelled", "fired", "when")

    def __init__(self, when: float) -> None:
        self.when = when
        self.cancelled = False
        self.fired = False

    def cancel(self) -> None:
        """Do not run the callback (no effect once it has run)."""
        self.cancelled = True


class Context:
    """What a driver hands a mechanism: time, timers, randomness, the bus, telemetry.

    ``publish`` and ``subscribe`` check the owner's declarations, so the event
    flow drawn from declarations cannot drift from what the code does; ``publish``
    stamps each event with the current time and the owner's name.
    """

    __slots__ = ("_publishes", "_stream", "_subscribes", "bus", "env", "name", "recorder", "rng")

    def __init__(
        self,
        *,
        name: str,
        env: simpy.Environment,
        bus: Bus,
        recorder: Recorder,
        stream: Callable[[str], RandomStream],
        publishes: tuple[type[Event], ...] = (),
        subscribes: tuple[type[Event], ...] = (),
    ) -> None:
        self.name = name
        self.env = env
        self.bus = bus
        self.recorder = recorder
        self._stream = stream
        self.rng = stream(name)
        self._publishes = frozenset(publishes)
        self._subscribes = subscribes

    @property
    def now(self) -> float:
        """Current simulated time (seconds)."""
        # SimPy's field behind ``Environment.now`` (every SimPy environment has it), read without
        # the property's call: most actions of a simulation read the time here.
        return float(self.env._now)

    def stream(self, purpose: str) -> RandomStream:
        """Another independent RNG stream named ``<name>/<purpose>`` (e.g. a sortition draw)."""
        return self._stream(f"{self.name}/{purpose}")

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Timer:
        """Run ``callback(*args)`` at simulated time ``when`` (now, if ``when`` has passed)."""
        # Imported here: importing flagship.mechanisms (a live client, the CLI) loads no SimPy.
        from flagship.mechanisms._chains import start_timer  # noqa: PLC0415

        timer = Timer(max(float(when), self.now))
        start_timer(self.env, timer, callback, args)
        return timer

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        """Run ``callback(*args)`` ``delay`` simulated seconds from now (``delay`` >= 0)."""
        if not delay >= 0:  # also refuses NaN
            raise ContractError(f"{self.name}: call_later: expected a delay >= 0, got {delay!r}")
        return self.call_at(self.now + delay, callback, *args)

    def publish(self, event: Event) -> None:
        """Stamp ``event`` with the current time and this owner's name, then publish it.

        The event's type must be declared in ``publishes``.
        """
        if type(event) not in self._publishes:
            raise ContractError(
                f"{self.name} published {type(event).__name__} but does not declare it in publishes"
            )
        # The event is not shared before this point: stamping it in place is safe and cheap.
        object.__setattr__(event, "time", self.now)
        object.__setattr__(event, "source", self.name)
        self.bus.publish(event)

    def subscribe(self, event_type: type[Event], handler: Callable[[Any], None]) -> None:
        """Subscribe to an event type the owner declared in ``subscribes``."""
        if not any(issubclass(event_type, declared) for declared in self._subscribes):
            raise ContractError(
                f"{self.name} subscribed to {event_type.__name__} but does not declare it in subscribes"
            )
        self.bus.subscribe(event_type, handler, name=self.name)


class RoutesFactory(Protocol):
    """Builds a wing's FastAPI router for mechanism ``name`` in a live trial.

    ``gateway`` is the server's :class:`~flagship.mechanisms.Gateway`. (Declared here, with the
    Mechanism that holds it, so that :mod:`flagship.mechanisms._live`, which describes the
    gateway, imports this module and not the other way round.)
    """

    def __call__(self, name: str, gateway: Any) -> Any:
        ...


@dataclass(frozen=True, slots=True)
class RecordTable:
    """Participant-level records a mechanism offers for analysis (``flagship export-responses``).

    ``rows`` hold JSON-able scalars in ``columns`` order and never an actor id (the mechanism
    pseudonymises); ``codebook`` has one entry per column (``column``, ``label``, ``values``,
    and any other documentation keys).
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    codebook: tuple[Mapping[str, str], ...]


C = TypeVar("C", bound=BaseModel)

_COMMON_STATUS: dict[str, int] = {
    CommonReason.INVALID_PAYLOAD: 422,
    CommonReason.UNKNOWN_KIND: 422,
    CommonReason.NOT_PERMITTED: 403,
}


class Mechanism(_Participant, ABC, Generic[C]):
    """A deterministic state machine over time-stamped actions.

    Subclasses set ``name`` and ``Config`` (a pydantic model, ``extra="forbid"``),
    declare ``reasons`` (a StrEnum of their own rejection codes), ``measures``,
    ``publishes`` and ``subscribes``, and implement :meth:`handle` and
    :meth:`snapshot`. Register with ``@mechanisms.register``.
    """

    Config: ClassVar[type[BaseModel]] = NoConfig
    reasons: ClassVar[type[StrEnum]] = CommonReason
    reason_status: ClassVar[Mapping[str, int]] = {}
    """HTTP status of a rejection, by reason code, for the live pilot. A code not listed gets
    422 if it is ``INVALID_PAYLOAD`` or ``UNKNOWN_KIND`` (the request was malformed), 403 if it
    is ``NOT_PERMITTED``, and 409 otherwise (refused in the current state)."""
    http: ClassVar[RoutesFactory | None] = None
    """Routes for the live pilot (see :mod:`flagship.mechanisms._live`); ``None``: not served over HTTP."""
    kinds_while_paused: ClassVar[frozenset[str]] = frozenset()
    """Action kinds still taken while an operator has paused a live trial (cancels, say); others
    are refused with ``TRIAL_PAUSED``. Default: none."""
    live_parameters: ClassVar[frozenset[str]] = frozenset()
    """Config fields an operator may change while a live trial runs (``flagship operator set``):
    the mechanism must read them from ``self.config`` when it uses them. Default: none."""
    pages: ClassVar[PageSet | None] = None
    """A :class:`~flagship.mechanisms._pages.PageSet` of HTML pages for people; ``None``: no pages."""

    def __init__(self, config: C, ctx: Context) -> None:
        self.config = config
        self.ctx = ctx

    @classmethod
    def live_problems(cls, config: BaseModel) -> list[Problem]:
        """What makes ``config`` unsafe to serve to real participants (paths relative to it).

        A configuration can be right for a simulation and wrong for a live pilot (trusting
        simulated credential issuers whose keys anyone can derive, say). ``flagship serve``
        refuses to start while any mechanism reports a problem. Default: none.
        """
        return []

    @classmethod
    def reason_codes(cls) -> frozenset[str]:
        """The closed set of reason codes this mechanism may reject with."""
        return frozenset(CommonReason) | frozenset(cls.reasons)

    @classmethod
    def status_of(cls, reason: str) -> int:
        """The HTTP status of a rejection with ``reason`` (see :attr:`reason_status`)."""
        status = cls.reason_status.get(str(reason))
        if status is not None:
            return status
        return _COMMON_STATUS.get(str(reason), 409)

    def start(self) -> None:
        """Subscribe to events and set timers. Called once before any action."""

    @abstractmethod
    def handle(self, action: Action) -> Outcome:
        """Apply ``action`` at ``env.now``; on rejection change nothing and give a reason code."""

    def finish(self) -> None:
        """Record the final value of every declared measure. Called once at the end of a run."""

    def logs_rejection(self, action: Action, outcome: Outcome) -> bool:
        """Whether the live server's durable log keeps this rejected ``action`` (default: always).

        Called right after :meth:`handle` rejected ``action``. Answer False only for
        rejections that leave no trace at all (no snapshot change, no stream draw, no timer):
        the live server then answers it, counts it in ``flagship_unlogged_rejections_total``
        by mechanism and reason, and writes no log entry, so a flood of such requests does not
        grow the log; replaying the log without it reaches the same states. Measures computed
        by replay do not see it. Must decide from ``action``, ``outcome`` and the state alone;
        when answering False it may forget statistics it kept about ``action`` (no replay
        will count them). Called only by the live server, never in a simulation or replay.
        """
        return True

    def response_records(self) -> RecordTable | None:
        """Participant responses to export, anonymised, with a codebook (``None``: none). Default: none."""
        return None

    @abstractmethod
    def snapshot(self) -> Any:
        """The state that decides future outcomes, as JSON-able data (equal states, equal snapshots).

        Statistics kept only to compute measures (request counts, say) may be left out:
        they may change on a rejected action; the snapshot may not. The live pilot
        hashes it to prove a recovered state equals the state before a crash.
        """


class Arrival(BaseModel):
    """How a population's participants arrive.

    ``poisson``: each participant acts at the events of its own Poisson process of
    ``rate`` per second; ``periodic``: every ``interval`` seconds, with a random
    phase; ``none``: the population drives itself from ``start()`` (e.g. voters who
    react to a ballot opening).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    process: Literal["poisson", "periodic", "none"] = "poisson"
    rate: PositiveFloat | None = Field(default=None, description="arrivals per second per participant")
    interval: PositiveFloat | None = Field(default=None, description="seconds between arrivals")
    start: float = Field(default=0.0, ge=0, description="no arrivals before this sim time")


class PopulationContext(Context):
    """A :class:`Context` plus what participants need: their count, arrivals and a way to act."""

    __slots__ = ("arrival", "count", "mechanism", "submit", "submit_to")

    def __init__(
        self,
        *,
        count: int,
        arrival: Arrival,
        mechanism: str,
        submit_to: Callable[[str], Submit],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.count = count
        self.arrival = arrival
        self.mechanism = mechanism
        self.submit_to = submit_to
        self.submit: Submit = submit_to(mechanism) if mechanism else _no_target(self.name)

    def actor(self, participant: int) -> str:
        """The stable actor id of participant number ``participant`` (``<population>-<n>``)."""
        return f"{self.name}-{participant}"


def _no_target(population: str) -> Submit:
    def submit(action: Action) -> Outcome:
        raise ContractError(f"population {population!r} has no target mechanism to submit to")

    return submit


P = TypeVar("P", bound=BaseModel)

class Population(_Participant, ABC, Generic[P]):
    """A model of participants: how many, how they arrive, what they do.

    Subclasses set ``name`` and ``Params`` and implement :meth:`act` (called at each
    arrival of participant ``i``), or override :meth:`start` for participants that
    react to events instead of arriving on their own. Register with ``@register``.
    """

    Params: ClassVar[type[BaseModel]] = NoConfig

    def __init__(self, params: P, ctx: PopulationContext) -> None:
        self.params = params
        self.ctx = ctx

    def start(self) -> None:
        """Start every participant's arrivals (unless the arrival process is ``none``): Poisson ones
        as a chain of timeouts each (``_chains``), periodic ones as a SimPy process each."""
        arrival = self.ctx.arrival
        if arrival.process == "none" or self.ctx.count == 0:
            return
        env = self.ctx.env
        rng = self.ctx.stream("arrivals")
        if arrival.process == "poisson":
            if arrival.rate is None:
                raise ContractError(f"population {self.ctx.name!r}: poisson arrivals need a rate")
            from flagship.mechanisms._chains import PoissonArrivals  # noqa: PLC0415 (no SimPy on import)

            act = self.act
            for participant in range(self.ctx.count):
                PoissonArrivals(env, act, participant, 1.0 / arrival.rate, arrival.start, rng)
        else:
            if arrival.interval is None:
                raise ContractError(f"population {self.ctx.name!r}: periodic arrivals need an interval")
            phases = rng.uniform(0.0, arrival.interval, self.ctx.count)
            for participant in range(self.ctx.count):
                env.process(
                    self._periodic(participant, arrival.interval, arrival.start + float(phases[participant]))
                )

    def _periodic(self, participant: int, interval: float, first: float) -> Any:
        env = self.ctx.env
        yield env.timeout(first)
        while True:
            self.act(participant)
            yield env.timeout(interval)

    def act(self, participant: int) -> None:
        """Do whatever participant ``participant`` does when it arrives (usually ``ctx.submit``)."""
        raise ContractError(f"population {self.name!r} has arrivals but does not implement act()")

    def finish(self) -> None:
        """Record the final value of every declared measure. Called once at the end of a run."""
