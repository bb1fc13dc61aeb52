"""Spoofing per open second and halts as a cost: what a halt buys is read off the rate, not the count."""

from __future__ import annotations

import pytest

from flagship.markets import ValueMarket
from flagship.mechanisms import Area
from flagship.mechanisms.events import TraderProfile, TradingHalted, TradingResumed
from tests.markets.test_market_mechanism import MARKET, World, quote

END = 500.0


def spoofing_run(every: float, halt: tuple[float, float] | None = None,
                 honest_blocks: bool = False) -> dict[str, float | None]:
    """A profiled manipulator places a 50-lot bid 9 ticks under the touch every ``every`` seconds from
    t = 100 and cancels it 0.5 s later; ``halt``: someone halts the market over that span."""
    world = World()
    world.publish(TraderProfile(time=0.0, source="x", market=MARKET, actor="spoofer", group="x",
                                manipulator=True))
    quote(world, 0.0)
    if halt is not None:
        world.host.env.process(_halt(world, *halt))
    t, i = 100.0, 0
    while t < END - 1:
        world.limit("spoofer", i, "buy", 90, 50, t=t)
        world.cancel("spoofer", i, t=t + 0.5)
        if honest_blocks:  # the same pattern from an honest account: surveillance sees it, the measure not
            world.limit("honest", i, "buy", 90, 50, t=t + 1.0)
            world.cancel("honest", i, t=t + 1.5)
        t, i = t + every, i + 1
    return world.measures(until=END)


def _halt(world: World, start: float, stop: float):  # type: ignore[no-untyped-def]
    yield world.host.env.timeout(start)
    world.publish(TradingHalted(time=start, source="regulator", market=MARKET, reason="test"))
    yield world.host.env.timeout(stop - start)
    world.publish(TradingResumed(time=stop, source="regulator", market=MARKET))


def test_a_halt_lowers_the_spoof_count_but_not_the_rate_per_open_second() -> None:
    open_market = spoofing_run(10.0)
    halted = spoofing_run(10.0, halt=(195.0, 295.0))
    assert open_market["spoof_orders"] == 40.0
    assert halted["spoof_orders"] == 30.0  # the ten bids sent while halted were refused
    # the count says the halt protected; per open second nothing changed
    assert open_market["spoof_orders_per_open_second"] == pytest.approx(40 / (END - 100.5))
    assert halted["spoof_orders_per_open_second"] == pytest.approx(30 / (END - 100.5 - 100.0))
    assert halted["spoof_orders_per_open_second"] == pytest.approx(
        open_market["spoof_orders_per_open_second"], rel=0.01)
    # and the halt is reported as what it cost
    assert (halted["halts"], halted["halted_seconds"]) == (1.0, 100.0)
    assert halted["halted_share"] == pytest.approx(100.0 / END)
    assert [open_market[name] for name in ("halts", "halted_seconds", "halted_share")] == [0.0, 0.0, 0.0]


def test_the_rate_per_open_second_rises_with_the_spoofing() -> None:
    slow, fast = spoofing_run(10.0), spoofing_run(5.0)
    assert fast["spoof_orders"] == 80.0
    assert fast["spoof_orders_per_open_second"] == pytest.approx(2 * slow["spoof_orders_per_open_second"],
                                                                  rel=0.01)


def test_only_profiled_manipulators_spoofs_count_and_no_spoofing_is_a_rate_of_zero() -> None:
    assert spoofing_run(10.0, honest_blocks=True)["spoof_orders"] == 40.0
    world = World()
    quote(world, 0.0)
    measures = world.measures(until=END)
    assert (measures["spoof_orders"], measures["spoof_orders_per_open_second"]) == (0.0, 0.0)
    silent = World(surveillance={"enabled": False})
    assert silent.measures(until=END)["spoof_orders_per_open_second"] is None


def test_suspicious_cancels_count_everyones_spoofing_pattern_without_ground_truth() -> None:
    # what a live guardrail can watch: a live client is never profiled as a manipulator
    both = spoofing_run(10.0, honest_blocks=True)
    assert (both["spoof_orders"], both["suspicious_cancels"]) == (40.0, 80.0)
    assert spoofing_run(10.0)["suspicious_cancels"] == 40.0
    world = World()
    quote(world, 0.0)
    world.limit("unprofiled", 1, "buy", 90, 50, t=1.0)  # large and far, cancelled quickly: counted
    world.cancel("unprofiled", 1, t=2.0)
    world.limit("unprofiled", 2, "buy", 90, 5, t=3.0)  # small: not the pattern
    world.cancel("unprofiled", 2, t=4.0)
    world.limit("unprofiled", 3, "buy", 90, 50, t=5.0)  # cancelled too late: not the pattern
    world.cancel("unprofiled", 3, t=50.0)
    measures = world.measures(until=END)
    assert (measures["spoof_orders"], measures["suspicious_cancels"]) == (0.0, 1.0)
    assert World(surveillance={"enabled": False}).measures(until=END)["suspicious_cancels"] is None


def test_alignment_and_leakage_are_undefined_when_nobody_attests() -> None:
    world = World()
    world.limit("a", 1, "sell", 100, 2, t=1.0)
    world.limit("b", 1, "buy", 100, 2, t=2.0)
    measures = world.measures(until=10.0)
    assert measures["aligned_volume_share"] is None and measures["norm_leakage"] is None
    attested = World()
    attested.limit("a", 1, "sell", 100, 2, t=1.0, values=["low_carbon"])
    attested.limit("b", 1, "buy", 100, 2, t=2.0)
    measures = attested.measures(until=10.0)
    assert measures["aligned_volume_share"] == 0.5 and measures["norm_leakage"] == 0.0


def test_halts_are_declared_as_costs_and_spoofing_rates_as_robustness() -> None:
    declared = {m.name: m for m in ValueMarket.measures}
    for name in ("halts", "halted_seconds", "halted_share"):
        assert declared[name].area is Area.UX and not declared[name].higher_is_better
    rate = declared["spoof_orders_per_open_second"]
    assert rate.area is Area.ROBUSTNESS and rate.unit == "orders/s" and not rate.higher_is_better
    assert "rejections_with_reason" not in declared  # an invariant, checked by conformance instead
