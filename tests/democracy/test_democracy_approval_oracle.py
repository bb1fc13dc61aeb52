"""Differential test: the emergency vote's approval count has pref_voting's co-winners.

pref_voting (the ``oracle`` extra, see ``test_oracle.py``) counts approval ballots as a
``GradeProfile`` with grades 0 and 1; its ``approval`` returns every co-winner. Our side is
:func:`flagship.democracy.decide`, the vote's count, with no thresholds: its tally's
``winners`` must be the same set, and the decided measure one of them, chosen by the vote's
recorded tie rule. Profiles are small and often drawn from a handful of ballot types, so
ties come up often.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest

os.environ.setdefault("NUMBA_DISABLE_JIT", "1")  # as test_democracy_pref_voting: tiny profiles
pytest.importorskip("pref_voting")  # the `oracle` extra: tests/democracy/test_oracle.py

from pref_voting.grade_methods import approval
from pref_voting.grade_profiles import GradeProfile

from flagship.democracy import decide

pytestmark = pytest.mark.oracle  # CI runs these once the oracle extra is installed (.ci/run)


def approval_profiles(seed: int, count: int) -> Iterator[tuple[list[str], list[list[str]]]]:
    """``count`` (candidates, ballots) pairs; every ballot approves at least one candidate."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        m = int(rng.integers(2, 7))
        n = int(rng.integers(1, 41))
        candidates = [f"m{c}" for c in range(m)]
        if index % 2:  # a few ballot types, repeated: many exact ties
            types = rng.random((int(rng.integers(1, 4)), m)) < rng.uniform(0.2, 0.8)
            rows = types[rng.integers(len(types), size=n)]
        else:
            rows = rng.random((n, m)) < rng.uniform(0.1, 0.9)
        rows[~rows.any(axis=1), int(rng.integers(m))] = True  # the vote refuses an empty ballot
        yield candidates, [[candidates[c] for c in np.flatnonzero(row)] for row in rows]


def oracle_winners(candidates: list[str], ballots: list[list[str]]) -> list[str]:
    grade_maps = [{c: int(name in ballot) for c, name in enumerate(candidates)} for ballot in ballots]
    profile = GradeProfile(grade_maps, [0, 1], candidates=list(range(len(candidates))))
    return [candidates[c] for c in sorted(approval(profile))]


@pytest.mark.parametrize("tie_break", ["random", "lexicographic"])
def test_the_vote_counts_approvals_as_pref_voting_does(tie_break: str) -> None:
    ties = 0
    for number, (candidates, ballots) in enumerate(approval_profiles(16, 1500)):
        decision = decide("approval", ballots, candidates, seed=number, tie_break=tie_break,
                          status_quo=None)
        assert decision is not None and decision.result is not None
        expected = oracle_winners(candidates, ballots)
        assert decision.result.winners == expected, (candidates, ballots)
        assert decision.measure in expected
        if tie_break == "lexicographic":
            assert decision.measure == expected[0]  # candidate order
        ties += len(expected) > 1
    assert ties > 100  # the profiles did exercise the tie-break
