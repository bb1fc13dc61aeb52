"""The full-stack pilot: a gate, a market and a regulator that constrain each other through the bus.

``examples/full_stack_pilot.toml`` runs AI agents through the ``agent_gate`` into an agents-only
``value_market`` watched by an ``emergency_vote``; its arms drop the regulator, the gate, or both.
These tests check that the scenario and its arms are valid, that the layers move each other's
measures the expected way on the same seeds, that a decision binds and lapses at its sunset through
bus events alone, that runs are deterministic, that every declared event flow happens (and nothing
undeclared does), that the event-flow diagram in docs/architecture.md is the one the declarations
generate, and that the README's Quickstart command prints the scorecard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from flagship.mechanisms import MECHANISM_GROUP, Event, mechanism
from flagship.mechanisms.events import (
    BallotClosed,
    BallotOpened,
    DecisionLapsed,
    DecisionTaken,
    IncidentRaised,
    TradingHalted,
    TradingResumed,
    VoteConvened,
)
from flagship.sandbox import load_scenario
from flagship.sandbox._diagram import event_flow, render_mermaid
from flagship.sandbox._host import SCENARIO_SOURCE, Host
from flagship.sandbox._runner import build_host, run
from flagship.sandbox._scenario import ResolvedScenario
from tests._cli import flagship

REPO = Path(__file__).resolve().parent.parent
PILOT = REPO / "examples" / "full_stack_pilot.toml"
CRITERIA = REPO / "examples" / "criteria.toml"
ARMS = ["full_stack", "gate_only", "regulator_only", "neither"]
SEEDS = (101, 102, 103)  # the pilot's first seeds


@pytest.fixture(scope="module")
def pilot() -> ResolvedScenario:
    return load_scenario(PILOT)


@pytest.fixture(scope="module")
def measures(pilot: ResolvedScenario) -> dict[str, list[dict[str, float | None]]]:
    """arm -> the measures of each of SEEDS (the same seeds in every arm: paired)."""
    return {arm: [run(pilot.with_arm(arm), seed).measures() for seed in SEEDS] for arm in ARMS}


def _run_logged(resolved: ResolvedScenario, seed: int) -> Host:
    host = build_host(resolved, seed)
    host.bus.log = []  # keep every event, in delivery order
    host.start()
    host.env.run(until=resolved.scenario.duration)
    host.finish()
    return host


# -- the scenario -------------------------------------------------------------------------


def test_the_pilot_declares_four_arms_that_switch_layers_off(pilot: ResolvedScenario) -> None:
    assert pilot.arm_names() == ARMS
    layers = {arm: set(pilot.with_arm(arm).mechanism_configs) for arm in ARMS}
    # the survey follows the regulator's decisions, so it goes wherever the regulator goes
    assert layers == {"full_stack": {"agent_gate", "value_market", "emergency_vote", "legitimacy_survey"},
                      "gate_only": {"agent_gate", "value_market"},
                      "regulator_only": {"value_market", "emergency_vote", "legitimacy_survey"},
                      "neither": {"value_market"}}
    for arm in ("regulator_only", "neither"):  # no gate: an open market, agents trade directly
        armed = pilot.with_arm(arm)
        assert armed.data["mechanisms"]["value_market"]["admission"] == "open"
        assert {armed.data["populations"][p]["mechanism"] for p in ("honest", "incompetent", "deceptive")} \
            == {"value_market"}
    assert "citizens" not in pilot.with_arm("gate_only").data["populations"]


def test_the_pilot_validates_from_the_cli(tmp_path: Path) -> None:
    result = flagship("validate", str(PILOT), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "arms: full_stack, gate_only, regulator_only, neither" in result.stdout


# -- the layers change each other's measures ------------------------------------------------


def _values(measures: Mapping[str, list[dict[str, float | None]]], arm: str, key: str) -> list[float]:
    values = [m[key] for m in measures[arm]]
    assert all(v is not None for v in values), (arm, key, values)
    return [float(v) for v in values if v is not None]


def test_every_arm_runs_and_records_its_layers_measures(
        measures: dict[str, list[dict[str, float | None]]]) -> None:
    for arm in ARMS:
        for run_measures in measures[arm]:
            assert run_measures["value_market.allocative_efficiency"] is not None
            gated = arm in ("full_stack", "gate_only")
            regulated = arm in ("full_stack", "regulator_only")
            assert ("agent_gate.time_to_admission" in run_measures) is gated
            assert ("emergency_vote.turnout" in run_measures) is regulated
            # without a gate nobody applies: the admission measures are undefined, not zero
            assert (run_measures["deceptive.false_admission_rate"] is not None) is gated


def test_the_gate_and_the_regulator_each_cut_spoofing_on_the_same_seeds(
        measures: dict[str, list[dict[str, float | None]]]) -> None:
    spoofs = {arm: _values(measures, arm, "deceptive.spoof_orders_accepted") for arm in ARMS}
    for index in range(len(SEEDS)):  # paired: seed by seed
        assert spoofs["full_stack"][index] < spoofs["regulator_only"][index] < spoofs["neither"][index]
        assert spoofs["gate_only"][index] < spoofs["neither"][index]
    share = {arm: _values(measures, arm, "value_market.manipulator_volume_share") for arm in ARMS}
    assert sum(share["full_stack"]) < sum(share["neither"])
    assert sum(share["gate_only"]) < sum(share["neither"])


def test_halts_cut_the_spoof_count_but_the_rate_per_open_second_shows_no_protection(
        measures: dict[str, list[dict[str, float | None]]]) -> None:
    """Without a gate the regulator's halts lower the raw count only by closing the market: per second
    the market was open (from spoof_from) the deceptive agents spoof as often as with no regulator."""
    count = {arm: _values(measures, arm, "deceptive.spoof_orders_accepted") for arm in ARMS}
    rate = {arm: _values(measures, arm, "deceptive.spoof_orders_per_open_second") for arm in ARMS}
    market_rate = {arm: _values(measures, arm, "value_market.spoof_orders_per_open_second") for arm in ARMS}
    halted = _values(measures, "regulator_only", "value_market.halted_seconds")
    for index in range(len(SEEDS)):
        assert halted[index] > 0
        assert count["regulator_only"][index] < 0.8 * count["neither"][index]
        assert rate["regulator_only"][index] > 0.9 * rate["neither"][index]
        assert market_rate["regulator_only"][index] > 0.9 * market_rate["neither"][index]
    # the gate, by contrast, lowers the rate itself
    assert sum(rate["gate_only"]) < 0.5 * sum(rate["neither"])


def test_the_regulator_halts_the_market_and_the_gate_adds_no_halts(
        measures: dict[str, list[dict[str, float | None]]]) -> None:
    halted = {arm: _values(measures, arm, "value_market.halted_share") for arm in ARMS}
    assert halted["gate_only"] == halted["neither"] == [0.0] * len(SEEDS)  # no regulator: never halted
    assert all(h > 0 for h in halted["full_stack"] + halted["regulator_only"])
    # the spoofers reach the incident threshold before their third strike revokes them, so the
    # gate does not spare halts on these seeds (seeds 101-108: 1 or 2 halts, equal in both arms)
    assert sum(halted["full_stack"]) <= sum(halted["regulator_only"])
    # halts stop honest trading too: the price of the regulator is allocative efficiency
    efficiency = {arm: _values(measures, arm, "value_market.allocative_efficiency") for arm in ARMS}
    assert sum(efficiency["full_stack"]) < sum(efficiency["gate_only"])
    assert sum(efficiency["regulator_only"]) < sum(efficiency["neither"])
    # and the spoofs it stops earn no strikes: the gate revokes later under the full stack
    revoked = {arm: _values(measures, arm, "agent_gate.time_to_revocation")
               for arm in ("full_stack", "gate_only")}
    assert sum(revoked["full_stack"]) > sum(revoked["gate_only"])
    latency = _values(measures, "full_stack", "emergency_vote.incident_to_decision_seconds")
    assert all(0 < d < 600 for d in latency)


# -- a decision binds and lapses through the bus --------------------------------------------


def test_a_decision_binds_the_market_and_the_gate_until_it_lapses_at_its_sunset(
        pilot: ResolvedScenario) -> None:
    armed = pilot.with_arm("full_stack")
    host = build_host(armed, SEEDS[0])
    host.bus.log = []
    market, gate = host.mechanisms["value_market"], host.mechanisms["agent_gate"]
    base = gate.config.exam_threshold
    raise_by = armed.data["mechanisms"]["emergency_vote"]["measure_params"]["raise_gate_threshold"][
        "exam_threshold_delta"]
    binding: dict[str, str] = {}  # decision id -> measure, from the regulator's events only
    probed: list[str] = []

    def probe(event: DecisionTaken | DecisionLapsed) -> None:
        """Subscribed after the mechanisms: sees the market and the gate after they obeyed the event."""
        if isinstance(event, DecisionTaken):
            binding[event.decision_id] = event.measure
        else:
            binding.pop(event.decision_id)
        measures = list(binding.values())
        assert market.halted == ("halt_trading" in measures), (event, measures)
        assert gate.exam_threshold() == pytest.approx(min(1.0, base + raise_by * measures.count(
            "raise_gate_threshold"))), (event, measures)
        probed.append(event.measure)

    host.start()
    host.bus.subscribe(DecisionTaken, probe, name="probe")
    host.bus.subscribe(DecisionLapsed, probe, name="probe")
    host.env.run(until=armed.scenario.duration)
    log = host.bus.log
    assert log is not None
    taken = [e for e in log if isinstance(e, DecisionTaken)]
    lapsed = {e.decision_id: e for e in log if isinstance(e, DecisionLapsed)}
    assert taken and lapsed, "the pilot's first seed decides a measure that lapses within the run"
    assert "halt_trading" in probed
    first = taken[0]
    sunset = armed.data["mechanisms"]["emergency_vote"]["sunset_seconds"]
    assert first.sunset == pytest.approx(first.time + sunset)
    lapse = lapsed[first.decision_id]
    assert lapse.time == pytest.approx(first.sunset)  # it lapses at its sunset, not before or after
    # the vote's events come in order: incident -> convened -> ballot opened -> closed -> taken -> lapsed
    steps = IncidentRaised | VoteConvened | BallotOpened | BallotClosed
    order = [type(e) for e in log if isinstance(e, steps) or e is first or e is lapse]
    assert order.index(IncidentRaised) < order.index(VoteConvened) < order.index(BallotOpened) \
        < order.index(BallotClosed) < order.index(DecisionTaken) < order.index(DecisionLapsed)
    # a halt reaches the participants as the market's own TradingHalted / TradingResumed events
    for decision in taken:
        if decision.measure == "halt_trading" and decision.decision_id in lapsed:
            assert any(isinstance(e, TradingHalted) and e.time == decision.time for e in log)
            assert any(isinstance(e, TradingResumed) and e.time == lapsed[decision.decision_id].time
                       for e in log)


def test_the_same_seed_gives_the_same_log_and_measures(pilot: ResolvedScenario) -> None:
    armed = pilot.with_arm("full_stack")
    first, second = run(armed, SEEDS[1]), run(armed, SEEDS[1])
    assert first.action_log_sha256 is not None
    assert first.action_log_sha256 == second.action_log_sha256
    assert first.state_sha256 == second.state_sha256
    assert first.measures() == second.measures()
    assert run(armed, SEEDS[2]).action_log_sha256 != first.action_log_sha256


# -- declared event flows are the actual ones ------------------------------------------------


def test_every_declared_event_flow_happens_and_nothing_else(pilot: ResolvedScenario) -> None:
    host = _run_logged(pilot.with_arm("full_stack"), SEEDS[0])
    assert host.bus.log is not None
    published: dict[str, set[type[Event]]] = {}
    for event in host.bus.log:
        published.setdefault(event.source, set()).add(type(event))
    subscribed: dict[str, set[str]] = {}
    for topic, name in host.bus.subscribers():
        subscribed.setdefault(name, set()).add(topic)
    participants: dict[str, Any] = {**host.mechanisms, **host.populations}
    assert set(published) <= {*participants, SCENARIO_SOURCE}
    for name, participant in participants.items():
        cls = type(participant)
        assert published.get(name, set()) == set(cls.publishes), name
        declared = {t.topic for t in cls.subscribes}
        if name == "legitimacy_survey":
            # a survey declares every decision it can follow and subscribes to those its config
            # names: here the vote's (follow = ["vote"]), not the gate's
            assert list(participant.config.follow) == ["vote"]
            declared = {VoteConvened.topic, BallotClosed.topic}
        assert subscribed.get(name, set()) == declared, name


def _built_in_mechanisms() -> dict[str, Any]:
    """The mechanisms of installed distributions' entry points (not classes a test registered)."""
    return {ep.name: mechanism(ep.name) for ep in entry_points(group=MECHANISM_GROUP)}


