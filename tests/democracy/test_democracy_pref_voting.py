"""Differential tests: our co-winners equal pref_voting's on thousands of small profiles.

pref_voting is the `oracle` extra, not the test extra.  Profiles are small (3-6 candidates, 5-50
voters, some drawn from a handful of ballot types) so that ties, cycles and
all-tied IRV rounds come up often.  Complete profiles are compared with
``Profile``; truncated ones with ``ProfileWithTies`` using extended strict
preference (unranked candidates tied below ranked ones), which is our
convention.  Importing pref_voting emits no warnings in this environment (checked
under ``-W error``), so no warning filter is needed here.
"""

from __future__ import annotations

import functools
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

# pref_voting's numba kernels take ~10 s to compile and buy nothing on profiles this
# small; run them interpreted.  Only this module imports numba (via pref_voting), and
# the variable is read when numba is first imported; setdefault lets a caller override.
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")
pytest.importorskip("pref_voting")  # the `oracle` extra: tests/democracy/test_oracle.py

from pref_voting.c1_methods import copeland
from pref_voting.iterative_methods import instant_runoff
from pref_voting.margin_based_methods import beat_path, minimax, ranked_pairs
from pref_voting.profiles import Profile
from pref_voting.profiles_with_ties import ProfileWithTies
from pref_voting.scoring_methods import borda, plurality

from flagship.democracy import tally

pytestmark = pytest.mark.oracle  # CI runs these once the oracle extra is installed (.ci/run)

Rows = np.ndarray


def impartial(rng: np.random.Generator, n: int, m: int) -> Rows:
    return np.argsort(rng.random((n, m)), axis=1)


def mallows(rng: np.random.Generator, n: int, m: int) -> Rows:
    """Repeated insertion around a random reference with a random dispersion."""
    phi = rng.uniform(0.1, 1.0)
    reference = rng.permutation(m)
    rows = np.empty((n, m), dtype=np.int64)
    for voter in range(n):
        ranking: list[int] = []
        for i in range(m):
            weights = phi ** (i - np.arange(i + 1))
            ranking.insert(int(rng.choice(i + 1, p=weights / weights.sum())), int(reference[i]))
        rows[voter] = ranking
    return rows


def spatial(rng: np.random.Generator, n: int, m: int) -> Rows:
    voters, places = rng.random((n, 2)), rng.random((m, 2))
    return np.argsort(np.linalg.norm(voters[:, None] - places[None], axis=2), axis=1)


def few_types(rng: np.random.Generator, n: int, m: int) -> Rows:
    """A handful of distinct rankings, repeated: many exact ties and cycles."""
    types = impartial(rng, int(rng.integers(2, 5)), m)
    return types[rng.integers(len(types), size=n)]


CULTURES = [impartial, mallows, spatial, few_types]


def profiles(seed: int, count: int, *, max_candidates: int = 6) -> Iterator[Rows]:
    rng = np.random.default_rng(seed)
    for index in range(count):
        m = int(rng.integers(3, max_candidates + 1))
        n = int(rng.integers(5, 51))
        yield CULTURES[index % len(CULTURES)](rng, n, m).astype(np.int64)


def truncate(rng: np.random.Generator, rows: Rows) -> Rows:
    """Cut each ranking to a random non-empty prefix (blanks -1 at the end)."""
    cut = rows.copy()
    lengths = rng.integers(1, rows.shape[1] + 1, size=rows.shape[0])
    for r, length in enumerate(lengths):
        cut[r, length:] = -1
    return cut


def ours(rule: str, rows: Rows) -> list[int]:
    names = [f"c{i}" for i in range(rows.shape[1])]
    return [names.index(w) for w in tally(rule, rows, names).winners]


def ranked_pairs_reference(edata: Any) -> list[int]:
    """pref_voting's ranked pairs, by stacks when its edge orders would explode.

    The basic algorithm enumerates every order of equal-margin edges (including
    both directions of each zero margin); with many ties that is astronomically
    many, so it is only used while the count stays small.
    """
    cands = list(edata.candidates)
    strengths = [edata.margin(a, b) for a in cands for b in cands if a != b and edata.margin(a, b) >= 0]
    orders = math.prod(math.factorial(k) for k in Counter(strengths).values())
    if orders <= 5000:
        return list(ranked_pairs(edata))
    return list(ranked_pairs(edata, algorithm="from_stacks"))


