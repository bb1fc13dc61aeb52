"""The ballot and the count of the emergency vote.

Lifecycle of one vote's ballot, after its deliberation window:

1. **Open** at ``t + D`` (``BallotOpened``): one ``ballot`` per convened member during
   ``[t + D, t + D + B)``. The window is decided by the action's time, not by timers, so a
   ballot at exactly the closing time is late whatever the event order. The ballot is in the
   rule's form: a ``ranking`` under a ranked rule, ``approvals`` under ``approval`` (kept as
   the approved measures in candidate order, so the record never shows the order they were
   sent in).
2. **Count** at ``t + D + B``: the quorum is met when the counted ballots are at least
   ``quorum`` x the convened members (and at least one). Then ``rule`` (any ranked rule of
   :func:`flagship.democracy.tally`, or ``approval``) decides, through
   :func:`~flagship.democracy.decide`: a winner with a ``thresholds`` entry needs that share of
   counted ballots ranking it above ``status_quo`` (approving it and not the status quo), or
   it is struck and the count is rerun without it. ``BallotClosed``
   publishes the count and the anonymous cast-vote record; the vote is closed into a
   summary that keeps who was convened and who took part, never who cast what. The
   decisions part then takes what the count decided.

The box also keeps the legitimacy and burden statistics of every count for the measures. An
approval ballot enters them as the dichotomous preference it states (every approved measure
above every other, approved ones tied): its "top choices" are all the measures it approves.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from flagship.democracy._ballots import BallotReason, BallotType, validate_ballot
from flagship.democracy._config import EmergencyVoteConfig, text
from flagship.democracy._decision_rule import approval_margins, condorcet_winner, decide, pairwise_margins
from flagship.democracy._decisions import Decisions
from flagship.democracy._proceedings import OpenVote, Proceedings, quorum_needed
from flagship.democracy._reasons import BALLOT_REASON, VoteReason
from flagship.democracy._registry import Property, get_rule
from flagship.democracy._voters import VoterRoll
from flagship.mechanisms import Action, CommonReason, Context, Outcome
from flagship.mechanisms.events import BallotClosed, BallotOpened

__all__ = ["BallotBox"]

_APPROVAL_DETAIL: dict[BallotReason, str] = {
    BallotReason.MALFORMED: "approvals: expected a list of measure names",
    BallotReason.EMPTY: "approvals: approve at least one measure",
    BallotReason.UNKNOWN_CANDIDATE: "approvals: names something that is not a measure on the ballot",
    BallotReason.DUPLICATE_CANDIDATE: "approvals: names a measure twice",
}
"""What a refused approval ballot is told, naming the field (ranked ballots keep the bare
:class:`BallotReason` as their detail: stored outcomes, and so every digest, stay as they are)."""


class BallotBox:
    """Takes the ballots of the open vote (action ``ballot``) and counts them at the close."""

    def __init__(
        self,
        config: EmergencyVoteConfig,
        ctx: Context,
        roll: VoterRoll,
        proceedings: Proceedings,
        decisions: Decisions,
    ) -> None:
        self.config = config
        self.ctx = ctx
        self._roll = roll
        self._proceedings = proceedings
        self._decisions = decisions
        self._candidates = tuple(config.candidates)
        self._approval = config.ballot_type is BallotType.APPROVAL
        # A Condorcet-consistent rule elects the Condorcet winner of the counted ballots whenever
        # there is one, so their Condorcet efficiency would be 1 by construction: not scored.
        self._score_condorcet = not get_rule(config.rule).claims(Property.CONDORCET_WINNER)
        # -- statistics for measures only --
        self.turnouts: list[float] = []
        self.quorums: list[float] = []
        self.condorcet: list[float] = []
        self.margins: list[float] = []
        self.top_shares: list[float] = []
        self.burden = 0.0  # member-seconds of deliberation and ballot effort

    # -- the ballot -------------------------------------------------------------------------

    def open(self, vote: OpenVote) -> None:
        """The deliberation window is over: announce the ballot."""
        self.ctx.publish(BallotOpened(vote_id=vote.vote_id, candidates=self._candidates, closes=vote.closes))

    def cast(self, action: Action) -> Outcome:
        """The ``ballot`` action: one ballot (``ranking`` or ``approvals``, as the rule reads) per
        convened member while the ballot is open."""
        payload = action.payload
        vote_id = text(payload.get("vote_id"))
        field = self.config.ballot_field
        if vote_id is None or field not in payload:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, f"expected vote_id (text) and {field}")
        return self._cast(action, vote_id, payload[field])

    def _cast(self, action: Action, vote_id: str, ballot: Any) -> Outcome:
        vote = self._proceedings.open
        if vote is None or vote.vote_id != vote_id:
            if vote_id in self._proceedings.closed:
                return Outcome.reject(VoteReason.BALLOT_CLOSED, f"{vote_id} is counted")
            return Outcome.reject(VoteReason.UNKNOWN_VOTE)
        now = action.time
        if now < vote.opens:
            return Outcome.reject(VoteReason.BALLOT_NOT_OPEN, f"the ballot opens at {vote.opens}")
        if now >= vote.closes:
            return Outcome.reject(VoteReason.BALLOT_CLOSED, f"the ballot closed at {vote.closes}")
        actor = action.actor
        if actor not in self._roll.voters:
            return Outcome.reject(VoteReason.NOT_REGISTERED)
        if actor not in vote.member_set:
            return Outcome.reject(VoteReason.NOT_CONVENED)
        if actor in vote.ballots:
            return Outcome.reject(VoteReason.SECOND_BALLOT)
        if self._approval:
            return self._cast_approvals(vote, actor, ballot)
        problem = validate_ballot(ballot, self._candidates, BallotType.RANKED)
        if problem is not None:
            return Outcome.reject(BALLOT_REASON.get(problem, VoteReason.BALLOT_MALFORMED), str(problem))
        vote.ballots[actor] = tuple(ballot)
        return Outcome.accept({"vote_id": vote.vote_id, "cast": len(vote.ballots)})

    def _cast_approvals(self, vote: OpenVote, actor: str, approvals: Any) -> Outcome:
        """An approval ballot: a list of distinct measures, at least one (``BALLOT_EMPTY`` otherwise)."""
        # A set is no JSON value and its order is hash order: only a list (or tuple) is a ballot here.
        problem = (validate_ballot(approvals, self._candidates, BallotType.APPROVAL)
                   if isinstance(approvals, list | tuple) else BallotReason.MALFORMED)
        if problem is not None:
            return Outcome.reject(BALLOT_REASON.get(problem, VoteReason.BALLOT_MALFORMED),
                                  _APPROVAL_DETAIL.get(problem, str(problem)))
        approved = set(approvals)
        vote.ballots[actor] = tuple(name for name in self._candidates if name in approved)
        return Outcome.accept({"vote_id": vote.vote_id, "cast": len(vote.ballots)})

    def until_count(self, vote: OpenVote) -> Generator[Any, Any, None]:
        """Wait (in the vote's timetable process) for the ballot to close, then count."""
        yield self.ctx.env.timeout(vote.closes - self.ctx.now)
        self.count(vote)

    # -- the count --------------------------------------------------------------------------

    def count(self, vote: OpenVote) -> None:
        """Count ``vote``, close it, publish ``BallotClosed`` and hand the result to the decisions."""
        config = self.config
        rankings = list(vote.ballots.values())
        convened, counted = len(vote.members), len(rankings)
        quorum_met = counted > 0 and counted >= quorum_needed(config.quorum, convened)
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
            self.turnouts.append(counted / convened)
        self.quorums.append(1.0 if quorum_met else 0.0)
        self.burden += convened * config.deliberation_seconds + counted * config.ballot_effort_seconds
        winner = None if decision is None else decision.measure
        if decision is not None:
            self._score(rankings, decision.measure)
        details: dict[str, Any] = {
            "struck": [] if decision is None else list(decision.struck),
            "tally": None if decision is None or decision.result is None else decision.result.to_dict(),
        }
        proceedings = self._proceedings
        proceedings.open = None
        # The draw stays on record after the count: who was convened, and the seed that drew them;
        # who took part (sorted, never with a ranking) and the aggregate tally that explains it.
        result = None if decision is None else decision.result
        proceedings.closed[vote.vote_id] = {
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
            proceedings.explanations[vote.vote_id] = result.explain()
        self.ctx.publish(
            BallotClosed(
                vote_id=vote.vote_id,
                convened=convened,
                counted=counted,
                quorum_met=quorum_met,
                winner=winner,
                tally_seed=vote.tally_seed,
                record=tuple(sorted(rankings)),
                details=details,
                first_choice_won={} if winner is None else
                {actor: self._top_choice(ballot, winner) for actor, ballot in sorted(vote.ballots.items())},
            )
        )
        self._decisions.settle(vote, winner)

    def _top_choice(self, ballot: tuple[str, ...], measure: str) -> bool:
        """``measure`` is a top choice of ``ballot``: ranked first, or (approval) approved."""
        return measure in ballot if self._approval else ballot[0] == measure

    def _score(self, rankings: list[tuple[str, ...]], measure: str) -> None:
        """Legitimacy statistics of a decided count."""
        margins = (approval_margins if self._approval else pairwise_margins)(rankings, self._candidates)
        w = self._candidates.index(measure)
        condorcet = condorcet_winner(margins)
        if condorcet is not None and self._score_condorcet:
            self.condorcet.append(1.0 if condorcet == w else 0.0)
        rivals = [int(margins[w, j]) for j in range(len(self._candidates)) if j != w]
        self.margins.append(min(rivals) / len(rankings))
        self.top_shares.append(sum(1 for r in rankings if self._top_choice(r, measure)) / len(rankings))
