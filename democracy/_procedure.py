"""The emergency AI-regulator vote (mechanism ``emergency_vote``).

Lifecycle of one vote (all times are sim seconds; ``D`` = ``deliberation_seconds``,
``B`` = ``ballot_seconds``):

1. **Trigger.** An ``IncidentRaised`` event, or a ``ShockFired`` whose ``kind`` is in
   ``shock_kinds`` (its ``payload["severity"]`` is required), with severity at least
   ``min_severity``. While a vote is open, further incidents are *merged* into it
   (listed in its ``incident_ids``; its severity is the maximum): the open vote
   answers all of them, and no second vote is queued. An incident id seen before
   is ignored.
2. **Convening** at the trigger time ``t``: in ``panel`` mode a citizens' panel of
   ``panel_size`` is drawn from the registered voters by stratified sortition on
   ``strata`` (:mod:`flagship.democracy._sortition`) with a draw seed from the mechanism's
   ``sortition`` stream; in ``electorate`` mode every registered voter is convened.
   ``VoteConvened`` publishes the members, the draw seed and the timetable; the
   draw is also kept in the snapshot.
3. **Deliberation** during ``[t, t + D)``: the mechanism only announces the window;
   opinions live in the voter populations, which update their convened members'
   rankings (:mod:`flagship.democracy._deliberation`). ``D = 0`` is the control arm.
4. **Ballot** during ``[t + D, t + D + B)`` (``BallotOpened``): one ``ballot`` per
   convened member. The window is decided by the action's time, not by timers, so
   a ballot at exactly the closing time is late whatever the event order.
5. **Count** at ``t + D + B``: the quorum is met when the counted ballots are at
   least ``quorum`` x the convened members (and at least one). Then ``rule`` (any
   ranked rule of :func:`flagship.democracy.tally`) decides; a winner with a ``thresholds``
   entry needs that share of counted ballots ranking it above ``status_quo``, or
   it is struck and the count is rerun without it. ``BallotClosed`` publishes the
   count and the anonymous cast-vote record. No quorum: ``fallback_measure`` if
   set, else no decision.
6. **Decision**: ``DecisionTaken(decision_id, measure, sunset = now +
   sunset_seconds, params = measure_params[measure] + {"procedure": {...}})``.
   One decision binds at a time: a new one supersedes the one in force
   (``DecisionLapsed`` for the old one; published *after* the new
   ``DecisionTaken`` when the measure is unchanged, so the measure binds without
   a gap; listeners track decisions by ``decision_id``). A decision lapses at its
   sunset (``DecisionLapsed``) unless superseded first.
7. **Renewal and review.** With ``renewals > 0`` a renewal vote is convened so that
   it closes ``renew_lead_seconds`` before the sunset; its decision supersedes the
   old one (the same measure: renewed). ``renewals`` bounds the chain. A review is
   convened ``review_after_seconds`` after a decision, or when ``appeal_signatures``
   registered voters sign an ``appeal`` of the decision in force. Renewals and
   reviews asked for while a vote is open wait for it to close and are dropped if
   their decision is no longer in force by then.

Membership: voters ``register`` once with a per-person identity key (``person``)
and their strata, optionally binding a credential by its SHA-256 (``token_sha256``:
live pilots authenticate human voters by per-voter tokens, see
:mod:`flagship.democracy._tokens`; only the hash is ever stored). A second registration of a
person under another actor id (a sybil) is rejected with ``DUPLICATE_IDENTITY``
(``dedupe_identities = false`` turns the check off, only to measure the threat);
ballots from such actors are rejected as ``NOT_REGISTERED`` and counted in
``sybil_ballots_blocked``.

Action kinds (payloads are plain dicts, checked by hand; no pydantic per action):

* ``register``: ``{"person": str, "strata": {key: value for every key in strata}}``, and
  optionally ``"token_sha256"`` (64 lowercase hex digits, bound to no other voter);
  effects ``{"registered": <electorate size>, "voter": <the actor id>}`` (the voter id is in
  the effects so that a caller replaying a stored outcome learns whom it registered).
* ``ballot``: ``{"vote_id": str, "ranking": [candidate, ...]}`` (most preferred first,
  may be truncated; checked with :func:`flagship.democracy.validate_ballot`); effects
  ``{"vote_id", "cast"}``.
* ``appeal``: ``{"decision_id": str}``; effects ``{"decision_id", "signatures",
  "review_requested"}``.

A rejected action changes nothing but statistics kept for measures.

Read-only queries for the live routes (:mod:`flagship.democracy._http`): :meth:`EmergencyVote.votes`,
:meth:`~EmergencyVote.vote`, :meth:`~EmergencyVote.participation`,
:meth:`~EmergencyVote.voter_of_token`... They never return a voter's ranking: the open
vote keeps who cast what only to refuse second ballots, and drops it at the count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, model_validator

from flagship.democracy._ballots import BallotReason, BallotType, validate_ballot
from flagship.democracy._http import routes
from flagship.democracy._registry import rules
from flagship.democracy._result import TallyResult
from flagship.democracy._sortition import stratified_draw, total_variation
from flagship.democracy._tally import tally
from flagship.mechanisms import (
    Action,
    Area,
    CommonReason,
    Context,
    ContractError,
    Measure,
    Mechanism,
    Outcome,
    register,
)
from flagship.mechanisms.events import (
    BallotClosed,
    BallotOpened,
    DecisionLapsed,
    DecisionTaken,
    IncidentRaised,
    ShockFired,
    VoteConvened,
)

__all__ = [
    "DEFAULT_CANDIDATES",
    "Decision",
    "EmergencyVote",
    "EmergencyVoteConfig",
    "VoteReason",
    "decide",
    "pairwise_margins",
]

DEFAULT_CANDIDATES = ("pause_deployment", "restrict", "monitor", "no_action")
_MAX_TEXT = 256
_SEED_BOUND = 2**31  # seeds fit every integer column and JSON reader
PROCEDURE_KEY = "procedure"  # the key of DecisionTaken.params holding the vote's metadata
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class VoteReason(StrEnum):
    """Why the emergency vote rejected an action: a closed set, one code per cause."""

    ALREADY_REGISTERED = "ALREADY_REGISTERED"
    """The actor is registered already."""
    DUPLICATE_IDENTITY = "DUPLICATE_IDENTITY"
    """The person is registered under another actor id (a sybil identity)."""
    NOT_REGISTERED = "NOT_REGISTERED"
    """The actor is not a registered voter (not a member of the electorate)."""
    NOT_CONVENED = "NOT_CONVENED"
    """The actor is registered but not convened for this vote (not drawn, or registered later)."""
    UNKNOWN_VOTE = "UNKNOWN_VOTE"
    """No vote with this id was ever convened."""
    BALLOT_NOT_OPEN = "BALLOT_NOT_OPEN"
    """The ballot of this vote has not opened yet (deliberation is under way)."""
    BALLOT_CLOSED = "BALLOT_CLOSED"
    """The ballot of this vote has closed."""
    SECOND_BALLOT = "SECOND_BALLOT"
    """The actor has already cast a ballot in this vote."""
    BALLOT_MALFORMED = "BALLOT_MALFORMED"
    """The ranking is not a list of candidate names."""
    BALLOT_EMPTY = "BALLOT_EMPTY"
    """The ranking names no candidate."""
    BALLOT_UNKNOWN_CANDIDATE = "BALLOT_UNKNOWN_CANDIDATE"
    """The ranking names something that is not a candidate."""
    BALLOT_DUPLICATE_CANDIDATE = "BALLOT_DUPLICATE_CANDIDATE"
    """The ranking names a candidate twice."""
    UNKNOWN_DECISION = "UNKNOWN_DECISION"
    """The appealed decision is not the decision in force."""
    ALREADY_APPEALED = "ALREADY_APPEALED"
    """The actor has already signed an appeal of this decision."""


_BALLOT_REASON: Mapping[BallotReason, VoteReason] = {
    BallotReason.EMPTY: VoteReason.BALLOT_EMPTY,
    BallotReason.UNKNOWN_CANDIDATE: VoteReason.BALLOT_UNKNOWN_CANDIDATE,
    BallotReason.DUPLICATE_CANDIDATE: VoteReason.BALLOT_DUPLICATE_CANDIDATE,
}  # any other BallotReason (array-only or yes/no codes) cannot fit a list of names: malformed


def _ranked_rules() -> list[str]:
    return [name for name, info in rules().items() if info.ballot_type is BallotType.RANKED]


class EmergencyVoteConfig(BaseModel):
    """The declared procedure of an ``emergency_vote`` (see the module doc for the lifecycle)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidates: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CANDIDATES),
        min_length=2,
        description="measures on the ballot (name them as the listeners expect: a market halts on "
        "'halt_trading', the agent gate raises its exam threshold on 'raise_gate_threshold')",
    )
    rule: str = Field(default="schulze", description="a ranked rule of democracy.tally")
    tie_break: Literal["random", "lexicographic"] = Field(
        default="random", description="tie-break among co-winners (random: seeded per vote, recorded)"
    )
    status_quo: str | None = Field(
        default="no_action", description="the candidate that thresholds compare against (None: none)"
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="measure -> share of counted ballots that must rank it above the status quo "
        "(supermajority for drastic measures); below it the measure is struck",
    )
    quorum: float = Field(
        default=0.5, ge=0, le=1, description="counted ballots needed, as a share of the convened members"
    )
    fallback_measure: str | None = Field(
        default=None, description="measure decided when the quorum is not met (None: no decision)"
    )
    min_severity: float = Field(default=0.5, ge=0, le=1, description="incidents below are ignored")
    shock_kinds: list[str] = Field(
        default_factory=lambda: ["ai_incident"],
        description="ShockFired kinds that are incidents (payload.severity in [0, 1] required)",
    )
    listen_incidents: bool = Field(default=True, description="IncidentRaised events trigger votes")
    convening: Literal["panel", "electorate"] = Field(
        default="panel", description="a citizens' panel drawn by stratified sortition, or everyone"
    )
    panel_size: int = Field(default=30, ge=1, description="panel members drawn (capped at the electorate)")
    strata: list[str] = Field(
        default_factory=lambda: ["region", "age_band"],
        description="strata keys every registration carries; the panel is stratified on their values",
    )
    dedupe_identities: bool = Field(
        default=True,
        description="reject a person registered under a second actor id (false only to "
        "measure the sybil threat)",
    )
    deliberation_seconds: NonNegativeFloat = Field(
        default=1800.0, description="deliberation window before the ballot opens (0: no deliberation)"
    )
    ballot_seconds: PositiveFloat = Field(default=1800.0, description="ballot window")
    sunset_seconds: PositiveFloat | None = Field(
        default=7200.0, description="a decision lapses this long after it is taken (None: never)"
    )
    renewals: int = Field(
        default=0, ge=0, description="renewal votes in a row before a decision is left to lapse"
    )
    renew_lead_seconds: NonNegativeFloat = Field(
        default=60.0, description="a renewal vote closes this long before the sunset"
    )
    review_after_seconds: PositiveFloat | None = Field(
        default=None, description="a review vote is convened this long after each decision (None: no)"
    )
    appeal_signatures: int = Field(
        default=0, ge=0, description="registered voters whose appeal convenes a review (0: no appeals)"
    )
    measure_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="measure -> params published with its DecisionTaken (e.g. raise_gate_threshold: "
        "{exam_threshold_delta = 0.1})",
    )
    ballot_effort_seconds: NonNegativeFloat = Field(
        default=300.0, description="time a voter spends on one ballot (for the time-burden measure)"
    )

    @model_validator(mode="after")
    def _check(self) -> EmergencyVoteConfig:
        names = self.candidates
        if len(set(names)) != len(names) or not all(0 < len(n) <= _MAX_TEXT for n in names):
            raise ValueError("candidates: expected distinct non-empty names")
        ranked = _ranked_rules()
        if self.rule not in ranked:
            raise ValueError(f"rule: expected a ranked rule ({', '.join(ranked)}), got {self.rule!r}")
        for label, name in (("status_quo", self.status_quo), ("fallback_measure", self.fallback_measure)):
            if name is not None and name not in names:
                raise ValueError(f"{label}: {name!r} is not a candidate")
        for name, share in self.thresholds.items():
            if name not in names:
                raise ValueError(f"thresholds: {name!r} is not a candidate")
            if self.status_quo is None or name == self.status_quo:
                raise ValueError("thresholds: need a status_quo, and the status quo takes no threshold")
            if not 0.0 < share <= 1.0:
                raise ValueError(f"thresholds.{name}: expected a share in (0, 1], got {share}")
        for name, params in self.measure_params.items():
            if name not in names:
                raise ValueError(f"measure_params: {name!r} is not a candidate")
            if PROCEDURE_KEY in params:
                raise ValueError(f"measure_params.{name}: {PROCEDURE_KEY!r} is reserved")
        if len(set(self.strata)) != len(self.strata) or not all(key.isidentifier() for key in self.strata):
            raise ValueError("strata: expected distinct identifier keys")
        return self

    @property
    def procedure_seconds(self) -> float:
        """From convening to the count."""
        return self.deliberation_seconds + self.ballot_seconds