COMPLETE_REFERENCES: dict[str, Callable[[Any], list[int]]] = {
    "plurality": plurality,
    "borda": borda,
    "irv": instant_runoff,
    "schulze": beat_path,
    "copeland": copeland,
    "minimax": minimax,
}


def mismatches(rule: str, reference: Callable[[Any], list[int]], cases: list[tuple[Rows, Any]]) -> list[str]:
    found = []
    for rows, edata in cases:
        expected = sorted(int(c) for c in reference(edata))
        got = ours(rule, rows)
        if got != expected:
            found.append(f"{rule}: ours {got} vs pref_voting {expected} on {rows.tolist()}")
    return found


@functools.cache
def complete_cases(seed: int, count: int, max_candidates: int = 6) -> list[tuple[Rows, Any]]:
    """Built once per module run and shared by the rules (building is the slow part)."""
    return [(rows, Profile(rows.tolist())) for rows in profiles(seed, count, max_candidates=max_candidates)]


@functools.cache
def truncated_cases(seed: int, count: int, max_candidates: int = 6) -> list[tuple[Rows, Any]]:
    rng = np.random.default_rng(seed + 1)
    cases = []
    for rows in profiles(seed, count, max_candidates=max_candidates):
        cut = truncate(rng, rows)
        rankings = [{int(c): rank + 1 for rank, c in enumerate(row) if c >= 0} for row in cut]
        edata = ProfileWithTies(rankings, candidates=list(range(rows.shape[1])))
        edata.use_extended_strict_preference()
        cases.append((cut, edata))
    return cases


@pytest.mark.parametrize("rule", sorted(COMPLETE_REFERENCES))
def test_complete_profiles(rule: str) -> None:
    found = mismatches(rule, COMPLETE_REFERENCES[rule], complete_cases(seed=101, count=500))
    assert not found, "\n".join(found[:5])


def test_complete_profiles_ranked_pairs() -> None:
    found = mismatches(
        "ranked_pairs", ranked_pairs_reference, complete_cases(seed=202, count=400, max_candidates=5)
    )
    assert not found, "\n".join(found[:5])


TRUNCATED_REFERENCES: dict[str, Callable[[Any], list[int]]] = {
    "plurality": plurality,
    "irv": instant_runoff,
    "schulze": beat_path,
    "copeland": copeland,
    "minimax": minimax,
    "ranked_pairs": ranked_pairs_reference,
}


@pytest.mark.parametrize("rule", sorted(TRUNCATED_REFERENCES))
def test_truncated_profiles(rule: str) -> None:
    found = mismatches(
        rule, TRUNCATED_REFERENCES[rule], truncated_cases(seed=303, count=300, max_candidates=5)
    )
    assert not found, "\n".join(found[:5])


def test_borda_scores_match() -> None:
    """Not only the winners: our Borda points are pref_voting's on complete ballots."""
    for rows, edata in complete_cases(seed=101, count=500)[:250]:
        names = [f"c{i}" for i in range(rows.shape[1])]
        details = tally("borda", rows, names).details.to_dict()
        expected = edata.borda_scores()
        assert details["scores"] == {names[c]: int(s) for c, s in expected.items()}


def test_margins_match() -> None:
    for rows, edata in truncated_cases(seed=303, count=300, max_candidates=5):
        names = [f"c{i}" for i in range(rows.shape[1])]
        details = tally("copeland", rows, names).details.to_dict()
        cands = range(rows.shape[1])
        assert details["margins"] == [[int(edata.margin(a, b)) for b in cands] for a in cands]


def test_the_profiles_hit_ties() -> None:
    """Guard against a differential suite that never exercises co-winners."""
    cases = complete_cases(seed=101, count=500)[:250]
    for rule in ("plurality", "irv", "schulze", "copeland"):
        tied = sum(len(ours(rule, rows)) > 1 for rows, _ in cases)
        assert tied >= 10, rule
