"""The recorder: summaries, series, off switch, and measure bookkeeping."""

from __future__ import annotations

import math
from functools import partial

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.mechanisms import SHARE, SIGNED_SHARE, Area, ContractError, Measure
from flagship.telemetry import Telemetry, mean_ci, t_critical
from flagship.telemetry._recorder import FOLD_EVERY

DECLARED = {"m": (Measure("fill_ratio", Area.UX, "ratio", True, "filled / submitted"),)}


def test_counters_gauges_samples_and_series() -> None:
    env = simpy.Environment()
    telemetry = Telemetry(env, series_interval=10.0)
    rec = telemetry.recorder("m")
    telemetry.start()

    def work() -> simpy.events.ProcessGenerator:
        for i in range(30):
            rec.count("orders")
            rec.gauge("depth", i)
            rec.sample("latency_seconds", float(i))
            yield env.timeout(1.0)

    env.process(work())
    env.run(until=30)
    rec.measure("fill_ratio", 0.5)
    result = telemetry.collect(DECLARED, final_time=30.0)
    assert result.measure_map() == {"m.fill_ratio": 0.5}
    (summary,) = result.summaries
    assert (summary.count, summary.mean, summary.min, summary.max) == (30, 14.5, 0.0, 29.0)
    assert summary.p50 == pytest.approx(14.5)
    orders = [(p.time, p.value) for p in result.series if p.name == "orders"]
    # the sampler started first, so at t=10 it runs before that instant's increment
    assert orders == [(10.0, 10.0), (20.0, 20.0), (30.0, 30.0)]
    assert result.counters == {"m.orders": 30.0}


def test_off_drops_instruments_but_keeps_measures() -> None:
    telemetry = Telemetry(None, enabled=False)
    rec = telemetry.recorder("m")
    rec.count("orders")
    rec.sample("x", 1.0)
    rec.measure("fill_ratio", math.nan)
    result = telemetry.collect(DECLARED)
    assert result.summaries == () and result.counters == {}
    assert result.measure_map() == {"m.fill_ratio": None}  # NaN is stored as undefined


def test_missing_and_undeclared_measures_fail_loudly() -> None:
    telemetry = Telemetry(None)
    telemetry.recorder("m")
    with pytest.raises(ContractError, match="did not record its declared measure 'fill_ratio'"):
        telemetry.collect(DECLARED)
    other = Telemetry(None)
    rec = other.recorder("m")
    rec.measure("fill_ratio", 1.0)
    rec.measure("extra", 1.0)
    with pytest.raises(ContractError, match="undeclared measures: extra"):
        other.collect(DECLARED)


def test_mean_ci_matches_textbook_values() -> None:
    est = mean_ci([1.0, 2.0, 3.0, 4.0, None])
    assert est.n == 4 and est.mean == 2.5
    half = 3.182 * math.sqrt((2.25 + 0.25 + 0.25 + 2.25) / 3 / 4)  # the table's 3 decimals
    assert est.low == pytest.approx(2.5 - half, abs=1e-3) and est.high == pytest.approx(2.5 + half, abs=1e-3)
    assert math.isnan(mean_ci([1.0]).low) and mean_ci([]).n == 0
    assert t_critical(1000) == pytest.approx(1.962, abs=5e-4) and 2.021 > t_critical(50) > 2.0


SHARE_DECLARED = {"m": (Measure("fill_ratio", Area.UX, "ratio", True, "filled / submitted", bounds=SHARE),)}


@pytest.mark.parametrize(("value", "refused"), [(0.0, False), (1.0, False), (1.25, True), (-0.01, True)])
def test_a_measure_outside_its_declared_bounds_is_a_broken_mechanism(value: float, refused: bool) -> None:
    telemetry = Telemetry(None)
    telemetry.recorder("m").measure("fill_ratio", value)
    if refused:  # the unit alone ("ratio") would have let it through: see the unbounded declaration
        with pytest.raises(ContractError, match=r"outside the range \[0, 1\] of its bounds"):
            telemetry.collect(SHARE_DECLARED)
        unbounded = Telemetry(None)
        unbounded.recorder("m").measure("fill_ratio", value)
        assert unbounded.collect(DECLARED).measures[0].value == value
    else:
        (stored,) = telemetry.collect(SHARE_DECLARED).measures
        assert (stored.value, stored.bounds) == (value, (0.0, 1.0))


@pytest.mark.parametrize(("bounds", "message"), [
    ((1.0, 0.0), "expected \\(low, high\\) with low < high"),
    ((0.5, 0.5), "expected \\(low, high\\) with low < high"),
    ((float("nan"), 1.0), "expected \\(low, high\\) with low < high"),
])
def test_bounds_must_be_an_interval(bounds: tuple[float, float], message: str) -> None:
    with pytest.raises(ContractError, match=message):
        Measure("share", Area.UX, "ratio", True, "a share", bounds=bounds)


