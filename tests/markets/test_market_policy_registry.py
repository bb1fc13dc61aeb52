"""The market policy registry and hooks: a new policy is one module plus one registration line."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from flagship.markets import (
    Attestation,
    FillFacts,
    MarketConfig,
    MarketPolicy,
    MarketReason,
    Rejection,
    ValueMarket,
    register_policy,
)
from flagship.markets._policy import listed_policies, policy_classes
from flagship.mechanisms import canonical_json
from tests.markets.test_market_mechanism import World


@register_policy
class _LotCap(MarketPolicy):
    """At most 5 lots an order; counts fills and adds the lots traded to each accepted outcome."""

    name = "lot_cap_for_tests"

    def __init__(self, market: ValueMarket) -> None:
        super().__init__(market)
        self.fills = 0
        self.lots = 0

    def admit(self, actor: str, att: Attestation, is_buy: bool, price: int, qty: int,
              market: bool) -> Rejection | None:
        return (MarketReason.INVALID_QTY, "at most 5 lots") if qty > 5 else None

    def on_fill(self, fill: FillFacts) -> None:
        self.fills += 1
        self.lots += fill.qty

    def on_accepted(self, effects: dict[str, Any]) -> None:
        effects["lots_so_far"] = self.lots

    def snapshot(self) -> dict[str, Any]:
        return {"lot_cap": self.lots}


def test_built_in_policies_are_registered_under_their_config_names() -> None:
    assert {"screen", "externality_fee", "value_priority", "disclosure"} <= set(listed_policies())
    names = [cls.name for cls in policy_classes()]
    assert {"halts", "agents_only_admission", "surveillance", "circuit_breaker"} <= set(names)
    ranks = [cls.rank for cls in policy_classes()]
    assert ranks == sorted(ranks)


def test_a_registered_policy_is_a_valid_config_name_and_unknown_names_are_refused() -> None:
    assert MarketConfig(policies=["lot_cap_for_tests", "screen"]).policies == ["lot_cap_for_tests", "screen"]
    with pytest.raises(ValidationError, match="unknown"):
        MarketConfig(policies=["auction"])
    with pytest.raises(ValidationError, match="unknown"):
        MarketConfig(policies=["halts"])  # switched on by its own fields, never listed


def test_a_plug_in_policy_runs_its_hooks_and_its_rejections_change_nothing() -> None:
    world = World(policies=["lot_cap_for_tests"])
    assert world.limit("alice", 1, "sell", 100, 4).effects["lots_so_far"] == 0
    before = canonical_json(world.market.snapshot())
    refused = world.limit("bob", 1, "buy", 100, 6)
    assert refused.reason == MarketReason.INVALID_QTY and refused.detail == "at most 5 lots"
    assert canonical_json(world.market.snapshot()) == before
    assert world.limit("bob", 2, "buy", 100, 3).effects["lots_so_far"] == 3
    policy = next(p for p in world.market.policies if isinstance(p, _LotCap))
    assert (policy.fills, policy.lots) == (1, 3)
    assert world.market.snapshot()["lot_cap"] == 3


def test_a_policy_that_is_off_is_not_called_and_adds_nothing_to_the_snapshot() -> None:
    world = World()
    assert not any(isinstance(p, _LotCap) for p in world.market.policies)
    assert world.limit("alice", 1, "sell", 100, 9).accepted
    assert "lot_cap" not in world.market.snapshot()


def test_only_overridden_hooks_are_bound() -> None:
    world = World()  # no listed policy: only halts and surveillance run
    desk = world.market.desk
    assert desk._admits == () and desk._priority is None and desk._fee is None
    assert [type(p).name for p in world.market.policies] == ["halts", "surveillance"]


def test_a_taken_name_cannot_be_registered_by_another_class() -> None:
    class Impostor(MarketPolicy):
        name = "screen"

    with pytest.raises(ValueError, match="already registered"):
        register_policy(Impostor)
    with pytest.raises(ValueError, match="identifier"):
        register_policy(type("Nameless", (MarketPolicy,), {}))


def test_reason_status_declares_the_live_statuses() -> None:
    status = ValueMarket.status_of
    assert status("UNKNOWN_ORDER") == 404
    assert status("NOT_ADMITTED") == 403
    for reason in ("INVALID_PAYLOAD", "INVALID_ID", "INVALID_SIDE", "INVALID_PRICE", "INVALID_QTY",
                   "INVALID_TIF", "INVALID_ATTESTATION", "UNKNOWN_VALUE_TAG", "UNTRUSTED_ATTESTOR",
                   "UNKNOWN_KIND"):
        assert status(reason) == 422, reason
    for reason in ("HALTED", "DUPLICATE_ID", "POST_ONLY_WOULD_CROSS", "NORM_PROHIBITED", "OFF_TICK",
                   "EXTERNALITY_CAP", "SELF_TRADE", "INVALID_OWNER"):
        assert status(reason) == 409, reason
