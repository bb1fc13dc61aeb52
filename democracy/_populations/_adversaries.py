"""Adversarial voter populations: a ``strategic_coalition`` that misreports, and ``sybils``.

See :mod:`flagship.democracy._populations` for their measures: the coalition's strategic
success (a recount with its ballots sincere) and the sybils' surplus ballots counted and
blocked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from flagship.democracy._ballots import BallotType
from flagship.democracy._populations._electorate import (
    Electorate,
    VoteView,
    ballot_of,
    decide_with,
    permutation,
)
from flagship.democracy._populations._params import CoalitionParams, SybilParams
from flagship.democracy._registry import get_rule
from flagship.mechanisms import SHARE, Area, ContractError, Measure, PopulationContext, register
from flagship.mechanisms.events import BallotClosed

__all__ = ["StrategicCoalition", "Sybils"]


@register
class StrategicCoalition(Electorate):
    """A coalition with one sincere ranking that misreports (buries its main threat) to win."""

    name = "strategic_coalition"
    Params = CoalitionParams
    measures = (
        Measure(
            "strategic_success_rate",
            Area.ROBUSTNESS,
            "ratio",
            False,
            "share of counted votes with coalition ballots whose decision the coalition sincerely "
            "prefers to the decision had its ballots been sincere",
            bounds=SHARE,
        ),
    )

    def __init__(self, params: CoalitionParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self.params: CoalitionParams = params
        self._preferences_rng = ctx.stream("preferences")
        self._sincere: list[str] = []
        self._leader: str | None = None  # plurality leader of the last count
        self._cast_by_vote: dict[str, list[tuple[str, ...]]] = {}
        self._outcomes: list[float] = []

    def _prepare(self, candidates: tuple[str, ...]) -> None:
        if self.params.sincere:
            permutation(self.params.sincere, candidates, "strategic_coalition.sincere")
            self._sincere = list(self.params.sincere)
        else:
            self._sincere = [candidates[int(i)] for i in self._preferences_rng.permutation(len(candidates))]
        threat = self.params.threat
        if threat and threat not in candidates:
            raise ContractError(f"strategic_coalition.threat: {threat!r} is not a candidate")

    def misreport(self) -> list[str]:
        """The ballot the coalition casts now."""
        sincere = self._sincere
        favourite = sincere[0]
        strategy = self.params.strategy
        if strategy == "sincere":
            return list(sincere)
        if strategy == "bullet":
            return [favourite]
        threat = (
            self.params.threat
            or (self._leader if self._leader not in (None, favourite) else None)
            or sincere[1]
        )
        if threat == favourite:
            return list(sincere)
        return [c for c in sincere if c != threat] + [threat]

    def _cast(self, member: int, vote_id: str) -> None:
        ranking = self.misreport()
        if self._submit_ballot(member, vote_id, ranking).accepted:
            # As the record holds it: the ranking, or (approval) the approvals it implies.
            cast = tuple(ballot_of(self._votes[vote_id].event, ranking))
            self._cast_by_vote.setdefault(vote_id, []).append(cast)

    def _counted(self, view: VoteView, event: BallotClosed) -> None:
        cast = self._cast_by_vote.pop(event.vote_id, [])
        if event.record:
            # The leader: most first choices (an approval ballot's top choices are all it approves).
            approval = get_rule(view.event.rule).ballot_type is BallotType.APPROVAL
            firsts = [name for ballot in event.record for name in (ballot if approval else ballot[:1])]
            order = view.event.candidates
            self._leader = max(order, key=lambda c: (firsts.count(c), -order.index(c)))
        if not cast or event.winner is None:
            return
        record = _without(event.record, cast)
        record.extend(tuple(ballot_of(view.event, self._sincere)) for _ in cast)
        sincere_outcome = decide_with(view, record, event.tally_seed, view.event.tie_break)
        if sincere_outcome is None:
            return
        better = self._sincere.index(event.winner) < self._sincere.index(sincere_outcome)
        self._outcomes.append(1.0 if better else 0.0)

    def finish(self) -> None:
        self.ctx.recorder.measure(
            "strategic_success_rate", sum(self._outcomes) / len(self._outcomes) if self._outcomes else None
        )


def _without(record: Sequence[tuple[str, ...]], ours: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """``record`` less one copy of each of ``ours`` (the earliest copies): the record is anonymous.

    What ``record.remove(ballot)`` for each of ours leaves, in one pass: removing one at a time
    scans the record each time, and with a coalition and an electorate that both grow the
    count's cost grew with their product (benchmarks/bench_scaling_vote.py).
    """
    left = Counter(ours)
    kept: list[tuple[str, ...]] = []
    for ballot in record:
        if left[ballot] > 0:
            left[ballot] -= 1
        else:
            kept.append(ballot)
    if any(left.values()):
        raise ContractError("strategic_coalition: a ballot it cast is missing from the counted record")
    return kept


@register
class Sybils(Electorate):
    """Operators behind several actor ids: duplicate registrations and surplus ballots."""

    name = "sybils"
    Params = SybilParams
    measures = (
        Measure(
            "sybil_ballots_counted",
            Area.ROBUSTNESS,
            "count",
            False,
            "surplus ballots (from duplicate ids, or second tries) the mechanism accepted",
        ),
        Measure(
            "sybil_ballots_blocked_share",
            Area.ROBUSTNESS,
            "ratio",
            True,
            "the attack ballots' rejected share: surplus ballots rejected / surplus ballots tried "
            "(undefined when none was tried)",
            bounds=SHARE,
        ),
        Measure(
            "duplicate_registrations_blocked_share",
            Area.ROBUSTNESS,
            "ratio",
            True,
            "registrations of an operator's further ids (duplicate identities) rejected / tried "
            "(undefined when none was tried)",
            bounds=SHARE,
        ),
    )

    def __init__(self, params: SybilParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self.params: SybilParams = params
        self._preferences_rng = ctx.stream("preferences")
        self._push: list[str] = []
        self._surplus_tried = 0
        self._surplus_counted = 0

    def _operator(self, member: int) -> int:
        return member % self.params.operators

    def _draw_strata(self) -> list[dict[str, str]]:
        # Every id of an operator claims the operator's strata: one person, one set of strata.
        per_operator = self._strata_for(min(self.params.operators, self.ctx.count))
        return [per_operator[self._operator(i)] for i in range(self.ctx.count)]

    def _person(self, member: int) -> str:
        return f"{self.ctx.name}-person-{self._operator(member)}"

    def _prepare(self, candidates: tuple[str, ...]) -> None:
        if self.params.push:
            permutation(self.params.push, candidates, "sybils.push")
            self._push = list(self.params.push)
        else:
            self._push = [candidates[int(i)] for i in self._preferences_rng.permutation(len(candidates))]

    def _ballot_voters(self, view: VoteView) -> list[int]:
        return list(range(self.ctx.count))  # every id tries, convened or not: that is the attack

    def _cast(self, member: int, vote_id: str) -> None:
        duplicate = member >= self.params.operators
        for attempt in range(2 if self.params.double_vote else 1):
            outcome = self._submit_ballot(member, vote_id, list(self._push))
            if duplicate or attempt > 0:
                self._surplus_tried += 1
                self._surplus_counted += 1 if outcome.accepted else 0

    def finish(self) -> None:
        record = self.ctx.recorder.measure
        record("sybil_ballots_counted", float(self._surplus_counted))
        tried = self._surplus_tried
        record("sybil_ballots_blocked_share", (tried - self._surplus_counted) / tried if tried else None)
        duplicates = self._registered[self.params.operators :]  # ids past the first of each operator
        record(
            "duplicate_registrations_blocked_share",
            float((~duplicates).mean()) if duplicates.size and self._registration_tried else None,
        )
