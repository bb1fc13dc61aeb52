"""The emergency AI-regulator vote (mechanism ``emergency_vote``): the parts of the procedure, wired.

Lifecycle of one vote (all times are sim seconds; ``D`` = ``deliberation_seconds``,
``B`` = ``ballot_seconds``), each step in its own part:

1. **Trigger** (:mod:`~flagship.democracy._incidents`): an incident from the bus at time
   ``t`` convenes a vote, or is merged into the open one.
2. **Convening** at ``t`` (:mod:`~flagship.democracy._panel`): a citizens' panel drawn by
   stratified sortition, or the whole electorate; ``VoteConvened``.
3. **Deliberation** during ``[t, t + D)`` (:mod:`~flagship.democracy._deliberation_window`):
   the mechanism keeps the window; opinions live in the voter populations.
4. **Ballot** during ``[t + D, t + D + B)`` and the **count** at ``t + D + B``
   (:mod:`~flagship.democracy._ballot_box`): ``BallotOpened``, one ballot per convened
   member, the quorum, the rule and thresholds (:func:`~flagship.democracy.decide`),
   ``BallotClosed``.
5. **Decision** with a sunset, **renewal** and **review**
   (:mod:`~flagship.democracy._decisions`): ``DecisionTaken``, ``DecisionLapsed``, appeals.

Membership (:mod:`~flagship.democracy._voters`): voters ``register`` once per person,
with their strata and optionally a credential's SHA-256 (live pilots authenticate human
voters by per-voter tokens, see :mod:`flagship.democracy._tokens`).

Action kinds (payloads are plain dicts, checked by hand; no pydantic per action):

* ``register``: ``{"person": str, "strata": {key: value for every key in strata}}``, and
  optionally ``"token_sha256"`` (64 lowercase hex digits, bound to no other voter);
  effects ``{"registered": <electorate size>, "voter": <the actor id>}`` (the voter id is in
  the effects so that a caller replaying a stored outcome learns whom it registered).
* ``ballot``: ``{"vote_id": str, "ranking": [candidate, ...]}`` (most preferred first,
  may be truncated) under a ranked rule, ``{"vote_id": str, "approvals": [candidate, ...]}``
  (distinct, at least one, any order) under ``approval``; checked with
  :func:`flagship.democracy.validate_ballot`; effects ``{"vote_id", "cast"}``.
* ``appeal``: ``{"decision_id": str}``; effects ``{"decision_id", "signatures",
  "review_requested"}``.

A rejected action changes nothing but statistics kept for measures; the reason codes and
their HTTP statuses are in :mod:`flagship.democracy._reasons`.

Read-only queries for the live routes (:mod:`flagship.democracy._http`): :meth:`EmergencyVote.votes`,
:meth:`~EmergencyVote.vote`, :meth:`~EmergencyVote.participation`,
:meth:`~EmergencyVote.voter_of_token`... They never return a voter's ranking: the open
vote keeps who cast what only to refuse second ballots, and drops it at the count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from flagship.democracy._ballot_box import BallotBox
from flagship.democracy._config import EmergencyVoteConfig
from flagship.democracy._decisions import Decisions
from flagship.democracy._deliberation_window import DeliberationWindow
from flagship.democracy._http import routes
from flagship.democracy._incidents import Incidents
from flagship.democracy._pages import PAGES
from flagship.democracy._panel import Panel
from flagship.democracy._proceedings import Proceedings, quorum_needed
from flagship.democracy._reasons import REASON_STATUS, VoteReason
from flagship.democracy._voters import VoterRoll
from flagship.mechanisms import (
    SHARE,
    SIGNED_SHARE,
    Action,
    Area,
    CommonReason,
    Context,
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

__all__ = ["EmergencyVote"]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@register
class EmergencyVote(Mechanism[EmergencyVoteConfig]):
    """An emergency AI-regulator vote: incident -> panel -> deliberation -> ballot -> decision with sunset.

    See the module doc for the lifecycle, the action kinds and the parts that do each step.
    """

    name = "emergency_vote"
    Config = EmergencyVoteConfig
    reasons = VoteReason
    reason_status: ClassVar[Mapping[str, int]] = REASON_STATUS
    http = routes
    pages = PAGES
    publishes = (VoteConvened, BallotOpened, BallotClosed, DecisionTaken, DecisionLapsed)
    subscribes = (IncidentRaised, ShockFired)
    measures = (
        Measure(
            "turnout",
            Area.LEGITIMACY,
            "ratio",
            True,
            "mean over counted votes of counted ballots / convened members",
            bounds=SHARE,
        ),
        Measure("quorum_met", Area.LEGITIMACY, "ratio", True, "share of counted votes that met the quorum",
        bounds=SHARE),
        Measure(
            "panel_representativeness_tvd",
            Area.LEGITIMACY,
            "ratio",
            False,
            "mean over votes of the total variation distance between the convened members' strata "
            "and the registered electorate's (0 for a whole-electorate vote)",
            bounds=SHARE,
        ),
        Measure(
            "panel_min_selection_ratio",
            Area.LEGITIMACY,
            "ratio",
            True,
            "mean over panel votes of the least-selected registered voter's selection probability "
            "(exact, from the selection's distribution) over the uniform panel size / registered voters",
            bounds=SHARE,
        ),
        Measure(
            "condorcet_efficiency",
            Area.LEGITIMACY,
            "ratio",
            True,
            "share of decided votes with a Condorcet winner among the counted ballots whose decided "
            "measure is that winner; undefined under a rule registered as Condorcet-consistent, where "
            "it could only be struck by a threshold",
            bounds=SHARE,
        ),
        Measure(
            "winner_margin",
            Area.LEGITIMACY,
            "ratio",
            True,
            "mean over decided votes of the decided measure's smallest head-to-head margin over a "
            "rival, as a share of counted ballots (> 0 iff it is the Condorcet winner)",
            bounds=SIGNED_SHARE,
        ),
        Measure(
            "top_choice_won_share",
            Area.LEGITIMACY,
            "ratio",
            True,
            "mean over decided votes of the share of counted ballots ranking the decided measure first",
            bounds=SHARE,
        ),
        Measure(
            "incident_to_decision_seconds",
            Area.UX,
            "seconds",
            False,
            "mean time from an incident to the decision of the vote that answered it",
        ),
        Measure(
            "time_burden_seconds_per_voter",
            Area.UX,
            "seconds",
            False,
            "(convened members x deliberation window + counted ballots x ballot effort), summed over "
            "votes, per registered voter",
        ),
    )

    def __init__(self, config: EmergencyVoteConfig, ctx: Context) -> None:
        super().__init__(config, ctx)
        self._roll = VoterRoll(config)
        self._proceedings = proceedings = Proceedings(config.quorum)
        self._panel = Panel(config, ctx, self._roll, proceedings)
        self._decisions = Decisions(config, ctx, self._roll, proceedings, self._convene)
        self._ballot_box = BallotBox(config, ctx, self._roll, proceedings, self._decisions)
        self._window = DeliberationWindow(ctx, self._ballot_box)
        self._incidents = Incidents(config, ctx, proceedings, self._convene)

    def _convene(
        self, purpose: str, target: str | None, incidents: list[tuple[str, float]], severity: float
    ) -> None:
        self._window.begin(self._panel.convene(purpose, target, incidents, severity))

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._incidents.subscribe()

    def handle(self, action: Action) -> Outcome:
        kind = action.kind
        if kind == "ballot":
            outcome = self._ballot_box.cast(action)
        elif kind == "register":
            outcome = self._roll.register(action)
        elif kind == "appeal":
            outcome = self._decisions.appeal(action)
        else:
            return Outcome.reject(CommonReason.UNKNOWN_KIND, f"unknown kind {kind!r}")
        if not outcome.accepted:
            self.ctx.recorder.count(f"rejected.{outcome.reason}")
        return outcome

    def finish(self) -> None:
        record = self.ctx.recorder.measure
        box, voters = self._ballot_box, self._roll.voters
        record("turnout", _mean(box.turnouts))
        record("quorum_met", _mean(box.quorums))
        record("panel_representativeness_tvd", _mean(self._panel.tvds))
        record("panel_min_selection_ratio", _mean(self._panel.min_selection_ratios))
        record("condorcet_efficiency", _mean(box.condorcet))
        record("winner_margin", _mean(box.margins))
        record("top_choice_won_share", _mean(box.top_shares))
        record("incident_to_decision_seconds", _mean(self._decisions.delays))
        record("time_burden_seconds_per_voter", box.burden / len(voters) if voters else None)

    def snapshot(self) -> dict[str, Any]:
        proceedings = self._proceedings
        return {
            "voters": self._roll.snapshot_voters(),
            "tokens": dict(self._roll.tokens),
            "open": None if proceedings.open is None else proceedings.open.to_json(),
            "closed": proceedings.closed,
            "in_force": None if proceedings.in_force is None else proceedings.in_force.to_json(),
            "queue": [list(item) for item in self._decisions.queue],
            "incidents_seen": list(self._incidents.seen),
            "seq": [self._panel.vote_seq, self._decisions.decision_seq, self._incidents.incident_seq],
        }

    # -- queries --------------------------------------------------------------------------

    @property
    def in_force(self) -> tuple[str, str, float | None] | None:
        """(decision id, measure, sunset) of the decision in force, if any."""
        d = self._proceedings.in_force
        return None if d is None else (d.decision_id, d.measure, d.sunset)

    @property
    def open_vote(self) -> str | None:
        """The id of the vote under way (convened, not yet counted), if any."""
        vote = self._proceedings.open
        return None if vote is None else vote.vote_id

    def electorate(self) -> list[str]:
        """Registered actor ids, in registration order."""
        return list(self._roll.voters)

    def quorum_needed(self, convened: int) -> int:
        """Counted ballots that meet the quorum of a vote with ``convened`` members (at least one)."""
        return quorum_needed(self.config.quorum, convened)

    def voter_of_token(self, token_sha256: str) -> str | None:
        """The registered voter a credential authenticates, looked up by the credential's SHA-256."""
        return self._roll.tokens.get(token_sha256)

    def strata_of(self, actor: str) -> dict[str, str] | None:
        """A registered voter's strata (``None`` if not registered); the live routes show it to them only."""
        return self._roll.strata_of(actor)

    def votes(self) -> list[dict[str, Any]]:
        """Every vote convened so far, oldest first, each as :meth:`vote` describes it."""
        return self._proceedings.votes()

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
        return self._proceedings.vote(vote_id)

    def participation(self, actor: str) -> list[dict[str, Any]]:
        """For every vote, oldest first: ``{"vote_id", "convened", "cast"}`` for ``actor`` (never how)."""
        return self._proceedings.participation(actor)

    def decision_in_force(self) -> dict[str, Any] | None:
        """The decision in force: ``decision_id, measure, taken_at, sunset, vote_id, signatures``
        (how many signed an appeal, not who) and ``review_requested``; ``None`` if none binds."""
        return self._proceedings.decision_in_force()
