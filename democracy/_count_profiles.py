"""Three-candidate elections as counts of the six rankings, thousands at once.

An anonymous profile over three candidates is a vector of six counts: how many
voters hold each strict ranking, in :data:`RANKINGS` order (lexicographic:
``a>b>c, a>c>b, b>a>c, b>c>a, c>a>b, c>b>a``).  A batch of profiles is an int64
array ``profiles x 6``, and every function here works on the whole batch with numpy,
so a study of tens of thousands of profiles takes a second, not an hour of
:func:`~flagship.democracy.tally` calls.  The rules agree with the registered
rules of the same name (and with pref_voting) on every profile: the tests check it.

Single winners: co-winners are broken by the recorded ``lexicographic`` rule (the
first in the candidates' order), as :class:`~flagship.democracy.TieBreakPolicy`
names it; ``tied`` flags the profiles where it was needed.

Manipulation (:func:`manipulable`): a *coalition* is any number ``k >= 1`` of voters
who share one sincere ranking and all cast the same other ranking (``single``: one
voter, the textbook individual manipulation).  A profile is manipulable when some
coalition makes the (tie-broken) winner a candidate every member ranks above the
sincere winner.  The search is exact without trying every ``k``: moving ``k`` voters
from ranking ``t`` to ranking ``b`` changes every count linearly in ``k``, and each
rule's winner depends only on the signs of a few linear functions of the counts
(score differences, majorities, head-to-head margins).  So the winner is constant
between the values of ``k`` where one of them crosses zero, and trying ``k = 1``
and the integers at and just after each crossing tries every outcome.
"""

from __future__ import annotations

from itertools import permutations
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "CULTURE_NAMES",
    "RANKINGS",
    "RULE_NAMES",
    "Coalition",
    "CultureName",
    "RuleName",
    "condorcet_winners",
    "draw_profiles",
    "manipulable",
    "winners",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

RuleName = Literal["plurality", "borda", "antiplurality", "irv"]
CultureName = Literal["impartial", "impartial_anonymous", "mallows", "polarized"]
Coalition = Literal["uniform", "single"]
RULE_NAMES: tuple[RuleName, ...] = ("plurality", "borda", "antiplurality", "irv")
CULTURE_NAMES: tuple[CultureName, ...] = ("impartial", "impartial_anonymous", "mallows", "polarized")

#: The six strict rankings of candidates 0, 1, 2 (most preferred first), in lexicographic order.
RANKINGS: tuple[tuple[int, ...], ...] = tuple(permutations(range(3)))
_TYPES = len(RANKINGS)
#: POSITION[t, c]: the position of candidate c on ranking t (0 = first).
POSITION: IntArray = np.array([[ranking.index(c) for c in range(3)] for ranking in RANKINGS],
                              dtype=np.int64)
_PAIRS = ((0, 1), (0, 2), (1, 2))
#: _REVERSED[t]: the index of ranking t read backwards.
_REVERSED = np.array([RANKINGS.index(ranking[::-1]) for ranking in RANKINGS], dtype=np.int64)
_SCORE_VECTORS = {"plurality": (1, 0, 0), "borda": (2, 1, 0), "antiplurality": (1, 1, 0)}


def _score_matrix(points: tuple[int, int, int]) -> IntArray:
    """6 x 3: the points each ranking gives each candidate."""
    return np.asarray(points, dtype=np.int64)[POSITION]


_FIRST = _score_matrix((1, 0, 0))
#: ABOVE[t, i, j]: 1 when ranking t puts i above j.
_ABOVE: IntArray = (POSITION[:, :, None] < POSITION[:, None, :]).astype(np.int64)


def _differences(scores: IntArray) -> IntArray:
    """Coefficient rows (over the six counts) of score_i - score_j for each pair."""
    return np.stack([scores[:, i] - scores[:, j] for i, j in _PAIRS])


def _margins(counts: IntArray) -> IntArray:
    """profiles x 3 x 3: head-to-head margins (voters ranking i over j, minus j over i)."""
    support = np.einsum("nt,tij->nij", counts, _ABOVE)
    margins: IntArray = support - support.transpose(0, 2, 1)
    return margins


# The linear functions of the counts whose signs decide each rule's winner (see the module doc).
_MARGIN_ROWS = np.stack([_ABOVE[:, i, j] - _ABOVE[:, j, i] for i, j in _PAIRS])
_DECIDING: dict[str, IntArray] = {
    "plurality": _differences(_FIRST),
    "borda": _differences(_score_matrix((2, 1, 0))),
    "antiplurality": _differences(_score_matrix((1, 1, 0))),
    # IRV: who leads or trails on first choices, who holds a majority, who wins the final pair.
    "irv": np.concatenate([_differences(_FIRST), (2 * _FIRST - 1).T, _MARGIN_ROWS]),
}


