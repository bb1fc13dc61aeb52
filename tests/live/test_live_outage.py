"""A database outage of a few seconds: 503 STORE_UNAVAILABLE meanwhile, serving again by itself after.

The connection is cut for real (a TCP proxy between the server and PostgreSQL is stopped and
restarted); the shared PostgreSQL server itself is never touched.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from flagship.mechanisms import CommitOutcomeUnknownError, StoreUnavailableError
from flagship.sandbox._live import EngineOptions
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests.live._outages import SqliteLock, StoreCut, buy, client_key, proxied
from tests.live._support import build_live, logged_entries, problem, serving, write_scenario


def test_a_sqlite_lock_held_for_seconds_answers_503_then_serves_again(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    _outage(f"sqlite:///{path}", f"sqlite:///{path}", SqliteLock(path), tmp_path)


def test_a_postgresql_outage_answers_503_then_serves_again_by_itself(pg_url: str, tmp_path: Path) -> None:
    with proxied(pg_url) as (proxy, through):
        _outage(through, pg_url, proxy, tmp_path)


def _outage(through: str, direct: str, proxy: StoreCut, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=2, rate=0.5, time_factor=10.0)
    live = build_live(through, scenario, tmp_path, options=EngineOptions(
        tick_seconds=0.02, measures_seconds=0, db_timeout=1.0, retry_backoff=0.1, max_backoff=0.5))
    acked: dict[str, int] = {}
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(5):
            key = uuid.uuid4().hex
            assert buy(client, key).status_code == 201
            acked[key] = 1
        proxy.cut()
        outage_end = time.monotonic() + 4.0
        seen: set[tuple[int, str]] = set()
        while time.monotonic() < outage_end:
            key = uuid.uuid4().hex
            response = buy(client, key)
            reason = response.json().get("reason", "") if response.status_code != 201 else ""
            seen.add((response.status_code, reason))
            if response.status_code == 201:
                acked[key] = 1
            ready = client.get("/readyz")
            seen.add((ready.status_code, "readyz"))
            time.sleep(0.05)
        assert (503, "STORE_UNAVAILABLE") in seen, seen
        assert (503, "SHUTTING_DOWN") not in seen, seen
        assert (503, "readyz") in seen, seen  # not ready while the database is gone
        health = client.get("/healthz")
        assert health.status_code == 200, health.text  # alive: no restart needed
        proxy.restore()
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "never ready again"
            key = uuid.uuid4().hex
            buy(client, key)
            time.sleep(0.1)
        for _ in range(5):
            key = uuid.uuid4().hex
            response = buy(client, key)
            assert response.status_code == 201, response.text
            acked[key] = 1
    # nothing acknowledged was lost: every acknowledged key is in the log, once
    keys = [e.idempotency_key for e in logged_entries(direct) if e.idempotency_key]
    assert set(acked) <= {client_key(k) for k in keys}
    assert len(keys) == len(set(keys))


class _ArmedLog:
    """A trial log whose next append, once armed, fails as the subclass says (the rest passes through)."""

    def __init__(self, log: TrialLog) -> None:
        self.log = log
        self.armed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.log, name)


class _LosesOneAnswer(_ArmedLog):
    """SQLite's stand-in for a lost answer to COMMIT (in-process, it cannot lose one): the
    next append commits, then raises as a dropped connection would."""

    def append(self, *args: object, **kwargs: object) -> None:
        self.log.append(*args, **kwargs)  # type: ignore[arg-type]
        if self.armed:
            self.armed = False
            raise CommitOutcomeUnknownError("no answer to COMMIT: server closed the connection")


def test_a_lost_answer_to_commit_is_outcome_unknown_and_the_retry_returns_the_committed_result(
        store_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=0)
    options = EngineOptions(tick_seconds=0.02, measures_seconds=0, db_timeout=2.0, retry_backoff=0.1,
                            max_backoff=0.5)
    with contextlib.ExitStack() as stack:
        if store_url.startswith("sqlite"):
            url = store_url
        else:
            proxy, url = stack.enter_context(proxied(store_url))
        live = build_live(url, scenario, tmp_path, options=options)
        lossy = _LosesOneAnswer(live.engine.log)
        live.engine.durable.log = lossy  # type: ignore[assignment]
        reloads: list[int] = []
        recover = live.engine.recover

        def watched_recover() -> None:
            reloads.append(threading.get_ident())
            recover()

        live.engine.recover = watched_recover  # type: ignore[method-assign]
        with serving(live) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            assert buy(client, "before").status_code == 201
            before = client.get("/v1/shop").json()
            if store_url.startswith("sqlite"):
                lossy.armed = True
            else:
                proxy.lose_answer_to(b"COMMIT")
            lost = buy(client, "lost")
            body = problem(lost, 503, "OUTCOME_UNKNOWN")
            assert "Idempotency-Key" in body["detail"] and int(lost.headers["retry-after"]) >= 1
            with Store.open(store_url) as direct:  # it did land
                keys = [e.idempotency_key for e in TrialLog(direct).entries(live.engine.trial.id)]
            assert '["actor:alice","lost"]' in keys
            deadline = time.monotonic() + 30
            while (retried := buy(client, "lost")).status_code == 503:
                assert retried.json()["reason"] in ("STORE_UNAVAILABLE", "OUTCOME_UNKNOWN"), retried.text
                assert time.monotonic() < deadline
                time.sleep(float(retried.headers["retry-after"]) / 4)
            assert retried.status_code == 201, retried.text
            assert retried.json()["buyer"] == "alice"
            after = client.get("/v1/shop").json()
            assert after["sold"] == before["sold"] + 1  # acted once, not twice
            assert reloads and server.thread.ident not in reloads  # the reload ran off the loop
            assert client.get("/readyz").status_code == 200
    keys = [e.idempotency_key for e in logged_entries(store_url)]
    assert keys.count('["actor:alice","lost"]') == 1


class _FailsOneCommit(_ArmedLog):
    """A store that refuses the next append before writing anything (a connection lost mid-way)."""

    def append(self, *args: object, **kwargs: object) -> None:
        if self.armed:
            self.armed = False
            raise StoreUnavailableError("connection lost before COMMIT")
        self.log.append(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("failure", "landed"), [(_LosesOneAnswer, True), (_FailsOneCommit, False)],
                         ids=["commit-landed", "commit-lost"])
def test_a_stop_right_after_a_failed_commit_still_signs_what_the_log_holds(
        store_url: str, tmp_path: Path, failure: type[_ArmedLog],
        landed: bool) -> None:
    """A failed commit leaves the server unsure of the log's head until its next batch checks it.
    Stopped before that batch (the backoff is longer than the test), the server checks the head
    itself, so its last checkpoint covers every entry the database holds, whether or not the
    failed commit landed: nothing acknowledged, or landed, is left unsigned."""
    scenario = write_scenario(tmp_path, shoppers=0)
    options = EngineOptions(tick_seconds=0.02, measures_seconds=0, db_timeout=2.0, retry_backoff=600.0,
                            max_backoff=600.0)
    live = build_live(store_url, scenario, tmp_path, options=options)
    trial = live.engine.trial.id
    failing = failure(live.engine.log)
    live.engine.durable.log = failing  # type: ignore[assignment]
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert buy(client, "before").status_code == 201
        failing.armed = True
        problem(buy(client, "failed"), 503, "OUTCOME_UNKNOWN" if landed else "STORE_UNAVAILABLE")
        problem(buy(client, "backoff"), 503, "STORE_UNAVAILABLE")
    with Store.open(store_url) as direct:
        log = TrialLog(direct)
        keys = [entry.idempotency_key for entry in log.entries(trial)]
        checkpoints = log.checkpoints(trial)
        verification = log.verify(trial)
    assert ('["actor:alice","failed"]' in keys) is landed
    assert checkpoints and checkpoints[-1].size == len(keys), (checkpoints, keys)
    assert verification.ok and verification.size == len(keys), verification
