"""Simulated agent populations through the gate, and the gate reacting to a market through the bus only."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from flagship import agents
from flagship.agents import AgentGate, GateConfig
from flagship.mechanisms import (
    Action,
    Arrival,
    CommonReason,
    Mechanism,
    NoConfig,
    Outcome,
    population,
    register,
    unregister,
)
from flagship.mechanisms.events import (
    AgentAdmitted,
    AgentReinstated,
    AgentRevoked,
    AgentSuspended,
    ViolationObserved,
)
from flagship.sandbox._host import Host, action_rows, log_digest
from flagship.sandbox._runner import run
from flagship.sandbox._scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
GATE = "agent_gate"
MARKET = "fake_market"
FAST = Arrival(process="poisson", rate=0.05)


class FakeMarketReason(StrEnum):
    NOT_ADMITTED = "NOT_ADMITTED"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"


class FakeMarket(Mechanism[NoConfig]):
    """Accepts orders only from admitted agents; reports quick cancels of large orders as spoofing.

    It knows nothing of the gate but its events, and the gate knows nothing of it but
    ViolationObserved: the two compose through the bus only.
    """

    name = MARKET
    reasons = FakeMarketReason
    publishes = (ViolationObserved,)
    subscribes = (AgentAdmitted, AgentSuspended, AgentReinstated, AgentRevoked)

    def __init__(self, config: NoConfig, ctx: Any) -> None:
        super().__init__(config, ctx)
        self.admitted: set[str] = set()
        self.orders: dict[str, tuple[str, int, float]] = {}
        self.accepted_from: list[tuple[float, str]] = []

    def start(self) -> None:
        for event_type in (AgentAdmitted, AgentReinstated):
            self.ctx.subscribe(event_type, lambda e: self.admitted.add(e.actor))
        for event_type in (AgentSuspended, AgentRevoked):
            self.ctx.subscribe(event_type, lambda e: self.admitted.discard(e.actor))

    def handle(self, action: Action) -> Outcome:
        payload = action.payload
        if action.kind == "limit":
            if action.actor not in self.admitted:
                return Outcome.reject(FakeMarketReason.NOT_ADMITTED)
            self.orders[payload["order_id"]] = (action.actor, int(payload["qty"]), action.time)
            self.accepted_from.append((action.time, action.actor))
            return Outcome.accept()
        if action.kind == "cancel":
            order = self.orders.pop(payload["order_id"], None)
            if order is None or order[0] != action.actor:
                return Outcome.reject(FakeMarketReason.UNKNOWN_ORDER)
            actor, qty, placed = order
            if qty >= 20 and action.time - placed <= 5.0:
                self.ctx.publish(ViolationObserved(time=action.time, source=self.ctx.name, actor=actor,
                                                   kind="spoofing", severity=0.9,
                                                   evidence={"order_id": payload["order_id"]}))
            return Outcome.accept()
        return Outcome.reject(CommonReason.UNKNOWN_KIND)

    def snapshot(self) -> dict[str, Any]:
        return {"admitted": sorted(self.admitted), "orders": self.orders}


@pytest.fixture
def fake_market() -> Iterator[type[FakeMarket]]:
    register(FakeMarket)
    yield FakeMarket
    unregister(MARKET)


def world(populations: dict[str, tuple[str, int, dict[str, Any]]], *, seed: int = 0, duration: float = 3000.0,
          market: bool = False, **gate: Any) -> Host:
    """A host with the gate (and the fake market), the populations, run to ``duration``."""
    host = Host(seed, keep_events=True)
    host.add_mechanism(GATE, AgentGate, GateConfig(**gate))
    if market:
        host.add_mechanism(MARKET, FakeMarket, NoConfig())
    for name, (model, count, params) in populations.items():
        cls = population(model)
        host.add_population(name, cls, cls.Params.model_validate(params), count=count, arrival=FAST,
                            mechanism=GATE)
    host.start()
    host.env.run(until=duration)
    return host


def measures(host: Host) -> dict[str, float | None]:
    return host.finish().measure_map()


def test_importing_agents_registers_every_population() -> None:
    for model in ("honest_agents", "incompetent_agents", "deceptive_agents", "sybil_agents",
                  "forger_agents", "replayer_agents"):
        assert population(model).name == model
    assert agents.AgentGate.name == GATE


def test_honest_agents_get_in_and_forgers_and_replayers_do_not() -> None:
    host = world({
        "honest": ("honest_agents", 30, {}),
        "forgers": ("forger_agents", 8, {}),
        "replayers": ("replayer_agents", 6, {}),
    })
    result = measures(host)
    assert result["honest.false_rejection_rate"] is not None
    assert result["honest.false_rejection_rate"] <= 0.1
    assert result["honest.steps_per_admission"] is not None and result["honest.steps_per_admission"] >= 2
    assert result["honest.time_to_admission"] is not None and result["honest.time_to_admission"] > 0
    assert result["forgers.false_admission_rate"] == 0.0
    assert result["replayers.false_admission_rate"] == 0.0
    counters = host.telemetry.collect(host.declared_measures()).counters
    # Every forgery and replay mode is caught by its own check.
    for reason in ("CREDENTIAL_UNTRUSTED_EVALUATOR", "CREDENTIAL_BAD_SIGNATURE"):
        assert counters[f"forgers.rejected.{reason}"] > 0
    for reason in ("CREDENTIAL_SUBJECT_MISMATCH", "BAD_PROOF"):
        assert counters[f"replayers.rejected.{reason}"] > 0


def test_incompetent_agents_are_mostly_kept_out_by_credentials_and_exam() -> None:
    result = measures(world({"incompetent": ("incompetent_agents", 40, {})}))
    rate = result["incompetent.false_admission_rate"]
    assert rate is not None and rate < 0.3


def test_deceptive_agents_pass_the_exam_but_get_caught_by_the_market_through_the_bus(
        fake_market: type[FakeMarket]) -> None:
    host = world({  # honest agents placing no block orders: the fake market's crude detector spares them
        "honest": ("honest_agents", 20, {"market": MARKET, "block_probability": 0.0}),
        "deceptive": ("deceptive_agents", 10, {"market": MARKET}),
    }, market=True, probation=60.0)
    result = measures(host)
    assert result["deceptive.false_admission_rate"] == 1.0  # the exam cannot see them
    assert result["deceptive.caught_ratio"] == 1.0  # the strikes can
    assert result["deceptive.spoof_orders_accepted"] is not None
    assert result["deceptive.spoof_orders_accepted"] > 0
    assert result["agent_gate.time_to_revocation"] is not None
    assert result["agent_gate.violations_before_revocation"] is not None
    assert result["honest.wrongful_sanction_rate"] == 0.0
    market = host.mechanisms[MARKET]
    assert isinstance(market, FakeMarket)
    revoked_at = {e.actor: e.time for e in host.bus.log or []
                  if isinstance(e, AgentRevoked) and e.reason != "ADMISSION_LAPSED"}
    assert revoked_at
    # Once revoked, no order of theirs is ever accepted again (no appeal was upheld: strong evidence).
    assert all(t <= revoked_at[actor] for t, actor in market.accepted_from if actor in revoked_at)
    honest_orders = sum(1 for _, actor in market.accepted_from if actor not in revoked_at)
    assert honest_orders > 0


def test_honest_block_orders_repriced_quickly_get_honest_agents_wrongly_sanctioned(
        fake_market: type[FakeMarket]) -> None:
    """The default honest conduct (blocks, quick reprices) trips a detector of large quick cancels."""
    host = world({"honest": ("honest_agents", 20, {"market": MARKET})}, market=True, probation=60.0)
    result = measures(host)
    rate = result["honest.wrongful_sanction_rate"]
    assert rate is not None and 0.0 < rate <= 1.0
    calm = measures(world({"honest": ("honest_agents", 20, {"market": MARKET, "block_probability": 0.0,
                                                            "reprice_probability": 0.0})},
                          market=True, probation=60.0))
    assert calm["honest.wrongful_sanction_rate"] == 0.0


def test_marginally_competent_honest_agents_can_be_refused() -> None:
    """Competence spans 0.6-1.0: the noisy credential and the exam refuse some agents near the bar."""
    rates = [measures(world({"honest": ("honest_agents", 30, {})}, seed=seed))["honest.false_rejection_rate"]
             for seed in range(4)]
    assert all(rate is not None for rate in rates)
    assert max(rate or 0.0 for rate in rates) > 0.0
    strong = measures(world({"honest": ("honest_agents", 30, {"competence": (0.95, 1.0)})}))
    assert strong["honest.false_rejection_rate"] == 0.0


def test_without_a_market_deceptive_agents_stay_admitted_and_damage_is_undefined() -> None:
    result = measures(world({"deceptive": ("deceptive_agents", 6, {})}))
    assert result["deceptive.false_admission_rate"] == 1.0
    assert result["deceptive.caught_ratio"] == 0.0
    assert result["deceptive.spoof_orders_accepted"] is None
    assert result["deceptive.spoof_orders_per_open_second"] is None


def test_sybil_operators_get_in_more_often_than_their_identities() -> None:
    result = measures(world({"sybils": ("sybil_agents", 40, {"operators": 4, "competence": (0.6, 0.8)})},
                            seed=1))
    per_identity = result["sybils.false_admission_rate"]
    per_operator = result["sybils.operator_admission_rate"]
    assert per_identity is not None and per_operator is not None
    assert per_operator >= per_identity
    assert per_operator > 0


def test_vendor_parity_exposes_a_gate_that_trusts_only_some_vendors_evaluators() -> None:
    vendors = {"vendors": {"acme": "eval-a", "globex": "eval-c"}}
    fair = measures(world({"honest": ("honest_agents", 20, vendors)},
                          trusted_evaluators=["eval-a", "eval-c"]))
    unfair = measures(world({"honest": ("honest_agents", 20, vendors)}, trusted_evaluators=["eval-a"]))
    assert fair["honest.vendor_admission_gap"] is not None and fair["honest.vendor_admission_gap"] <= 0.2
    assert unfair["honest.vendor_admission_gap"] == 1.0
    assert unfair["honest.false_rejection_rate"] == pytest.approx(0.5)


def test_identities_and_runs_are_deterministic_per_seed() -> None:
    def digest(seed: int) -> tuple[str, set[str]]:
        host = world({"honest": ("honest_agents", 5, {}), "forgers": ("forger_agents", 4, {})},
                     seed=seed, duration=600.0)
        assert host.log is not None
        actors = {action.actor for action in host.log.actions}
        return log_digest(action_rows(host.log)), actors

    first, first_actors = digest(4)
    again, again_actors = digest(4)
    other, other_actors = digest(5)
    assert (first, first_actors) == (again, again_actors)
    assert first != other
    assert not first_actors & other_actors  # identities come from the run's seed


def test_population_params_are_validated() -> None:
    params = population("honest_agents").Params
    for bad in ({"competence": (0.9, 0.1)}, {"honesty": (0.0, 1.5)}, {"vendors": {}}, {"colour": "red"}):
        with pytest.raises(ValidationError):
            params.model_validate(bad)
    with pytest.raises(ValidationError):
        population("forger_agents").Params.model_validate({"modes": ["bribery"]})


def test_the_example_scenario_runs_and_reports_rates_per_adversary_type() -> None:
    resolved = load_scenario(REPO / "examples" / "agents_gate.toml")
    result = run(resolved)
    assert result.telemetry is not None
    values = result.telemetry.measure_map()
    for adversary in ("incompetent", "deceptive", "sybils", "forgers", "replayers"):
        assert f"{adversary}.false_admission_rate" in values
    assert values["honest.false_rejection_rate"] is not None
    assert values["forgers.false_admission_rate"] == 0.0
