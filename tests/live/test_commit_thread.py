"""The writer's commit thread: one thread runs every commit for the engine's life, a failure included.

A failed commit must still answer 503 and leave the writer's host rebuilt from the durable
history (the failed batch's effects gone), and the commits after it run on the same thread; at
stop the thread ends. With ``asyncio.to_thread`` per batch (the design before) the appends ran on
whichever executor thread was free, and no thread was the writer's own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest

from flagship.mechanisms import StoreUnavailableError
from flagship.sandbox._live import EngineOptions
from flagship.sandbox._live._commit_thread import CommitThread
from flagship.telemetry._trial_log import TrialLog
from tests.live._outages import buy
from tests.live._support import build_live, logged_entries, problem, serving, write_scenario


class _Watched:
    """The trial log with every append's thread recorded, and one append that fails when armed."""

    def __init__(self, log: TrialLog) -> None:
        self.log = log
        self.threads: list[tuple[int, str]] = []
        self.fail_next = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.log, name)

    def append(self, *args: object, **kwargs: object) -> None:
        self.threads.append((threading.get_ident(), threading.current_thread().name))
        if self.fail_next:
            self.fail_next = False
            raise StoreUnavailableError("the store is down (injected)")
        self.log.append(*args, **kwargs)  # type: ignore[arg-type]


def test_one_commit_thread_serves_every_commit_and_a_failed_one_answers_503_and_rebuilds(
        tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=0)
    options = EngineOptions(tick_seconds=0.02, measures_seconds=0, retry_backoff=0.05, max_backoff=0.1)
    live = build_live(f"sqlite:///{tmp_path / 'thread.db'}", scenario, tmp_path, options=options)
    watched = _Watched(live.engine.log)
    live.engine.durable.log = watched  # type: ignore[assignment]
    commits = live.engine.durable.thread
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for n in range(3):
            assert buy(client, f"before-{n}").status_code == 201
        sold = client.get("/v1/shop").json()["sold"]
        host = live.engine.host
        watched.fail_next = True
        problem(buy(client, "failed"), 503, "STORE_UNAVAILABLE")
        assert live.engine.host is not host  # rebuilt from the durable history...
        assert client.get("/v1/shop").json()["sold"] == sold  # ...and the failed purchase left nothing
        deadline = time.monotonic() + 30
        while (again := buy(client, "failed")).status_code == 503:  # backing off, then serving again
            assert time.monotonic() < deadline, again.text
            time.sleep(0.05)
        assert again.status_code == 201, again.text
        assert buy(client, "after").status_code == 201
        assert client.get("/v1/shop").json()["sold"] == sold + 2
        running = commits.ident
        loop_thread = server.thread.ident
    assert commits.started == 1  # one thread for the engine's life...
    assert {ident for ident, _ in watched.threads} == {running}  # ...ran every append, the failed one too
    assert {name for _, name in watched.threads} == {"flagship-commit"}
    assert running != loop_thread and len(watched.threads) >= 6
    assert commits.ident is None  # the engine stopped: the thread was let go
    keys = [entry.idempotency_key for entry in logged_entries(f"sqlite:///{tmp_path / 'thread.db'}")]
    assert keys.count('["actor:alice","failed"]') == 1


def test_jobs_run_in_order_on_one_thread_and_an_error_reaches_the_awaiting_coroutine() -> None:
    async def main() -> None:
        thread = CommitThread(name="test-commit")
        ran: list[tuple[int, int]] = []

        def job(n: int) -> int:
            ran.append((n, threading.get_ident()))
            return n * 2

        def broken() -> None:
            raise StoreUnavailableError("down")

        futures = [thread.run(job, n) for n in range(5)]
        assert await asyncio.gather(*futures) == [0, 2, 4, 6, 8]
        with pytest.raises(StoreUnavailableError):
            await thread.run(broken)
        assert await thread.run(job, 5) == 10  # a failure does not end the thread
        assert [n for n, _ in ran] == [0, 1, 2, 3, 4, 5]
        assert len({ident for _, ident in ran}) == 1 and ran[0][1] != threading.get_ident()
        assert thread.started == 1
        thread.close()
        assert await thread.run(job, 6) == 12  # a run after close starts a new thread
        assert thread.started == 2
        thread.close()

    asyncio.run(main())
