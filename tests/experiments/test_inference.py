"""The inference module: methods, coverage, tests that agree with intervals, corrections, sequential looks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.mechanisms import Area, ContractError, Measure
from flagship.mechanisms._measures import unit_range
from flagship.telemetry._bootstrap import Interval, Verdict, judge
from flagship.telemetry._inference import BCA_MIN_N, MAX_REPLICATIONS, Inference, power_replications
from flagship.telemetry._multiplicity import adjusted_levels
from flagship.telemetry._recorder import Telemetry
from flagship.telemetry._sequential import decide_sequentially, obf_spending, plan_stages

SETS = 2000  # simulated data sets per coverage row


def _coverage(draw: str, n: int, truth: float, *, paired: bool = False, proportion: bool = False,
              seed: int = 1) -> float:
    rng = np.random.default_rng(seed)
    inference = Inference(0.95)
    covered = 0
    for index in range(SETS):
        if draw == "normal":
            values = rng.normal(truth, 1.0, n)
        elif draw == "paired":  # treatment and control share a seed effect: their difference is paired
            common = rng.normal(0.0, 3.0, n)
            values = (common + truth + rng.normal(0, 1, n)) - (common + rng.normal(0, 1, n))
        else:
            values = (rng.random(n) < truth).astype(float)
        ci = inference.interval(values.tolist(), stream=str(index), paired=paired, proportion=proportion)
        covered += ci.low <= truth <= ci.high
    return covered / SETS


@pytest.mark.parametrize("n", [8, 30])
def test_t_intervals_cover_normal_means_and_paired_differences(n: int) -> None:
    assert 0.93 <= _coverage("normal", n, 2.0) <= 0.97
    assert 0.93 <= _coverage("paired", n, 0.5, paired=True) <= 0.97


def test_a_rare_rate_gets_a_wilson_interval_that_covers_and_never_has_zero_width() -> None:
    assert _coverage("bernoulli", 30, 0.01, proportion=True) >= 0.93
    zeros = Inference().interval([0.0] * 30, proportion=True)
    assert zeros.method == "wilson" and zeros.low == 0.0 and zeros.high > 0.1  # 0 of 30: [0, 0.114]
    assert judge(zeros, "<=", 0.005) is Verdict.INCONCLUSIVE  # the old bootstrap passed this


def test_the_method_follows_the_documented_rule() -> None:
    inference = Inference()
    rng = np.random.default_rng(3)
    assert inference.interval(rng.normal(size=20).tolist()).method == "t"
    assert inference.interval(rng.normal(size=20).tolist(), paired=True).method == "paired-t"
    assert inference.interval([0.0, 1.0, 1.0], proportion=True).method == "wilson"
    assert inference.interval([0.25] * 5).method == "wilson"  # a constant ratio: a bound, not zero width
    assert inference.interval([300.0] * 5).method == "t"  # a constant outside [0, 1]: zero width, flagged
    skewed = rng.lognormal(0, 1.2, BCA_MIN_N).tolist()
    assert inference.interval(skewed, stream="x").method == "bca"
    assert inference.interval(skewed[: BCA_MIN_N - 1]).method == "t"  # too few for BCa
    assert inference.interval([1.0]).method == "none" and math.isnan(inference.interval([1.0]).low)
    assert inference.interval(skewed, stream="x") == inference.interval(skewed, stream="x")  # seeded
    assert inference.interval([1.0, 2.0], confidence=0.9).confidence == 0.9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=30),
       st.floats(-100, 100, allow_nan=False), st.sampled_from([0.05, 0.01, 0.2]))
def test_the_verdict_of_an_interval_is_the_test_of_its_threshold(values: list[float], threshold: float,
                                                                  alpha: float) -> None:
    inference = Inference()
    ci = inference.interval(values, confidence=1 - alpha)
    test = inference.test(values, threshold)
    verdict = judge(ci, ">=", threshold)
    if ci.method == "t" and ci.high - ci.low > 1e-9 and abs(test.two_sided - alpha) > 1e-9:
        assert (verdict is Verdict.PASS) == (test.above <= alpha / 2 and test.above < test.below)
        assert (verdict is Verdict.FAIL) == (test.below <= alpha / 2 and test.below < test.above)


def test_a_bca_p_value_puts_the_threshold_at_the_matching_endpoint() -> None:
    values = np.random.default_rng(5).exponential(size=80).tolist()
    inference = Inference(0.95, seed=2)
    ci = inference.interval(values, stream="s")
    assert ci.method == "bca"
    assert inference.test(values, ci.low, stream="s").above == pytest.approx(0.025, abs=0.01)
    assert inference.test(values, ci.high, stream="s").below == pytest.approx(0.025, abs=0.01)


def test_more_replications_is_a_capped_power_estimate() -> None:
    ci = Interval(0.45, 0.35, 0.55, 10, "t", 0.95, sd=0.16)
    more = power_replications(ci, 0.4, 0.05)
    # ((1.96 + 0.84) * 0.16 / 0.05)^2 = 80.3 -> 81 in all, 71 more
    assert more == 71
    assert power_replications(ci, 0.45, 0.05) is None  # on the threshold: no estimate
    assert power_replications(Interval(0.45, 0.35, 0.55, 10, "t", 0.95, sd=0.16), 0.45 + 1e-7,
                              0.05) == MAX_REPLICATIONS


# -- multiplicity -------------------------------------------------------------------------------


def test_holm_steps_down_and_stops_at_the_first_survivor() -> None:
    levels = adjusted_levels([0.001, 0.04, 0.012, 0.9], 0.05, "holm")
    # sorted: 0.001 @ 0.05/4, 0.012 @ 0.05/3, 0.04 @ 0.05/2 (0.025: not rejected), then 0.9 at 0.025 too
    assert levels == pytest.approx([0.0125, 0.025, 0.05 / 3, 0.025])
    assert adjusted_levels([0.2, 0.3], 0.05, "none") == [0.05, 0.05]
    assert adjusted_levels([0.01, 0.02, 0.5], 0.05, "bh") == pytest.approx([2 * 0.05 / 3] * 3)
    assert adjusted_levels([0.5, 0.6], 0.05, "bh") == pytest.approx([0.025, 0.025])


def test_holm_controls_the_family_wise_error_of_threshold_verdicts() -> None:
    """14 criteria whose true means sit exactly on their thresholds: any decision is an error."""
    rng = np.random.default_rng(11)
    inference = Inference(0.95)
    errors = {"holm": 0, "none": 0}
    trials = 400
    for _ in range(trials):
        samples = [rng.normal(0.0, 1.0, 8).tolist() for _ in range(14)]
        p_values = [inference.test(s, 0.0).two_sided for s in samples]
        for correction in errors:
            levels = adjusted_levels(p_values, 0.05, correction)  # type: ignore[arg-type]
            errors[correction] += any(p <= level for p, level in zip(p_values, levels, strict=True))
    assert errors["holm"] / trials <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)
    assert errors["none"] / trials > 0.4  # the uncorrected scorecard errs about half the time


# -- sequential looks ---------------------------------------------------------------------------


def test_obrien_fleming_spends_little_early_and_all_of_alpha_at_the_end() -> None:
    assert obf_spending(1.0, 0.05) == pytest.approx(0.05)
    assert obf_spending(0.25, 0.05) < 0.001
    plan = plan_stages(8, 64, 0.05)
    assert plan.stages == (8, 16, 32, 64)
    assert plan.nominal[0] < plan.nominal[1] < plan.nominal[2] < plan.nominal[3] < 0.05
    assert plan.nominal[3] > 0.04  # the last look is tested at nearly alpha


def test_looking_after_every_stage_keeps_the_error_rate_under_the_null() -> None:
    """2,000 seeded null data sets (true mean on the threshold), four looks each: rejections <= alpha."""
    plan = plan_stages(8, 64, 0.05)
    naive = plan_stages(8, 64, 0.05)
    naive = type(naive)(naive.stages, naive.alpha, naive.parts, (1.959964,) * 4)  # 5% at every look
    inference = Inference()
    rng = np.random.default_rng(20261204)
    rejected = naive_rejected = 0
    for _ in range(SETS):
        values = rng.normal(0.0, 1.0, 64).tolist()
        rejected += decide_sequentially(values, 0.0, plan, inference)[0] is not None
        naive_rejected += decide_sequentially(values, 0.0, naive, inference)[0] is not None
    slack = 3 * math.sqrt(0.05 * 0.95 / SETS)
    assert rejected / SETS <= 0.05 + slack
    assert naive_rejected / SETS > 0.08  # looking four times at 5% each inflates the error


def test_an_effect_just_beyond_its_threshold_is_decided_within_the_maximum() -> None:
    """A mean 0.5 SD above the threshold: undecided at 8 seeds, decided (above) by 128."""
    plan = plan_stages(8, 128, 0.05)
    inference = Inference()
    rng = np.random.default_rng(7)
    outcomes = [decide_sequentially(rng.normal(0.5, 1.0, 128).tolist(), 0.0, plan, inference)
                for _ in range(200)]
    assert sum(verdict == "above" for _, verdict in outcomes) >= 190  # >= 95% power
    assert not any(verdict == "below" for _, verdict in outcomes)
    assert sum(look == 0 for look, _ in outcomes) < 20  # rarely at the first look: stages were needed


# -- intervals stay inside the range a measure can take -------------------------------------


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(0, 50), min_size=2, max_size=40), st.sampled_from([0.8, 0.95, 0.99]))
def test_a_count_interval_never_reaches_below_zero(values: list[float], level: float) -> None:
    clipped = Inference(level).interval(values, bounds=unit_range("count"))
    raw = Inference(level).interval(values)
    assert 0.0 <= clipped.low <= clipped.estimate <= clipped.high
    assert clipped.estimate == raw.estimate and clipped.method == raw.method
    assert clipped.low == max(raw.low, 0.0) and clipped.high == raw.high


def test_clipping_moves_only_the_bound_past_the_range() -> None:
    halts = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0]  # halts per run: t reaches below 0
    raw = Inference().interval(halts)
    clipped = Inference().interval(halts, bounds=unit_range("count"))
    assert raw.low < 0 and clipped.low == 0.0 and clipped.high == raw.high
    assert unit_range("count", difference=True) == (-math.inf, math.inf)
    assert unit_range("ratio") == (-math.inf, math.inf)  # alpha, efficiency, margins go below 0
    assert unit_range("seconds")[0] == 0.0


def test_the_recorder_refuses_a_value_outside_its_unit() -> None:
    telemetry = Telemetry()
    telemetry.recorder("shop").measure("sold", -2.0)
    declared = {"shop": (Measure("sold", Area.UX, "count", True, "units sold"),)}
    with pytest.raises(ContractError, match=r"sold = -2.0, outside the range \[0, inf\]"):
        telemetry.collect(declared)
    telemetry = Telemetry()
    telemetry.recorder("shop").measure("sold", 3.0)
    assert telemetry.collect(declared).measure_map() == {"shop.sold": 3.0}
