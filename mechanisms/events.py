"""The event vocabulary: every typed event the built-in mechanisms exchange, in one place.

Wings never import each other; they agree on these types instead. A publisher
declares the types it publishes (``Mechanism.publishes``) and a subscriber the
types it listens to (``Mechanism.subscribes``), so the event flow between
mechanisms can be drawn from the declarations alone (``flagship events``).
Third-party mechanisms may define their own :class:`Event` subclasses in their
own package the same way.

Field conventions: ``time`` is simulated time in seconds; ``actor`` is a
participant id (an agent's key thumbprint, a voter id); ``measure`` names what
a regulator decided (``"halt_trading"``, ``"raise_gate_threshold"``,
``"restrict_norm"``, ``"monitor"``, ``"no_action"``...); ``params`` carries
JSON-able details.

A vote's events, in order: ``VoteConvened`` (who is convened and the timetable;
deliberation runs from the convening to ``ballot_opens``) -> ``BallotOpened`` ->
``BallotClosed`` (the count) -> ``DecisionTaken`` when the vote decided a measure
-> ``DecisionLapsed`` at its sunset unless renewed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flagship.mechanisms._action import EMPTY
from flagship.mechanisms._bus import Event

__all__ = [
    "AgentAdmitted",
    "AgentReinstated",
    "AgentRevoked",
    "AgentSuspended",
    "BallotClosed",
    "BallotOpened",
    "DecisionLapsed",
    "DecisionTaken",
    "IncidentRaised",
    "ShockFired",
    "TradeExecuted",
    "TraderProfile",
    "TradingHalted",
    "TradingResumed",
    "ViolationObserved",
    "VoteConvened",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShockFired(Event):
    """A timed shock from the scenario (``[[shocks]]``): a liquidity shock, an AI incident..."""

    kind: str
    payload: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentRaised(Event):
    """Something (a shock, a market's surveillance) reports an AI incident of a severity in [0, 1]."""

    incident_id: str
    kind: str
    severity: float
    details: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionTaken(Event):
    """A regulator decided a measure; it binds until ``sunset`` (sim time) unless renewed."""

    decision_id: str
    measure: str
    sunset: float | None
    params: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionLapsed(Event):
    """A decision reached its sunset (or was overturned) and no longer binds."""

    decision_id: str
    measure: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TradingHalted(Event):
    """A market stopped accepting new orders (cancels stay open)."""

    market: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TradingResumed(Event):
    """A halted market accepts orders again."""

    market: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeExecuted(Event):
    """One fill on a market's tape, for populations that track their own positions."""

    market: str
    maker: str
    taker: str
    price: int
    qty: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ViolationObserved(Event):
    """A mechanism saw a participant break a norm (spoofing, wash trading...)."""

    actor: str
    kind: str
    severity: float
    evidence: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAdmitted(Event):
    """A gate admitted an agent (possibly on probation until ``probation_until``)."""

    actor: str
    probation_until: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSuspended(Event):
    """A gate suspended an admitted agent until ``until`` (or a review)."""

    actor: str
    reason: str
    until: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReinstated(Event):
    """A suspension ended or an appeal succeeded."""

    actor: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRevoked(Event):
    """A gate revoked an agent's admission."""

    actor: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteConvened(Event):
    """A regulator convened a vote: who may vote, on what, by which rule, and when.

    ``purpose`` is ``incident``, ``renewal`` or ``review``; ``members`` are the
    actor ids convened (the panel drawn by sortition, or every registered voter
    when ``mode`` is ``electorate``); ``draw_seed`` reproduces the panel draw
    (``None`` for a whole-electorate vote); ``strata`` names the strata keys of
    the draw. Deliberation runs from ``time`` to ``ballot_opens`` (no window when
    they are equal); ballots are accepted in ``[ballot_opens, ballot_closes)``.
    ``tie_break`` is the rule's tie-break policy (``random``: seeded by the
    ``tally_seed`` published with the count). ``thresholds`` maps a measure to the
    share of counted ballots that must rank it above ``status_quo`` for it to be
    decided.
    """

    vote_id: str
    purpose: str
    incident_ids: tuple[str, ...]
    severity: float
    candidates: tuple[str, ...]
    rule: str
    tie_break: str
    mode: str
    members: tuple[str, ...]
    strata: tuple[str, ...]
    draw_seed: int | None
    ballot_opens: float
    ballot_closes: float
    quorum: float
    status_quo: str | None = None
    thresholds: Mapping[str, float] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True, kw_only=True)
class BallotOpened(Event):
    """Convened members may cast their ranked ballot for ``vote_id`` until ``closes`` (exclusive)."""

    vote_id: str
    candidates: tuple[str, ...]
    closes: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BallotClosed(Event):
    """The count of ``vote_id``.

    ``counted`` valid ballots of ``convened`` members; ``winner`` is the measure the
    count decided (``None`` when the quorum was not met or nothing was counted);
    ``record`` is the anonymous cast-vote record (every counted ranking, or under an approval
    rule every counted set of approvals in candidate order; sorted, so the cast order is not
    revealed) for audits and recounts; ``tally_seed`` is the seed of the tally's recorded
    tie-break. ``first_choice_won`` maps each counted voter to whether the measure they ranked
    first (approval: one they approved) is ``winner`` (empty when nothing was decided): who
    won and who lost the vote, for legitimacy surveys (losers' consent), never how anyone ranked.
    """

    vote_id: str
    convened: int
    counted: int
    quorum_met: bool
    winner: str | None
    tally_seed: int
    record: tuple[tuple[str, ...], ...] = ()
    details: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    first_choice_won: Mapping[str, bool] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True, kw_only=True)
class TraderProfile(Event):
    """SIMULATION GROUND TRUTH about one trader, published by a population for the market's measures.

    The market never uses a profile to decide an outcome: profiles only say which group an
    account belongs to (for the Gini of gains), whether it is a manipulator (for manipulators'
    profit and honest participants' rejection rate), and its induced private value (a buyer's
    ``value`` or a seller's ``cost`` per unit, for ``units`` units in trading ``period``) for
    allocative efficiency. A population publishes one per trader at start and again whenever an
    induced value changes (a new trading period). In a live pilot nobody publishes them and the
    measures that need them are undefined.
    """

    market: str
    actor: str
    group: str
    manipulator: bool = False
    value: int | None = None
    cost: int | None = None
    units: int = 0
    period: int = 0