def draw_profiles(rng: np.random.Generator, culture: CultureName, n_profiles: int, n_voters: int,
                  phi: float = 0.8) -> IntArray:
    """``n_profiles`` x 6 counts of ``n_voters`` voters drawn from ``culture``.

    * ``impartial`` (IC): each voter's ranking is uniform over the six, independently,
      so the counts are multinomial(n, 1/6 each): the same law as drawing every voter.
    * ``impartial_anonymous`` (IAC): every vector of counts summing to n is equally
      likely (a Dirichlet(1, ..., 1) mixture of multinomials).
    * ``mallows``: a reference ranking uniform per profile; each voter holds ranking
      t with probability proportional to ``phi`` ** (Kendall distance to the reference).
    * ``polarized``: half the voters (in expectation) Mallows around the reference, half
      around its reverse: the centre candidate is squeezed out of first places.
    """
    if culture == "impartial":
        counts = rng.multinomial(n_voters, np.full(_TYPES, 1.0 / _TYPES), size=n_profiles)
    elif culture == "impartial_anonymous":
        shares = rng.dirichlet(np.ones(_TYPES), size=n_profiles)
        counts = rng.multinomial(n_voters, shares)
    else:
        discordant = np.einsum("sij,tij->st", _ABOVE, 1 - _ABOVE)  # pairs s and t order apart
        weights = phi ** discordant.astype(np.float64)
        table = weights / weights.sum(axis=1, keepdims=True)
        references = rng.integers(_TYPES, size=n_profiles)
        shares = table[references]
        if culture == "polarized":
            shares = 0.5 * (shares + table[_REVERSED[references]])
        counts = rng.multinomial(n_voters, shares)
    return np.asarray(counts, dtype=np.int64)


def condorcet_winners(counts: IntArray) -> IntArray:
    """The candidate beating both others head to head in each profile, or -1 (none)."""
    margins = _margins(counts)
    beats_all = (margins > 0).sum(axis=2) == 2
    return np.where(beats_all.any(axis=1), np.argmax(beats_all, axis=1), -1).astype(np.int64)


def _best(scores: IntArray) -> tuple[IntArray, BoolArray]:
    top = scores.max(axis=1, keepdims=True)
    co_winners = scores == top
    return np.argmax(co_winners, axis=1).astype(np.int64), co_winners.sum(axis=1) > 1


def _irv(counts: IntArray) -> tuple[IntArray, BoolArray]:
    """Instant runoff as the registered ``irv``: a majority of first choices wins; else all
    tied for the fewest go out together (all three tied: co-winners); the last two meet
    head to head (a tied final pair: co-winners)."""
    firsts = counts @ _FIRST
    n_voters = counts.sum(axis=1)
    majority = 2 * firsts > n_voters[:, None]
    fewest = firsts == firsts.min(axis=1, keepdims=True)
    n_fewest = fewest.sum(axis=1)
    # One with the fewest: the other two (low < high) meet head to head; the pair without
    # candidate `out` is row 2 - out of _PAIRS.
    out = np.argmax(fewest, axis=1)
    low = (out == 0).astype(np.int64)
    high = np.where(out == 2, 1, 2)
    final = np.take_along_axis(counts @ _MARGIN_ROWS.T, (2 - out)[:, None], axis=1)[:, 0]
    single_out = n_fewest == 1
    winner = np.where(final >= 0, low, high)
    # Two tied for the fewest: both go out and the third wins.  All three tied: candidate 0.
    winner = np.where(n_fewest == 2, np.argmin(fewest, axis=1), winner)
    winner = np.where(n_fewest == 3, 0, winner)
    tied = (n_fewest == 3) | (single_out & (final == 0))
    has_majority = majority.any(axis=1)
    winner = np.where(has_majority, np.argmax(majority, axis=1), winner)
    return winner.astype(np.int64), tied & ~has_majority


def winners(counts: IntArray, rule: RuleName) -> tuple[IntArray, BoolArray]:
    """Each profile's winner under ``rule`` after the lexicographic tie-break, and whether
    the tie-break was needed (more than one co-winner)."""
    if rule == "irv":
        return _irv(counts)
    return _best(counts @ _score_matrix(_SCORE_VECTORS[rule]))


def manipulable(counts: IntArray, rule: RuleName, coalition: Coalition = "uniform") -> BoolArray:
    """Profiles where a coalition of like-minded voters can elect someone they all prefer.

    See the module docstring for the coalition and the exact search over its size.
    """
    winner, _ = winners(counts, rule)
    deciding = _DECIDING[rule]
    values = counts @ deciding.T  # profiles x functions
    found = np.zeros(counts.shape[0], dtype=bool)
    for sincere in range(_TYPES):
        size = counts[:, sincere]
        sincere_place = POSITION[sincere, winner]
        # Who already elects their favourite cannot gain.
        can_gain = (size >= 1) & (sincere_place > 0)
        for cast in range(_TYPES):
            rows = np.flatnonzero(can_gain & ~found)
            if cast == sincere or rows.size == 0:
                continue
            step = np.zeros(_TYPES, dtype=np.int64)
            step[cast], step[sincere] = 1, -1
            sizes = np.ones((rows.size, 1), dtype=np.int64)
            if coalition == "uniform":
                slopes = deciding @ step
                moving = slopes != 0
                crossing = np.floor_divide(-values[rows][:, moving], slopes[moving])
                sizes = np.concatenate([sizes, crossing, crossing + 1], axis=1)
            base, place, most = counts[rows], sincere_place[rows], size[rows]
            gain = np.zeros(rows.size, dtype=bool)
            for k in sizes.T:
                # A size outside [1, coalition] is no coalition; the last interval that fits
                # starts at k = 1 or just after a crossing, so it is tried all the same.
                trying = np.flatnonzero((k >= 1) & (k <= most) & ~gain)
                moved, _ = winners(base[trying] + k[trying, None] * step[None, :], rule)
                gain[trying] = POSITION[sincere, moved] < place[trying]
            found[rows] = gain
    return found
