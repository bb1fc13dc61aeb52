"""A bounded in-memory history (``--history-window``): replays read the older commits from the log.

The writer replays its history to take measures in-process and to rebuild the trial's state
after a failure; kept whole it grew for the whole trial (issue #17). With a window it holds
the newest commits only, and a replay reads the dropped ones back from the durable log, so
what a replay reaches does not depend on the window.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from flagship.mechanisms import ContractError
from flagship.sandbox._live import EngineOptions
from flagship.sandbox._live._history import History
from flagship.sandbox._replay import commits_from_entries
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests.live._outages import SqliteLock, StoreCut, buy, proxied
from tests.live._support import auth, build_live, logged_entries, serving, write_scenario

WINDOW = 2


def _options(window: int) -> EngineOptions:
    return EngineOptions(measures_seconds=0, tick_seconds=0.02, history_window=window)


def test_a_windowed_engine_measures_what_a_whole_history_measures(store_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=3, rate=0.5, time_factor=50.0)
    live = build_live(store_url, scenario, tmp_path, options=_options(WINDOW))
    trial_id = live.engine.trial.id
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        for n in range(6):
            bought = client.post("/v1/shop/purchases", json={"offer": 120},
                                 headers={**auth(), "Idempotency-Key": f"h{n}"})
            assert bought.status_code == 201, bought.text
        served = client.get("/v1/trial").json()
    assert served["log_size"] >= 6
    windowed = live.engine.measures_now()  # replays commits dropped from memory, read from the log

    # The same trial recovered with its whole history in memory measures the same.
    whole = build_live(store_url, scenario, tmp_path, options=_options(1_000_000), trial_id=trial_id)
    try:
        whole.engine.recover()
        assert whole.engine.size == live.engine.size  # the same durable log, read whole
        assert whole.engine.measures_now() == windowed
    finally:
        whole.store.close()


def test_the_history_holds_its_window_and_gives_back_every_commit_in_order(
        store_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=3, rate=0.5, time_factor=50.0)
    live = build_live(store_url, scenario, tmp_path, options=_options(WINDOW))
    trial_id = live.engine.trial.id
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        for n in range(4):
            assert client.post("/v1/shop/purchases", json={"offer": 120},
                               headers={**auth(), "Idempotency-Key": f"o{n}"}).status_code == 201
    with Store.open(store_url) as store:
        log = TrialLog(store)
        every = commits_from_entries(log.entries(trial_id), trial_id=trial_id)
        assert len(every) > WINDOW
        history = History(every, window=WINDOW, log=log, trial_id=trial_id)
        assert (len(history), history.dropped) == (WINDOW, len(every) - WINDOW)
        assert list(history) == every[-WINDOW:]
        assert history.commits() == every
        extra = every[-1]
        assert history.commits(extra) == [*every, extra]  # a batch applied, not yet committed
        assert History(every).commits() == every  # no window: all in memory, no store read
    with pytest.raises(ContractError):
        History(window=0, log=log, trial_id=trial_id)
    with pytest.raises(ContractError):
        History(window=WINDOW)  # no log to read the dropped commits from


def test_a_commit_failed_with_commits_dropped_rebuilds_from_the_log_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    # WAL: the rebuild after the failed commit reads the dropped commits while the lock is held
    _failed_commit(f"sqlite:///{path}", f"sqlite:///{path}", SqliteLock(path), tmp_path)


def test_a_commit_failed_with_commits_dropped_rebuilds_from_the_log_postgresql(
        pg_url: str, tmp_path: Path) -> None:
    # the store is gone for the rebuild too: it waits for the store, then reads the log
    with proxied(pg_url) as (proxy, through):
        _failed_commit(through, pg_url, proxy, tmp_path)


def _failed_commit(through: str, direct: str, outage: StoreCut, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=1, rate=1e-6, time_factor=1.0)  # the buys are all
    live = build_live(through, scenario, tmp_path, options=EngineOptions(
        tick_seconds=0.02, measures_seconds=0, db_timeout=1.0, retry_backoff=0.1, max_backoff=0.5,
        history_window=WINDOW))
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for n in range(2 * WINDOW):
            assert buy(client, f"before-{n}").status_code == 201
        outage.cut()
        try:
            failed = buy(client, "during")
            assert failed.status_code == 503, failed.text
            assert failed.json()["reason"] in ("STORE_UNAVAILABLE", "OUTCOME_UNKNOWN"), failed.text
        finally:
            outage.restore()
        deadline = time.monotonic() + 30
        while (retried := buy(client, "during")).status_code != 201:
            assert time.monotonic() < deadline, retried.text
            time.sleep(0.1)
        assert buy(client, "after").status_code == 201
        shop = client.get("/v1/shop").json()
    entries = logged_entries(direct)
    keys = [e.idempotency_key for e in entries if e.idempotency_key]
    assert len(keys) == len(set(keys)) == 2 * WINDOW + 2  # the failed batch acted once, on retry
    sold = sum(1 for e in entries if e.kind == "buy" and e.accepted)
    assert shop["sold"] == sold  # memory holds what the log holds: the failed batch's effect dropped
