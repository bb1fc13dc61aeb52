"""``flagship serve --log-format json``: a line a log shipper can index when a trial starts and stops."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.live._support import ServerProcess, auth, write_scenario


def _records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_logs_name_the_trial_url_and_store_and_what_the_stop_drained(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=1, rate=0.2, time_factor=20.0)
    url = f"sqlite:///{tmp_path / 'live.db'}"
    server = ServerProcess(scenario, url, cwd=tmp_path, cli=True, extra_args=["--log-format", "json"])
    server.wait_ready()
    response = httpx.post(f"{server.url}/v1/shop/purchases", json={"offer": 120},
                          headers={**auth(), "Idempotency-Key": "logs-1"})
    assert response.status_code == 201
    assert server.stop()
    output = server.output()
    records = _records(output)
    assert [line for line in output.splitlines() if line.strip() and not line.startswith("{")] == []
    started = next(r for r in records if r.get("event") == "trial_started")
    stopped = next(r for r in records if r.get("event") == "trial_stopped")
    assert started["url"] == server.url and started["store"] == url and started["level"] == "info"
    assert started["logger"] == "flagship.live" and isinstance(started["time"], str)
    assert stopped["trial"] == started["trial"]
    assert isinstance(stopped["entries"], int) and stopped["entries"] >= 1
    assert stopped["checkpointed"] == stopped["entries"]  # the final checkpoint covers everything
    assert stopped["drained"] >= 0 and stopped["after_failure"] is False
    assert "tok-alice" not in output  # tokens are never logged


def test_text_logs_say_the_same_in_words(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=1, rate=0.2, time_factor=20.0)
    server = ServerProcess(scenario, f"sqlite:///{tmp_path / 'live.db'}", cwd=tmp_path, cli=True)
    server.wait_ready()
    assert server.stop()
    output = server.output()
    assert "flagship.live INFO trial " in output and " started (" in output
    assert "serving on http://" in output
    assert " stopped: " in output and "queued actions drained, the last signed checkpoint covers" in output
