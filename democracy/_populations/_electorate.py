"""What every voter population shares: registration, the vote's events, and ballot timing.

:class:`Electorate` is the base of the voter populations (see
:mod:`flagship.democracy._populations` for their lifecycle); the helpers here are the pure
parts they share (Mallows rankings, counterfactual decisions).

Voters hold rankings. In an approval vote each casts the approvals its ranking implies
(:func:`ballot_of`): every measure it ranks above the status quo (the status quo alone when
it ranks it first); with no status quo on the ballot, the upper half of its ranking (at
least its first choice). Counterfactual decisions read the same ballots.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from flagship.democracy._ballots import BallotType
from flagship.democracy._config import PROCEDURE_KEY
from flagship.democracy._decision_rule import condorcet_winner, decide
from flagship.democracy._populations._params import VoterParams
from flagship.democracy._registry import Property, get_rule
from flagship.mechanisms import Action, ContractError, Outcome, Population, PopulationContext
from flagship.mechanisms.events import BallotClosed, BallotOpened, DecisionTaken, VoteConvened

__all__ = [
    "Electorate",
    "FloatArray",
    "IntArray",
    "VoteView",
    "ballot_of",
    "decide_complete",
    "decide_with",
    "mallows_around",
    "names_of",
    "permutation",
    "row_margins",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def permutation(names: Sequence[str], candidates: tuple[str, ...], what: str) -> list[int]:
    """The candidate indices of ``names``, which must rank every candidate once (else ContractError)."""
    if sorted(names) != sorted(candidates):
        raise ContractError(
            f"{what}: expected a ranking of every candidate {list(candidates)}, got {list(names)}"
        )
    return [candidates.index(name) for name in names]


def mallows_around(rng: np.random.Generator, references: IntArray, phi: float) -> IntArray:
    """One Mallows ranking per row of ``references`` (repeated insertion around that row).

    The i-th reference candidate is inserted at position j <= i with weight
    ``phi ** (i - j)``; insertion positions are drawn for all rows at once.
    """
    n, m = references.shape
    positions = np.zeros((n, m), dtype=np.int64)
    for i in range(m):
        weights = phi ** (i - np.arange(i + 1, dtype=np.float64))
        positions[:, i] = rng.choice(i + 1, size=n, p=weights / weights.sum())
    rows = np.empty((n, m), dtype=np.int64)
    for v in range(n):
        ranking: list[int] = []
        for i in range(m):
            ranking.insert(int(positions[v, i]), int(references[v, i]))
        rows[v] = ranking
    return rows


@dataclass(slots=True)
class VoteView:
    """What a population keeps of one vote."""

    event: VoteConvened
    convened: list[int]  # own member indices convened
    rounds: int = 0


def ballot_of(event: VoteConvened, ranking: Sequence[str]) -> list[str]:
    """The ballot a voter with ``ranking`` casts in ``event``'s vote (see the module doc): the
    ranking itself under a ranked rule; under an approval rule its approvals, in candidate order."""
    if get_rule(event.rule).ballot_type is not BallotType.APPROVAL:
        return list(ranking)
    status_quo = event.status_quo
    if status_quo is not None and status_quo in ranking:
        above = list(ranking[: ranking.index(status_quo)]) or [status_quo]
    elif status_quo is not None and status_quo in event.candidates:
        above = list(ranking)  # an unranked status quo is below every ranked measure
    else:
        above = list(ranking[: max(1, (len(event.candidates) + 1) // 2)])
    return [name for name in event.candidates if name in above]


def names_of(rows: IntArray, candidates: tuple[str, ...]) -> list[list[str]]:
    """Rankings of candidate indices (rows) as rankings of names."""
    return [[candidates[int(c)] for c in row] for row in rows]


class Electorate(Population[Any]):
    """Registration, event plumbing and ballot timing shared by the voter populations."""

    Params: ClassVar[type[BaseModel]] = VoterParams
    subscribes = (VoteConvened, BallotOpened, BallotClosed, DecisionTaken)

    def __init__(self, params: VoterParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self.voter_params = params
        self._strata_rng = ctx.stream("strata")
        self._turnout_rng = ctx.stream("turnout")
        self._actors = [ctx.actor(i) for i in range(ctx.count)]
        self._index = {actor: i for i, actor in enumerate(self._actors)}
        self._strata: list[dict[str, str]] = []
        self._registered = np.zeros(ctx.count, dtype=bool)
        self._registration_tried = False  # set once every member has tried to register
        self._candidates: tuple[str, ...] | None = None
        self._votes: dict[str, VoteView] = {}
        self._ballots_tried = 0
        self._ballots_rejected = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self.ctx.arrival.process != "none":
            raise ContractError(
                f"population {self.ctx.name!r}: voters react to the vote's events; set arrival process 'none'"
            )
        if not self.ctx.mechanism:
            raise ContractError(f"population {self.ctx.name!r} needs the emergency vote as its mechanism")
        self._strata = self._draw_strata()
        self.ctx.subscribe(VoteConvened, self._on_convened)
        self.ctx.subscribe(BallotOpened, self._on_opened)
        self.ctx.subscribe(BallotClosed, self._on_closed)
        self.ctx.subscribe(DecisionTaken, self._on_decision)
        self.ctx.env.process(self._register_all())

    def _draw_strata(self) -> list[dict[str, str]]:
        return self._strata_for(self.ctx.count)

    def _strata_for(self, n: int) -> list[dict[str, str]]:
        columns: dict[str, list[str]] = {}
        for key, weights in self.voter_params.strata.items():
            values = list(weights)
            p = np.array([weights[v] for v in values], dtype=np.float64)
            drawn = self._strata_rng.choice(len(values), size=n, p=p / p.sum())
            columns[key] = [values[int(i)] for i in drawn]
        return [{key: column[i] for key, column in columns.items()} for i in range(n)]

    def _person(self, member: int) -> str:
        return f"{self.ctx.name}-person-{member}"

    def _register_all(self) -> Generator[Any, Any, None]:
        # A process, not ctx.call_at: with register_at = 0 the members register as the process
        # starts, before anything set for t = 0 by a timer or a timeout (a shock at t = 0 finds
        # them registered); a timer always waits a timeout, so a shock at t = 0 would come first.
        if self.voter_params.register_at > 0:
            yield self.ctx.env.timeout(self.voter_params.register_at)
        now = self.ctx.now
        for member, actor in enumerate(self._actors):
            outcome = self.ctx.submit(
                Action(
                    now,
                    actor,
                    "register",
                    {"person": self._person(member), "strata": dict(self._strata[member])},
                )
            )
            self._registered[member] = outcome.accepted
            self.ctx.recorder.count("registered" if outcome.accepted else "registration_rejected")
        self._registration_tried = True

    # -- events ---------------------------------------------------------------------------

    def _mine(self, source: str) -> bool:
        return source == self.ctx.mechanism

    def _on_convened(self, event: VoteConvened) -> None:
        if not self._mine(event.source):
            return
        if self._candidates is None:
            self._candidates = tuple(event.candidates)
            self._prepare(self._candidates)
        elif tuple(event.candidates) != self._candidates:
            raise ContractError(f"{event.source}: the candidates changed between votes")
        index = self._index
        view = VoteView(event, [index[a] for a in event.members if a in index])
        self._votes[event.vote_id] = view
        self._convened(view)

    def _on_opened(self, event: BallotOpened) -> None:
        view = self._votes.get(event.vote_id)
        if view is None or not self._mine(event.source):
            return
        voters = self._ballot_voters(view)
        rng = self._turnout_rng
        # Both draws for every voter, always: the stream advances the same whatever turns out.
        goes = rng.random(len(voters)) < self.voter_params.turnout
        delays = rng.exponential(self.voter_params.time_to_vote, len(voters))
        schedule = sorted((float(delays[k]), member) for k, member in enumerate(voters) if goes[k])
        if schedule:
            self.ctx.env.process(self._cast_all(event.vote_id, schedule))

    def _cast_all(self, vote_id: str, schedule: list[tuple[float, int]]) -> Generator[Any, Any, None]:
        # One process casting the whole schedule, not a timer per ballot: a timer per ballot would
        # start a process per ballot, which reorders ballots against other events at equal times.
        start = self.ctx.now
        for delay, member in schedule:
            wait = start + delay - self.ctx.now
            if wait > 0:
                yield self.ctx.env.timeout(wait)
            self._cast(member, vote_id)

    def _submit_ballot(self, member: int, vote_id: str, ranking: list[str]) -> Outcome:
        """Cast ``ranking`` as the vote's ballot (:func:`ballot_of`: approvals in an approval vote)."""
        view = self._votes.get(vote_id)
        payload: dict[str, Any] = {"vote_id": vote_id, "ranking": ranking}
        if view is not None and get_rule(view.event.rule).ballot_type is BallotType.APPROVAL:
            payload = {"vote_id": vote_id, "approvals": ballot_of(view.event, ranking)}
        outcome = self.ctx.submit(Action(self.ctx.now, self._actors[member], "ballot", payload))
        self.ctx.recorder.count("ballots_accepted" if outcome.accepted else f"ballots_{outcome.reason}")
        self._ballots_tried += 1
        self._ballots_rejected += 0 if outcome.accepted else 1
        return outcome

    def _on_closed(self, event: BallotClosed) -> None:
        view = self._votes.get(event.vote_id)
        if view is not None and self._mine(event.source):
            self._counted(view, event)

    def _on_decision(self, event: DecisionTaken) -> None:
        if not self._mine(event.source):
            return
        procedure = event.params.get(PROCEDURE_KEY)
        if not isinstance(procedure, Mapping) or procedure.get("fallback"):
            return  # not decided by a count: nothing to compare with
        view = self._votes.get(str(procedure.get("vote_id")))
        if view is not None:
            self._decided(view, event, procedure)

    # -- what differs between populations ---------------------------------------------------

    def _prepare(self, candidates: tuple[str, ...]) -> None:
        """Draw preferences once the candidates are known."""

    def _convened(self, view: VoteView) -> None:
        """A vote was convened (``view.convened``: own members on it)."""

    def _ballot_voters(self, view: VoteView) -> list[int]:
        return view.convened

    def _cast(self, member: int, vote_id: str) -> None:
        raise NotImplementedError

    def _counted(self, view: VoteView, event: BallotClosed) -> None:
        """The vote was counted."""

    def _decided(self, view: VoteView, event: DecisionTaken, procedure: Mapping[str, Any]) -> None:
        """The vote decided ``event.measure`` by a count."""