# -- the decision rule (pure; the populations reuse it for their counterfactuals) -------------


@dataclass(frozen=True, slots=True)
class Decision:
    """What a count decided: the measure, the final tally and the measures struck by thresholds."""

    measure: str
    result: TallyResult | None
    struck: tuple[str, ...]


def _support(rankings: Sequence[Sequence[str]], measure: str, status_quo: str) -> float:
    """Share of rankings that rank ``measure`` above ``status_quo`` (an unranked name is last)."""
    above = 0
    for ranking in rankings:
        if measure in ranking and (
            status_quo not in ranking or ranking.index(measure) < ranking.index(status_quo)
        ):
            above += 1
    return above / len(rankings) if rankings else 0.0


def decide(
    rule: str,
    rankings: Sequence[Sequence[str]],
    candidates: Sequence[str],
    *,
    seed: int,
    tie_break: str = "random",
    status_quo: str | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> Decision | None:
    """The measure ``rankings`` decide under ``rule`` and the thresholds; ``None`` with no ranking.

    A winner with a threshold needs that share of *all* the rankings ranking it
    above ``status_quo``; otherwise it is struck and the count is rerun over the
    remaining candidates (rankings restricted to them; a ranking left empty is
    dropped). The status quo takes no threshold, so the loop ends.
    """
    if not rankings:
        return None
    limits = dict(thresholds or {})
    remaining = list(candidates)
    struck: list[str] = []
    while True:
        allowed = set(remaining)
        ballots = [kept for ranking in rankings if (kept := [c for c in ranking if c in allowed])]
        if not ballots:  # every ranked measure was struck: the status quo stands
            if status_quo is None:
                return None
            return Decision(status_quo, None, tuple(struck))
        result = tally(rule, ballots, remaining, seed, tie_break=tie_break)
        winner = result.winner
        limit = limits.get(winner)
        if limit is None or status_quo is None or _support(rankings, winner, status_quo) >= limit:
            return Decision(winner, result, tuple(struck))
        struck.append(winner)
        remaining.remove(winner)


def pairwise_margins(rankings: Sequence[Sequence[str]], candidates: Sequence[str]) -> npt.NDArray[np.int64]:
    """``margins[i, j]``: rankings placing candidate i above j minus the reverse (unranked is last)."""
    m = len(candidates)
    index = {name: i for i, name in enumerate(candidates)}
    positions = np.full((len(rankings), m), m, dtype=np.int64)
    for row, ranking in enumerate(rankings):
        for place, name in enumerate(ranking):
            positions[row, index[name]] = place
    above = (positions[:, :, None] < positions[:, None, :]).sum(axis=0).astype(np.int64)
    margins: npt.NDArray[np.int64] = above - above.T
    return margins


def _condorcet_winner(margins: npt.NDArray[np.int64]) -> int | None:
    m = margins.shape[0]
    wins = (margins > 0).sum(axis=1)
    found = np.flatnonzero(wins == m - 1)
    return int(found[0]) if found.size else None


# -- state ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Voter:
    person: str
    cell: tuple[str, ...]


@dataclass(slots=True)
class _Vote:
    vote_id: str
    purpose: str
    target: str | None  # the decision a renewal or review is about
    incidents: list[tuple[str, float]]  # (incident id, time raised)
    severity: float
    convened_at: float
    members: tuple[str, ...]
    draw_seed: int | None
    tally_seed: int
    opens: float
    closes: float
    member_set: frozenset[str] = frozenset()
    ballots: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "vote_id": self.vote_id,
            "purpose": self.purpose,
            "target": self.target,
            "incidents": [list(i) for i in self.incidents],
            "severity": self.severity,
            "convened_at": self.convened_at,
            "members": list(self.members),
            "draw_seed": self.draw_seed,
            "tally_seed": self.tally_seed,
            "opens": self.opens,
            "closes": self.closes,
            "ballots": {a: list(r) for a, r in self.ballots.items()},
        }


