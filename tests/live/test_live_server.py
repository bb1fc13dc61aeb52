"""A real uvicorn server on loopback: actions, simulated participants, metrics, a store outage."""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import weakref
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from flagship.sandbox._live import EngineOptions
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests.live._support import auth, build_live, serving, until, write_scenario


def test_a_live_trial_end_to_end(store_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=3, rate=0.5, time_factor=20.0)
    options = EngineOptions(tick_seconds=0.02, measures_seconds=0.2, checkpoint_seconds=0.3)
    live = build_live(store_url, scenario, tmp_path, options=options)
    trial_id = live.engine.trial.id
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        bought = client.post("/v1/shop/purchases", json={"offer": 120},
                             headers={**auth(), "Idempotency-Key": "e2e-1"})
        assert bought.status_code == 201, bought.text
        again = client.post("/v1/shop/purchases", json={"offer": 120},
                            headers={**auth(), "Idempotency-Key": "e2e-1"})
        assert again.json() == bought.json() and again.headers["idempotent-replayed"] == "true"
        until(lambda: client.get("/v1/trial").json()["log_size"] >= 5)  # shoppers act on their own
        info = client.get("/v1/trial").json()
        assert info["trial_id"] == trial_id and info["time_factor"] == 20.0
        assert info["sim_time"] > 0 and len(info["state_sha256"]) == 64
        shop = client.get("/v1/shop").json()
        assert shop["sold"] >= 1 and shop["stock"] == 100_000 - shop["sold"]
        until(lambda: 'flagship_measure_ux_ratio{arm="live",measure="sell_through",scope="posted_price"}'
              in client.get("/metrics").text)
        metrics = client.get("/metrics").text
        assert 'origin="sim"' in metrics and 'origin="http"' in metrics
    with Store.open(store_url) as store:
        log = TrialLog(store)
        result = log.verify(trial_id)
        entries = list(log.entries(trial_id))
        checkpoints = log.checkpoints(trial_id)
    assert result.ok, result
    assert checkpoints and checkpoints[-1].size == len(entries)  # signed at shutdown
    assert {e.origin for e in entries} == {"http", "sim"}
    assert [e.idempotency_key for e in entries if e.origin == "http"] == ['["actor:alice","e2e-1"]']
    assert all(e.actor.startswith("shoppers-") for e in entries if e.origin == "sim")


@contextlib.contextmanager
def outage(url: str) -> Iterator[None]:
    """Make the trial log unwritable: another session holds an exclusive lock on it."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(parsed.database), timeout=5)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.rollback()
            conn.close()
        return
    engine = sa.create_engine(url)
    try:
        with engine.begin() as locked:
            locked.exec_driver_sql("LOCK TABLE trial_log IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        engine.dispose()


def test_a_store_outage_gives_503_and_no_effect_and_the_retry_applies_once(store_url: str,
                                                                           tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=0)
    options = EngineOptions(tick_seconds=0.02, measures_seconds=0, db_timeout=0.3, retry_backoff=0.05,
                            max_backoff=0.2)
    live = build_live(store_url, scenario, tmp_path, options=options)
    trial_id = live.engine.trial.id
    body = {"offer": 140}
    key = {**auth("bob"), "Idempotency-Key": "during-outage"}
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/v1/shop/purchases", json=body,
                           headers={**auth("bob"), "Idempotency-Key": "before"}).status_code == 201
        before = client.get("/v1/shop").json()
        replaced = weakref.ref(live.engine.host)  # frozen since start (EngineOptions.freeze_seconds)
        with outage(store_url):
            failed = client.post("/v1/shop/purchases", json=body, headers=key)
            assert failed.status_code == 503, failed.text
            assert failed.json()["reason"] == "STORE_UNAVAILABLE"
            assert int(failed.headers["retry-after"]) >= 1
            assert client.get("/v1/shop").json() == before  # no effect, not even in memory
            assert client.get("/readyz").status_code == 503
            assert live.engine.size == 1
        until(lambda: client.get("/readyz").status_code == 200)
        retried = client.post("/v1/shop/purchases", json=body, headers=key)
        assert retried.status_code == 201, retried.text
        replayed = client.post("/v1/shop/purchases", json=body, headers=key)
        assert replayed.json() == retried.json() and replayed.headers["idempotent-replayed"] == "true"
        after = client.get("/v1/shop").json()
        assert after["sold"] == before["sold"] + 1 and after["stock"] == before["stock"] - 1
        assert 'flagship_store_commit_failures_total 1.0' in client.get("/metrics").text
        gc.collect()
        assert replaced() is None  # the host the failed commit replaced was thawed and reclaimed
    with Store.open(store_url) as store:
        log = TrialLog(store)
        entries = list(log.entries(trial_id))
        assert log.verify(trial_id).ok
    keys = [e.idempotency_key for e in entries]
    assert keys.count('["actor:bob","during-outage"]') == 1 and len(entries) == 2


@pytest.mark.parametrize("factor", [1.0])
def test_sim_time_follows_the_wall_clock(tmp_path: Path, factor: float) -> None:
    scenario = write_scenario(tmp_path, shoppers=0, time_factor=factor)
    clock = [1_000.0]
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", scenario, tmp_path, clock=lambda: clock[0])
    try:
        engine = live.engine
        engine.recover()
        assert engine.trial.epoch == 1_000.0
        clock[0] = 1_012.5
        assert engine.sim_time() == pytest.approx(12.5 * factor)
        clock[0] = 900.0  # the wall clock stepped back: sim time never runs backwards below the host
        assert engine.sim_time() >= 0.0
    finally:
        live.store.close()
