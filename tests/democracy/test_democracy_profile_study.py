"""The profile study: vectorised three-candidate rules against the registered rules and
pref_voting, manipulation against brute force and pref_voting, and the impartial-culture
example reproducing the published figures (a fixed seed, through ``flagship run``)."""

from __future__ import annotations

import json
import os
from itertools import permutations
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

os.environ.setdefault("NUMBA_DISABLE_JIT", "1")  # see test_democracy_pref_voting.py
pytest.importorskip("pref_voting")  # the `oracle` extra: tests/democracy/test_oracle.py

from pref_voting.iterative_methods import instant_runoff
from pref_voting.profiles import Profile
from pref_voting.scoring_methods import anti_plurality, borda, plurality
from pref_voting.strategic_axioms import has_strategy_proofness_violation

from flagship.democracy import ProfileStudyConfig, tally
from flagship.democracy._count_profiles import (
    RANKINGS,
    RULE_NAMES,
    condorcet_winners,
    draw_profiles,
    manipulable,
    winners,
)
from flagship.democracy.study_table import main as table_main
from flagship.mechanisms import InputError
from tests._cli import flagship

pytestmark = pytest.mark.oracle  # CI runs these once the oracle extra is installed (.ci/run)

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = ("a", "b", "c")
PREF_VOTING = {"plurality": plurality, "borda": borda, "antiplurality": anti_plurality,
               "irv": instant_runoff}

counts_strategy = st.lists(st.integers(0, 4), min_size=6, max_size=6).filter(lambda c: sum(c) > 0)


def _rows(counts: list[int]) -> np.ndarray:
    return np.array([RANKINGS[t] for t, c in enumerate(counts) for _ in range(c)], dtype=np.int64)


def _resolute(rule: str):  # type: ignore[no-untyped-def]
    """pref_voting's rule with our recorded tie-break: the first co-winner in candidate order."""
    method = PREF_VOTING[rule]
    return lambda profile: sorted(method(profile))[:1]


@settings(max_examples=300, deadline=None)
@given(counts_strategy)
def test_rules_match_the_registered_rules(counts: list[int]) -> None:
    batch = np.array([counts], dtype=np.int64)
    rows = _rows(counts)
    for rule in ("plurality", "borda", "irv"):
        result = tally(rule, rows, CANDIDATES, tie_break="lexicographic")
        winner, tied = winners(batch, rule)
        assert CANDIDATES[int(winner[0])] == result.winner, (rule, counts)
        assert bool(tied[0]) == (len(result.winners) > 1), (rule, counts)


@settings(max_examples=300, deadline=None)
@given(counts_strategy)
def test_rules_and_condorcet_winner_match_pref_voting(counts: list[int]) -> None:
    batch = np.array([counts], dtype=np.int64)
    profile = Profile([RANKINGS[t] for t, c in enumerate(counts) if c], rcounts=[c for c in counts if c])
    for rule in RULE_NAMES:
        assert int(winners(batch, rule)[0][0]) == _resolute(rule)(profile)[0], (rule, counts)
    expected = profile.condorcet_winner()
    assert int(condorcet_winners(batch)[0]) == (-1 if expected is None else expected)


@settings(max_examples=150, deadline=None)
@given(counts_strategy)
def test_one_voter_manipulation_matches_pref_voting(counts: list[int]) -> None:
    """The shared case: a coalition of one, any other complete ranking, a unique new winner it
    prefers (pref_voting's "single-winner" set preference, on the tie-broken rule)."""
    batch = np.array([counts], dtype=np.int64)
    profile = Profile([RANKINGS[t] for t, c in enumerate(counts) if c], rcounts=[c for c in counts if c])
    for rule in RULE_NAMES:
        expected = has_strategy_proofness_violation(profile, _resolute(rule))
        assert bool(manipulable(batch, rule, "single")[0]) == expected, (rule, counts)


def _brute_force(counts: list[int], rule: str) -> bool:
    """Every coalition size and every other ranking, counted by the registered rules' code path."""
    batch = np.array([counts], dtype=np.int64)
    sincere_winner = int(winners(batch, rule)[0][0])  # type: ignore[arg-type]
    for t, size in enumerate(counts):
        order = RANKINGS[t]
        for b in range(6):
            if b == t:
                continue
            for k in range(1, size + 1):
                moved = list(counts)
                moved[t] -= k
                moved[b] += k
                winner = int(winners(np.array([moved], dtype=np.int64), rule)[0][0])  # type: ignore[arg-type]
                if order.index(winner) < order.index(sincere_winner):
                    return True
    return False


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=6, max_size=6).filter(lambda c: sum(c) > 0))
def test_coalition_search_equals_trying_every_size(counts: list[int]) -> None:
    batch = np.array([counts], dtype=np.int64)
    for rule in RULE_NAMES:
        assert bool(manipulable(batch, rule, "uniform")[0]) == _brute_force(counts, rule), (rule, counts)


