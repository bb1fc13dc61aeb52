"""Electorates of the emergency vote: sortition, the opinion model, and the voter populations."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from flagship.democracy import EmergencyVote, EmergencyVoteConfig
from flagship.democracy._deliberation import deliberate, initial_opinions, position_scores, rankings_of
from flagship.democracy._populations import (
    Citizens,
    CitizensParams,
    CoalitionParams,
    StrategicCoalition,
    SybilParams,
    Sybils,
    mallows_around,
)
from flagship.democracy._sortition import allocate, stratified_draw, total_variation
from flagship.mechanisms import Arrival, ContractError, Population
from flagship.mechanisms.events import DecisionTaken, VoteConvened
from flagship.sandbox._host import Host, action_rows, log_digest
from flagship.sandbox._runner import run
from flagship.sandbox._scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
VOTE = "emergency_vote"
NONE = Arrival(process="none")
INFORMED = ["restrict", "monitor", "pause_deployment", "no_action"]
PANIC = ["pause_deployment", "restrict", "monitor", "no_action"]


# -- sortition --------------------------------------------------------------------------------------


cells_strategy = st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("xy")), min_size=1, max_size=120)


@settings(max_examples=150, deadline=None)
@given(cells=cells_strategy, size=st.integers(0, 150), seed=st.integers(0, 2**32 - 1))
def test_stratified_draw_is_proportional_by_largest_remainder(cells: list[tuple[str, str]], size: int,
                                                              seed: int) -> None:
    draw = stratified_draw(cells, size, np.random.default_rng(seed))
    n = len(cells)
    assert len(draw.members) == len(set(draw.members)) == min(size, n)
    assert list(draw.members) == sorted(draw.members)
    counts = Counter(cells)
    drawn = Counter(cells[i] for i in draw.members)
    for cell, count in counts.items():
        quota = min(size, n) * count / n
        assert math.floor(quota) <= drawn[cell] <= math.ceil(quota), (cell, quota, drawn[cell])
        assert drawn[cell] == draw.seats.get(cell, 0)


@settings(max_examples=100, deadline=None)
@given(counts=st.dictionaries(st.text("abcd", min_size=1, max_size=2), st.integers(1, 40), min_size=1),
       size=st.integers(0, 200))
def test_allocate_hands_out_exactly_the_seats(counts: dict[str, int], size: int) -> None:
    seats = allocate(counts, size, np.random.default_rng(0))
    assert sum(seats.values()) == min(size, sum(counts.values()))
    assert all(0 <= seats[c] <= counts[c] for c in counts)


def test_a_draw_is_a_function_of_its_seed() -> None:
    cells = [("north",), ("south",), ("east",)] * 20
    first = stratified_draw(cells, 9, np.random.default_rng(42))
    assert stratified_draw(cells, 9, np.random.default_rng(42)) == first
    assert any(stratified_draw(cells, 9, np.random.default_rng(s)).members != first.members
               for s in range(5))
    assert first.seats == {("east",): 3, ("north",): 3, ("south",): 3}


def test_equal_remainders_are_not_always_won_by_the_same_cell() -> None:
    cells = [("a",), ("b",), ("c",)]
    winners = {next(iter(stratified_draw(cells, 1, np.random.default_rng(s)).seats)) for s in range(30)}
    assert winners == {("a",), ("b",), ("c",)}


def test_total_variation_distance() -> None:
    assert total_variation(["a", "b"], ["b", "a", "a", "b"]) == 0.0
    assert total_variation(["a"], ["b"]) == 1.0
    assert total_variation(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(0.25)
    assert total_variation([], ["a"]) is None


# -- the opinion model ------------------------------------------------------------------------------


def test_position_scores_and_rankings_round_trip() -> None:
    rankings = np.array([[2, 0, 1], [0, 1, 2]], dtype=np.int64)
    scores = position_scores(rankings, 3)
    assert scores.tolist() == [[0.5, 0.0, 1.0], [1.0, 0.5, 0.0]]
    assert rankings_of(scores).tolist() == rankings.tolist()


def opinions(seed: int = 0, n: int = 20) -> tuple[Any, Any, Any]:
    rng = np.random.default_rng(seed)
    informed = position_scores(np.argsort(rng.random((n, 4)), axis=1), 4)
    kappa = rng.uniform(0.1, 0.9, n)
    prior = position_scores(np.array([[0, 1, 2, 3]]), 4)[0]
    return initial_opinions(informed, kappa, prior, 0.2, rng), informed, kappa


def test_learning_moves_opinions_toward_the_informed_ones_in_closed_form() -> None:
    current, informed, kappa = opinions()
    stepwise = (current, kappa)
    for _ in range(5):
        stepwise = deliberate(stepwise[0], informed, stepwise[1], 0.2, "learning")
    at_once = deliberate(current, informed, kappa, 0.2, "learning", rounds=5)
    np.testing.assert_allclose(stepwise[0], at_once[0])
    np.testing.assert_allclose(stepwise[1], at_once[1])
    before = np.abs(current - informed).sum()
    assert np.abs(at_once[0] - informed).sum() == pytest.approx(before * 0.8 ** 5)
    unchanged = deliberate(current, informed, kappa, 0.0, "learning", rounds=50)
    np.testing.assert_array_equal(unchanged[0], current)


def test_peer_deliberation_herds_toward_the_best_informed_member() -> None:
    current, informed, kappa = opinions(1)
    u, k = deliberate(current, informed, kappa, 0.5, "peer", rounds=30)
    best = int(np.argmax(kappa))
    np.testing.assert_array_equal(u[best], current[best])  # nobody is better informed
    spread_before = np.abs(current - current[best]).sum()
    assert np.abs(u - current[best]).sum() < 0.05 * spread_before
    assert (k >= kappa - 1e-12).all()
    with pytest.raises(ContractError):
        deliberate(current, informed, kappa, 1.5, "learning")


def test_mallows_concentrates_around_each_rows_reference() -> None:
    rng = np.random.default_rng(3)
    references = np.array([[0, 1, 2, 3]] * 300 + [[3, 2, 1, 0]] * 300, dtype=np.int64)
    rows = mallows_around(rng, references, 0.3)
    assert (np.sort(rows, axis=1) == np.arange(4)).all()  # permutations
    assert (rows[:300, 0] == 0).mean() > 0.6 and (rows[300:, 0] == 3).mean() > 0.6
    uniform = mallows_around(rng, references[:300], 1.0)
    assert 0.15 < (uniform[:, 0] == 0).mean() < 0.35  # phi = 1 is impartial culture


# -- populations in a host --------------------------------------------------------------------------


def world(seed: int = 0, *, populations: dict[str, tuple[type[Population[Any]], int, dict[str, Any]]],
          duration: float = 6000.0, shocks: tuple[float, ...] = (100.0,), **config: Any) -> Host:
    host = Host(seed, keep_events=True)
    host.add_mechanism(VOTE, EmergencyVote, EmergencyVoteConfig(**config))
    for name, (cls, count, params) in populations.items():
        host.add_population(name, cls, cls.Params.model_validate(params), count=count, arrival=NONE,
                            mechanism=VOTE)
    for at in shocks:
        host.schedule_shock(at, "ai_incident", {"severity": 0.8})
    host.start()
    host.env.run(until=duration)
    return host


PANEL: dict[str, Any] = {"panel_size": 25, "deliberation_seconds": 1200.0, "ballot_seconds": 1200.0}
CITIZENS: dict[str, Any] = {"reference": INFORMED, "phi": 0.6, "prior": PANIC, "informedness": (0.1, 0.6),
                            "deliberation_rate": 0.1, "materials_quality": 1.0, "redraws": 5}


def citizens_world(seed: int, **config: Any) -> dict[str, float | None]:
    host = world(seed, populations={"citizens": (Citizens, 300, CITIZENS)}, **{**PANEL, **config})
    return host.finish().measure_map()


def test_citizens_register_deliberate_and_vote_with_their_turnout() -> None:
    host = world(2, populations={"citizens": (Citizens, 200, {**CITIZENS, "turnout": 0.5})}, quorum=0.2,
                 **PANEL)
    vote = host.mechanisms[VOTE]
    assert len(vote.electorate()) == 200  # type: ignore[attr-defined]
    convened = [e for e in host.bus.log or [] if isinstance(e, VoteConvened)]
    assert len(convened) == 1 and len(convened[0].members) == 25
    measures = host.finish().measure_map()
    turnout = measures["emergency_vote.turnout"]
    assert turnout is not None and 0.2 <= turnout <= 0.8
    assert measures["emergency_vote.panel_representativeness_tvd"] is not None
    flip = measures["citizens.decision_flip_rate"]
    assert flip is not None and 0.0 <= flip <= 1.0


def test_the_same_seed_gives_the_same_log_and_measures() -> None:
    def once() -> tuple[str, dict[str, float | None]]:
        host = world(5, populations={"citizens": (Citizens, 120, CITIZENS),
                                     "coalition": (StrategicCoalition, 10, {}),
                                     "sybils": (Sybils, 6, {})}, **PANEL)
        assert host.log is not None
        return log_digest(action_rows(host.log)), host.finish().measure_map()
    assert once() == once()


SYBILS: dict[str, Any] = {"operators": 3, "push": PANIC, "time_to_vote": 30.0}  # never late


def test_sybils_are_blocked_and_counted() -> None:
    host = world(1, populations={"citizens": (Citizens, 60, {"redraws": 0}),
                                 "sybils": (Sybils, 9, SYBILS)},
                 convening="electorate", deliberation_seconds=0.0)
    measures = host.finish().measure_map()
    assert measures["sybils.duplicate_registrations_blocked_share"] == 1.0  # 6 of 6 duplicates
    assert measures["sybils.sybil_ballots_counted"] == 0.0
    assert measures["sybils.sybil_ballots_blocked_share"] == 1.0  # the second tries too
    # Honest voters' rejections (their late ballots) are scored apart: the attack does not move them.
    alone = world(1, populations={"citizens": (Citizens, 60, {"redraws": 0})},
                  convening="electorate", deliberation_seconds=0.0).finish().measure_map()
    honest = measures["citizens.honest_ballot_rejection_rate"]
    assert honest == alone["citizens.honest_ballot_rejection_rate"] and 0.0 < honest < 0.2  # type: ignore[operator]
    # The same attack without the identity check: duplicates register and their ballots count.
    open_door = world(1, populations={"citizens": (Citizens, 60, {"redraws": 0}),
                                      "sybils": (Sybils, 9, SYBILS)},
                      convening="electorate", deliberation_seconds=0.0, dedupe_identities=False)
    leaked = open_door.finish().measure_map()
    assert leaked["sybils.sybil_ballots_counted"] == 6.0
    assert leaked["sybils.duplicate_registrations_blocked_share"] == 0.0  # the measure fails here
    assert leaked["sybils.sybil_ballots_blocked_share"] == pytest.approx(9 / 15)  # only second tries
    # Nobody attacked: one id per operator tries no duplicate, and no second ballot.
    honest_ids = world(1, populations={"citizens": (Citizens, 60, {"redraws": 0}),
                                       "sybils": (Sybils, 3, {**SYBILS, "double_vote": False})},
                       convening="electorate", deliberation_seconds=0.0).finish().measure_map()
    assert honest_ids["sybils.duplicate_registrations_blocked_share"] is None
    assert honest_ids["sybils.sybil_ballots_blocked_share"] is None


def coalition_world(seed: int, strategy: str) -> Host:
    citizens = {"reference": INFORMED, "phi": 0.5, "informedness": (1.0, 1.0), "noise": 0.0, "turnout": 1.0,
                "redraws": 0}
    return world(seed, populations={
        "citizens": (Citizens, 60, citizens),
        "coalition": (StrategicCoalition, 30, {"sincere": ["monitor", "restrict", "no_action",
                                                           "pause_deployment"], "strategy": strategy}),
    }, rule="borda", status_quo=None, convening="electorate", deliberation_seconds=0.0,
        ballot_seconds=3600.0)


def test_a_burying_coalition_can_move_a_borda_count_and_reports_it() -> None:
    outcomes = {}
    for strategy in ("sincere", "bury"):
        host = coalition_world(0, strategy)
        (taken,) = [e for e in host.bus.log or [] if isinstance(e, DecisionTaken)]
        outcomes[strategy] = (taken.measure, host.finish().measure_map()["coalition.strategic_success_rate"])
    assert outcomes["sincere"] == ("restrict", 0.0)
    assert outcomes["bury"] == ("monitor", 1.0)  # restrict buried: the coalition's favourite wins


def test_voter_populations_need_no_arrivals_and_a_mechanism() -> None:
    host = Host(0)
    host.add_mechanism(VOTE, EmergencyVote, EmergencyVoteConfig())
    host.add_population("citizens", Citizens, CitizensParams(), count=3,
                        arrival=Arrival(process="poisson", rate=1.0), mechanism=VOTE)
    with pytest.raises(ContractError, match="arrival"):
        host.start()


def test_a_reference_that_is_not_a_ranking_of_the_candidates_fails_loudly() -> None:
    with pytest.raises(ContractError, match="reference"):
        world(0, populations={"citizens": (Citizens, 10, {"reference": ["restrict", "ban"]})}, **PANEL)


@pytest.mark.parametrize("params", [
    {"informedness": (0.8, 0.2)}, {"turnout": 1.5}, {"strata": {"region": {}}}, {"bogus": 1},
    {"deliberation_model": "telepathy"}, {"strata": {"region": {"north": -1.0}}},
])
def test_bad_citizen_params_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CitizensParams.model_validate(params)


def test_coalition_and_sybil_params_validate() -> None:
    with pytest.raises(ValidationError):
        CoalitionParams.model_validate({"strategy": "bribe"})
    with pytest.raises(ValidationError):
        SybilParams.model_validate({"operators": 0})


# -- the example ------------------------------------------------------------------------------------


def test_the_example_runs_every_arm_with_a_decision_and_its_sunset() -> None:
    resolved = load_scenario(REPO / "examples" / "emergency_vote.toml")
    assert set(resolved.arm_names()) == {"deliberation", "no_deliberation", "misleading",
                                          "whole_electorate"}
    delays = {}
    for arm in resolved.arm_names():
        result = run(resolved.with_arm(arm), 21)
        measures = result.measures()
        assert result.events.get("DecisionTaken", 0) >= 1, arm
        assert result.events.get("DecisionLapsed", 0) >= 1, arm  # superseded by the renewal, or sunset
        assert measures["emergency_vote.quorum_met"] == 1.0
        assert measures["sybils.duplicate_registrations_blocked_share"] == 1.0
        delays[arm] = measures["emergency_vote.incident_to_decision_seconds"]
    assert delays == {"deliberation": 3600.0, "no_deliberation": 1800.0, "misleading": 3600.0,
                      "whole_electorate": 1800.0}


_BALLOTS = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True).map(tuple)


@settings(max_examples=200, deadline=None)
@given(st.lists(_BALLOTS, max_size=40), st.data())
def test_the_coalitions_recount_removes_its_ballots_as_list_remove_would(
    record: list[tuple[str, ...]], data: st.DataObject
) -> None:
    from flagship.democracy._populations._adversaries import _without

    ours = data.draw(st.lists(st.sampled_from(record), max_size=len(record)) if record else st.just([]))
    ours = [b for b in ours if ours.count(b) <= record.count(b)]  # never more copies than were counted
    expected = list(record)
    for ballot in ours:
        expected.remove(ballot)
    assert _without(record, ours) == expected
    if record:
        with pytest.raises(ContractError, match="missing"):
            _without(record, [*ours, ("z",)])