def test_bounds_cannot_leave_the_units_range() -> None:
    with pytest.raises(ContractError, match=r"leave the range \[0, inf\] of its unit 'count'"):
        Measure("orders", Area.UX, "count", True, "orders placed", bounds=SIGNED_SHARE)
    measure = Measure("orders", Area.UX, "count", True, "orders placed")
    assert measure.value_range() == (0.0, math.inf) and measure.difference_range() == (-math.inf, math.inf)
    share = Measure("fill", Area.UX, "ratio", True, "filled / ordered", bounds=SHARE)
    assert share.value_range() == (0.0, 1.0) and share.difference_range() == (-1.0, 1.0)


# -- batched counts and per-action handles ------------------------------------------------------

_NAMES = ("a", "b", "c")
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("count"), st.sampled_from(_NAMES), st.sampled_from([1, 1, 1, 2, 0.5, 1.0])),
        st.tuples(st.just("counter"), st.sampled_from(_NAMES), st.just(1)),
        st.tuples(st.just("sample"), st.sampled_from(_NAMES), st.integers(-5, 5)),
        st.tuples(st.just("sampler"), st.sampled_from(_NAMES), st.integers(-5, 5)),
        st.tuples(st.just("gauge"), st.sampled_from(_NAMES), st.integers(-5, 5)),
        st.tuples(st.just("gauge_setter"), st.sampled_from(_NAMES), st.integers(-5, 5)),
        st.tuples(st.just("snapshot"), st.just(""), st.just(0)),
    ),
    max_size=60,
)


@given(ops=_OPS, sampled=st.booleans())
@settings(max_examples=150, deadline=None)
def test_batched_counts_and_handles_record_what_one_update_per_call_would(
        ops: list[tuple[str, str, float]], sampled: bool) -> None:
    """Differential: the recorder (unit counts batched, handles) against a plain dict per call.

    ``sampled``: with a series sampler the counter handle appends to the pending list directly."""
    telemetry = Telemetry(simpy.Environment(), series_interval=1.0) if sampled else Telemetry(None)
    rec = telemetry.recorder("m")
    counters: dict[str, float] = {}
    gauges: dict[str, float] = {}
    samples: dict[str, list[float]] = {}
    series: list[tuple[str, float, float]] = []
    for step, (op, name, value) in enumerate(ops):
        if op in ("count", "counter"):
            rec.count(name, value) if op == "count" else rec.counter(name)()
            counters[name] = counters.get(name, 0) + value
        elif op in ("sample", "sampler"):
            rec.sample(name, value) if op == "sample" else rec.sampler(name)(value)
            samples.setdefault(name, []).append(value)
        elif op in ("gauge", "gauge_setter"):
            rec.gauge(name, value) if op == "gauge" else rec.gauge_setter(name)(value)
            gauges[name] = value
        else:
            telemetry.snapshot(float(step))
            series += [(key, float(step), float(v)) for key, v in [*counters.items(), *gauges.items()]]
    result = telemetry.collect({"m": ()})
    assert [(p.name, p.time, p.value) for p in result.series] == series  # same values, same key order
    assert list(rec.counters.items()) == list(counters.items())
    assert result.counters == {f"m.{key}": float(v) for key, v in sorted(counters.items())}
    assert {s.name: (s.count, s.min, s.max) for s in result.summaries} == {
        key: (len(v), min(v), max(v)) for key, v in samples.items()}


def test_off_handles_drop_what_they_are_given() -> None:
    telemetry = Telemetry(None, enabled=False)
    rec = telemetry.recorder("m")
    rec.counter("orders")()
    rec.sampler("x")(1.0)
    rec.gauge_setter("depth")(3.0)
    telemetry.snapshot(1.0)
    rec.measure("fill_ratio", 0.5)
    result = telemetry.collect(DECLARED)
    assert result.summaries == () and result.counters == {} and result.series == ()


def test_the_counter_handle_is_a_c_append_only_when_a_sampler_folds() -> None:
    sampled = Telemetry(simpy.Environment(), series_interval=1.0).recorder("m")
    assert not hasattr(sampled.counter("orders").func, "__code__")  # the pending list's append
    for telemetry in (Telemetry(None), Telemetry(simpy.Environment())):
        assert telemetry.recorder("m").counter("orders").func.__name__ == "count"


@pytest.mark.parametrize("through", ["count", "handle"])
def test_pending_unit_counts_stay_bounded_without_a_sampler(through: str) -> None:
    rec = Telemetry(None).recorder("m")
    tick = rec.counter("orders") if through == "handle" else partial(rec.count, "orders")
    for _ in range(3 * FOLD_EVERY + 5):
        tick()
    assert len(rec._pending) < FOLD_EVERY  # folded as it went, not kept to the end
    assert rec.counters == {"orders": 3 * FOLD_EVERY + 5}