def test_coalition_search_on_large_electorates() -> None:
    """The crossing points, not small counts, do the work: 61-voter profiles, sizes up to 61."""
    rng = np.random.default_rng(3)
    batch = draw_profiles(rng, "impartial_anonymous", 12, 61)
    for rule in RULE_NAMES:
        found = manipulable(batch, rule, "uniform")
        assert found.tolist() == [_brute_force(row.tolist(), rule) for row in batch], rule


def test_a_larger_coalition_manipulates_where_one_voter_cannot() -> None:
    # 4 a>b>c, 3 b>a>c, 2 c>b>a: a wins plurality. One c>b>a voter moving to b only ties b
    # with a (broken for a); both of them elect b, whom they prefer to a.
    counts = np.array([[4, 0, 3, 0, 0, 2]], dtype=np.int64)
    assert winners(counts, "plurality")[0][0] == 0
    assert not manipulable(counts, "plurality", "single")[0]
    assert manipulable(counts, "plurality", "uniform")[0]


def test_cultures_differ_where_the_theory_says() -> None:
    rng = np.random.default_rng(0)
    shares = {culture: float((condorcet_winners(draw_profiles(rng, culture, 20000, 1001)) >= 0).mean())
              for culture in ("impartial", "impartial_anonymous", "mallows")}
    assert abs(shares["impartial"] - 0.9123) < 0.01
    assert abs(shares["impartial_anonymous"] - 0.9375) < 0.01  # 15/16 (Gehrlein)
    assert shares["mallows"] > 0.99


def test_the_draws_are_a_function_of_the_seed() -> None:
    one = draw_profiles(np.random.default_rng(5), "polarized", 50, 101)
    two = draw_profiles(np.random.default_rng(5), "polarized", 50, 101)
    assert np.array_equal(one, two) and (one.sum(axis=1) == 101).all()


def test_a_bad_config_names_the_field() -> None:
    with pytest.raises(ValueError, match="rule"):
        ProfileStudyConfig(rule="approval")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_voters"):
        ProfileStudyConfig(n_voters=0)


def test_the_table_refuses_other_json(capsys: pytest.CaptureFixture[str]) -> None:
    import io

    assert table_main(io.StringIO("[]"), io.StringIO()) == 2
    assert table_main(io.StringIO("{\"aggregate\": {}}"), io.StringIO()) == 2
    assert table_main(io.StringIO("not json"), io.StringIO()) == 2
    with pytest.raises(InputError):
        from flagship.democracy.study_table import render

        render({"runs": []})


@pytest.mark.slow
def test_the_example_reproduces_the_published_figures(tmp_path: Path) -> None:
    """Seed 1, 20 runs of 5000 profiles per rule: every criterion passes, and each figure's
    interval holds the published value's neighbourhood (the criteria) in the stored runs."""
    done = flagship("run", str(REPO / "examples" / "impartial_culture.toml"), "--db",
                    f"sqlite:///{tmp_path / 'ic.db'}", "--json", "--criteria",
                    str(REPO / "examples" / "impartial_culture_criteria.toml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["scorecard"]["verdict"] == "pass"
    assert result["scorecard"]["counts"] == {"pass": 8, "fail": 0, "inconclusive": 0, "flagged": 0}
    aggregate = result["aggregate"]
    figures = {("plurality", "condorcet_winner_share"): 0.9123, ("plurality", "condorcet_efficiency"): 0.757,
               ("borda", "condorcet_efficiency"): 0.901, ("irv", "condorcet_efficiency"): 0.96}
    for (arm, measure), published in figures.items():
        entry = aggregate[arm][f"profile_study.{measure}"]
        assert published - 0.01 < entry["ci_low"] <= entry["ci_high"] < published + 0.01, (arm, measure)


def test_permutations_are_in_lexicographic_order() -> None:
    assert list(RANKINGS) == list(permutations(range(3)))