@dataclass(slots=True)
class _Decision:
    decision_id: str
    measure: str
    taken_at: float
    sunset: float | None
    vote_id: str
    renewals_left: int
    signatures: list[str] = field(default_factory=list)
    review_requested: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "measure": self.measure,
            "taken_at": self.taken_at,
            "sunset": self.sunset,
            "vote_id": self.vote_id,
            "renewals_left": self.renewals_left,
            "signatures": list(self.signatures),
            "review_requested": self.review_requested,
        }


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= _MAX_TEXT else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


# -- the mechanism ----------------------------------------------------------------------------


@register
class EmergencyVote(Mechanism[EmergencyVoteConfig]):
    """An emergency AI-regulator vote: incident -> panel -> deliberation -> ballot -> decision with sunset.

    See the module doc for the lifecycle, the action kinds and the reason codes.
    """

    name = "emergency_vote"
    Config = EmergencyVoteConfig
    reasons = VoteReason
    http = routes
    publishes = (VoteConvened, BallotOpened, BallotClosed, DecisionTaken, DecisionLapsed)
    subscribes = (IncidentRaised, ShockFired)
    measures = (
        Measure(
            "turnout",
            Area.LEGITIMACY,
            "ratio",
            True,
            "mean over counted votes of counted ballots / convened members",
        ),
        Measure("quorum_met", Area.LEGITIMACY, "ratio", True, "share of counted votes that met the quorum"),
        Measure(
            "panel_representativeness_tvd",
            Area.LEGITIMACY,
            "ratio",
            False,
            "mean over votes of the total variation distance between the convened members' strata "
            "and the registered electorate's (0 for a whole-electorate vote)",
        ),
        Measure(
            "condorcet_efficiency",
            Area.LEGITIMACY,
            "ratio",
            True,
            "share of decided votes with a Condorcet winner among the counted ballots whose decided "
            "measure is that winner",
        ),
        Measure(
            "winner_margin",
            Area.LEGITIMACY,
            "ratio",
            True,
            "mean over decided votes of the decided measure's smallest head-to-head margin over a "
            "rival, as a share of counted ballots (> 0 iff it is the Condorcet winner)",
        ),
        Measure(
            "top_choice_won_share",
            Area.LEGITIMACY,
            "ratio",
            True,
            "mean over decided votes of the share of counted ballots ranking the decided measure first",
        ),
        Measure(
            "incident_to_decision_seconds",
            Area.UX,
            "seconds",
            False,
            "mean time from an incident to the decision of the vote that answered it",
        ),
        Measure("ballot_rejection_rate", Area.UX, "ratio", False, "ballots rejected / ballots submitted"),
        Measure(
            "time_burden_seconds_per_voter",
            Area.UX,
            "seconds",
            False,
            "(convened members x deliberation window + counted ballots x ballot effort), summed over "
            "votes, per registered voter",
        ),
        Measure(
            "sybil_ballots_blocked",
            Area.ROBUSTNESS,
            "count",
            True,
            "ballots rejected from actor ids whose registration was refused as a duplicate identity",
        ),
        Measure(
            "duplicate_registrations_blocked",
            Area.ROBUSTNESS,
            "count",
            True,
            "registrations rejected because the person was registered under another actor id",
        ),
    )

    def __init__(self, config: EmergencyVoteConfig, ctx: Context) -> None:
        super().__init__(config, ctx)
        self._sortition = ctx.stream("sortition")
        self._tie_breaks = ctx.stream("tie_break")
        self._candidates = tuple(config.candidates)
        # -- state (in the snapshot) --
        self._voters: dict[str, _Voter] = {}  # actor -> voter, in registration order
        self._persons: dict[str, str] = {}  # person -> first actor registered for it
        self._tokens: dict[str, str] = {}  # credential SHA-256 -> the voter it authenticates
        self._open: _Vote | None = None
        self._closed: dict[str, dict[str, Any]] = {}  # vote id -> its summary
        self._in_force: _Decision | None = None
        self._queue: list[tuple[str, str]] = []  # (purpose, decision id) waiting for the open vote
        self._incidents_seen: list[str] = []
        self._vote_seq = 0
        self._decision_seq = 0
        self._incident_seq = 0
        # -- statistics for measures only (may change on rejected actions) --
        self._flagged: set[str] = set()  # actors refused as duplicate identities
        self._sybil_ballots_blocked = 0
        self._duplicates_blocked = 0
        self._ballots = 0
        self._ballots_rejected = 0
        self._turnouts: list[float] = []
        self._quorums: list[float] = []
        self._tvds: list[float] = []
        self._condorcet: list[float] = []
        self._margins: list[float] = []
        self._top_shares: list[float] = []
        self._delays: list[float] = []
        self._burden = 0.0
        # -- derived from the state, for readers (a replay rebuilds it; not in the snapshot) --
        self._explanations: dict[str, str] = {}  # vote id -> the tally's plain-English account

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self.config.listen_incidents:
            self.ctx.subscribe(IncidentRaised, self._on_incident)
        if self.config.shock_kinds:
            self.ctx.subscribe(ShockFired, self._on_shock)

    def handle(self, action: Action) -> Outcome:
        kind = action.kind
        if kind == "ballot":
            self._ballots += 1
            outcome = self._ballot(action)
            if not outcome.accepted:
                self._ballots_rejected += 1
        elif kind == "register":
            outcome = self._register(action)
        elif kind == "appeal":
            outcome = self._appeal(action)
        else:
            return Outcome.reject(CommonReason.UNKNOWN_KIND, f"unknown kind {kind!r}")
        if not outcome.accepted:
            self.ctx.recorder.count(f"rejected.{outcome.reason}")
        return outcome

    def finish(self) -> None:
        record = self.ctx.recorder.measure
        record("turnout", _mean(self._turnouts))
        record("quorum_met", _mean(self._quorums))
        record("panel_representativeness_tvd", _mean(self._tvds))
        record("condorcet_efficiency", _mean(self._condorcet))
        record("winner_margin", _mean(self._margins))
        record("top_choice_won_share", _mean(self._top_shares))
        record("incident_to_decision_seconds", _mean(self._delays))
        record("ballot_rejection_rate", self._ballots_rejected / self._ballots if self._ballots else None)
        record("time_burden_seconds_per_voter", self._burden / len(self._voters) if self._voters else None)
        record("sybil_ballots_blocked", float(self._sybil_ballots_blocked))
        record("duplicate_registrations_blocked", float(self._duplicates_blocked))

    def snapshot(self) -> dict[str, Any]:
        return {
            "voters": {actor: [v.person, list(v.cell)] for actor, v in self._voters.items()},
            "tokens": dict(self._tokens),
            "open": None if self._open is None else self._open.to_json(),
            "closed": self._closed,
            "in_force": None if self._in_force is None else self._in_force.to_json(),
            "queue": [list(item) for item in self._queue],
            "incidents_seen": list(self._incidents_seen),
            "seq": [self._vote_seq, self._decision_seq, self._incident_seq],
        }

    # -- queries --------------------------------------------------------------------------

    @property
    def in_force(self) -> tuple[str, str, float | None] | None:
        """(decision id, measure, sunset) of the decision in force, if any."""
        d = self._in_force
        return None if d is None else (d.decision_id, d.measure, d.sunset)

    @property
    def open_vote(self) -> str | None:
        """The id of the vote under way (convened, not yet counted), if any."""
        return None if self._open is None else self._open.vote_id

    def electorate(self) -> list[str]:
        """Registered actor ids, in registration order."""
        return list(self._voters)

    def quorum_needed(self, convened: int) -> int:
        """Counted ballots that meet the quorum of a vote with ``convened`` members (at least one)."""
        return max(1, math.ceil(self.config.quorum * convened - 1e-9))

    def voter_of_token(self, token_sha256: str) -> str | None:
        """The registered voter a credential authenticates, looked up by the credential's SHA-256."""
        return self._tokens.get(token_sha256)

    def strata_of(self, actor: str) -> dict[str, str] | None:
        """A registered voter's strata (``None`` if not registered); the live routes show it to them only."""
        voter = self._voters.get(actor)
        return None if voter is None else dict(zip(self.config.strata, voter.cell, strict=True))

    def votes(self) -> list[dict[str, Any]]:
        """Every vote convened so far, oldest first, each as :meth:`vote` describes it."""
        found = [self._public(vote_id, record) for vote_id, record in self._closed.items()]
        if self._open is not None:
            found.append(self._public_open(self._open))
        return found

    def vote(self, vote_id: str) -> dict[str, Any] | None:
        """The public record of a vote, ``None`` if no vote has this id.

        Keys: ``vote_id, purpose, target, incident_ids, severity, convened_at, opens, closes,
        draw_seed, convened`` (members, a count), ``ballots`` (cast so far, or counted) and
        ``counted`` (bool); once counted also ``tally_seed, quorum_needed, quorum_met, winner,
        struck, tally`` (:meth:`TallyResult.to_dict`, or ``None``), ``explanation`` (the
        tally's account, or ``None``) and ``decision`` (``decision_id, measure, taken_at,
        sunset, fallback``, or ``None``). Never who was convened or who cast what: a voter's
        own part is :meth:`participation`.
        """
        if self._open is not None and self._open.vote_id == vote_id:
            return self._public_open(self._open)
        record = self._closed.get(vote_id)
        return None if record is None else self._public(vote_id, record)

    def participation(self, actor: str) -> list[dict[str, Any]]:
        """For every vote, oldest first: ``{"vote_id", "convened", "cast"}`` for ``actor`` (never how)."""
        found = [{"vote_id": vote_id, "convened": actor in record["members"],
                  "cast": actor in record["voted"]} for vote_id, record in self._closed.items()]
        vote = self._open
        if vote is not None:
            found.append({"vote_id": vote.vote_id, "convened": actor in vote.member_set,
                          "cast": actor in vote.ballots})
        return found

    def decision_in_force(self) -> dict[str, Any] | None:
        """The decision in force: ``decision_id, measure, taken_at, sunset, vote_id, signatures``
        (how many signed an appeal, not who) and ``review_requested``; ``None`` if none binds."""
        d = self._in_force
        if d is None:
            return None
        return {"decision_id": d.decision_id, "measure": d.measure, "taken_at": d.taken_at,
                "sunset": d.sunset, "vote_id": d.vote_id, "signatures": len(d.signatures),
                "review_requested": d.review_requested}

    def _public(self, vote_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
        hidden = ("members", "voted", "counted")
        return {"vote_id": vote_id, **{k: v for k, v in record.items() if k not in hidden},
                "convened": len(record["members"]), "ballots": record["counted"], "counted": True,
                "quorum_needed": self.quorum_needed(len(record["members"])),
                "explanation": self._explanations.get(vote_id)}

    @staticmethod
    def _public_open(vote: _Vote) -> dict[str, Any]:
        return {"vote_id": vote.vote_id, "purpose": vote.purpose, "target": vote.target,
                "incident_ids": [i for i, _ in vote.incidents], "severity": vote.severity,
                "convened_at": vote.convened_at, "opens": vote.opens, "closes": vote.closes,
                "draw_seed": vote.draw_seed, "convened": len(vote.members),
                "ballots": len(vote.ballots), "counted": False}

    # -- actions --------------------------------------------------------------------------

    def _register(self, action: Action) -> Outcome:
        payload = action.payload
        person = _text(payload.get("person"))
        strata = payload.get("strata")
        if person is None:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, "person: expected a non-empty string")
        if not isinstance(strata, Mapping) or set(strata) != set(self.config.strata):
            return Outcome.reject(
                CommonReason.INVALID_PAYLOAD,
                f"strata: expected exactly the keys {sorted(self.config.strata)}",
            )
        cell = tuple(strata[key] for key in self.config.strata)
        if not all(_text(value) is not None for value in cell):
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, "strata: values must be non-empty strings")
        token = payload.get("token_sha256")
        if token is not None and not (isinstance(token, str) and _SHA256_HEX.fullmatch(token)):
            return Outcome.reject(CommonReason.INVALID_PAYLOAD,
                                  "token_sha256: expected 64 lowercase hex digits")
        actor = action.actor
        if actor in self._voters:
            return Outcome.reject(VoteReason.ALREADY_REGISTERED)
        if token is not None and token in self._tokens:
            # One credential, one voter: otherwise a token would name two people.
            return Outcome.reject(CommonReason.INVALID_PAYLOAD,
                                  "token_sha256: this credential is bound to another voter")
        first = self._persons.get(person)
        if first is not None and self.config.dedupe_identities:
            self._flagged.add(actor)
            self._duplicates_blocked += 1
            return Outcome.reject(VoteReason.DUPLICATE_IDENTITY, "this person is registered already")
        self._voters[actor] = _Voter(person, cell)
        self._persons.setdefault(person, actor)
        if token is not None:
            self._tokens[token] = actor
        return Outcome.accept({"registered": len(self._voters), "voter": actor})

    def _ballot(self, action: Action) -> Outcome:
        payload = action.payload
        vote_id = _text(payload.get("vote_id"))
        if vote_id is None or "ranking" not in payload:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, "expected vote_id (text) and ranking")
        vote = self._open
        if vote is None or vote.vote_id != vote_id:
            if vote_id in self._closed:
                return Outcome.reject(VoteReason.BALLOT_CLOSED, f"{vote_id} is counted")
            return Outcome.reject(VoteReason.UNKNOWN_VOTE)
        now = action.time
        if now < vote.opens:
            return Outcome.reject(VoteReason.BALLOT_NOT_OPEN, f"the ballot opens at {vote.opens}")
        if now >= vote.closes:
            return Outcome.reject(VoteReason.BALLOT_CLOSED, f"the ballot closed at {vote.closes}")
        actor = action.actor
        if actor not in self._voters:
            if actor in self._flagged:
                self._sybil_ballots_blocked += 1
            return Outcome.reject(VoteReason.NOT_REGISTERED)
        if actor not in vote.member_set:
            return Outcome.reject(VoteReason.NOT_CONVENED)
        if actor in vote.ballots:
            return Outcome.reject(VoteReason.SECOND_BALLOT)
        ranking = payload["ranking"]
        problem = validate_ballot(ranking, self._candidates, BallotType.RANKED)
        if problem is not None:
            return Outcome.reject(_BALLOT_REASON.get(problem, VoteReason.BALLOT_MALFORMED), str(problem))
        vote.ballots[actor] = tuple(ranking)
        return Outcome.accept({"vote_id": vote_id, "cast": len(vote.ballots)})

    def _appeal(self, action: Action) -> Outcome:
        if self.config.appeal_signatures == 0:
            return Outcome.reject(CommonReason.NOT_PERMITTED, "this procedure takes no appeals")
        decision_id = _text(action.payload.get("decision_id"))
        if decision_id is None:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, "decision_id: expected a string")
        actor = action.actor
        if actor not in self._voters:
            return Outcome.reject(VoteReason.NOT_REGISTERED)
        decision = self._in_force
        if decision is None or decision.decision_id != decision_id:
            return Outcome.reject(VoteReason.UNKNOWN_DECISION, "only the decision in force can be appealed")
        if actor in decision.signatures:
            return Outcome.reject(VoteReason.ALREADY_APPEALED)
        decision.signatures.append(actor)
        requested = False
        if len(decision.signatures) >= self.config.appeal_signatures and not decision.review_requested:
            decision.review_requested = requested = True
            self._request("review", decision.decision_id)
        return Outcome.accept(
            {
                "decision_id": decision_id,
                "signatures": len(decision.signatures),
                "review_requested": requested,
            }
        )

    # -- triggers -------------------------------------------------------------------------

    def _on_shock(self, event: ShockFired) -> None:
        if event.kind not in self.config.shock_kinds:
            return
        payload = event.payload
        severity = payload.get("severity")
        incident_id = payload.get("incident_id")
        if not isinstance(incident_id, str) or not incident_id:
            self._incident_seq += 1
            incident_id = f"{self.ctx.name}-incident-{self._incident_seq}"
        self._incident(incident_id, severity, f"ShockFired(kind={event.kind!r}).payload.severity")

    def _on_incident(self, event: IncidentRaised) -> None:
        self._incident(event.incident_id, event.severity, f"{event.source}: IncidentRaised.severity")

    def _incident(self, incident_id: str, severity: object, where: str) -> None:
        if (
            isinstance(severity, bool)
            or not isinstance(severity, int | float)
            or not 0.0 <= float(severity) <= 1.0
        ):
            raise ContractError(f"{where}: expected a number in [0, 1], got {severity!r}")
        level = float(severity)
        if level < self.config.min_severity:
            self.ctx.recorder.count("incidents_below_threshold")
            return
        if incident_id in self._incidents_seen:
            self.ctx.recorder.count("incidents_repeated")
            return
        self._incidents_seen.append(incident_id)
        now = self.ctx.now
        vote = self._open
        if vote is not None:  # merged: the open vote answers this incident too
            vote.incidents.append((incident_id, now))
            vote.severity = max(vote.severity, level)
            self.ctx.recorder.count("incidents_merged")
            return
        self._convene("incident", None, [(incident_id, now)], level)

    def _request(self, purpose: str, decision_id: str) -> None:
        """Convene a renewal or review of ``decision_id`` now, or after the open vote."""
        decision = self._in_force
        if decision is None or decision.decision_id != decision_id:
            return  # superseded or lapsed meanwhile: nothing to renew or review
        if self._open is not None:
            self._queue.append((purpose, decision_id))
            return
        self._convene(purpose, decision_id, [], 0.0)

    # -- the procedure --------------------------------------------------------------------

    def _convene(
        self, purpose: str, target: str | None, incidents: list[tuple[str, float]], severity: float
    ) -> None:
        config = self.config
        now = self.ctx.now
        self._vote_seq += 1
        vote_id = f"{self.ctx.name}-vote-{self._vote_seq}"
        actors = list(self._voters)
        cells = [self._voters[a].cell for a in actors]
        draw_seed: int | None = None
        if config.convening == "panel":
            # A seed per draw, itself drawn from the mechanism's stream: anyone can re-run the
            # draw from the recorded seed and the registry (stratified_draw(cells, size, rng)).
            draw_seed = int(self._sortition.integers(_SEED_BOUND))
            draw = stratified_draw(cells, config.panel_size, np.random.default_rng(draw_seed))
            members = tuple(actors[i] for i in draw.members)
            self.ctx.recorder.gauge("panel_size", len(members))
        else:
            members = tuple(actors)
        tally_seed = int(self._tie_breaks.integers(_SEED_BOUND))
        opens = now + config.deliberation_seconds
        vote = _Vote(
            vote_id,
            purpose,
            target,
            list(incidents),
            severity,
            now,
            members,
            draw_seed,
            tally_seed,
            opens,
            opens + config.ballot_seconds,
            frozenset(members),
        )
        self._open = vote
        tvd = total_variation([self._voters[a].cell for a in members], cells)
        if tvd is not None:
            self._tvds.append(tvd)
        self.ctx.recorder.count(f"convened.{purpose}")
        self.ctx.publish(
            VoteConvened(
                time=now,
                source=self.ctx.name,
                vote_id=vote_id,
                purpose=purpose,
                incident_ids=tuple(i for i, _ in incidents),
                severity=severity,
                candidates=self._candidates,
                rule=config.rule,
                tie_break=config.tie_break,
                mode=config.convening,
                members=members,
                strata=tuple(config.strata),
                draw_seed=draw_seed,
                ballot_opens=opens,
                ballot_closes=vote.closes,
                quorum=config.quorum,
                status_quo=config.status_quo,
                thresholds=dict(config.thresholds),
            )
        )
        self.ctx.env.process(self._timetable(vote))

    def _timetable(self, vote: _Vote) -> Generator[Any, Any, None]:
        env = self.ctx.env
        if vote.opens > self.ctx.now:
            yield env.timeout(vote.opens - self.ctx.now)
        self.ctx.publish(
            BallotOpened(
                time=self.ctx.now,
                source=self.ctx.name,
                vote_id=vote.vote_id,
                candidates=self._candidates,
                closes=vote.closes,
            )
        )
        yield env.timeout(vote.closes - self.ctx.now)
        self._count(vote)

    def _count(self, vote: _Vote) -> None:
        config = self.config
        now = self.ctx.now
        rankings = list(vote.ballots.values())
        convened, counted = len(vote.members), len(rankings)
        quorum_met = counted > 0 and counted >= self.quorum_needed(convened)
        decision = None
        if quorum_met:
            decision = decide(
                config.rule,
                rankings,
                self._candidates,
                seed=vote.tally_seed,
                tie_break=config.tie_break,
                status_quo=config.status_quo,
                thresholds=config.thresholds,
            )
        if convened:
            self._turnouts.append(counted / convened)
        self._quorums.append(1.0 if quorum_met else 0.0)
        self._burden += convened * config.deliberation_seconds + counted * config.ballot_effort_seconds
        winner = None if decision is None else decision.measure
        if decision is not None:
            self._score(rankings, decision.measure)
        details: dict[str, Any] = {
            "struck": [] if decision is None else list(decision.struck),
            "tally": None if decision is None or decision.result is None else decision.result.to_dict(),
        }
        self._open = None
        # The draw stays on record after the count: who was convened, and the seed that drew them;
        # who took part (sorted, never with a ranking) and the aggregate tally that explains it.
        result = None if decision is None else decision.result
        self._closed[vote.vote_id] = {
            "purpose": vote.purpose,
            "target": vote.target,
            "incident_ids": [i for i, _ in vote.incidents],
            "severity": vote.severity,
            "convened_at": vote.convened_at,
            "opens": vote.opens,
            "closes": vote.closes,
            "members": list(vote.members),
            "draw_seed": vote.draw_seed,
            "tally_seed": vote.tally_seed,
            "counted": counted,
            "voted": sorted(vote.ballots),
            "quorum_met": quorum_met,
            "winner": winner,
            "struck": [] if decision is None else list(decision.struck),
            "tally": None if result is None else result.to_dict(),
            "decision": None,
        }
        if result is not None:
            self._explanations[vote.vote_id] = result.explain()
        self.ctx.publish(
            BallotClosed(
                time=now,
                source=self.ctx.name,
                vote_id=vote.vote_id,
                convened=convened,
                counted=counted,
                quorum_met=quorum_met,
                winner=winner,
                tally_seed=vote.tally_seed,
                record=tuple(sorted(rankings)),
                details=details,
            )
        )
        measure, fallback = winner, False
        if measure is None and config.fallback_measure is not None:
            measure, fallback = config.fallback_measure, True
        if measure is not None:
            taken = self._take(vote, measure, fallback=fallback)
            self._closed[vote.vote_id]["decision"] = {
                "decision_id": taken.decision_id,
                "measure": taken.measure,
                "taken_at": taken.taken_at,
                "sunset": taken.sunset,
                "fallback": fallback,
            }
        else:
            self.ctx.recorder.count("votes_undecided")
        self._next_in_queue()

    def _score(self, rankings: list[tuple[str, ...]], measure: str) -> None:
        """Legitimacy statistics of a decided count."""
        margins = pairwise_margins(rankings, self._candidates)
        w = self._candidates.index(measure)
        condorcet = _condorcet_winner(margins)
        if condorcet is not None:
            self._condorcet.append(1.0 if condorcet == w else 0.0)
        rivals = [int(margins[w, j]) for j in range(len(self._candidates)) if j != w]
        self._margins.append(min(rivals) / len(rankings))
        self._top_shares.append(sum(1 for r in rankings if r[0] == measure) / len(rankings))

    def _take(self, vote: _Vote, measure: str, *, fallback: bool) -> _Decision:
        config = self.config
        now = self.ctx.now
        old = self._in_force
        if vote.purpose == "incident" or old is None or vote.target != old.decision_id:
            renewals_left = config.renewals
        else:
            renewals_left = old.renewals_left - 1 if vote.purpose == "renewal" else old.renewals_left
        self._decision_seq += 1
        decision_id = f"{self.ctx.name}-decision-{self._decision_seq}"
        sunset = None if config.sunset_seconds is None else now + config.sunset_seconds
        new = _Decision(decision_id, measure, now, sunset, vote.vote_id, max(0, renewals_left))
        self._in_force = new
        for _, raised in vote.incidents:
            self._delays.append(now - raised)
        params = {
            **config.measure_params.get(measure, {}),
            PROCEDURE_KEY: {
                "vote_id": vote.vote_id,
                "purpose": vote.purpose,
                "incident_ids": [i for i, _ in vote.incidents],
                "severity": vote.severity,
                "rule": config.rule,
                "tally_seed": vote.tally_seed,
                "tie_break": config.tie_break,
                "fallback": fallback,
                "supersedes": None if old is None else old.decision_id,
            },
        }
        self.ctx.recorder.count(f"decided.{measure}")
        taken = DecisionTaken(
            time=now,
            source=self.ctx.name,
            decision_id=decision_id,
            measure=measure,
            sunset=sunset,
            params=params,
        )
        if old is not None and old.measure != measure:
            self._lapse(old)
        self.ctx.publish(taken)
        if old is not None and old.measure == measure:
            self._lapse(old)  # after the new one: the same measure binds without a gap
        env = self.ctx.env
        if sunset is not None:
            env.process(self._at(sunset, self._sunset, decision_id))
            if new.renewals_left > 0:
                convene_at = max(now, sunset - config.renew_lead_seconds - config.procedure_seconds)
                env.process(self._at(convene_at, self._request, "renewal", decision_id))
        if config.review_after_seconds is not None and vote.purpose == "incident":
            # Only decisions on incidents: reviewing reviews and renewals would never end.
            env.process(self._at(now + config.review_after_seconds, self._request, "review", decision_id))
        return new

    def _lapse(self, decision: _Decision) -> None:
        self.ctx.publish(
            DecisionLapsed(
                time=self.ctx.now,
                source=self.ctx.name,
                decision_id=decision.decision_id,
                measure=decision.measure,
            )
        )

    def _sunset(self, decision_id: str) -> None:
        decision = self._in_force
        if decision is None or decision.decision_id != decision_id:
            return  # superseded before its sunset: DecisionLapsed was published then
        self._in_force = None
        self.ctx.recorder.count("decisions_lapsed")
        self._lapse(decision)

    def _next_in_queue(self) -> None:
        while self._queue and self._open is None:
            purpose, decision_id = self._queue.pop(0)
            self._request(purpose, decision_id)

    def _at(self, when: float, callback: Any, *args: Any) -> Generator[Any, Any, None]:
        delay = when - self.ctx.now
        if delay > 0:
            yield self.ctx.env.timeout(delay)
        callback(*args)
