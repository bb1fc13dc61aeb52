"""Trader populations on a value_market: ZI-C efficiency, makers, value and noise traders, manipulators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from flagship.markets._mechanism import MarketConfig, MarketReason, TraderProfile, ValueMarket
from flagship.markets._populations import ManipulatorParams, ZIParams
from flagship.mechanisms import Arrival, population
from flagship.mechanisms.events import AgentRevoked, TradeExecuted, ViolationObserved
from flagship.sandbox._host import Host, action_rows, log_digest
from flagship.sandbox._runner import run
from flagship.sandbox._scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
MARKET = "value_market"
Populations = dict[str, tuple[str, int, float, dict[str, Any]]]


def world(populations: Populations, *, seed: int = 0, duration: float = 300.0,
          shocks: tuple[tuple[float, str, dict[str, Any]], ...] = (), **config: Any) -> Host:
    """A host with the market and the populations (name: model, count, rate, params), run to ``duration``."""
    host = Host(seed, keep_events=True)
    host.add_mechanism(MARKET, ValueMarket, MarketConfig(**config))
    for name, (model, count, rate, params) in populations.items():
        cls = population(model)
        host.add_population(name, cls, cls.Params.model_validate(params), count=count,
                            arrival=Arrival(process="poisson", rate=rate), mechanism=MARKET)
    for at, kind, payload in shocks:
        host.schedule_shock(at, kind, payload)
    host.start()
    host.env.run(until=duration)
    return host


def measures(host: Host) -> dict[str, float | None]:
    return {k.split(".", 1)[1]: v for k, v in host.finish().measure_map().items() if k.startswith(MARKET)}


def log(host: Host) -> list[tuple[Any, ...]]:
    """(action, outcome) of every action the market handled."""
    assert host.log is not None
    return [(a, o) for m, a, o in zip(host.log.mechanisms, host.log.actions, host.log.outcomes, strict=True)
            if m == MARKET]


def test_importing_the_module_registers_every_population() -> None:
    for model in ("zi_traders", "market_makers", "value_traders", "noise_traders", "manipulators"):
        assert population(model).name == model


# -- ZI-C --------------------------------------------------------------------------------------------


def test_zi_c_traders_reach_gode_and_sunder_allocative_efficiency() -> None:
    # Gode and Sunder (1993): six buyers and six sellers, values and costs on a fixed schedule, one
    # unit each per period, budget-constrained random shouts that replace the previous one.
    params = {"schedule": "fixed", "value_range": [60, 160], "cost_range": [40, 140], "period": 60.0,
              "price_floor": 1, "price_ceiling": 200}
    efficiencies = []
    for seed in range(6):
        host = world({"zi": ("zi_traders", 12, 2.0, params)}, seed=seed, duration=5 * 60.0)
        efficiency = measures(host)["allocative_efficiency"]
        assert efficiency is not None and 0.0 < efficiency <= 1.0  # a closed market cannot beat the CE
        efficiencies.append(efficiency)
    assert sum(efficiencies) / len(efficiencies) > 0.90, efficiencies


def test_zi_c_traders_never_shout_or_trade_at_a_loss() -> None:
    host = world({"zi": ("zi_traders", 10, 2.0, {"schedule": "uniform", "period": 30.0})}, duration=150.0)
    induced: dict[tuple[str, int], tuple[int | None, int | None]] = {}
    period_of: dict[str, int] = {}
    trades = 0
    for event in host.bus.log or []:
        if isinstance(event, TraderProfile) and event.units:
            induced[(event.actor, event.period)] = (event.value, event.cost)
            period_of[event.actor] = event.period
        elif isinstance(event, TradeExecuted):
            trades += 1
            for actor in (event.maker, event.taker):
                value, cost = induced[(actor, period_of[actor])]
                if value is not None:
                    assert event.price <= value
                else:
                    assert cost is not None and event.price >= cost
    assert trades > 5
    prices = [a.payload["price"] for a, o in log(host) if a.kind in ("limit", "modify") and o.accepted]
    assert prices and all(1 <= p <= 200 for p in prices)


def test_zi_params_are_validated() -> None:
    with pytest.raises(ValidationError):
        ZIParams(value_range=(150, 100))
    with pytest.raises(ValidationError):
        ZIParams(period=0)
    with pytest.raises(ValidationError):
        ZIParams(unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ManipulatorParams(spoof_probability=0.7, wash_probability=0.7)


# -- market makers, value and noise traders ------------------------------------------------------------


def test_market_makers_quote_both_sides_and_withdraw_after_a_liquidity_shock() -> None:
    host = world({
        "makers": ("market_makers", 2, 0.5, {"half_spread": 2, "withdraw_seconds": 50.0}),
        "noise": ("noise_traders", 4, 0.3, {}),
    }, shocks=((100.0, "liquidity_shock", {"fraction": 1.0}),), duration=200.0)
    entries = log(host)
    quoting = [a.time for a, o in entries if a.actor.startswith("makers") and a.kind in ("limit", "modify")]
    assert any(t < 100 for t in quoting) and any(t > 150 for t in quoting)
    assert not [t for t in quoting if 100 <= t < 150]  # out of the market while withdrawn
    cancels = [a.time for a, o in entries if a.actor.startswith("makers") and a.kind == "cancel"]
    assert 100.0 in cancels  # quotes pulled at the shock
    sides = {a.payload["side"] for a, o in entries if a.actor.startswith("makers") and a.kind == "limit"}
    assert sides == {"buy", "sell"}
    result = measures(host)
    assert result["quoted_spread_ticks"] is not None and result["quoted_spread_ticks"] < 8
    assert result["shock_drawdown"] is not None and result["shock_recovery_seconds"] is not None


def test_value_traders_attach_their_tags_and_norm_breaching_ones_are_screened_out() -> None:
    populations: Populations = {
        "makers": ("market_makers", 2, 0.3, {}),
        "green": ("value_traders", 4, 0.2, {"values": ["low_carbon"], "premium": 3.0}),
        "brown": ("value_traders", 4, 0.2, {"values": ["deforestation"], "externality": 5.0, "premium": 0.0}),
    }
    host = world(populations, policies=["screen"])
    green = [(a, o) for a, o in log(host) if a.actor.startswith("green") and a.kind == "limit"]
    brown = [(a, o) for a, o in log(host) if a.actor.startswith("brown") and a.kind == "limit"]
    assert green and all(a.payload["values"] == ["low_carbon"] for a, _ in green)
    assert any(o.accepted for _, o in green)
    assert brown and all(o.reason == MarketReason.NORM_PROHIBITED for _, o in brown)
    result = measures(host)
    assert result["norm_leakage"] == 0
    assert result["aligned_volume_share"] is not None and result["aligned_volume_share"] > 0
    assert result["honest_rejection_rate"] is not None and result["honest_rejection_rate"] > 0
    baseline = measures(world(populations))
    assert baseline["norm_leakage"] is not None and baseline["norm_leakage"] > 0


def test_traders_do_not_send_orders_into_a_halted_market() -> None:
    host = world({"makers": ("market_makers", 2, 0.5, {}), "noise": ("noise_traders", 4, 0.5, {})},
                 shocks=((50.0, "halt_trading", {"duration": 40.0}),), duration=150.0)
    assert not [o for _, o in log(host) if o.reason == MarketReason.HALTED]
    assert measures(host)["halts"] == 1


# -- manipulators -----------------------------------------------------------------------------------


def test_manipulators_are_caught_spoofing_and_wash_trading_and_honest_traders_are_not() -> None:
    host = world({
        "makers": ("market_makers", 2, 0.3, {}),
        "noise": ("noise_traders", 4, 0.2, {}),
        "green": ("value_traders", 4, 0.2, {}),
        "bad": ("manipulators", 3, 0.1, {}),
    }, duration=600.0)
    reports = [e for e in host.bus.log or [] if isinstance(e, ViolationObserved)]
    assert {r.kind for r in reports} == {"spoofing", "wash_trading"}
    assert all(r.actor.startswith("bad-") for r in reports)
    result = measures(host)
    assert result["manipulator_profit"] is not None
    assert result["gains_gini"] is not None and 0 <= result["gains_gini"] <= 1


def test_deceptive_agents_are_revoked_through_the_markets_surveillance() -> None:
    agents = pytest.importorskip("agents")
    host = Host(0, keep_events=True)
    host.add_mechanism("agent_gate", agents.AgentGate, agents.GateConfig(probation=60.0))
    host.add_mechanism(MARKET, ValueMarket, MarketConfig(admission="agents_only",
                                                         admission_exempt_populations=["makers"]))
    for name, model, count, target, params in (
        ("makers", "market_makers", 2, MARKET, {}),
        ("honest", "honest_agents", 8, "agent_gate", {"market": MARKET}),
        ("deceptive", "deceptive_agents", 4, "agent_gate", {"market": MARKET}),
    ):
        cls = population(model)
        host.add_population(name, cls, cls.Params.model_validate(params), count=count,
                            arrival=Arrival(process="poisson", rate=0.05), mechanism=target)
    host.start()
    host.env.run(until=2000.0)
    events = host.bus.log or []
    spoofers = {e.actor for e in events if isinstance(e, ViolationObserved) and e.kind == "spoofing"}
    revoked = {e.actor: e.time for e in events
               if isinstance(e, AgentRevoked) and e.reason != "ADMISSION_LAPSED"}
    assert spoofers and spoofers <= set(revoked)
    entries = log(host)
    # Once revoked, nothing of theirs is accepted (the market cancelled their resting orders too).
    assert not [a for a, o in entries if a.actor in revoked and a.time > revoked[a.actor] and o.accepted]
    assert not [o for o in host.mechanisms[MARKET].snapshot()["orders"] if o[1] in revoked]
    honest = [a for a, o in entries if a.kind == "limit" and o.accepted and a.actor not in revoked
              and not a.actor.startswith("makers")]
    assert honest


# -- runs and the example ------------------------------------------------------------------------------


def test_same_seed_same_log_and_another_seed_another() -> None:
    populations: Populations = {
        "zi": ("zi_traders", 6, 0.5, {}),
        "makers": ("market_makers", 1, 0.3, {}),
        "bad": ("manipulators", 2, 0.1, {}),
    }

    def digest(seed: int) -> str:
        host = world(populations, seed=seed, duration=120.0, policies=["externality_fee", "value_priority"])
        assert host.log is not None
        return log_digest(action_rows(host.log))

    assert digest(4) == digest(4)
    assert digest(4) != digest(5)


def test_the_example_runs_baseline_against_screen_and_value_priority() -> None:
    resolved = load_scenario(REPO / "examples" / "value_market.toml", ["duration=300.0", "shocks.0.at=150.0"])
    assert resolved.arm_names() == ["baseline", "screen", "value_priority"]
    results = {arm: run(resolved.with_arm(arm)).telemetry.measure_map() for arm in resolved.arm_names()}
    for arm, result in results.items():
        assert result[f"{MARKET}.allocative_efficiency"] is not None, arm
        assert result[f"{MARKET}.manipulator_profit"] is not None, arm
    assert results["screen"][f"{MARKET}.norm_leakage"] == 0
    assert (results["baseline"][f"{MARKET}.norm_leakage"] or 0) > 0
    assert (results["value_priority"][f"{MARKET}.norm_leakage"] or 0) > 0