def test_the_event_flow_diagram_in_the_docs_is_generated_from_the_declarations(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "architecture.md").read_text()
    found = re.search(r"<!-- event-flow:begin[^>]*-->\n```mermaid\n(.*?)```\n<!-- event-flow:end -->", doc,
                      re.S)
    assert found, "docs/architecture.md lost its generated event-flow block"
    expected = render_mermaid(event_flow(_built_in_mechanisms()))
    assert found.group(1) == expected, "regenerate the block with `flagship events`"
    printed = flagship("events", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == expected
    # the regulator's decisions reach both the market and the gate
    assert "e_DecisionTaken --> m_agent_gate" in expected and "e_DecisionTaken --> m_value_market" in expected


def test_the_event_flow_with_populations_draws_them_dotted(tmp_path: Path) -> None:
    printed = flagship("events", "--populations", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert "p_deceptive_agents([deceptive_agents])" in printed.stdout
    assert "p_deceptive_agents -.-> e_TraderProfile" in printed.stdout
    assert "e_VoteConvened -.-> p_citizens" in printed.stdout


# -- the Quickstart -------------------------------------------------------------------------


def _quickstart_run_args() -> list[str]:
    readme = (REPO / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    first = re.findall(r"^```(?:sh|bash|console)?\n(.*?)\n```", quickstart, re.S | re.M)[0]
    command = first.split("&&")[-1].split()
    assert command[0].endswith("flagship") and command[1] == "run", first
    return command[1:]


def test_the_quickstart_command_prints_the_measures_then_the_scorecard(tmp_path: Path) -> None:
    args = _quickstart_run_args()
    assert args == ["run", "examples/full_stack_pilot.toml", "--criteria", "examples/criteria.toml"]
    result = flagship(*[str(REPO / a) if a.startswith("examples/") else a for a in args],
                      "--replications", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # criteria may fail: `run` still completed
    out = result.stdout
    assert "robustness (mean ± 95% CI half-width, n=2 per arm)" in out
    assert out.index("robustness (mean") < out.index("scorecard")
    assert "the full stack cuts spoofing" in out and "deciding part" in out
    verdict = r"^(PASS|FAIL|INCONCLUSIVE): \d+ pass, \d+ fail, \d+ inconclusive of 14 criteria"
    assert re.search(verdict, out, re.M)
    assert (tmp_path / "flagship.db").is_file()  # the scenario's default store, where the user runs it


def test_run_with_criteria_as_json_and_bad_criteria(tmp_path: Path) -> None:
    result = flagship("run", str(PILOT), "--criteria", str(CRITERIA), "--replications", "2", "--json",
                      "--set", "duration=1200", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    scorecard = output["scorecard"]
    assert scorecard["arms"] == ARMS and len(scorecard["criteria"]) == 14
    assert {c["verdict"] for c in scorecard["criteria"]} <= {"pass", "fail", "inconclusive"}
    misfit = tmp_path / "misfit.toml"
    misfit.write_text('[[criteria]]\nmeasure = "ux.nothing"\nop = "<="\nthreshold = 1\n')
    shown = flagship("run", str(PILOT), "--criteria", str(misfit), "--replications", "1", "--set",
                     "duration=300", cwd=tmp_path)
    assert shown.returncode == 2  # the criteria do not fit this scenario: the measures are shown first
    assert "robustness (mean" in shown.stdout
    problem = f"{misfit}: criteria.0.measure: unknown measure 'ux.nothing'"
    assert any(line.startswith(problem) for line in shown.stderr.splitlines()), shown.stderr
    missing = flagship("run", str(PILOT), "--criteria", str(tmp_path / "nope.toml"), "--db",
                       f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"{tmp_path / 'nope.toml'}: no such file"
    assert not (tmp_path / "x.db").exists()  # refused before anything ran
