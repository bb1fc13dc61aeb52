"""The split server (``flagship serve --workers 2``) for real: a sequencer and two HTTP workers.

On both backends, as a subprocess on loopback: signed agents apply, pass the exam and trade.
Every connection is new, so the kernel hands requests to either worker; the checks are that
a client reads its acknowledged write at once from whichever worker answers (the read barrier),
a retried key is answered from the committed outcome by the other worker too, every receipt
verifies against the log, both workers served (the per-worker samples of ``/metrics``, which
promtool accepts), a worker killed with SIGKILL is started again while the other serves, and the
log a split server wrote resumes in a one-process server with the same state. A killed sequencer
takes its workers with it (nothing keeps the port). The sequencer says which event loop it runs
on: uvloop's, as the workers.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from flagship.agents import WebBotAuth
from flagship.telemetry import Store
from flagship.telemetry._receipts import Receipt, audit_trial
from flagship.telemetry._trial_log import TrialLog
from tests.live._gate_support import agent, answer_body, application_body, write_gate_scenario
from tests.live._support import ServerProcess, free_port, require_tool

AGENTS = [agent(f"split-{i}") for i in range(3)]
WORKERS = 2


def _workers(server: ServerProcess) -> list[psutil.Process]:
    return [child for child in psutil.Process(server.process.pid).children()
            if any("_live._worker_main" in part for part in child.cmdline())]


async def _fresh(url: str, method: str, path: str, *, who: Any = None, body: Any = None,
                 key: str | None = None) -> httpx.Response:
    """One request on a new connection (so either worker may take it)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        headers = {"Idempotency-Key": key} if key is not None else {}
        return await client.request(method, path, json=body, headers=headers,
                                    auth=WebBotAuth(who) if who is not None else None)


async def _session(url: str) -> dict[str, Any]:
    receipts: list[Receipt] = []
    for who in AGENTS:
        applied = await _fresh(url, "POST", "/v1/gate/applications", who=who, body=application_body(who),
                               key=uuid.uuid4().hex)
        assert applied.status_code == 201, applied.text
        decided = await _fresh(url, "POST", f"/v1/gate/applications/{applied.json()['exam_id']}/answers",
                               who=who, body=answer_body(who, applied.json()), key=uuid.uuid4().hex)
        assert decided.status_code == 200 and decided.json()["decision"] == "admitted", decided.text
    placed = 0
    for n in range(30):
        who = AGENTS[n % len(AGENTS)]
        buy = n % 2 == 1  # bids below asks: every order rests (nobody trades with itself)
        order = {"order_id": f"o{n}", "side": "buy" if buy else "sell", "type": "limit",
                 "price": 9_990 - n if buy else 10_010 + n, "qty": 1 + n % 4}
        answer = await _fresh(url, "POST", "/v1/market/orders", who=who, body=order, key=f"k{n}")
        assert answer.status_code == 201, answer.text
        placed += 1
        receipts.append(Receipt.from_header(answer.headers["flagship-receipt"]))
        # read-your-writes from whichever worker takes the next connection
        mine = await _fresh(url, "GET", "/v1/market/orders", who=who)
        assert mine.status_code == 200, mine.text
        assert answer.json()["resting"] == order["qty"]
        assert f"o{n}" in {o["order_id"] for o in mine.json()["orders"]}, (n, mine.json())
        if n % 10 == 9:  # a retry under the same key, on a new connection: the committed answer
            size = (await _fresh(url, "GET", "/v1/trial")).json()["log_size"]
            again = await _fresh(url, "POST", "/v1/market/orders", who=who, body=order, key=f"k{n}")
            assert again.status_code == 201 and again.json() == answer.json(), again.text
            assert again.headers.get("idempotent-replayed") == "true"
            assert (await _fresh(url, "GET", "/v1/trial")).json()["log_size"] == size
    metrics = await _fresh(url, "GET", "/metrics")
    trial = (await _fresh(url, "GET", "/v1/trial")).json()
    return {"receipts": receipts, "metrics": metrics.text, "trial": trial, "placed": placed}


def test_split_server_acks_reads_retries_and_recovers(store_url: str, tmp_path: Path) -> None:
    port = free_port()
    scenario = write_gate_scenario(tmp_path, time_factor=20.0, authority=f"127.0.0.1:{port}",
                                   market="[mechanisms.value_market.surveillance]\nenabled = false",
                                   limits="[live.limits]\nrate_per_second = 1e6\nburst = 1000000\n")
    server = ServerProcess(scenario, store_url, cwd=tmp_path, port=port, workers=WORKERS)
    try:
        server.wait_ready()
        assert len(_workers(server)) == WORKERS
        # the sequencer runs on uvloop, as the workers do (its link and timers cost less there)
        assert f"sequencer: {WORKERS} workers, on the uvloop event loop" in server.log_path.read_text()
        found = asyncio.run(_session(server.url))

        promtool = require_tool("promtool")
        checked = subprocess.run([promtool, "check", "metrics"], input=found["metrics"].encode(),
                                 capture_output=True, check=False)
        assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr
        families = {f.name: f for f in text_string_to_metric_families(found["metrics"])}
        served = {s.labels.get("worker") for s in families["flagship_http_requests"].samples}
        assert served == {"0", "1"}, served  # both workers answered requests, each counted once
        committed = sum(s.value for s in families["flagship_actions"].samples
                        if s.name == "flagship_actions_total" and s.labels["origin"] == "http")
        assert committed >= found["placed"] + 2 * len(AGENTS)  # the sequencer's own families are there

        # a worker killed outright is started again; meanwhile the other one serves
        victim = _workers(server)[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        health = httpx.get(f"{server.url}/v1/trial", timeout=10)
        assert health.status_code == 200
        deadline = time.monotonic() + 30
        while len([w for w in _workers(server) if w.pid != victim.pid]) < WORKERS:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.2)
        server.wait_ready()
        assert server.stop(), server.output()
    finally:
        server.kill()

    with Store.open(store_url) as store:
        log = TrialLog(store)
        trial_id = found["trial"]["trial_id"]
        assert log.verify(trial_id).ok
        audit = audit_trial(log.trial(trial_id), log.entries(trial_id), log.checkpoints(trial_id),
                            receipts=found["receipts"])
    assert audit.findings == [] and audit.receipts == len(found["receipts"]) == 30, audit

    # the log a split server wrote is a log: a one-process server resumes it, in the same state
    single = ServerProcess(scenario, store_url, cwd=tmp_path, port=port)
    try:
        single.wait_ready()
        info = httpx.get(f"{single.url}/v1/trial").json()
        assert info["trial_id"] == trial_id
        assert info["recovered_entries"] >= found["trial"]["log_size"]
        book = httpx.get(f"{single.url}/v1/market/book?levels=100").json()
        assert book["bids"] or book["asks"]
        assert single.stop(), single.output()
    finally:
        single.kill()


def test_a_killed_sequencer_takes_its_workers_with_it(tmp_path: Path) -> None:
    port = free_port()
    scenario = write_gate_scenario(tmp_path, time_factor=20.0, authority=f"127.0.0.1:{port}")
    server = ServerProcess(scenario, f"sqlite:///{tmp_path / 'split.db'}", cwd=tmp_path, port=port,
                           workers=WORKERS)
    try:
        server.wait_ready()
        workers = _workers(server)
        assert len(workers) == WORKERS
        server.kill()
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, [w.pid for w in alive]
        with socket.create_server(("127.0.0.1", port)):  # nothing holds the port any more
            pass
    finally:
        server.kill()
