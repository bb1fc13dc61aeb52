"""Guardrails rehearsed in a simulated trial: a crossing pauses the run as it would pause a live trial."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from flagship.mechanisms import ScenarioError
from flagship.sandbox._live import load_live_scenario
from flagship.sandbox._rehearsal import run_commits
from flagship.sandbox._replay import replay_scenario
from flagship.sandbox._runner import run
from flagship.sandbox._scenario import ResolvedScenario, load_scenario
from flagship.sandbox._trial_control import OPERATOR
from flagship.telemetry import RunResult

MARKET = """
name = "spoof_rehearsal"
seed = 1
duration = 300.0

[mechanisms.value_market]
tick_size = 1

[mechanisms.value_market.surveillance]
spoof_min_qty = 20
spoof_min_distance = 5
spoof_repeat = 2

[populations.zi]
model = "zi_traders"
count = 8
arrival = { process = "poisson", rate = 0.5 }
[populations.zi.params]
period = 60.0
value_range = [60, 140]
cost_range = [60, 140]
price_floor = 40
price_ceiling = 160

[populations.manipulators]
model = "manipulators"
count = 2
arrival = { process = "poisson", rate = 0.05 }
params = { spoof_probability = 0.5, wash_probability = 0.0, spoof_qty = 50, spoof_offset = 8 }
"""

GUARDRAIL = """
[[live.guardrails]]
name = "spoofing"
measure = "value_market.spoof_orders"
op = "<="
threshold = {threshold}
"""

CROSSES, HOLDS = 1, 4
"""Seeds: with seed 1 the manipulators' second spoof is seen at t=105; with seed 4 they never spoof."""

PLAIN_STATE_SHA256 = "a7eea5cfa1b881959dbbcc7e1c4f159129562ff468b8f952a6048a892508e4a0"
"""The state hash of MARKET, seed 4, computed before rehearsals existed."""


def _scenario(tmp_path: Path, extra: str = "", name: str = "s.toml") -> ResolvedScenario:
    path = tmp_path / name
    path.write_text(MARKET + extra)
    return load_scenario(path)


def _guarded(tmp_path: Path, threshold: float = 1, extra: str = "") -> ResolvedScenario:
    return _scenario(tmp_path, GUARDRAIL.format(threshold=threshold) + extra)


def _operator_rows(result: RunResult) -> list[tuple[float, str, str, dict[str, object]]]:
    import json
    assert result.actions is not None
    return [(row[1], row[3], row[4], json.loads(row[5])) for row in result.actions if row[2] == OPERATOR]


def test_the_spoofing_population_crosses_the_guardrail_under_one_seed_and_not_another(tmp_path: Path) -> None:
    scenario = _guarded(tmp_path)
    crossed, held = run(scenario, CROSSES), run(scenario, HOLDS)

    assert _operator_rows(crossed) == [(105.0, "guardrail:spoofing", "pause", {
        "guardrail": "spoofing", "measure": "value_market.spoof_orders", "value": 2.0, "op": "<=",
        "threshold": 1.0, "log_entries": 256})]
    measures = crossed.telemetry.measure_map()
    assert measures["guardrails.guardrail_pauses"] == 1
    assert measures["guardrails.time_paused_share"] == pytest.approx((300 - 105) / 300)
    assert crossed.actions is not None
    after = [row for row in crossed.actions if row[1] > 105.0]
    assert after, "the participants go on arriving while the trial is paused"
    # paused: every new order is refused with the trial-control reason; cancels are still taken
    assert {row[7] for row in after if row[4] != "cancel"} == {"TRIAL_PAUSED"}

    assert _operator_rows(held) == []
    assert held.telemetry.measure_map()["guardrails.guardrail_pauses"] == 0
    assert held.telemetry.measure_map()["guardrails.time_paused_share"] == 0


def test_the_guardrails_measures_are_declared_like_any_other(tmp_path: Path) -> None:
    result = run(_guarded(tmp_path), CROSSES)
    declared = {(m.scope, m.name): m for m in result.telemetry.measures if m.scope == "guardrails"}
    assert set(declared) == {("guardrails", "guardrail_pauses"), ("guardrails", "time_paused_share")}
    assert declared["guardrails", "time_paused_share"].bounds == (0.0, 1.0)
    assert declared["guardrails", "guardrail_pauses"].unit == "count"


