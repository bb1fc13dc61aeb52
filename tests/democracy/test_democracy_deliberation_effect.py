"""Deliberation's effect is a parameter, not a conclusion; each citizens' measure can fail.

The informed rankings (what panel fidelity is scored against) and the deliberation targets
come from different seed streams, linked only by ``materials_quality``. So whether
deliberation raises fidelity depends on the stated effect: no effect, no difference;
harmful materials, lower fidelity; helpful ones, higher. Differences are paired by seed and
their intervals come from :class:`flagship.telemetry._inference.Inference`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.democracy import EmergencyVote, EmergencyVoteConfig
from flagship.democracy._deliberation import deliberate, deliberation_targets, position_scores, rankings_of
from flagship.democracy._populations import Citizens
from flagship.democracy._populations._electorate import VoteView, decide_complete, decide_with, names_of
from flagship.mechanisms import Arrival, ContractError
from flagship.mechanisms.events import VoteConvened
from flagship.sandbox._host import Host
from flagship.telemetry._inference import Inference, Interval

VOTE = "emergency_vote"
INFORMED = ["restrict", "monitor", "pause_deployment", "no_action"]
PANIC = ["pause_deployment", "restrict", "monitor", "no_action"]
PANEL: dict[str, Any] = {"panel_size": 25, "deliberation_seconds": 1200.0, "ballot_seconds": 1200.0}
# Informed views vary (phi 0.8), so a panel's decision is not a foregone conclusion.
CITIZENS: dict[str, Any] = {"reference": INFORMED, "phi": 0.8, "prior": PANIC, "informedness": (0.1, 0.6),
                            "deliberation_rate": 0.1, "round_seconds": 60.0, "redraws": 0}
# Fidelity can only fall where the control has some, and rise where it misses: a well informed
# public with no shared panic for the harmful settings, a panicked one for the helpful setting.
WELL_INFORMED: dict[str, Any] = {"prior": [], "informedness": (0.5, 0.9)}
SEEDS = range(16)


def measures(seed: int, citizens: dict[str, Any], **config: Any) -> dict[str, float | None]:
    host = Host(seed)
    host.add_mechanism(VOTE, EmergencyVote, EmergencyVoteConfig(**{**PANEL, **config}))
    host.add_population("citizens", Citizens, Citizens.Params.model_validate({**CITIZENS, **citizens}),
                        count=300, arrival=Arrival(process="none"), mechanism=VOTE)
    host.schedule_shock(100.0, "ai_incident", {"severity": 0.8})
    host.start()
    host.env.run(until=6000.0)
    return host.finish().measure_map()


def fidelity_difference(citizens: dict[str, Any]) -> Interval:
    """Panel fidelity with deliberation minus without, paired by seed, and its 95% interval."""
    differences = []
    for seed in SEEDS:
        with_it = measures(seed, citizens)["citizens.panel_fidelity"]
        without = measures(seed, citizens, deliberation_seconds=0.0)["citizens.panel_fidelity"]
        assert with_it is not None and without is not None
        differences.append(with_it - without)
    return Inference().interval(differences, paired=True)


def test_no_effect_gives_no_fidelity_difference() -> None:
    interval = fidelity_difference({"deliberation_rate": 0.0, "materials_quality": 1.0})
    assert interval.low <= 0.0 <= interval.high, interval


def test_harmful_materials_lower_fidelity() -> None:
    # Materials leading each member away from its informed view (to its reverse).
    interval = fidelity_difference({**WELL_INFORMED, "materials_quality": -1.0})
    assert interval.high < 0.0, interval


def test_misleading_materials_herd_the_panel_to_their_slant() -> None:
    # Materials unrelated to the informed views but pushing the panic ranking.
    interval = fidelity_difference({**WELL_INFORMED, "materials": PANIC, "materials_phi": 0.3})
    assert interval.high < 0.0, interval


def test_uninformative_materials_dilute_what_the_panel_knew() -> None:
    # The default direction (quality 0, no slant): deliberation is not assumed to help.
    interval = fidelity_difference(WELL_INFORMED)
    assert interval.high < 0.0, interval


def test_helpful_materials_raise_fidelity() -> None:
    interval = fidelity_difference({"materials_quality": 1.0})
    assert interval.low > 0.0, interval


def test_informed_rankings_do_not_depend_on_the_materials() -> None:
    def informed(citizens: dict[str, Any]) -> Any:
        host = Host(3)
        host.add_mechanism(VOTE, EmergencyVote, EmergencyVoteConfig(**PANEL))
        population = host.add_population(
            "citizens", Citizens, Citizens.Params.model_validate({**CITIZENS, **citizens}), count=50,
            arrival=Arrival(process="none"), mechanism=VOTE)
        host.schedule_shock(100.0, "ai_incident", {"severity": 0.8})
        host.start()
        host.env.run(until=200.0)
        assert isinstance(population, Citizens)
        return population._informed_rankings.copy(), population._target.copy()

    helpful, harmful = informed({"materials_quality": 1.0}), informed({"materials": PANIC})
    np.testing.assert_array_equal(helpful[0], harmful[0])
    assert not np.array_equal(helpful[1], harmful[1])
    np.testing.assert_array_equal(rankings_of(helpful[1]), helpful[0])  # quality 1: the informed view


def test_targets_mix_informed_view_and_takeaway_by_quality() -> None:
    informed = position_scores(np.array([[0, 1, 2], [2, 1, 0]], dtype=np.int64), 3)
    takeaway = position_scores(np.array([[1, 0, 2], [1, 0, 2]], dtype=np.int64), 3)
    np.testing.assert_array_equal(deliberation_targets(informed, takeaway, 1.0), informed)
    np.testing.assert_array_equal(deliberation_targets(informed, takeaway, 0.0), takeaway)
    reverse = rankings_of(deliberation_targets(informed, takeaway, -1.0))
    assert reverse.tolist() == [[2, 1, 0], [0, 1, 2]]
    moved, _ = deliberate(informed, deliberation_targets(informed, takeaway, -1.0), np.ones(2), 1.0,
                          "learning")
    assert rankings_of(moved).tolist() == [[2, 1, 0], [0, 1, 2]]  # a full step: away from the informed view
    with pytest.raises(ContractError, match="quality"):
        deliberation_targets(informed, takeaway, 1.5)


# -- each new measure can fail -----------------------------------------------------------------------


def test_electorate_condorcet_agreement_fails_for_an_uninformed_panel() -> None:
    # No deliberation: the panel votes its panicked gut ranking, not the electorate's informed views.
    key = "citizens.electorate_condorcet_agreement"
    control = [measures(seed, {"phi": 0.6}, deliberation_seconds=0.0)[key] for seed in range(4)]
    assert 0.0 in control, control
    fully_informed = {"phi": 0.6, "informedness": (1.0, 1.0), "noise": 0.0, "deliberation_rate": 0.0}
    informed = [measures(seed, fully_informed)[key] for seed in range(4)]
    assert informed == [1.0] * 4  # a fully informed panel elects the electorate's Condorcet winner


def test_honest_ballot_rejection_rate_counts_late_ballots() -> None:
    slow = measures(0, {"time_to_vote": 2400.0, "turnout": 1.0})["citizens.honest_ballot_rejection_rate"]
    assert slow is not None and slow > 0.2  # about half the ballots come after the 1200 s close
    quick = measures(0, {"time_to_vote": 10.0, "turnout": 1.0})["citizens.honest_ballot_rejection_rate"]
    assert quick == 0.0


# -- the counterfactual count's fast path --------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    rule=st.sampled_from(["schulze", "ranked_pairs", "copeland", "minimax", "borda", "plurality", "irv"]),
    threshold=st.sampled_from([None, 0.3, 0.5, 0.6, 0.9]),
)
def test_the_fast_counterfactual_decides_what_the_count_decides(seed: int, n: int, rule: str,
                                                                 threshold: float | None) -> None:
    candidates = tuple(INFORMED)
    rows = np.argsort(np.random.default_rng(seed).random((n, len(candidates))), axis=1).astype(np.int64)
    thresholds = {} if threshold is None else {"restrict": threshold, "monitor": threshold}
    event = VoteConvened(time=0.0, source=VOTE, vote_id="v", purpose="incident", incident_ids=(),
                         severity=1.0, candidates=candidates, rule=rule, tie_break="random", mode="panel",
                         members=(), strata=(), draw_seed=None, ballot_opens=0.0, ballot_closes=1.0,
                         quorum=0.5, status_quo="no_action", thresholds=thresholds)
    view = VoteView(event, [])
    assert decide_complete(view, rows, seed, "random") == decide_with(view, names_of(rows, candidates), seed,
                                                                      "random")
