"""The voting rules, each a plain function registered with the properties it claims.

Every ranked rule reads a :class:`RankedProfile` (distinct rankings with weights)
and returns all co-winners; tie-breaking is the tally's job, not the rule's.
Conventions follow pref_voting so the two can be compared on any profile:

* truncated ballots: unranked candidates are tied below every ranked one;
* plurality counts first choices; Borda gives ``m - 1 - position`` points to a
  ranked candidate and 0 to an unranked one, which makes a candidate's Borda
  score the number of (voter, rival) pairs it beats;
* IRV eliminates *all* candidates tied for the fewest first choices at once, and
  when every continuing candidate is tied they are all co-winners;
* Schulze is pref_voting's beat path with margins; ranked pairs' co-winners are
  the winners under some order of equal margins; Copeland scores wins minus
  losses; minimax minimises the largest defeat margin.

The claimed properties are the textbook ones for profiles of complete rankings
(checked by ``flagship.democracy.axioms``); IRV here fails the Condorcet loser criterion
because of the simultaneous elimination of tied candidates, so it does not claim it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import _pairwise
from ._details import IrvRound, PairwiseDetails, ReferendumDetails, RoundsDetails, ScoreDetails
from ._profiles import ApprovalProfile, RankedProfile, YesNoProfile
from ._registry import Property, RuleOutcome, voting_rule

__all__ = [
    "approval",
    "borda",
    "copeland",
    "instant_runoff",
    "minimax",
    "plurality",
    "ranked_pairs",
    "referendum_rule",
    "schulze",
]

IntArray = npt.NDArray[np.int64]


def _best(scores: IntArray) -> tuple[int, ...]:
    return tuple(int(c) for c in np.flatnonzero(scores == scores.max()))


def _named(candidates: tuple[str, ...], values: IntArray) -> dict[str, int]:
    return {name: int(value) for name, value in zip(candidates, values.tolist(), strict=True)}


@voting_rule(
    "plurality",
    ballot_type="ranked",
    title="Plurality",
    properties=[Property.PARETO, Property.MONOTONICITY],
)
def plurality(profile: RankedProfile) -> RuleOutcome:
    """Most first choices wins."""
    scores = profile.first_choice_counts()
    return RuleOutcome(_best(scores), ScoreDetails("first-place votes", _named(profile.candidates, scores)))


@voting_rule(
    "borda",
    ballot_type="ranked",
    title="Borda count",
    properties=[Property.CONDORCET_LOSER, Property.PARETO, Property.MONOTONICITY],
)
def borda(profile: RankedProfile) -> RuleOutcome:
    """Most Borda points wins: m-1 for a first choice, one less per position, 0 if unranked."""
    m = profile.n_candidates
    weights = profile.weights.astype(np.float64)
    scores = np.zeros(m, dtype=np.float64)
    for position in range(min(profile.width, m)):
        column = profile.column(position)
        if profile.has_blanks:
            ranked = column >= 0
            column, column_weights = column[ranked], weights[ranked]
        else:
            column_weights = weights
        scores += np.bincount(column, weights=column_weights, minlength=m) * (m - 1 - position)
    totals = np.rint(scores).astype(np.int64)
    return RuleOutcome(_best(totals), ScoreDetails("Borda points", _named(profile.candidates, totals)))


@voting_rule("irv", ballot_type="ranked", title="Instant runoff", properties=[Property.PARETO])
def instant_runoff(profile: RankedProfile) -> RuleOutcome:
    """Eliminate the candidates with the fewest first choices until one has a majority.

    Each round counts every ballot for its highest-ranked continuing candidate
    (a ballot ranking none of them is exhausted).  A candidate holding more than
    half of the continuing ballots wins; otherwise all candidates tied for the
    fewest are eliminated together.  If every continuing candidate is tied, they
    are all co-winners.  (Stopping at a majority gives the same winner as
    pref_voting's counting down to one candidate: a majority holder is never
    among the fewest.)
    """
    m, names = profile.n_candidates, profile.candidates
    weights = profile.weights.astype(np.float64)
    exhausted_slot = m  # counts[m] collects exhausted ballots
    top = profile.column(0).copy()
    place = np.zeros(profile.n_rows, dtype=np.int64)  # position of `top` on each row
    counts = np.bincount(top, weights=weights, minlength=m + 1)
    eliminated = np.zeros(m + 1, dtype=bool)
    continuing = np.arange(m)
    rounds: list[IrvRound] = []
    while True:
        tallies = np.rint(counts[continuing]).astype(np.int64)
        active = int(tallies.sum())
        exhausted = round(float(counts[exhausted_slot]))
        number = len(rounds) + 1
        shown = {names[c]: int(t) for c, t in zip(continuing.tolist(), tallies.tolist(), strict=True)}
        if continuing.size == 1:
            rounds.append(IrvRound(number, shown, exhausted, ()))
            return RuleOutcome((int(continuing[0]),), RoundsDetails(tuple(rounds), "last_remaining"))
        leader = int(np.argmax(tallies))
        if 2 * int(tallies[leader]) > active:
            rounds.append(IrvRound(number, shown, exhausted, ()))
            return RuleOutcome((int(continuing[leader]),), RoundsDetails(tuple(rounds), "majority"))
        fewest = tallies == tallies.min()
        if fewest.all():
            rounds.append(IrvRound(number, shown, exhausted, ()))
            winners = tuple(int(c) for c in continuing)
            return RuleOutcome(winners, RoundsDetails(tuple(rounds), "all_tied"))
        out = continuing[fewest]
        rounds.append(IrvRound(number, shown, exhausted, tuple(names[c] for c in out.tolist())))
        eliminated[out] = True
        continuing = continuing[~fewest]
        # Only ballots whose current choice was just eliminated move on, each down its
        # own ranking until it reaches a continuing candidate or runs out: the total
        # work is the number of steps taken, not rounds x ballots.
        moved = np.flatnonzero(eliminated[top])
        if moved.size == 0:
            continue
        moved_weights = weights[moved]
        counts -= np.bincount(top[moved], weights=moved_weights, minlength=m + 1)
        walking = moved
        while walking.size:
            place[walking] += 1
            step = profile.entries(walking, place[walking])
            step[step < 0] = exhausted_slot
            top[walking] = step
            walking = walking[eliminated[step]]
        counts += np.bincount(top[moved], weights=moved_weights, minlength=m + 1)


def _pairwise_details(
    method: str,
    profile: RankedProfile,
    *,
    scores: dict[str, int] | None = None,
    score_label: str | None = None,
    strongest_paths: tuple[tuple[int, ...], ...] | None = None,
    locked: tuple[tuple[str, str, int], ...] | None = None,
) -> PairwiseDetails:
    margins = profile.margins
    winner = _pairwise.condorcet_winner(margins)
    return PairwiseDetails(
        method=method,
        candidates=profile.candidates,
        margins=tuple(tuple(int(v) for v in row) for row in margins.tolist()),
        condorcet_winner=None if winner is None else profile.candidates[winner],
        scores=scores,
        score_label=score_label,
        strongest_paths=strongest_paths,
        locked=locked,
    )


_CONDORCET_FAMILY = [
    Property.CONDORCET_WINNER,
    Property.CONDORCET_LOSER,
    Property.PARETO,
    Property.MONOTONICITY,
]


@voting_rule("schulze", ballot_type="ranked", title="Schulze (beat path)", properties=_CONDORCET_FAMILY)
def schulze(profile: RankedProfile) -> RuleOutcome:
    """Candidates unbeaten by strongest beat paths of positive margins."""
    winners, strength = _pairwise.schulze(profile.margins)
    paths = tuple(tuple(int(v) for v in row) for row in strength.tolist())
    return RuleOutcome(tuple(winners), _pairwise_details("schulze", profile, strongest_paths=paths))


@voting_rule("ranked_pairs", ballot_type="ranked", title="Ranked pairs", properties=_CONDORCET_FAMILY)
def ranked_pairs(profile: RankedProfile) -> RuleOutcome:
    """Lock majorities by decreasing margin, skipping cycles; unbeaten under some tie order."""
    winners, locked = _pairwise.ranked_pairs(profile.margins)
    names = profile.candidates
    shown = tuple((names[a], names[b], margin) for a, b, margin in locked)
    return RuleOutcome(tuple(winners), _pairwise_details("ranked_pairs", profile, locked=shown))


@voting_rule("copeland", ballot_type="ranked", title="Copeland", properties=_CONDORCET_FAMILY)
def copeland(profile: RankedProfile) -> RuleOutcome:
    """Most pairwise wins minus pairwise losses."""
    scores = _pairwise.copeland_scores(profile.margins)
    return RuleOutcome(
        _best(scores),
        _pairwise_details(
            "copeland",
            profile,
            scores=_named(profile.candidates, scores),
            score_label="wins minus losses",
        ),
    )


@voting_rule(
    "minimax",
    ballot_type="ranked",
    title="Minimax",
    properties=[Property.CONDORCET_WINNER, Property.PARETO, Property.MONOTONICITY],
)
def minimax(profile: RankedProfile) -> RuleOutcome:
    """Smallest largest pairwise defeat margin (Simpson-Kramer, margins variant)."""
    scores = _pairwise.minimax_scores(profile.margins)
    return RuleOutcome(
        _best(-scores),
        _pairwise_details(
            "minimax",
            profile,
            scores=_named(profile.candidates, scores),
            score_label="largest defeat margin (lower is better)",
        ),
    )


@voting_rule(
    "approval",
    ballot_type="approval",
    title="Approval",
    properties=[Property.PARETO, Property.MONOTONICITY],
)
def approval(profile: ApprovalProfile) -> RuleOutcome:
    """Most approvals wins."""
    scores = profile.scores()
    return RuleOutcome(_best(scores), ScoreDetails("approvals", _named(profile.candidates, scores)))


@voting_rule("referendum", ballot_type="yes_no", title="Referendum")
def referendum_rule(profile: YesNoProfile) -> RuleOutcome:
    """Yes wins when the quorum is met and the yes share clears the supermajority.

    Quorum: ``yes + no + abstain >= quorum * electorate``.  Threshold: ``yes >
    supermajority * (yes + no)`` (``>=`` when ``inclusive``; never with no yes/no
    ballots).  Otherwise the status quo, ``no``, wins; there are never co-winners.
    """
    cast = profile.yes + profile.no + profile.abstain
    quorum_met = profile.quorum == 0 or (
        profile.electorate is not None and cast >= profile.quorum * profile.electorate
    )
    decided = profile.yes + profile.no
    needed = profile.supermajority * decided
    threshold_met = decided > 0 and (profile.yes >= needed if profile.inclusive else profile.yes > needed)
    details = ReferendumDetails(
        yes=profile.yes,
        no=profile.no,
        abstain=profile.abstain,
        electorate=profile.electorate,
        quorum=profile.quorum,
        quorum_met=quorum_met,
        supermajority=profile.supermajority,
        inclusive=profile.inclusive,
        threshold_met=threshold_met,
    )
    return RuleOutcome((0,) if details.passed else (1,), details)
