"""Algorithms on a margin matrix: Condorcet, Copeland, minimax, Schulze, ranked pairs.

``margins[i, j]`` is the number of voters ranking i above j minus the reverse.
These functions know nothing about ballots, so the axiom checks and the rules
share them.
"""

from __future__ import annotations

import random

import numpy as np
import numpy.typing as npt

__all__ = [
    "condorcet_loser",
    "condorcet_winner",
    "copeland_scores",
    "minimax_scores",
    "ranked_pairs",
    "schulze",
]

IntArray = npt.NDArray[np.int64]


def condorcet_winner(margins: IntArray) -> int | None:
    """The candidate with a positive margin over every other one, if any."""
    m = margins.shape[0]
    wins = (margins > 0).sum(axis=1)
    found = np.flatnonzero(wins == m - 1)
    return int(found[0]) if found.size else None


def condorcet_loser(margins: IntArray) -> int | None:
    """The candidate with a negative margin against every other one, if any (m >= 2)."""
    m = margins.shape[0]
    if m < 2:
        return None
    losses = (margins < 0).sum(axis=1)
    found = np.flatnonzero(losses == m - 1)
    return int(found[0]) if found.size else None


def copeland_scores(margins: IntArray) -> IntArray:
    """Pairwise wins minus pairwise losses (same winners as 1 / half / 0 scoring)."""
    scores: IntArray = (margins > 0).sum(axis=1) - (margins < 0).sum(axis=1)
    return scores.astype(np.int64)


def minimax_scores(margins: IntArray) -> IntArray:
    """Each candidate's largest defeat margin, 0 when undefeated (pref_voting's margins variant).

    The minimax winners are the candidates with the *smallest* score.
    """
    scores: IntArray = np.maximum(margins.max(axis=0), 0)
    return scores.astype(np.int64)


def schulze(margins: IntArray) -> tuple[list[int], IntArray]:
    """Schulze (beat path) winners and the strongest-path matrix.

    Only positive margins are edges; ``strength[i, j]`` is the widest path (largest
    minimum margin along a path) from i to j, 0 when there is none, which compares
    exactly like pref_voting's ``-inf``.  i wins when no j has
    ``strength[j, i] > strength[i, j]``.  Floyd-Warshall, vectorised per pivot.
    """
    strength = np.where(margins > 0, margins, 0).astype(np.int64)
    m = strength.shape[0]
    for pivot in range(m):
        through = np.minimum(strength[:, pivot : pivot + 1], strength[pivot : pivot + 1, :])
        np.maximum(strength, through, out=strength)
    np.fill_diagonal(strength, 0)
    unbeaten = np.flatnonzero(~(strength < strength.T).any(axis=1))
    return [int(i) for i in unbeaten], strength


def _lock(reach: tuple[int, ...], a: int, b: int) -> tuple[int, ...]:
    """Add a > b to a transitively closed relation (``reach[x]``: bitmask of whom x beats)."""
    gained = reach[b] | (1 << b)
    return tuple(row | gained if (x == a or (row >> a) & 1) else row for x, row in enumerate(reach))


def _unbeaten(reach: tuple[int, ...]) -> int:
    beaten = 0
    for row in reach:
        beaten |= row
    return ~beaten & ((1 << len(reach)) - 1)


