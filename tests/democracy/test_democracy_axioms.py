"""democracy.axioms: claimed properties hold in bounded searches, known failures are found."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flagship.democracy import BallotType, Property, rules, tally
from flagship.democracy.axioms import (
    AXIOMS,
    CONDORCET_LOSER,
    CONDORCET_WINNER,
    MONOTONICITY,
    PARETO,
    Profile,
    Witness,
    find_violation,
    get_axiom,
)
from flagship.mechanisms._errors import InputError, UnknownNameError

SEARCH = {"n_profiles": 120, "n_candidates": (3, 5), "n_voters": (2, 15), "seed": 2024}

CLAIMS = [(name, prop) for name, info in rules().items() for prop in sorted(info.properties)]
APPLICABLE_UNCLAIMED = [
    (name, prop)
    for name, info in rules().items()
    for prop in Property
    if prop not in info.properties and AXIOMS[prop.value].applies_to(info)
]


def margins(profile: Profile) -> dict[tuple[str, str], int]:
    """Head-to-head margins computed from scratch (unranked tied below ranked)."""

    def above(ballot: tuple[str, ...], a: str, b: str) -> bool:
        if a not in ballot:
            return False
        return b not in ballot or ballot.index(a) < ballot.index(b)

    result = {}
    for a in profile.candidates:
        for b in profile.candidates:
            wins = sum(above(ballot, a, b) for ballot in profile.ballots)  # type: ignore[arg-type]
            losses = sum(above(ballot, b, a) for ballot in profile.ballots)  # type: ignore[arg-type]
            result[(a, b)] = wins - losses
    return result


def winners(rule: str, profile: Profile) -> list[str]:
    return tally(rule, [list(b) for b in profile.ballots], profile.candidates).winners


def test_every_property_has_an_axiom() -> None:
    assert set(AXIOMS) == {prop.value for prop in Property}
    assert get_axiom("pareto") is PARETO
    assert AXIOMS["monotonicity"] is MONOTONICITY


@pytest.mark.parametrize(("rule", "prop"), CLAIMS)
def test_claimed_properties_hold_in_a_bounded_search(rule: str, prop: Property) -> None:
    witness = find_violation(rule, prop.value, **SEARCH)  # type: ignore[arg-type]
    assert witness is None, str(witness)


@pytest.mark.parametrize(("rule", "prop"), APPLICABLE_UNCLAIMED)
def test_unclaimed_properties_fail_somewhere(rule: str, prop: Property) -> None:
    """The claims are tight: each property a rule does not claim has a counterexample."""
    search = dict(SEARCH, n_profiles=400)
    witness = find_violation(rule, prop.value, **search)  # type: ignore[arg-type]
    assert witness is not None
    assert witness.axiom == prop.value and witness.rule == rule


def test_irv_monotonicity_failure_is_found_and_real() -> None:
    witness = find_violation("irv", MONOTONICITY, **SEARCH)  # type: ignore[arg-type]
    assert witness is not None
    assert witness.modified is not None and witness.modified_winners is not None
    loser = next(w for w in witness.winners if w not in witness.modified_winners)
    # Re-tally both profiles independently of the witness' own record.
    assert loser in winners("irv", witness.profile)
    assert loser not in winners("irv", witness.modified)
    # The modification only moved the loser up: every changed ballot keeps the
    # others' order and places the loser higher.
    changed = 0
    for before, after in zip(witness.profile.ballots, witness.modified.ballots, strict=True):
        assert isinstance(before, tuple) and isinstance(after, tuple)
        if before != after:
            changed += 1
            assert [c for c in before if c != loser] == [c for c in after if c != loser]
            assert after.index(loser) < before.index(loser)
    assert changed >= 1


def test_plurality_condorcet_failure_is_found_and_real() -> None:
    witness = find_violation("plurality", "condorcet_winner", **SEARCH)  # type: ignore[arg-type]
    assert witness is not None
    table = margins(witness.profile)
    names = witness.profile.candidates
    condorcet = [a for a in names if all(table[(a, b)] > 0 for b in names if b != a)]
    assert len(condorcet) == 1
    assert winners("plurality", witness.profile) != condorcet
    assert list(witness.winners) == winners("plurality", witness.profile)


def test_search_is_deterministic() -> None:
    first = find_violation("irv", "monotonicity", **SEARCH)  # type: ignore[arg-type]
    second = find_violation("irv", "monotonicity", **SEARCH)  # type: ignore[arg-type]
    assert first is not None and first == second


def test_witness_is_json_and_readable() -> None:
    witness = find_violation("plurality", CONDORCET_LOSER, **SEARCH)  # type: ignore[arg-type]
    assert witness is not None
    data = witness.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["axiom"] == "condorcet_loser"
    assert "plurality violates condorcet_loser" in str(witness)


class TestChecksOnHandMadeProfiles:
    def test_condorcet_winner(self) -> None:
        # b beats a 2:1 and c 2:1 but a has the most first choices.
        profile = Profile(("a", "b", "c"), (("a", "b", "c"), ("b", "c", "a"), ("c", "b", "a")))
        assert CONDORCET_WINNER.check("schulze", profile) is None
        witness = CONDORCET_WINNER.check("plurality", profile)
        assert isinstance(witness, Witness)
        assert "b is the Condorcet winner" in witness.reason
        assert witness.winners == ("a", "b", "c")

    def test_condorcet_loser(self) -> None:
        ballots = 3 * [("a", "b", "c")] + 2 * [("b", "c", "a")] + 2 * [("c", "b", "a")]
        profile = Profile(("a", "b", "c"), tuple(ballots))
        assert margins(profile)[("b", "a")] > 0 and margins(profile)[("c", "a")] > 0
        witness = CONDORCET_LOSER.check("plurality", profile)
        assert witness is not None and witness.winners == ("a",)
        assert CONDORCET_LOSER.check("borda", profile) is None

    def test_pareto(self) -> None:
        profile = Profile(("a", "b", "c"), (("a", "b", "c"), ("c", "a", "b")))
        assert PARETO.check("borda", profile) is None  # b is dominated by a and loses
        unanimous = Profile(("a", "b"), (("a", "b"), ("a", "b")))
        assert PARETO.check("irv", unanimous) is None

    def test_pareto_approval(self) -> None:
        profile = Profile(("a", "b"), (frozenset({"a", "b"}), frozenset({"a"})), BallotType.APPROVAL)
        assert PARETO.check("approval", profile) is None

    def test_monotonicity_no_violation_for_borda(self) -> None:
        profile = Profile(("a", "b", "c"), (("b", "a", "c"), ("a", "c", "b"), ("c", "b", "a")))
        assert MONOTONICITY.check("borda", profile) is None

    def test_classic_irv_monotonicity_failure(self) -> None:
        # 7 a>b>c, 5 b>c>a, 2 b>a>c, 6 c>a>b: c goes first, its ballots elect a 13:7.
        # Raise a to the top of the two b>a>c ballots: now b goes first and b>c>a
        # ballots elect c 11:9.
        ballots = (
            7 * [("a", "b", "c")] + 5 * [("b", "c", "a")] + 2 * [("b", "a", "c")] + 6 * [("c", "a", "b")]
        )
        profile = Profile(("a", "b", "c"), tuple(ballots))
        assert winners("irv", profile) == ["a"]
        raised = Profile(
            ("a", "b", "c"), tuple(b if b != ("b", "a", "c") else ("a", "b", "c") for b in ballots)
        )
        assert winners("irv", raised) == ["c"]
        witness = MONOTONICITY.check("irv", profile)
        assert witness is not None and witness.modified_winners is not None
        assert witness.winners == ("a",) and "a" not in witness.modified_winners


class TestArguments:
    def test_unknown_axiom(self) -> None:
        with pytest.raises(UnknownNameError) as caught:
            find_violation("borda", "clone_independence", **SEARCH)  # type: ignore[arg-type]
        assert caught.value.problems[0].path == "axiom"

    def test_axiom_must_apply_to_the_ballot_type(self) -> None:
        with pytest.raises(InputError) as caught:
            find_violation("approval", "condorcet_winner", **SEARCH)  # type: ignore[arg-type]
        assert caught.value.problems[0].path == "axiom"

    def test_profile_must_match_the_rule(self) -> None:
        profile = Profile(("a", "b"), (("a", "b"),))
        with pytest.raises(InputError) as caught:
            PARETO.check("approval", profile)
        assert caught.value.problems[0].path == "profile"

    @pytest.mark.parametrize(
        ("key", "value"), [("n_candidates", 0), ("n_voters", (5, 2)), ("seed", -1), ("n_profiles", 1.5)]
    )
    def test_bad_search_arguments(self, key: str, value: object) -> None:
        with pytest.raises(InputError) as caught:
            find_violation("borda", "pareto", **dict(SEARCH, **{key: value}))  # type: ignore[arg-type]
        assert caught.value.problems[0].path == key

    def test_profile_rejects_bad_ballots(self) -> None:
        with pytest.raises(InputError) as caught:
            Profile(("a", "b"), (("a", "b"), ("a", "z")))
        assert caught.value.problems[0].path == "ballots[1]"
        with pytest.raises(InputError):
            Profile(("a", "a"), ())

    def test_profile_from_array(self) -> None:
        profile = Profile.from_array(["a", "b", "c"], np.array([[2, 0, -1], [1, 0, 2]]))
        assert profile.ballots == (("c", "a"), ("b", "a", "c"))
        approvals = Profile.from_array(["a", "b"], np.array([[True, False], [True, True]]))
        assert approvals.ballot_type is BallotType.APPROVAL
        assert approvals.ballots == (frozenset({"a"}), frozenset({"a", "b"}))
