"""The decision rule of the emergency vote: a count (ranked or approval) with thresholds against the
status quo.

Pure functions of their arguments: the procedure's count uses them, and the voter populations
reuse :func:`decide` for their counterfactual decisions (what all citizens, or a sincere
coalition, would have decided).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from flagship.democracy._ballots import BallotType
from flagship.democracy._registry import get_rule
from flagship.democracy._result import TallyResult
from flagship.democracy._tally import tally

__all__ = ["Decision", "approval_margins", "condorcet_winner", "decide", "pairwise_margins"]


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


def _approval_support(ballots: Sequence[Sequence[str]], measure: str, status_quo: str) -> float:
    """Share of approval ballots approving ``measure`` but not ``status_quo``.

    An approval ballot says only approved-or-not: it prefers ``measure`` to the status quo
    exactly when it approves the one and not the other (approving both ties them).
    """
    above = sum(1 for ballot in ballots if measure in ballot and status_quo not in ballot)
    return above / len(ballots) if ballots else 0.0


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

    Under an approval rule each of ``rankings`` is an approval ballot (the approved
    measures, in any order): "ranks it above the status quo" then reads "approves it
    and not the status quo", and the restriction drops struck measures from the
    approvals the same way.
    """
    if not rankings:
        return None
    support = _approval_support if get_rule(rule).ballot_type is BallotType.APPROVAL else _support
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
        if limit is None or status_quo is None or support(rankings, winner, status_quo) >= limit:
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


def approval_margins(ballots: Sequence[Sequence[str]], candidates: Sequence[str]) -> npt.NDArray[np.int64]:
    """``margins[i, j]``: approval ballots approving i and not j minus the reverse.

    The pairwise margins of approval ballots read as dichotomous preferences (every
    approved measure above every other, the approved ones tied among themselves),
    which makes ``margins[i, j]`` the difference of i's and j's approval counts.
    """
    index = {name: i for i, name in enumerate(candidates)}
    approved = np.zeros((len(ballots), len(candidates)), dtype=np.int64)
    for row, ballot in enumerate(ballots):
        approved[row, [index[name] for name in ballot]] = 1
    above = approved.T @ (1 - approved)
    margins: npt.NDArray[np.int64] = (above - above.T).astype(np.int64)
    return margins


def condorcet_winner(margins: npt.NDArray[np.int64]) -> int | None:
    """The index of the candidate beating every other head to head in ``margins``, if any."""
    m = margins.shape[0]
    wins = (margins > 0).sum(axis=1)
    found = np.flatnonzero(wins == m - 1)
    return int(found[0]) if found.size else None