class _StackSearch:
    """Which candidates top some *stack*, i.e. win ranked pairs under some tie order.

    A stack (Zavist and Tideman 1989) is a linear order L such that whenever b is
    below a but beats a by w, some L-descending path from a to b uses only
    margins >= w; a candidate wins ranked pairs under some order of equal margins
    iff it tops a stack (pref_voting's ``ranked_pairs(algorithm="from_stacks")``).
    Deciding this is NP-hard (Brill and Fischer 2012), so the search is made
    practical, in the spirit of Wang et al. (2019), by:

    * running a few seeded random tie orders first, which find most winners, and
      skipping the search altogether when no two margins are equal;
    * building L top-down from the candidate x in question: b may be appended
      only if, for every placed a that b beats by w, a already reaches (at margins
      >= w, downwards) a candidate that beats b by at least w;
    * dropping a branch when some unplaced r beating a placed a by w can no longer
      be reached from a at margins >= w, even through all unplaced candidates;
    * remembering states that failed (the unplaced set and what each placed
      candidate reaches at each margin level decide the future).
    """

    def __init__(self, margins: IntArray) -> None:
        m = margins.shape[0]
        self.m = m
        self.full = (1 << m) - 1
        self.levels = sorted({int(v) for v in margins.flatten() if v > 0})
        # strong[l][b]: candidates beating b by at least levels[l].
        self.strong = [
            [sum(1 << c for c in range(m) if margins[c, b] >= w) for b in range(m)] for w in self.levels
        ]
        # beaten_by[l][b]: candidates that b beats by exactly levels[l].
        self.beaten_by = [
            [sum(1 << a for a in range(m) if margins[b, a] == w) for b in range(m)] for w in self.levels
        ]
        self.score = [int(margins[b].sum()) for b in range(m)]
        self.failed: set[tuple[int, tuple[tuple[int, ...], ...]]] = set()

    def tops_a_stack(self, x: int) -> bool:
        reach = tuple(tuple(1 << x if a == x else 0 for a in range(self.m)) for _ in self.levels)
        self.failed = set()
        return self._extend(1 << x, reach)

    def _appendable(self, placed: int, reach: tuple[tuple[int, ...], ...], b: int) -> bool:
        for level, beaten in enumerate(self.beaten_by):
            victims = beaten[b] & placed
            strong = self.strong[level][b]
            rows = reach[level]
            a = 0
            while victims:
                if victims & 1 and not rows[a] & strong:
                    return False
                victims >>= 1
                a += 1
        return True

    def _hopeless(self, placed: int, reach: tuple[tuple[int, ...], ...]) -> bool:
        remaining = self.full & ~placed
        for level, beaten in enumerate(self.beaten_by):
            strong, rows = self.strong[level], reach[level]
            for a in range(self.m):
                if not (placed >> a) & 1:
                    continue
                threats = 0
                for r in range(self.m):
                    if (remaining >> r) & 1 and (beaten[r] >> a) & 1:
                        threats |= 1 << r
                if not threats:
                    continue
                found, grown = rows[a], True
                while grown:
                    grown = False
                    for r in range(self.m):
                        if (remaining >> r) & 1 and not (found >> r) & 1 and strong[r] & found:
                            found |= 1 << r
                            grown = True
                if threats & ~found:
                    return True
        return False

    def _extend(self, placed: int, reach: tuple[tuple[int, ...], ...]) -> bool:
        if placed == self.full:
            return True
        key = (placed, reach)
        if key in self.failed or self._hopeless(placed, reach):
            self.failed.add(key)
            return False
        remaining = [b for b in range(self.m) if not (placed >> b) & 1]
        for b in sorted(remaining, key=lambda c: -self.score[c]):
            if not self._appendable(placed, reach, b):
                continue
            grown = tuple(
                tuple(
                    (row | (1 << b)) if (placed >> a) & 1 and row & self.strong[level][b] else row
                    for a, row in enumerate(rows)
                )
                for level, rows in enumerate(reach)
            )
            grown = tuple(tuple(1 << b if a == b else row for a, row in enumerate(rows)) for rows in grown)
            if self._extend(placed | (1 << b), grown):
                return True
        self.failed.add(key)
        return False


def _sampled_winners(m: int, groups: list[tuple[tuple[int, int], ...]], samples: int) -> int:
    """Candidates unbeaten after locking with a few seeded random tie orders."""
    shuffler = random.Random(0)  # fixed: the result never depends on it, only speed
    winners = 0
    for _ in range(samples):
        reach = tuple(0 for _ in range(m))
        for group in groups:
            order = list(group)
            shuffler.shuffle(order)
            for a, b in order:
                if not (reach[b] >> a) & 1:
                    reach = _lock(reach, a, b)
        winners |= _unbeaten(reach)
    return winners


def ranked_pairs(margins: IntArray) -> tuple[list[int], list[tuple[int, int, int]]]:
    """Ranked pairs co-winners and the locked edges of one canonical run.

    Majorities are locked by decreasing margin, skipping any that would close a
    cycle.  A candidate wins if it is unbeaten under *some* order of equal
    margins (pref_voting's ``ranked_pairs``; its zero-margin edges never change
    which candidates are unbeaten, so they are not needed here).  Without equal
    margins there is one outcome; otherwise a few seeded random orders find most
    winners, split cycle rules out others, and :class:`_StackSearch` settles the
    rest.  That last step is exponential in the worst case (the problem is
    NP-hard) but takes milliseconds on random profiles of up to 20 candidates.
    The canonical run, reported in ``locked``, orders equal margins by
    candidates' order.
    """
    m = margins.shape[0]
    edges = sorted(
        ((int(margins[i, j]), i, j) for i in range(m) for j in range(m) if margins[i, j] > 0),
        key=lambda edge: (-edge[0], edge[1], edge[2]),
    )
    groups: list[tuple[tuple[int, int], ...]] = []
    previous: int | None = None
    for margin, i, j in edges:
        if margin != previous:
            groups.append(())
            previous = margin
        groups[-1] = (*groups[-1], (i, j))

    if all(len(group) == 1 for group in groups):
        winners_mask = _sampled_winners(m, groups, 1)  # no equal margins: one outcome
    else:
        winners_mask = _sampled_winners(m, groups, 4)
        # Ranked pairs winners are split cycle winners: x needs, for every y beating
        # it, a path back to y at least as strong (Holliday and Pacuit).
        _, strength = schulze(margins)
        defeated = {int(x) for x in np.flatnonzero((strength < margins.T).any(axis=1))}
        search = _StackSearch(margins)
        for x in range(m):
            if x not in defeated and not (winners_mask >> x) & 1 and search.tops_a_stack(x):
                winners_mask |= 1 << x

    canonical: tuple[int, ...] = tuple(0 for _ in range(m))
    locked: list[tuple[int, int, int]] = []
    for margin, i, j in edges:
        if not (canonical[j] >> i) & 1:
            if not (canonical[i] >> j) & 1:
                canonical = _lock(canonical, i, j)
            locked.append((i, j, margin))
    return [c for c in range(m) if (winners_mask >> c) & 1], locked