def test_a_scenario_without_guardrails_runs_as_before(tmp_path: Path) -> None:
    plain = run(_scenario(tmp_path), HOLDS)
    assert plain.state_sha256 == PLAIN_STATE_SHA256
    assert not [m for m in plain.telemetry.measures if m.scope == "guardrails"]
    # guardrails that never cross change nothing but the two measures they add
    never = run(_guarded(tmp_path, threshold=1000), HOLDS)
    assert (never.state_sha256, never.action_log_sha256) == (plain.state_sha256, plain.action_log_sha256)


def test_a_replay_of_the_log_reproduces_the_pause_and_every_state_hash(tmp_path: Path) -> None:
    scenario = _guarded(tmp_path)
    result = run(scenario, CROSSES)
    assert result.actions is not None
    commits = run_commits(result.actions, scenario.scenario.duration)

    host, report, _ = replay_scenario(scenario, CROSSES, commits)
    assert report.exact, [str(d) for d in report.divergences]
    assert report.external == 1  # the pause, fed from the log: the replay judges nothing itself
    assert report.state_sha256 == result.state_sha256
    assert host.control.status == "paused"

    # the same log without its operator entry fed diverges where the participants met the pause
    unfed = [dataclasses.replace(c, entries=tuple(dataclasses.replace(e, external=False) for e in c.entries))
             for c in commits]
    _, diverged, _ = replay_scenario(scenario, CROSSES, unfed)
    assert not diverged.exact
    assert diverged.state_sha256 != result.state_sha256


def test_a_rehearsing_operator_resumes_after_the_declared_delay(tmp_path: Path) -> None:
    scenario = _guarded(tmp_path, extra="[live.rehearsal]\ninterval = 10.0\nresume_after = 30.0\n")
    result = run(scenario, CROSSES)
    rows = _operator_rows(result)
    kinds = [(actor, kind) for _, actor, kind, _ in rows]
    assert kinds[:2] == [("guardrail:spoofing", "pause"), ("rehearsal", "resume")]
    pauses = [t for t, _, kind, _ in rows if kind == "pause"]
    resumes = [t for t, _, kind, _ in rows if kind == "resume"]
    assert [r - p for p, r in zip(pauses, resumes, strict=False)] == [30.0] * len(resumes)
    paused = 30.0 * len(resumes) + sum(300 - p for p in pauses[len(resumes):])
    measures = result.telemetry.measure_map()
    assert measures["guardrails.guardrail_pauses"] == len(pauses)
    assert measures["guardrails.time_paused_share"] == pytest.approx(paused / 300)

    assert result.actions is not None
    _, report, _ = replay_scenario(scenario, CROSSES, run_commits(result.actions, 300.0))
    assert report.exact and report.state_sha256 == result.state_sha256


def test_a_guardrail_on_no_measure_of_the_scenario_is_refused_with_its_path(tmp_path: Path) -> None:
    bad = GUARDRAIL.format(threshold=1).replace("value_market.spoof_orders", "value_market.spoofs")
    with pytest.raises(ScenarioError) as refused:
        _scenario(tmp_path, bad + "[live.rehearsal]\ninterval = -1\n")
    assert {p.path for p in refused.value.problems} == {"live.rehearsal.interval"}
    with pytest.raises(ScenarioError) as unknown:
        _scenario(tmp_path, bad)
    assert [p.path for p in unknown.value.problems] == ["live.guardrails.0.measure"]


def test_serve_accepts_the_rehearsal_table(tmp_path: Path) -> None:
    path = tmp_path / "live.toml"
    path.write_text(MARKET + GUARDRAIL.format(threshold=1) + "[live.rehearsal]\nresume_after = 60.0\n")
    live = load_live_scenario(path)
    assert live.spec.rehearsal.resume_after == 60.0
    assert [g.name for g in live.spec.guardrails] == ["spoofing"]


def test_sweeps_and_tuning_know_the_guardrails_measures_when_guardrails_are_rehearsed(tmp_path: Path) -> None:
    from flagship.sandbox._sweep import declared_measures
    guarded = declared_measures(_guarded(tmp_path))
    assert guarded["guardrails.time_paused_share"].bounds == (0.0, 1.0)
    assert "guardrails.guardrail_pauses" in guarded
    assert not [key for key in declared_measures(_scenario(tmp_path)) if key.startswith("guardrails.")]
