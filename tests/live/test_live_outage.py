"""A database outage of a few seconds: 503 STORE_UNAVAILABLE meanwhile, serving again by itself after.

The connection is cut for real (a TCP proxy between the server and PostgreSQL is stopped and
restarted); the shared PostgreSQL server itself is never touched.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

from flagship.sandbox._live import EngineOptions
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests.live._support import TcpProxy, auth, build_live, serving, write_scenario


def _buy(client: httpx.Client, key: str, offer: int = 150) -> httpx.Response:
    return client.post("/v1/shop/purchases", json={"offer": offer},
                       headers={**auth(), "Idempotency-Key": key})


class _SqliteLock:
    """SQLite's outage: another process's connection holds the database's exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def cut(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("BEGIN EXCLUSIVE")

    def restore(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()


def test_a_sqlite_lock_held_for_seconds_answers_503_then_serves_again(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    _outage(f"sqlite:///{path}", f"sqlite:///{path}", _SqliteLock(path), tmp_path)


def test_a_postgresql_outage_answers_503_then_serves_again_by_itself(pg_url: str, tmp_path: Path) -> None:
    parsed = sa.make_url(pg_url)
    with TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432) as proxy:
        through = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        _outage(through, pg_url, proxy, tmp_path)


def _outage(through: str, direct: str, proxy: TcpProxy | _SqliteLock, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=2, rate=0.5, time_factor=10.0)
    live = build_live(through, scenario, tmp_path, options=EngineOptions(
        tick_seconds=0.02, measures_seconds=0, db_timeout=1.0, retry_backoff=0.1, max_backoff=0.5))
    acked: dict[str, int] = {}
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(5):
            key = uuid.uuid4().hex
            assert _buy(client, key).status_code == 201
            acked[key] = 1
        proxy.cut()
        outage_end = time.monotonic() + 4.0
        seen: set[tuple[int, str]] = set()
        while time.monotonic() < outage_end:
            key = uuid.uuid4().hex
            response = _buy(client, key)
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
            _buy(client, key)
            time.sleep(0.1)
        for _ in range(5):
            key = uuid.uuid4().hex
            response = _buy(client, key)
            assert response.status_code == 201, response.text
            acked[key] = 1
    # nothing acknowledged was lost: every acknowledged key is in the log, once
    with Store.open(direct) as store:
        log = TrialLog(store)
        trial = log.trials()[-1]
        assert log.verify(trial.id).ok
        keys = [e.idempotency_key for e in log.entries(trial.id) if e.idempotency_key]
    stored = {k.split('"')[3] for k in keys}
    assert set(acked) <= stored
    assert len(keys) == len(set(keys))
