"""Approval ballots in the emergency vote (issue #16): the config, the ballot, the count, the populations.

The vote runs alone in a host (``World`` of the procedure tests) with ``rule = "approval"``;
each ballot approves a list of measures, the measure approved by most wins, and a tie is
broken by the vote's recorded tie rule, exactly as :func:`flagship.democracy.tally` breaks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from flagship.democracy import EmergencyVote, EmergencyVoteConfig, VoteReason, decide, tally
from flagship.democracy._decision_rule import approval_margins
from flagship.democracy._populations._electorate import VoteView, ballot_of
from flagship.mechanisms import Action, CommonReason
from flagship.mechanisms.events import BallotClosed, DecisionTaken, VoteConvened
from flagship.mechanisms.testing import check_conformance
from flagship.sandbox._runner import run
from flagship.sandbox._scenario import load_scenario
from tests.democracy.test_democracy_procedure import CANDIDATES, SHOCK, SMALL, World, electorate, reasons

REPO = Path(__file__).resolve().parents[2]
APPROVAL: dict[str, Any] = {"rule": "approval", "convening": "electorate"}


def approve(t: float, actor: str, approvals: Any, vote_id: str = "emergency_vote-vote-1") -> Action:
    return Action(t, actor, "ballot", {"vote_id": vote_id, "approvals": approvals})


def counted(world: World) -> BallotClosed:
    (closed,) = world.events(BallotClosed)
    return closed


# -- the config ---------------------------------------------------------------------------------------


def test_the_config_takes_approval_and_says_what_its_ballot_is() -> None:
    config = EmergencyVoteConfig(rule="approval")
    assert (config.ballot_type.value, config.ballot_field) == ("approval", "approvals")
    assert EmergencyVoteConfig().ballot_field == "ranking"
    with pytest.raises(ValidationError, match="expected a ranked or approval rule"):
        EmergencyVoteConfig(rule="referendum")  # a yes/no rule chooses among no measures


# -- the ballot ---------------------------------------------------------------------------------------


def test_approval_ballots_are_counted_and_bad_ones_refused_with_the_vote_codes() -> None:
    world = World(**APPROVAL)
    world.publish_at(SHOCK)
    out = world.feed([
        *electorate(5),
        approve(120.0, "v0", ["restrict", "monitor"]),
        approve(121.0, "v0", ["restrict"]),                        # SECOND_BALLOT
        approve(122.0, "v1", []),                                  # BALLOT_EMPTY
        approve(123.0, "v1", ["restrict", "ban_everything"]),      # BALLOT_UNKNOWN_CANDIDATE
        approve(124.0, "v1", ["monitor", "monitor"]),              # BALLOT_DUPLICATE_CANDIDATE
        approve(125.0, "v1", "restrict"),                          # BALLOT_MALFORMED (not a list)
        approve(126.0, "v1", [3]),                                 # BALLOT_MALFORMED (not a name)
        Action(127.0, "v1", "ballot", {"vote_id": "emergency_vote-vote-1", "ranking": ["monitor"]}),
        approve(128.0, "v1", ["monitor", "restrict"]),             # kept in candidate order
        approve(129.0, "v2", ["pause_deployment", "restrict"]),
        approve(130.0, "v3", ["monitor"]),
    ], until=300.0)
    assert reasons(out[5:]) == [
        None, VoteReason.SECOND_BALLOT, VoteReason.BALLOT_EMPTY, VoteReason.BALLOT_UNKNOWN_CANDIDATE,
        VoteReason.BALLOT_DUPLICATE_CANDIDATE, VoteReason.BALLOT_MALFORMED, VoteReason.BALLOT_MALFORMED,
        CommonReason.INVALID_PAYLOAD, None, None, None,
    ]
    assert out[7].detail == "approvals: approve at least one measure"  # the field, and what to do
    assert out[12].detail == "expected vote_id (text) and approvals"
    closed = counted(world)
    # restrict 3, monitor 3: a tie, broken by the recorded random draw of the tally seed.
    tally_view = closed.details["tally"]
    assert tally_view["details"] == {"kind": "scores", "label": "approvals", "scores": {
        "pause_deployment": 1, "restrict": 3, "monitor": 3, "no_action": 0}}
    assert tally_view["winners"] == ["restrict", "monitor"] and tally_view["tie_break"]["drawn"]
    ballots = [("restrict", "monitor"), ("restrict", "monitor"), ("pause_deployment", "restrict"),
               ("monitor",)]
    again = tally("approval", ballots, CANDIDATES, closed.tally_seed, tie_break="random")
    assert closed.winner == again.winner
    assert sorted(closed.record) == sorted(ballots)  # the anonymous record: approvals, candidate order
    assert closed.first_choice_won == {
        actor: closed.winner in ballot
        for actor, ballot in zip(["v0", "v1", "v2", "v3"], ballots, strict=True)}
    (decided,) = world.events(DecisionTaken)
    assert decided.measure == closed.winner


def test_a_tie_is_broken_by_the_recorded_lexicographic_rule() -> None:
    world = World(**APPROVAL, tie_break="lexicographic")
    world.publish_at(SHOCK)
    world.feed([*electorate(4), approve(120.0, "v0", ["monitor", "restrict"]),
                approve(121.0, "v1", ["monitor"]), approve(122.0, "v2", ["restrict"])], until=300.0)
    closed = counted(world)
    assert closed.details["tally"]["winners"] == ["restrict", "monitor"]  # candidate order
    assert closed.winner == "restrict"
    assert closed.details["tally"]["tie_break"] == {
        "policy": "lexicographic", "seed": closed.tally_seed, "tied": ["restrict", "monitor"], "drawn": True}


def test_a_threshold_needs_approval_without_the_status_quo() -> None:
    world = World(**APPROVAL, status_quo="no_action", thresholds={"pause_deployment": 0.6})
    world.publish_at(SHOCK)
    world.feed([*electorate(5),
                approve(120.0, "v0", ["pause_deployment", "no_action"]),  # approves both: no preference
                approve(121.0, "v1", ["pause_deployment", "no_action"]),
                approve(122.0, "v2", ["pause_deployment"]),
                approve(123.0, "v3", ["pause_deployment", "restrict"]),
                approve(124.0, "v4", ["restrict"])], until=300.0)
    closed = counted(world)
    # pause_deployment is approved by 4 of 5 but preferred to no_action by 2 of 5 < 60%: struck.
    assert closed.details["struck"] == ["pause_deployment"]
    assert closed.winner == "restrict"  # the recount: restrict 2, no_action 2, monitor 0 -> drawn
    assert closed.details["tally"]["winners"] == ["restrict", "no_action"]


def test_the_conformance_kit_passes_with_approval_ballots() -> None:
    script = [*electorate(5), approve(120.0, "v0", ["restrict"]), approve(121.0, "v1", []),
              approve(122.0, "v2", ["restrict", "monitor"]), approve(123.0, "v3", ["nope"])]
    report = check_conformance(EmergencyVote, {**SMALL, **APPROVAL}, script, seed=3, events=[SHOCK],
                               until=1000.0)
    assert {str(VoteReason.BALLOT_EMPTY), str(VoteReason.BALLOT_UNKNOWN_CANDIDATE)} <= report.reasons_seen


def test_approval_margins_are_differences_of_approval_counts() -> None:
    ballots = [["a", "b"], ["b"], ["c"], ["a"]]
    margins = approval_margins(ballots, ["a", "b", "c"])
    scores = [2, 2, 1]
    assert margins.tolist() == [[scores[i] - scores[j] for j in range(3)] for i in range(3)]


# -- the rule's property: more approval never hurts the winner ----------------------------------------

names = st.sampled_from(CANDIDATES)
approval_ballots = st.lists(st.lists(names, min_size=1, max_size=4, unique=True), min_size=1, max_size=25)


@settings(max_examples=300, deadline=None)
@given(ballots=approval_ballots, seed=st.integers(0, 2**32 - 1), tie_break=st.sampled_from(["random",
                                                                                           "lexicographic"]),
       voter=st.integers(0, 24), threshold=st.sampled_from([None, 0.3, 0.6]))
def test_adding_an_approval_for_the_winner_never_makes_it_lose(
        ballots: list[list[str]], seed: int, tie_break: str, voter: int, threshold: float | None) -> None:
    thresholds = {} if threshold is None else {"pause_deployment": threshold}
    before = decide("approval", ballots, CANDIDATES, seed=seed, tie_break=tie_break, status_quo="no_action",
                    thresholds=thresholds)
    assert before is not None
    winner = before.measure
    changed = [list(b) for b in ballots]
    target = changed[voter % len(changed)]
    if winner not in target:
        target.append(winner)
    after = decide("approval", changed, CANDIDATES, seed=seed, tie_break=tie_break, status_quo="no_action",
                   thresholds=thresholds)
    assert after is not None and after.measure == winner


# -- the voter populations ----------------------------------------------------------------------------


def view(rule: str, status_quo: str | None = "no_action") -> VoteView:
    event = VoteConvened(time=0.0, source="emergency_vote", vote_id="v", purpose="incident", incident_ids=(),
                         severity=0.9, candidates=tuple(CANDIDATES), rule=rule, tie_break="random",
                         mode="electorate", members=(), strata=(), draw_seed=None, ballot_opens=0.0,
                         ballot_closes=1.0, quorum=0.5, status_quo=status_quo)
    return VoteView(event, [])


@pytest.mark.parametrize(("ranking", "status_quo", "expected"), [
    (["restrict", "pause_deployment", "no_action", "monitor"], "no_action", ["pause_deployment", "restrict"]),
    (["no_action", "restrict", "monitor", "pause_deployment"], "no_action", ["no_action"]),
    (["monitor"], "no_action", ["monitor"]),  # a truncated ranking leaves the status quo below
    (["monitor", "restrict", "no_action", "pause_deployment"], None, ["restrict", "monitor"]),  # upper half
])
def test_a_voter_approves_what_it_ranks_above_the_status_quo(
        ranking: list[str], status_quo: str | None, expected: list[str]) -> None:
    assert ballot_of(view("approval", status_quo).event, ranking) == expected
    assert ballot_of(view("schulze", status_quo).event, ranking) == ranking


def test_the_example_runs_with_approval_ballots_and_no_honest_ballot_refused_as_malformed() -> None:
    resolved = load_scenario(REPO / "examples" / "emergency_vote.toml",
                             ['mechanisms.emergency_vote.rule="approval"'])
    result = run(resolved.with_arm("no_deliberation"), 21)
    measures = result.measures()
    assert result.events.get("DecisionTaken", 0) >= 1
    assert measures["emergency_vote.quorum_met"] == 1.0
    assert measures["citizens.panel_fidelity"] is not None
    assert measures["coalition.strategic_success_rate"] is not None
    assert result.telemetry is not None
    counters = result.telemetry.counters
    assert counters["citizens.ballots_accepted"] > 0
    refused = ("INVALID_PAYLOAD", "BALLOT_MALFORMED", "BALLOT_EMPTY", "BALLOT_UNKNOWN", "BALLOT_DUPLICATE")
    assert not [key for key in counters if any(code in key for code in refused)]  # late ones, at most