def decide_with(view: VoteView, rankings: Sequence[Sequence[str]], seed: int, tie_break: str) -> str | None:
    """What ``rankings`` would decide under the procedure ``view``'s vote published (a counterfactual).

    ``rankings`` are ballots in the vote's form: rankings, or approvals (:func:`ballot_of`) in an
    approval vote.
    """
    event = view.event
    decision = decide(
        event.rule,
        rankings,
        event.candidates,
        seed=seed,
        tie_break=tie_break,
        status_quo=event.status_quo,
        thresholds=event.thresholds,
    )
    return None if decision is None else decision.measure


def _positions(rows: IntArray) -> IntArray:
    """``positions[v, c]``: the place (0 first) of candidate ``c`` in complete ranking ``rows[v]``."""
    n, m = rows.shape
    positions = np.empty_like(rows)
    positions[np.arange(n)[:, None], rows] = np.arange(m, dtype=np.int64)[None, :]
    return positions


def _margins(positions: IntArray) -> IntArray:
    above = (positions[:, :, None] < positions[:, None, :]).sum(axis=0)
    margins: IntArray = (above - above.T).astype(np.int64)
    return margins


def row_margins(rows: IntArray) -> IntArray:
    """``margins[i, j]`` of complete rankings given as rows of candidate indices (as ``pairwise_margins``)."""
    return _margins(_positions(rows))


