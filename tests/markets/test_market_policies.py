"""The norm policies of value_market: screen, externality_fee, value_priority, disclosure, and their mix."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flagship.markets._mechanism import MarketReason, ValueMarket
from flagship.markets._values import Attestation, NormBook, Redistribution, fee_per_lot, split_pool
from flagship.mechanisms import Outcome
from flagship.mechanisms.events import DecisionTaken
from tests.markets.test_market_mechanism import MARKET, World

TAGS = [(), ("low_carbon",), ("deforestation",), ("fair_labour", "high_carbon"),
        ("child_labour", "low_carbon"), ("biodiversity",)]
PROHIBITED = {"child_labour", "deforestation"}

Step = tuple[str, int, str, int, int, tuple[str, ...], float]
steps = st.tuples(
    st.sampled_from(["limit", "limit", "limit", "market", "cancel", "payout"]),
    st.integers(0, 4),
    st.sampled_from(["buy", "sell"]),
    st.integers(96, 104),
    st.integers(1, 6),
    st.sampled_from(TAGS),
    st.one_of(st.integers(0, 9).map(float), st.floats(0, 9, allow_nan=False)),
)
flows = st.lists(steps, min_size=1, max_size=50)
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def drive(world: World, flow: list[Step], *, on_step: Any = None) -> list[tuple[Step, Outcome | None]]:
    """Feed ``flow`` one step a second; returns each step with its outcome (None for a payout)."""
    results: list[tuple[Step, Outcome | None]] = []
    for index, step in enumerate(flow):
        kind, actor, side, price, qty, tags, externality = step
        world.at(float(index))
        name = f"t{actor}"
        attestation: dict[str, Any] = {"values": list(tags), "externality": externality} if tags else {}
        outcome: Outcome | None
        if kind == "payout":
            world.market.payout()
            outcome = None
        elif kind == "cancel":
            outcome = world.cancel(name, index - 3)
        elif kind == "market":
            outcome = world.act(name, "market", {"order_id": index, "side": side, "qty": qty, **attestation})
        else:
            outcome = world.limit(name, index, side, price, qty, **attestation)
        results.append((step, outcome))
        if on_step is not None:
            on_step()
    return results


# -- screen ---------------------------------------------------------------------------------------


def test_screen_rejects_breaching_orders_naming_the_norm() -> None:
    world = World(policies=["screen"], externality_cap=5.0)
    rejected = world.limit("a", 1, "sell", 100, 1, values=["low_carbon", "deforestation"])
    assert rejected.reason == MarketReason.NORM_PROHIBITED
    assert "deforestation" in rejected.detail
    capped = world.limit("a", 2, "sell", 100, 1, values=["low_carbon"], externality=5.5)
    assert capped.reason == MarketReason.EXTERNALITY_CAP
    assert world.limit("a", 3, "sell", 100, 1, values=["low_carbon"], externality=5.0).accepted
    assert world.limit("a", 4, "sell", 100, 1).accepted  # no attestation: nothing to breach


def test_baseline_only_records_breaches() -> None:
    world = World(policies=["baseline"], externality_cap=1.0)
    assert world.limit("a", 1, "sell", 100, 2, values=["deforestation"], externality=9.0).accepted
    world.limit("b", 1, "buy", 100, 2)
    assert world.measures()["norm_leakage"] == 2


@FAST
@given(flow=flows, restrict_at=st.integers(0, 50))
def test_under_screen_nothing_prohibited_ever_trades(flow: list[Step], restrict_at: int) -> None:
    world = World(policies=["screen", "externality_fee"])

    def restrict() -> None:
        if world.now == restrict_at:
            world.publish(DecisionTaken(time=world.now, source="vote", decision_id="r",
                                        measure="restrict_norm", sunset=None, params={"norm": "high_carbon"}))

    for step, outcome in drive(world, flow, on_step=restrict):
        tags = step[5]
        if outcome is not None and outcome.reason == MarketReason.NORM_PROHIBITED:
            breached = outcome.detail.split("'")[1]
            assert breached in tags and breached in world.market.prohibited
        if outcome is not None and step[0] in ("limit", "market") and PROHIBITED & set(tags):
            assert not outcome.accepted
    assert world.measures()["norm_leakage"] in (None, 0)  # None: no attested order traded


# -- externality fee --------------------------------------------------------------------------------


def test_fee_per_lot_rounds_half_up_to_whole_ticks() -> None:
    assert fee_per_lot(Attestation((), 3.0), 0.5) == 2  # 1.5
    assert fee_per_lot(Attestation((), 1.0), 0.5) == 1  # 0.5
    assert fee_per_lot(Attestation((), 1.0), 0.25) == 0
    assert fee_per_lot(Attestation((), 0.0), 7.0) == 0
    assert fee_per_lot(Attestation((), 2.2), 1.0) == 2


def test_split_pool_rules() -> None:
    shares = {"b": 3, "a": 1, "c": 0}
    assert split_pool(10, shares, Redistribution.EQUAL) == {"a": 5, "b": 5}
    assert split_pool(10, shares, Redistribution.ALIGNED_VOLUME) == {"a": 2, "b": 7}
    assert split_pool(10, shares, Redistribution.RETAIN) == {}
    assert split_pool(1, shares, Redistribution.EQUAL) == {}  # less than a tick each: it stays
    assert split_pool(0, shares, Redistribution.ALIGNED_VOLUME) == {}
    assert split_pool(5, {"a": 0}, Redistribution.ALIGNED_VOLUME) == {}


def test_fees_are_collected_from_both_sides_and_paid_out_by_the_rule() -> None:
    world = World(policies=["externality_fee"], fee_rate=0.5, redistribution="aligned_volume",
                  redistribution_interval=10.0)
    world.limit("brown", 1, "sell", 100, 4, values=["high_carbon"], externality=6.0)  # 3 ticks per lot
    taken = world.limit("green", 1, "buy", 100, 3, values=["low_carbon"], externality=1.0)  # 1 per lot
    assert taken.effects["fee"] == 3
    assert world.market.pool == 3 * 3 + 3 * 1
    world.limit("plain", 1, "buy", 100, 1, t=2.0)  # brown pays 3 more
    assert world.market.pool == 15
    world.at(10.5)  # payout: aligned lots since the last payout: green 3, nobody else
    accounts = world.market.accounts()
    assert accounts["green"]["rebates"] == 15 and world.market.pool == 0
    assert accounts["brown"]["fees_paid"] == 12 and accounts["green"]["fees_paid"] == 3
    assert accounts["brown"]["cash"] == 400 - 12
    assert accounts["green"]["cash"] == -300 - 3 + 15
    assert world.market.fee_totals() == (15, 15)


def test_retained_fees_stay_in_the_pool() -> None:
    world = World(policies=["externality_fee"], redistribution="retain", redistribution_interval=1.0)
    world.limit("brown", 1, "sell", 100, 2, externality=4.0)
    world.limit("buyer", 1, "buy", 100, 2)
    world.at(30.0)
    assert world.market.pool == 8 and world.market.fee_totals() == (8, 0)


def test_without_the_fee_policy_no_fee_is_charged() -> None:
    world = World()
    world.limit("brown", 1, "sell", 100, 2, externality=4.0)
    outcome = world.limit("buyer", 1, "buy", 100, 2)
    assert "fee" not in outcome.effects
    assert world.market.pool == 0 and world.market.accounts()["brown"]["cash"] == 200


@FAST
@given(flow=flows, rule=st.sampled_from(list(Redistribution)), rate=st.sampled_from([0.0, 0.5, 1.0, 1.7]))
def test_the_fee_accounting_balances_to_the_tick(flow: list[Step], rule: Redistribution, rate: float) -> None:
    world = World(policies=["externality_fee", "disclosure"], fee_rate=rate, redistribution=rule.value,
                  redistribution_interval=7.0)
    market = world.market

    def balanced() -> None:
        accounts = market.accounts().values()
        collected, paid = market.fee_totals()
        assert all(type(v) is int for a in accounts for v in a.values()) and type(market.pool) is int
        assert sum(a["cash"] for a in accounts) + market.pool == 0
        assert sum(a["position"] for a in accounts) == 0
        assert collected == sum(a["fees_paid"] for a in accounts) == market.pool + paid
        assert paid == sum(a["rebates"] for a in accounts)
        assert market.pool >= 0

    results = drive(world, flow, on_step=balanced)
    expected = 0
    for fill in market.disclosed_tape():
        per_lot = sum(fee_per_lot(Attestation((), fill[side]["externality"]), rate)
                      for side in ("maker_attestation", "taker_attestation"))
        expected += per_lot * fill["qty"]
    assert market.fee_totals()[0] == expected
    for step, outcome in results:
        if outcome is not None and outcome.accepted and step[0] != "cancel":
            externality = step[6] if step[5] else 0.0
            lots = sum(f["qty"] for f in outcome.effects["fills"])
            assert outcome.effects["fee"] == fee_per_lot(Attestation((), externality), rate) * lots


# -- value priority ------------------------------------------------------------------------------


def test_value_priority_matches_aligned_orders_first_at_an_equal_price() -> None:
    world = World(policies=["value_priority"])
    world.limit("neutral", 1, "sell", 100, 1)
    world.limit("brown", 1, "sell", 100, 1, values=["deforestation"])
    world.limit("green", 1, "sell", 100, 1, values=["low_carbon"])
    world.limit("cheap", 1, "sell", 99, 1)  # price still comes first
    outcome = world.act("buyer", "market", {"order_id": 1, "side": "buy", "qty": 4})
    assert [f["maker"] for f in outcome.effects["fills"]] == ["cheap", "green", "neutral", "brown"]
    assert [f["price"] for f in outcome.effects["fills"]] == [99, 100, 100, 100]


def test_baseline_keeps_plain_time_priority() -> None:
    world = World()
    world.limit("neutral", 1, "sell", 100, 1)
    world.limit("green", 1, "sell", 100, 1, values=["low_carbon"])
    outcome = world.act("buyer", "market", {"order_id": 1, "side": "buy", "qty": 2})
    assert [f["maker"] for f in outcome.effects["fills"]] == ["neutral", "green"]


def test_value_priority_can_require_third_party_attestation() -> None:
    world = World(policies=["value_priority"], priority_requires_attestor=True,
                  trusted_attestors=["audit-co"])
    world.limit("self", 1, "sell", 100, 1, values=["low_carbon"])
    world.limit("audited", 1, "sell", 100, 1, values=["low_carbon"], attestor="audit-co")
    untrusted = world.limit("other", 1, "sell", 100, 1, values=["low_carbon"], attestor="my-cousin")
    assert untrusted.reason == MarketReason.UNTRUSTED_ATTESTOR
    outcome = world.act("buyer", "market", {"order_id": 1, "side": "buy", "qty": 2})
    assert [f["maker"] for f in outcome.effects["fills"]] == ["audited", "self"]


def test_norm_book_classifies_and_ranks() -> None:
    norms = NormBook(["low_carbon"], ["deforestation"])
    assert norms.classify(Attestation(("low_carbon",))) == (True, None)
    assert norms.classify(Attestation(("deforestation", "low_carbon"))) == (False, "deforestation")
    assert norms.classify(Attestation(("high_carbon",))) == (False, None)
    assert norms.priority(Attestation(("low_carbon",)), False) == 1
    assert norms.priority(Attestation(("low_carbon",)), True) == 0
    assert norms.priority(Attestation(("deforestation",), attestor="x"), True) == -1
    assert norms.restrict("d", ("high_carbon",)) == frozenset({"high_carbon"})
    assert norms.classify(Attestation(("high_carbon",))) == (False, "high_carbon")
    assert norms.lift("d") and not norms.lift("d")
    assert norms.classify(Attestation(("high_carbon",))) == (False, None)


@FAST
@given(flow=flows)
def test_value_priority_never_changes_which_price_trades_only_who(flow: list[Step]) -> None:
    # Orders only (no cancels), one actor per order so self-trade prevention never differs.
    orders = [step for step in flow if step[0] in ("limit", "market")]

    def run(policies: list[str]) -> tuple[list[Any], list[Any]]:
        world = World(policies=policies)
        prices, depths = [], []
        for index, (kind, _, side, price, qty, tags, _) in enumerate(orders):
            extra: dict[str, Any] = {"values": list(tags)} if tags else {}
            if kind == "market":
                outcome = world.act(f"o{index}", "market", {"order_id": 1, "side": side, "qty": qty, **extra})
            else:
                outcome = world.limit(f"o{index}", 1, side, price, qty, **extra)
            traded: dict[int, int] = defaultdict(int)
            for fill in outcome.effects.get("fills", []):
                traded[fill["price"]] += fill["qty"]
            prices.append((outcome.accepted, outcome.effects.get("resting"), sorted(traded.items())))
            depth = world.market.book.depth(None)  # order counts may differ: who rests differs
            depths.append([[(price, qty) for price, qty, _ in side] for side in depth])
        return prices, depths

    plain, ranked = run([]), run(["value_priority"])
    assert plain[0] == ranked[0]  # the same lots trade at the same prices, action by action
    assert plain[1] == ranked[1]  # and the lots at each price level are the same after every action


# -- disclosure and composition ------------------------------------------------------------------


def test_disclosure_puts_both_sides_provenance_on_the_tape() -> None:
    world = World(policies=["disclosure"])
    world.limit("green", 1, "sell", 100, 2, values=["low_carbon", "fair_labour"], attestor="audit-co")
    outcome = world.limit("buyer", 1, "buy", 100, 1, externality=0.5)
    [fill] = outcome.effects["fills"]
    assert fill["maker_attestation"] == {"values": ["fair_labour", "low_carbon"], "externality": 0.0,
                                         "attested_by": "audit-co"}
    assert fill["taker_attestation"] == {"values": [], "externality": 0.5, "attested_by": "self"}
    [taped] = world.market.disclosed_tape()
    assert taped["maker"] == "green" and taped["time"] == 0.0 and taped["maker_attestation"]["values"]
    plain = World()
    plain.limit("green", 1, "sell", 100, 2, values=["low_carbon"])
    [fill] = plain.limit("buyer", 1, "buy", 100, 1).effects["fills"]
    assert "maker_attestation" not in fill and plain.market.disclosed_tape() == []


def test_policies_compose_screen_plus_fee_plus_priority() -> None:
    world = World(policies=["screen", "externality_fee", "value_priority"], fee_rate=1.0)
    assert world.limit("brown", 1, "sell", 100, 1, values=["deforestation"]).reason == \
        MarketReason.NORM_PROHIBITED
    world.limit("grey", 1, "sell", 100, 1, values=["high_carbon"], externality=2.0)
    world.limit("green", 1, "sell", 100, 1, values=["low_carbon"])
    outcome = world.act("buyer", "market", {"order_id": 1, "side": "buy", "qty": 2})
    assert [f["maker"] for f in outcome.effects["fills"]] == ["green", "grey"]
    assert world.market.pool == 2
    measures = world.measures()
    assert measures["norm_leakage"] == 0
    assert measures["aligned_volume_share"] == pytest.approx(1 / 4)
    assert math.isclose(measures["honest_rejection_rate"] or 0.0, 1 / 4)


def test_the_market_is_registered_with_its_policies_in_the_config_schema() -> None:
    schema = ValueMarket.Config.model_json_schema()
    assert "policies" in schema["properties"]
    assert ValueMarket.name == MARKET
