"""Decisions of the emergency vote: taking one, its sunset, its renewal and review, appeals against it.

Lifecycle of a decision (see also :mod:`flagship.democracy._mechanism`):

1. **Taken** at a count that decided a measure (or, without a quorum, the
   ``fallback_measure``): ``DecisionTaken(decision_id, measure, sunset = now +
   sunset_seconds, params = measure_params[measure] + {"procedure": {...}})``. One decision
   binds at a time: a new one supersedes the one in force (``DecisionLapsed`` for the old
   one, published *after* the new ``DecisionTaken`` when the measure is unchanged, so the
   measure binds without a gap).
2. **Sunset**: it lapses at its sunset (``DecisionLapsed``) unless superseded first.
3. **Renewal**: with ``renewals > 0`` a renewal vote is convened so that it closes
   ``renew_lead_seconds`` before the sunset; its decision supersedes this one (the same
   measure: renewed). ``renewals`` bounds the chain.
4. **Review**: a review vote is convened ``review_after_seconds`` after a decision on an
   incident, or when ``appeal_signatures`` registered voters sign an ``appeal`` of the
   decision in force (action ``appeal``).

Renewals and reviews asked for while a vote is open wait in a queue for it to close, and
are dropped if their decision is no longer in force by then.
"""

from __future__ import annotations

from flagship.democracy._config import PROCEDURE_KEY, EmergencyVoteConfig, text
from flagship.democracy._proceedings import Convene, OpenVote, Proceedings, TakenDecision
from flagship.democracy._reasons import VoteReason
from flagship.democracy._voters import VoterRoll
from flagship.mechanisms import Action, CommonReason, Context, Outcome
from flagship.mechanisms.events import DecisionLapsed, DecisionTaken

__all__ = ["Decisions"]

class Decisions:
    """The decision in force, from its taking to its lapse, and the renewals and reviews of it."""

    def __init__(
        self,
        config: EmergencyVoteConfig,
        ctx: Context,
        roll: VoterRoll,
        proceedings: Proceedings,
        convene: Convene,
    ) -> None:
        self.config = config
        self.ctx = ctx
        self._roll = roll
        self._proceedings = proceedings
        self._convene = convene
        # -- state (in the snapshot) --
        self.queue: list[tuple[str, str]] = []  # (purpose, decision id) waiting for the open vote
        self.decision_seq = 0
        # -- statistics for measures only --
        self.delays: list[float] = []  # incident -> decision, per incident answered

    # -- the count's outcome ----------------------------------------------------------------

    def settle(self, vote: OpenVote, winner: str | None) -> None:
        """After ``vote``'s count: take its winner (or the fallback), then convene what waited for it."""
        config = self.config
        measure, fallback = winner, False
        if measure is None and config.fallback_measure is not None:
            measure, fallback = config.fallback_measure, True
        if measure is not None:
            taken = self._take(vote, measure, fallback=fallback)
            self._proceedings.closed[vote.vote_id]["decision"] = {
                "decision_id": taken.decision_id,
                "measure": taken.measure,
                "taken_at": taken.taken_at,
                "sunset": taken.sunset,
                "fallback": fallback,
            }
        else:
            self.ctx.recorder.count("votes_undecided")
        self._next_in_queue()

    def _take(self, vote: OpenVote, measure: str, *, fallback: bool) -> TakenDecision:
        config = self.config
        ctx = self.ctx
        now = ctx.now
        old = self._proceedings.in_force
        if vote.purpose == "incident" or old is None or vote.target != old.decision_id:
            renewals_left = config.renewals
        else:
            renewals_left = old.renewals_left - 1 if vote.purpose == "renewal" else old.renewals_left
        self.decision_seq += 1
        decision_id = f"{ctx.name}-decision-{self.decision_seq}"
        sunset = None if config.sunset_seconds is None else now + config.sunset_seconds
        new = TakenDecision(decision_id, measure, now, sunset, vote.vote_id, max(0, renewals_left))
        self._proceedings.in_force = new
        for _, raised in vote.incidents:
            self.delays.append(now - raised)
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
                "selection": config.selection,
                "fallback": fallback,
                "supersedes": None if old is None else old.decision_id,
            },
        }
        ctx.recorder.count(f"decided.{measure}")
        taken = DecisionTaken(decision_id=decision_id, measure=measure, sunset=sunset, params=params)
        if old is not None and old.measure != measure:
            self._lapse(old)
        ctx.publish(taken)
        if old is not None and old.measure == measure:
            self._lapse(old)  # after the new one: the same measure binds without a gap
        if sunset is not None:
            ctx.call_at(sunset, self._sunset, decision_id)
            if new.renewals_left > 0:
                convene_at = max(now, sunset - config.renew_lead_seconds - config.procedure_seconds)
                ctx.call_at(convene_at, self.request, "renewal", decision_id)
        if config.review_after_seconds is not None and vote.purpose == "incident":
            # Only decisions on incidents: reviewing reviews and renewals would never end.
            ctx.call_later(config.review_after_seconds, self.request, "review", decision_id)
        return new

    def _lapse(self, decision: TakenDecision) -> None:
        self.ctx.publish(DecisionLapsed(decision_id=decision.decision_id, measure=decision.measure))

    def _sunset(self, decision_id: str) -> None:
        decision = self._proceedings.in_force
        if decision is None or decision.decision_id != decision_id:
            return  # superseded before its sunset: DecisionLapsed was published then
        self._proceedings.in_force = None
        self.ctx.recorder.count("decisions_lapsed")
        self._lapse(decision)

    # -- renewals and reviews -------------------------------------------------------------

    def request(self, purpose: str, decision_id: str) -> None:
        """Convene a renewal or review of ``decision_id`` now, or after the open vote."""
        decision = self._proceedings.in_force
        if decision is None or decision.decision_id != decision_id:
            return  # superseded or lapsed meanwhile: nothing to renew or review
        if self._proceedings.open is not None:
            self.queue.append((purpose, decision_id))
            return
        self._convene(purpose, decision_id, [], 0.0)

    def _next_in_queue(self) -> None:
        while self.queue and self._proceedings.open is None:
            purpose, decision_id = self.queue.pop(0)
            self.request(purpose, decision_id)

    def appeal(self, action: Action) -> Outcome:
        """The ``appeal`` action: a registered voter signs an appeal of the decision in force."""
        if self.config.appeal_signatures == 0:
            return Outcome.reject(CommonReason.NOT_PERMITTED, "this procedure takes no appeals")
        decision_id = text(action.payload.get("decision_id"))
        if decision_id is None:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, "decision_id: expected a string")
        actor = action.actor
        if actor not in self._roll.voters:
            return Outcome.reject(VoteReason.NOT_REGISTERED)
        decision = self._proceedings.in_force
        if decision is None or decision.decision_id != decision_id:
            return Outcome.reject(VoteReason.UNKNOWN_DECISION, "only the decision in force can be appealed")
        if actor in decision.signatures:
            return Outcome.reject(VoteReason.ALREADY_APPEALED)
        decision.signatures.append(actor)
        requested = False
        if len(decision.signatures) >= self.config.appeal_signatures and not decision.review_requested:
            decision.review_requested = requested = True
            self.request("review", decision.decision_id)
        return Outcome.accept(
            {
                "decision_id": decision_id,
                "signatures": len(decision.signatures),
                "review_requested": requested,
            }
        )