def decide_complete(view: VoteView, rows: IntArray, seed: int, tie_break: str) -> str | None:
    """:func:`decide_with` for complete rankings given as rows of candidate indices, faster.

    Under a rule registered as Condorcet-consistent (:class:`Property.CONDORCET_WINNER`, which
    :mod:`flagship.democracy.axioms` checks), a Condorcet winner of the rows is the rule's only
    winner; when it also clears its threshold against the status quo, that is the decision,
    with no count. Otherwise (no such winner, a threshold to strike, another rule) the rows
    are counted by :func:`decide_with`. Same answer either way; tests check it differentially.
    """
    event = view.event
    candidates = tuple(event.candidates)
    n = rows.shape[0]
    if n and get_rule(event.rule).claims(Property.CONDORCET_WINNER):
        positions = _positions(rows)
        winner = condorcet_winner(_margins(positions))
        if winner is not None:
            name = candidates[winner]
            limit = event.thresholds.get(name)
            status_quo = event.status_quo
            if limit is None or status_quo is None or status_quo not in candidates:
                return name
            support = float((positions[:, winner] < positions[:, candidates.index(status_quo)]).mean())
            if support >= limit:
                return name
    return decide_with(view, [ballot_of(event, r) for r in names_of(rows, candidates)], seed, tie_break)
