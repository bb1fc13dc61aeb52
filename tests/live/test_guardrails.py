"""Guardrails: a burst of abusive orders crosses one and the server pauses itself, in the log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from flagship.mechanisms import Outcome, ScenarioError, StoreUnavailableError
from flagship.sandbox._live import EngineOptions, load_live_scenario
from flagship.sandbox._live._guardrails import Guardrail, Guardrails
from flagship.sandbox._replay import commits_from_entries, replay_scenario
from flagship.sandbox._trial_control import OPERATOR
from flagship.telemetry import MeasureValue, Store
from flagship.telemetry._prometheus import LiveMetrics
from flagship.telemetry._trial_log import TrialLog
from tests.live._support import auth, build_live, serving, until, write_scenario

GUARDRAIL = """
[[live.guardrails]]
name = "turned_away"
measure = "posted_price.turned_away_ratio"
op = "<="
threshold = 0.9
min_entries = 30
description = "most buy requests are served: a flood of refused ones is abuse"
"""


def test_a_burst_crosses_a_guardrail_and_the_server_pauses_itself(store_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=1, rate=0.1, time_factor=10.0, limits=GUARDRAIL)
    options = EngineOptions(tick_seconds=0.02, measures_seconds=0.2, checkpoint_seconds=0.3)
    live = build_live(store_url, scenario, tmp_path, options=options)
    trial_id = live.engine.trial.id
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        assert 'flagship_guardrail_crossed{guardrail="turned_away"} -1.0' in client.get("/metrics").text
        for i in range(60):  # the burst: lowball orders the shop refuses, one after another
            refused = client.post("/v1/shop/purchases", json={"offer": 1},
                                  headers={**auth(), "Idempotency-Key": f"burst-{i}"})
            assert refused.json()["reason"] in ("BELOW_PRICE", "TRIAL_PAUSED"), refused.text
        until(lambda: client.get("/v1/operator").json()["status"] == "paused")
        late = client.post("/v1/shop/purchases", json={"offer": 500},
                           headers={**auth(), "Idempotency-Key": "late"})
        assert late.status_code == 409 and late.json()["reason"] == "TRIAL_PAUSED"
        metrics = client.get("/metrics").text
        assert 'flagship_guardrail_crossed{guardrail="turned_away"} 1.0' in metrics
        assert 'flagship_guardrail_value{guardrail="turned_away"}' in metrics
    with Store.open(store_url) as store:
        log = TrialLog(store)
        assert log.verify(trial_id).ok
        entries = list(log.entries(trial_id))
    pauses = [e for e in entries if e.origin == OPERATOR]
    assert [(e.kind, e.actor, e.accepted) for e in pauses] == [("pause", "guardrail:turned_away", True)]
    payload = json.loads(pauses[0].payload)
    assert payload["guardrail"] == "turned_away" and payload["measure"] == "posted_price.turned_away_ratio"
    assert payload["value"] > 0.9 and payload["threshold"] == 0.9 and payload["log_entries"] >= 30
    # Paused by the first refresh that saw the crossing: no burst entry lies a refresh beyond it
    # unjudged (the entries after the pause are refusals only).
    after = entries[pauses[0].seq + 1:]
    assert all(not e.accepted and e.reason == "TRIAL_PAUSED" for e in after if e.origin == "http")
    host, report, _ = replay_scenario(load_live_scenario(scenario).resolved, live.engine.trial.seed,
                                      commits_from_entries(entries, trial_id=trial_id))
    assert report.exact, report.divergences[:3]
    assert host.control.status == "paused"


def test_a_guardrail_on_an_unknown_measure_is_refused(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, limits=GUARDRAIL.replace("turned_away_ratio", "turned_awy")
                              + GUARDRAIL.replace("min_entries = 30", ""))
    with pytest.raises(ScenarioError) as raised:
        load_live_scenario(scenario)
    paths = [p.path for p in raised.value.problems]
    assert paths == ["live.guardrails.0.measure", "live.guardrails.1.name"], raised.value.problems


def test_a_guardrail_pauses_on_crossing_only_and_retries_a_failed_pause() -> None:
    calls: list[tuple[str, dict[str, object]]] = []
    state = {"running": True, "fail": False}

    async def pause(actor: str, payload: dict[str, object]) -> Outcome:
        if state["fail"]:
            raise StoreUnavailableError("down")
        calls.append((actor, payload))
        state["running"] = False
        return Outcome.accept()

    metrics = LiveMetrics()
    rails = Guardrails([Guardrail(name="g", measure="robustness.ratio_x", op="<=", threshold=0.5,
                                  min_entries=10)], metrics, pause, lambda: bool(state["running"]))

    def judge(value: float, size: int = 20) -> list[str]:
        return asyncio.run(rails.judge([MeasureValue("m", "ratio_x", "robustness", "ratio", False, value)],
                                       size))

    assert judge(0.9, size=5) == []  # too little data: not judged
    assert 'flagship_guardrail_crossed{guardrail="g"} -1.0' in metrics.render(None)[0].decode()
    assert judge(0.4) == [] and not calls  # holds
    state["fail"] = True
    assert judge(0.9) == [] and not calls  # crossed, the pause failed...
    state["fail"] = False
    assert judge(0.9) == ["g"]  # ...and is tried again at the next refresh
    assert calls[0][0] == "guardrail:g" and calls[0][1]["value"] == 0.9
    state["running"] = True  # an operator resumed while the measure is still crossed
    assert judge(0.95) == []  # edge-triggered: no second pause until it has held once
    assert judge(0.3) == [] and judge(0.8) == ["g"]
