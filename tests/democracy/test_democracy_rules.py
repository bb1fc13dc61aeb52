"""Behaviour of democracy.tally: rules on known profiles, ballots, tie-breaks, results."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from flagship.democracy import (
    BallotReason,
    BallotType,
    PairwiseDetails,
    Property,
    RoundsDetails,
    ScoreDetails,
    TieBreakPolicy,
    get_rule,
    referendum,
    rules,
    tally,
    validate_ballot,
    voting_rule,
)
from flagship.mechanisms._errors import ContractError, FlagshipError, InputError, UnknownNameError

RANKED_RULES = ["plurality", "borda", "irv", "schulze", "ranked_pairs", "copeland", "minimax"]


def expand(groups: list[tuple[int, list[str]]]) -> list[list[str]]:
    """[(count, ballot), ...] -> the ballots, each repeated count times."""
    return [list(ballot) for count, ballot in groups for _ in range(count)]


# Wikipedia's Schulze example (45 voters, winner E).
SCHULZE_WIKI = expand(
    [
        (5, list("ACBED")),
        (5, list("ADECB")),
        (8, list("BEDAC")),
        (3, list("CABED")),
        (7, list("CAEBD")),
        (2, list("CBADE")),
        (7, list("DCEBA")),
        (8, list("EBADC")),
    ]
)

# The Tennessee capital example: Nashville is the Condorcet winner, Memphis has
# the most first choices, Knoxville wins instant runoff.
TENNESSEE = ["Memphis", "Nashville", "Chattanooga", "Knoxville"]
TENNESSEE_BALLOTS = expand(
    [
        (42, ["Memphis", "Nashville", "Chattanooga", "Knoxville"]),
        (26, ["Nashville", "Chattanooga", "Knoxville", "Memphis"]),
        (15, ["Chattanooga", "Knoxville", "Nashville", "Memphis"]),
        (17, ["Knoxville", "Chattanooga", "Nashville", "Memphis"]),
    ]
)


class TestKnownProfiles:
    def test_tennessee_each_rule(self) -> None:
        expected = {
            "plurality": ["Memphis"],
            "borda": ["Nashville"],
            "irv": ["Knoxville"],
            "schulze": ["Nashville"],
            "ranked_pairs": ["Nashville"],
            "copeland": ["Nashville"],
            "minimax": ["Nashville"],
        }
        for rule, winners in expected.items():
            result = tally(rule, TENNESSEE_BALLOTS, TENNESSEE)
            assert result.winners == winners, rule
            assert result.winner == winners[0]
            assert result.counted == 100

    def test_tennessee_scores(self) -> None:
        plurality = tally("plurality", TENNESSEE_BALLOTS, TENNESSEE).details
        assert isinstance(plurality, ScoreDetails)
        assert plurality.scores == {"Memphis": 42, "Nashville": 26, "Chattanooga": 15, "Knoxville": 17}
        borda = tally("borda", TENNESSEE_BALLOTS, TENNESSEE).details
        assert isinstance(borda, ScoreDetails)
        assert borda.scores == {"Memphis": 126, "Nashville": 194, "Chattanooga": 173, "Knoxville": 107}

    def test_tennessee_irv_rounds(self) -> None:
        details = tally("irv", TENNESSEE_BALLOTS, TENNESSEE).details
        assert isinstance(details, RoundsDetails)
        assert [r.eliminated for r in details.rounds] == [("Chattanooga",), ("Nashville",), ()]
        assert details.rounds[1].counts == {"Memphis": 42, "Nashville": 26, "Knoxville": 32}
        assert details.rounds[2].counts == {"Memphis": 42, "Knoxville": 58}
        assert details.ended == "majority"

    def test_schulze_wikipedia(self) -> None:
        result = tally("schulze", SCHULZE_WIKI, list("ABCDE"))
        assert result.winners == ["E"]
        details = result.details
        assert isinstance(details, PairwiseDetails)
        assert details.strongest_paths is not None
        # Wikipedia's strongest paths in winning votes p; with complete ballots the
        # margin path strength is 2p - 45.
        wiki = [
            [0, 28, 28, 30, 24],
            [25, 0, 28, 33, 24],
            [25, 29, 0, 29, 24],
            [25, 28, 28, 0, 24],
            [25, 28, 28, 31, 0],
        ]
        expected = [[0 if i == j else 2 * p - 45 for j, p in enumerate(row)] for i, row in enumerate(wiki)]
        assert [list(row) for row in details.strongest_paths] == expected
        assert details.condorcet_winner is None

    def test_margins_matrix(self) -> None:
        details = tally("copeland", SCHULZE_WIKI, list("ABCDE")).details
        assert isinstance(details, PairwiseDetails)
        assert details.margins[0][1] == 20 - 25  # A over B: 20 voters, B over A: 25
        assert all(details.margins[i][j] == -details.margins[j][i] for i in range(5) for j in range(5))

    def test_ranked_pairs_locks_by_margin(self) -> None:
        # 6 abc, 4 bca, 5 cab: a>b by 7 and b>c by 5 are locked; c>a by 3 would close
        # a cycle and is skipped.
        ballots = expand([(6, ["a", "b", "c"]), (4, ["b", "c", "a"]), (5, ["c", "a", "b"])])
        result = tally("ranked_pairs", ballots, ["a", "b", "c"])
        details = result.details
        assert isinstance(details, PairwiseDetails)
        assert (details.margins[0][1], details.margins[1][2], details.margins[2][0]) == (7, 5, 3)
        assert result.winners == ["a"]
        assert details.locked == (("a", "b", 7), ("b", "c", 5))
        assert "Locked in by decreasing margin: a>b (7), b>c (5)." in result.explain()

    def test_symmetric_cycle_makes_everyone_a_co_winner(self) -> None:
        cycle = [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
        for rule in RANKED_RULES:
            assert tally(rule, cycle, ["a", "b", "c"]).winners == ["a", "b", "c"], rule

    def test_ranked_pairs_co_winners_from_equal_margins(self) -> None:
        # a>b, b>c, c>a all by 1 and d last everywhere: whichever of the three cycle
        # edges is locked last is skipped, so a, b and c each win under some order.
        ballots = [["a", "b", "c", "d"], ["b", "c", "a", "d"], ["c", "a", "b", "d"]]
        assert tally("ranked_pairs", ballots, ["a", "b", "c", "d"]).winners == ["a", "b", "c"]

    def test_minimax_scores_largest_defeat(self) -> None:
        details = tally("minimax", SCHULZE_WIKI, list("ABCDE")).details
        assert isinstance(details, PairwiseDetails)
        assert details.scores is not None
        margins = np.array(details.margins)
        assert details.scores == {n: int(max(0, margins[:, i].max())) for i, n in enumerate("ABCDE")}

    def test_copeland_scores_wins_minus_losses(self) -> None:
        details = tally("copeland", TENNESSEE_BALLOTS, TENNESSEE).details
        assert isinstance(details, PairwiseDetails)
        assert details.scores == {"Memphis": -3, "Nashville": 3, "Chattanooga": 1, "Knoxville": -1}
        assert details.condorcet_winner == "Nashville"

    def test_irv_eliminates_all_tied_lowest_at_once(self) -> None:
        ballots = expand([(4, ["a", "b", "c"]), (3, ["b", "c", "a"]), (3, ["c", "b", "a"])])
        details = tally("irv", ballots, ["a", "b", "c"]).details
        assert isinstance(details, RoundsDetails)
        assert details.rounds[0].eliminated == ("b", "c")
        assert tally("irv", ballots, ["a", "b", "c"]).winners == ["a"]

    def test_irv_all_tied_are_co_winners(self) -> None:
        result = tally("irv", [["a", "b"], ["b", "a"]], ["a", "b", "c"])
        details = result.details
        assert isinstance(details, RoundsDetails)
        assert details.rounds[0].eliminated == ("c",)
        assert result.winners == ["a", "b"]
        assert details.ended == "all_tied"

    def test_irv_exhausted_ballots(self) -> None:
        ballots = expand([(3, ["a"]), (2, ["b", "c"]), (2, ["c"]), (1, ["d", "c"])])
        result = tally("irv", ballots, ["a", "b", "c", "d"])
        details = result.details
        assert isinstance(details, RoundsDetails)
        # d out (d's ballot moves to c), then b out (to c): c 5 vs a 3.
        assert [r.eliminated for r in details.rounds] == [("d",), ("b",), ()]
        assert details.rounds[-1].counts == {"a": 3, "c": 5}
        assert result.winners == ["c"]
        # 3 a, 2 b, 2 c>b: b and c tie for fewest and go together, leaving a.
        tied = tally("irv", expand([(3, ["a"]), (2, ["b"]), (2, ["c", "b"])]), ["a", "b", "c"])
        rounds = tied.details
        assert isinstance(rounds, RoundsDetails)
        assert rounds.rounds[0].eliminated == ("b", "c")
        assert tied.winners == ["a"]


class TestTruncatedBallots:
    def test_borda_convention(self) -> None:
        # m = 3: a ranked first gets 2, second 1; unranked 0.
        details = tally("borda", [["a", "b"], ["b"], ["c", "a", "b"]], ["a", "b", "c"]).details
        assert isinstance(details, ScoreDetails)
        assert details.scores == {"a": 2 + 0 + 1, "b": 1 + 2 + 0, "c": 0 + 0 + 2}

    def test_borda_truncating_the_last_place_changes_nothing(self) -> None:
        full = tally("borda", [["a", "b", "c"], ["c", "b", "a"]], ["a", "b", "c"]).details
        cut = tally("borda", [["a", "b"], ["c", "b"]], ["a", "b", "c"]).details
        assert full == cut

    def test_unranked_tied_below_ranked_in_pairwise(self) -> None:
        details = tally("copeland", [["a"], ["b", "a"], ["c"]], ["a", "b", "c"]).details
        assert isinstance(details, PairwiseDetails)
        # a over b: ballot 1 (b unranked); b over a: ballot 2; c unranked on 1 and 2.
        assert details.margins[0][1] == 0
        assert details.margins[0][2] == 2 - 1
        assert details.margins[1][2] == 1 - 1

    def test_plurality_counts_first_choices(self) -> None:
        result = tally("plurality", [["a"], ["b", "a"], ["b"]], ["a", "b"])
        assert result.winners == ["b"]


class TestBallotValidation:
    CANDIDATES = ("a", "b", "c")

    @pytest.mark.parametrize(
        ("ballot", "reason"),
        [
            (["a", "b"], None),
            (("c",), None),
            (["a", "x"], BallotReason.UNKNOWN_CANDIDATE),
            (["a", "b", "a"], BallotReason.DUPLICATE_CANDIDATE),
            ([], BallotReason.EMPTY),
            ("abc", BallotReason.MALFORMED),
            ({"a", "b"}, BallotReason.MALFORMED),
            (["a", 1], BallotReason.MALFORMED),
            (None, BallotReason.MALFORMED),
            (np.array([0, 2, -1]), None),
            (np.array([0, 3]), BallotReason.INDEX_OUT_OF_RANGE),
            (np.array([-1, 0]), BallotReason.BLANK_BEFORE_RANKED),
            (np.array([-1, -1]), BallotReason.EMPTY),
            (np.array([1, 1]), BallotReason.DUPLICATE_CANDIDATE),
            (np.array([0.0, 1.0]), BallotReason.MALFORMED),
        ],
    )
    def test_ranked(self, ballot: object, reason: BallotReason | None) -> None:
        assert validate_ballot(ballot, self.CANDIDATES, "ranked") == reason

    @pytest.mark.parametrize(
        ("ballot", "reason"),
        [
            ({"a", "c"}, None),
            (frozenset({"b"}), None),
            (["a", "b"], None),
            (set(), BallotReason.EMPTY),
            ({"a", "z"}, BallotReason.UNKNOWN_CANDIDATE),
            (["a", "a"], BallotReason.DUPLICATE_CANDIDATE),
            ("a", BallotReason.MALFORMED),
        ],
    )
    def test_approval(self, ballot: object, reason: BallotReason | None) -> None:
        assert validate_ballot(ballot, self.CANDIDATES, BallotType.APPROVAL) == reason

    @pytest.mark.parametrize(
        ("ballot", "reason"),
        [
            ("yes", None),
            ("no", None),
            ("abstain", None),
            ("maybe", BallotReason.UNKNOWN_CHOICE),
            (1, BallotReason.MALFORMED),
        ],
    )
    def test_yes_no(self, ballot: object, reason: BallotReason | None) -> None:
        assert validate_ballot(ballot, ("yes", "no"), "yes_no") == reason

    def test_reason_codes_are_a_closed_set(self) -> None:
        assert {r.value for r in BallotReason} == {
            "malformed",
            "index_out_of_range",
            "blank_before_ranked",
            "empty",
            "unknown_candidate",
            "duplicate_candidate",
            "unknown_choice",
        }

    def test_bad_ballot_type_is_an_input_error(self) -> None:
        with pytest.raises(InputError) as caught:
            validate_ballot(["a"], self.CANDIDATES, "ranking")
        assert caught.value.problems[0].path == "ballot_type"

    def test_tally_counts_valid_and_reports_rejected(self) -> None:
        ballots = [["a", "b"], ["x"], [], ["b", "b"], ["b"], "ab", ["c", "a", "b"]]
        result = tally("plurality", ballots, self.CANDIDATES)
        assert result.counted == 3
        assert [(r.index, r.reason) for r in result.rejected] == [
            (1, BallotReason.UNKNOWN_CANDIDATE),
            (2, BallotReason.EMPTY),
            (3, BallotReason.DUPLICATE_CANDIDATE),
            (5, BallotReason.MALFORMED),
        ]
        assert result.rejected_by_reason() == {
            "unknown_candidate": 1,
            "empty": 1,
            "duplicate_candidate": 1,
            "malformed": 1,
        }

    def test_array_rejections_match_validate_ballot(self) -> None:
        rng = np.random.default_rng(5)
        rows = np.argsort(rng.random((400, 4)), axis=1)
        rows[rng.random((400, 4)) < 0.08] = -1
        rows[rng.random((400, 4)) < 0.03] = 7
        rows[rng.random((400, 4)) < 0.03] = -3
        rows[::17, 1] = rows[::17, 0]
        rows[3] = -1
        candidates = ["a", "b", "c", "d"]
        result = tally("borda", rows, candidates)
        expected = [(i, validate_ballot(row, candidates, "ranked")) for i, row in enumerate(rows)]
        assert [(r.index, r.reason) for r in result.rejected] == [(i, why) for i, why in expected if why]
        assert result.counted == sum(1 for _, why in expected if why is None)
        assert {r.reason for r in result.rejected} == set(BallotReason) - {
            BallotReason.MALFORMED,
            BallotReason.UNKNOWN_CANDIDATE,
            BallotReason.UNKNOWN_CHOICE,
        }

    @pytest.mark.parametrize("m", [3, 6, 10])
    def test_large_complete_array_with_duplicates(self, m: int) -> None:
        # Large, blank-free arrays take the multi-digit lookup-table validation.
        rng = np.random.default_rng(m)
        rows = np.argsort(rng.random((20_000, m)), axis=1)
        bad = rng.choice(20_000, size=300, replace=False)
        rows[bad, -1] = rows[bad, 0]
        candidates = [f"k{i}" for i in range(m)]
        result = tally("plurality", rows, candidates)
        assert [r.index for r in result.rejected] == sorted(bad.tolist())
        assert {r.reason for r in result.rejected} == {BallotReason.DUPLICATE_CANDIDATE}
        assert result.counted == 20_000 - 300
        valid = np.delete(rows, bad, axis=0)
        details = result.details
        assert isinstance(details, ScoreDetails)
        assert list(details.scores.values()) == np.bincount(valid[:, 0], minlength=m).tolist()

    def test_array_and_names_give_the_same_result(self) -> None:
        rng = np.random.default_rng(11)
        candidates = ["a", "b", "c", "d", "e"]
        rows = np.argsort(rng.random((300, 5)), axis=1)
        lengths = rng.integers(1, 6, size=300)
        for r, length in enumerate(lengths):
            rows[r, length:] = -1
        names = [[candidates[c] for c in row if c >= 0] for row in rows]
        for rule in RANKED_RULES:
            from_array = tally(rule, rows, candidates, seed=3)
            from_names = tally(rule, names, candidates, seed=3)
            assert from_array.to_dict() == from_names.to_dict(), rule

    def test_wide_array_with_blank_padding(self) -> None:
        rows = np.array([[0, 1, -1, -1, -1, -1], [1, -1, -1, -1, -1, -1], [1, 0, -1, -1, -1, -1]])
        result = tally("borda", rows, ["a", "b"])
        assert result.counted == 3
        assert result.winners == ["b"]
        assert tally("borda", rows[:, :2], ["a", "b"]).to_dict() == result.to_dict()

    def test_many_candidates_use_the_row_fallback(self) -> None:
        # 20 candidates x 20 positions do not fit one int64 key.
        rng = np.random.default_rng(2)
        candidates = [f"k{i}" for i in range(20)]
        rows = np.argsort(rng.random((60, 20)), axis=1)
        rows[0, 3] = rows[0, 2]
        names = [[candidates[c] for c in row] for row in rows]
        for rule in ("plurality", "irv", "schulze"):
            from_array = tally(rule, rows, candidates)
            assert from_array.to_dict() == tally(rule, names, candidates).to_dict()
            assert [(r.index, r.reason) for r in from_array.rejected] == [
                (0, BallotReason.DUPLICATE_CANDIDATE)
            ]

    def test_identical_ballots_are_aggregated(self) -> None:
        rows = np.array([[0, 1, 2]] * 50 + [[2, 1, 0]] * 30 + [[1, 0, 2]] * 20)
        result = tally("schulze", rows, ["a", "b", "c"])
        assert result.counted == 100
        # a and b tie 50:50 and both beat c 70:30: neither has a beat path to the other.
        assert result.winners == ["a", "b"]

    def test_no_valid_ballots_everyone_ties(self) -> None:
        for rule in RANKED_RULES:
            result = tally(rule, [["z"], []], ["a", "b"], tie_break="lexicographic")
            assert result.counted == 0
            assert result.winners == ["a", "b"]
            assert result.winner == "a"


class TestArguments:
    def test_unknown_rule(self) -> None:
        with pytest.raises(UnknownNameError) as caught:
            tally("condorcet", [["a"]], ["a"])
        assert caught.value.problems[0].path == "rule"
        assert "condorcet" in str(caught.value)

    @pytest.mark.parametrize("candidates", [[], "abc", ["a", "b", "a"], ["a", 2], None])
    def test_bad_candidates(self, candidates: object) -> None:
        with pytest.raises(InputError) as caught:
            tally("plurality", [["a"]], candidates)
        assert caught.value.problems[0].path.startswith("candidates")

    def test_duplicate_candidate_names_are_named(self) -> None:
        with pytest.raises(InputError, match="duplicate candidate name 'a'"):
            tally("borda", [["a"]], ["a", "b", "a"])

    @pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
    def test_bad_seed(self, seed: object) -> None:
        with pytest.raises(InputError) as caught:
            tally("plurality", [["a"]], ["a"], seed=seed)  # type: ignore[arg-type]
        assert caught.value.problems[0].path == "seed"

    def test_bad_tie_break(self) -> None:
        with pytest.raises(InputError) as caught:
            tally("plurality", [["a"]], ["a"], tie_break="coin")
        assert caught.value.problems[0].path == "tie_break"

    def test_options_only_for_the_referendum(self) -> None:
        with pytest.raises(InputError) as caught:
            tally("borda", [["a"]], ["a"], options={"quorum": 0.5})
        assert caught.value.problems[0].path == "options"
        with pytest.raises(InputError):
            tally("referendum", ["yes"], ("yes", "no"), options={"quorom": 0.5})

    @pytest.mark.parametrize(
        "ballots", [np.array([0.0, 1.0]), np.array([[0.5, 1.0]]), np.array([0, 1]), "ab", 3]
    )
    def test_bad_ballots_argument(self, ballots: object) -> None:
        with pytest.raises(InputError) as caught:
            tally("irv", ballots, ["a", "b"])
        assert caught.value.problems[0].path == "ballots"

    def test_errors_are_flagship_errors(self) -> None:
        with pytest.raises(FlagshipError):
            tally("nope", [], ["a"])


class TestTieBreak:
    BALLOTS = [["a", "b"], ["b", "a"]]

    def test_single_winner_no_draw(self) -> None:
        result = tally("plurality", [["a"], ["a"], ["b"]], ["a", "b"], seed=9)
        assert result.winners == ["a"]
        assert result.tie_break.drawn is False
        assert result.tie_break.seed == 9

    def test_lexicographic_is_candidates_order(self) -> None:
        result = tally("plurality", self.BALLOTS, ["b", "a"], tie_break="lexicographic")
        assert result.winners == ["b", "a"]
        assert result.winner == "b"
        assert result.tie_break.policy is TieBreakPolicy.LEXICOGRAPHIC
        assert result.tie_break.drawn is True

    def test_random_is_reproducible_and_seeded(self) -> None:
        winners = {seed: tally("plurality", self.BALLOTS, ["a", "b"], seed=seed).winner for seed in range(40)}
        assert set(winners.values()) == {"a", "b"}
        for seed, winner in winners.items():
            assert tally("plurality", self.BALLOTS, ["a", "b"], seed=seed).winner == winner
            rng = np.random.default_rng(np.random.SeedSequence(seed))
            assert winner == ["a", "b"][int(rng.integers(2))]

    def test_recorded(self) -> None:
        result = tally("copeland", self.BALLOTS, ["a", "b"], seed=4)
        assert result.tie_break.to_dict() == {
            "policy": "random",
            "seed": 4,
            "tied": ["a", "b"],
            "drawn": True,
        }
        assert "random draw (seed 4)" in result.explain()


class TestResult:
    def test_to_dict_is_json(self) -> None:
        for rule in RANKED_RULES:
            result = tally(rule, [*TENNESSEE_BALLOTS, ["Paris"]], TENNESSEE)
            data = result.to_dict()
            assert json.loads(json.dumps(data)) == data
            assert data["winners"] == result.winners
            assert data["rejected"] == [{"index": 100, "reason": "unknown_candidate"}]
            assert data["counted"] == 100

    def test_explain_names_the_outcome(self) -> None:
        text = tally("irv", [*TENNESSEE_BALLOTS, []], TENNESSEE).explain()
        assert text.startswith("Instant runoff: 100 ballots counted, 1 rejected (1 empty).")
        assert "Chattanooga is eliminated" in text
        assert "Knoxville holds a majority" in text
        text = tally("schulze", SCHULZE_WIKI, list("ABCDE")).explain()
        assert "E is unbeaten" in text and "E wins" in text
        text = tally("borda", TENNESSEE_BALLOTS, TENNESSEE).explain()
        assert "Nashville has the most Borda points (194)" in text

    def test_winners_in_candidates_order(self) -> None:
        result = tally("plurality", [["c"], ["a"]], ["c", "b", "a"])
        assert result.winners == ["c", "a"]


class TestApproval:
    def test_counts_approvals(self) -> None:
        result = tally("approval", [{"a", "b"}, {"b"}, {"c", "b"}, {"a"}], ["a", "b", "c"])
        assert result.winners == ["b"]
        details = result.details
        assert isinstance(details, ScoreDetails)
        assert details.scores == {"a": 2, "b": 3, "c": 1}

    def test_boolean_array(self) -> None:
        rows = np.array([[True, False, True], [False, False, False], [True, True, False]])
        result = tally("approval", rows, ["a", "b", "c"])
        assert result.winners == ["a"]
        assert [(r.index, r.reason) for r in result.rejected] == [(1, BallotReason.EMPTY)]


class TestReferendum:
    def test_simple_majority(self) -> None:
        assert referendum(51, 49).winner == "yes"
        tie = referendum(50, 50)
        assert tie.winner == "no" and tie.winners == ["no"]
        assert tie.tie_break.drawn is False

    def test_supermajority_strict_and_inclusive(self) -> None:
        assert referendum(66, 34, supermajority=Fraction(2, 3)).winner == "no"
        assert referendum(200, 100, supermajority=Fraction(2, 3)).winner == "no"
        assert referendum(200, 100, supermajority=Fraction(2, 3), inclusive=True).winner == "yes"
        # a float is read as the nearest small fraction: 0.6666... means two thirds
        assert referendum(200, 100, supermajority=2 / 3, inclusive=True).winner == "yes"

    def test_quorum_counts_abstentions(self) -> None:
        assert referendum(30, 10, 10, electorate=100, quorum=0.5).winner == "yes"
        failed = referendum(30, 10, 9, electorate=100, quorum=0.5)
        assert failed.winner == "no"
        data = failed.to_dict()["details"]
        assert isinstance(data, dict)
        assert data["quorum_met"] is False and data["threshold_met"] is True
        assert "quorum of 50.0% turnout is not met" in failed.explain()

    def test_abstentions_do_not_count_towards_the_share(self) -> None:
        assert referendum(3, 2, 100).winner == "yes"
        assert referendum(0, 0, 5).winner == "no"

    @pytest.mark.parametrize(
        ("kwargs", "path"),
        [
            ({"yes": -1, "no": 0}, "yes"),
            ({"yes": 1, "no": 1, "quorum": 0.5}, "electorate"),
            ({"yes": 5, "no": 5, "electorate": 3}, "electorate"),
            ({"yes": 1, "no": 1, "supermajority": 1}, "supermajority"),
            ({"yes": 1, "no": 1, "electorate": 5, "quorum": 1.5}, "quorum"),
            ({"yes": 1, "no": 1, "supermajority": float("nan")}, "supermajority"),
            ({"yes": 1, "no": 1, "inclusive": "yes"}, "inclusive"),
            ({"yes": 1.0, "no": 1}, "yes"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, object], path: str) -> None:
        with pytest.raises(InputError) as caught:
            referendum(**kwargs)  # type: ignore[arg-type]
        assert caught.value.problems[0].path == path

    def test_via_tally(self) -> None:
        ballots = ["yes", "no", "yes", "abstain", "maybe", 3]
        result = tally(
            "referendum", ballots, ("yes", "no"), options={"electorate": 10, "quorum": Fraction(1, 2)}
        )
        assert result.winner == "no"  # 4 of 10 voted: quorum not met
        assert result.counted == 4
        assert [(r.index, r.reason) for r in result.rejected] == [
            (4, BallotReason.UNKNOWN_CHOICE),
            (5, BallotReason.MALFORMED),
        ]
        with pytest.raises(InputError) as caught:
            tally("referendum", ["yes"], ("a", "b"))
        assert caught.value.problems[0].path == "candidates"


class TestRegistry:
    def test_all_rules_registered(self) -> None:
        assert set(rules()) == {*RANKED_RULES, "approval", "referendum"}
        assert get_rule("approval").ballot_type is BallotType.APPROVAL
        assert get_rule("referendum").ballot_type is BallotType.YES_NO
        assert all(get_rule(rule).ballot_type is BallotType.RANKED for rule in RANKED_RULES)

    def test_claims(self) -> None:
        assert get_rule("schulze").properties == frozenset(Property)
        assert not get_rule("irv").claims(Property.MONOTONICITY)
        assert get_rule("irv").claims("pareto")
        assert not get_rule("minimax").claims(Property.CONDORCET_LOSER)
        assert get_rule("borda").summary.startswith("Most Borda points")

    def test_registering_a_name_twice_is_a_contract_error(self) -> None:
        with pytest.raises(ContractError):
            voting_rule("plurality", ballot_type="ranked", title="again")(lambda profile: profile)

    def test_registry_is_read_only(self) -> None:
        with pytest.raises(TypeError):
            rules()["mine"] = get_rule("borda")  # type: ignore[index]

    def test_tally_accepts_rule_info(self) -> None:
        result = tally(get_rule("borda"), TENNESSEE_BALLOTS, TENNESSEE)
        assert result.rule == "borda"
