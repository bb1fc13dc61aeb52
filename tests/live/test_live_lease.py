"""One server per trial: a second ``flagship serve`` of a served trial refuses to start (issue #17).

Real servers as subprocesses on loopback, on SQLite and on PostgreSQL: the second one exits 1
with one line naming the trial and the first server's pid, writes nothing, and the first keeps
serving; once the first stops (SIGTERM) or is killed (SIGKILL) a new one starts at once.
Read-only commands (``verify``) are never blocked. On PostgreSQL the lease survives an outage
of its connection: taken again when the store is back, or, if another server took it
meanwhile, no commit (503 ``STORE_UNAVAILABLE``, not ready) until that one lets go.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from flagship.mechanisms import TrialServedError
from flagship.sandbox._live import EngineOptions
from flagship.sandbox._live._lease import AdvisoryLease, FileLease, lease_key, trial_lease
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests.live._outages import buy, proxied
from tests.live._support import (
    ServerProcess,
    build_live,
    flagship_command,
    free_port,
    logged_entries,
    problem,
    serving,
    write_scenario,
)


def _trials(url: str) -> list[str]:
    with Store.open(url) as store:
        return [trial.id for trial in TrialLog(store).trials()]


def _second_serve(scenario: Path, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = flagship_command("serve", str(scenario), "--db", url, "--port", str(free_port()),
                               "--key-dir", str(cwd), "--measures-interval", "0")
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_a_second_serve_is_refused_the_first_keeps_serving_and_a_serve_after_a_stop_starts(
        store_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=1, rate=0.2)
    first = ServerProcess(scenario, store_url, cwd=tmp_path)
    try:
        first.wait_ready()
        with httpx.Client(base_url=first.url, timeout=30) as client:
            trial_id = client.get("/v1/trial").json()["trial_id"]
            assert buy(client, "before").status_code == 201
            refused = _second_serve(scenario, store_url, tmp_path)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            lines = refused.stderr.strip().splitlines()
            assert len(lines) == 1, refused.stderr  # one line, no traceback
            assert lines[0].startswith(f"flagship: trial {trial_id} is already being served"), lines
            assert f"pid {first.process.pid}" in lines[0], lines  # who holds it
            assert "Traceback" not in refused.stdout + refused.stderr
            # the first is unaffected: it keeps committing, the second wrote nothing (not even a trial)
            assert buy(client, "after").status_code == 201
            assert client.get("/readyz").status_code == 200
            assert _trials(store_url) == [trial_id]
            keys = [e.idempotency_key for e in logged_entries(store_url, trial_id) if e.idempotency_key]
            assert keys == ['["actor:alice","before"]', '["actor:alice","after"]']
            # read-only commands are not blocked by a serving server
            verified = subprocess.run(flagship_command("verify", "--db", store_url, "--trial", trial_id),
                                      cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
            assert verified.returncode in (0, 3), verified.stdout + verified.stderr
            assert f"trial {trial_id}: ok" in verified.stdout
        assert first.stop(), first.output()
    finally:
        first.kill()
    after_stop = ServerProcess(scenario, store_url, cwd=tmp_path)
    try:
        after_stop.wait_ready()
        assert httpx.get(f"{after_stop.url}/v1/trial").json()["trial_id"] == trial_id
    finally:
        after_stop.kill()


def test_a_serve_right_after_the_first_is_killed_starts(store_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=1, rate=0.2)
    first = ServerProcess(scenario, store_url, cwd=tmp_path)
    try:
        first.wait_ready()
        trial_id = httpx.get(f"{first.url}/v1/trial").json()["trial_id"]
        refused = _second_serve(scenario, store_url, tmp_path)
        assert refused.returncode == 1 and "already being served" in refused.stderr, refused.stderr
    finally:
        first.kill()  # SIGKILL: no shutdown code releases anything
    restarted = ServerProcess(scenario, store_url, cwd=tmp_path, cli=True)
    try:
        restarted.wait_ready()
        with httpx.Client(base_url=restarted.url, timeout=30) as client:
            assert client.get("/v1/trial").json()["trial_id"] == trial_id
            assert buy(client, "after-kill").status_code == 201
    finally:
        restarted.kill()


def test_the_lease_key_is_the_first_eight_bytes_of_the_trial_ids_sha256() -> None:
    digest = hashlib.sha256(b"0123abcd").digest()
    assert lease_key("0123abcd") == int.from_bytes(digest[:8], "big", signed=True)
    assert -(2**63) <= lease_key(uuid.uuid4().hex) < 2**63
    assert trial_lease("sqlite:///:memory:", "t") is None  # nobody else can open that database


def test_a_file_lease_refuses_a_second_holder_until_released(tmp_path: Path) -> None:
    database = tmp_path / "live.db"
    first, second = FileLease(database, "t1"), FileLease(database, "t1")
    first.acquire()
    with pytest.raises(TrialServedError, match=r"trial t1 is already being served \(held by flagship "
                                                r"serve pid \d+ on "):
        second.acquire()
    FileLease(database, "t2").acquire()  # another trial of the same database is another lease
    assert first.confirm()
    first.release()
    second.acquire()
    second.release()


def test_an_advisory_lease_refuses_a_second_holder_and_names_it(pg_url: str) -> None:
    trial_id = uuid.uuid4().hex
    first, second = AdvisoryLease(pg_url, trial_id), AdvisoryLease(pg_url, trial_id, grace=0)
    first.acquire()
    try:
        with pytest.raises(TrialServedError, match=rf"trial {trial_id} is already being served \(held by "
                                                    r"flagship serve pid \d+ on .*PostgreSQL backend pid"):
            second.acquire()
        assert first.confirm()
    finally:
        first.release()
    second.acquire()
    second.release()


def test_after_an_outage_the_lease_is_taken_again_or_no_commit_while_another_holds_it(
        pg_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=0)
    options = EngineOptions(tick_seconds=0.02, measures_seconds=0, db_timeout=1.0, retry_backoff=0.1,
                            max_backoff=0.3)
    with proxied(pg_url) as (proxy, through):
        live = build_live(through, scenario, tmp_path, options=options)
        trial_id = live.engine.trial.id
        lease = AdvisoryLease(through, trial_id)
        lease.acquire()
        live.engine.durable.lease = lease
        with serving(live) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            assert buy(client, "k1").status_code == 201
            # an outage alone: the lease is taken again and the server commits again by itself
            proxy.cut()
            problem(buy(client, "k2"), 503, "STORE_UNAVAILABLE")
            proxy.restore()
            _until_committed(client, "k3")
            # an outage during which another server takes the lease: no commit, not ready
            proxy.cut()
            rival = AdvisoryLease(pg_url, trial_id, grace=10.0)  # direct: this one is not cut
            rival.acquire()  # once PostgreSQL has ended the cut session, which held the lock
            proxy.restore()
            details: set[str] = set()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                details.add(problem(buy(client, "k4"), 503, "STORE_UNAVAILABLE")["detail"])
                assert client.get("/readyz").status_code == 503
                time.sleep(0.1)
            assert any("is now served by another server" in detail for detail in details), details
            rival.release()  # the other server stops: this one takes the lease back and serves
            _until_committed(client, "k5")
        lease.release()
    keys = [e.idempotency_key for e in logged_entries(pg_url, trial_id) if e.idempotency_key]
    assert keys == ['["actor:alice","k1"]', '["actor:alice","k3"]', '["actor:alice","k5"]']


def _until_committed(client: httpx.Client, key: str) -> None:
    deadline = time.monotonic() + 30
    while (response := buy(client, key)).status_code != 201:
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, response.text
        time.sleep(0.1)
    assert client.get("/readyz").status_code == 200
