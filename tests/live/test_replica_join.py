"""A split server's worker joining while the writer commits: its replica misses no commit.

A worker says hello, then reads the log from the store while the sequencer's frames queue. The
sequencer sends frames only from the moment it handles the hello, so a commit that lands after
the worker's store read but is broadcast before the sequencer reads the hello (its loop was busy
committing) reaches the worker neither way. The replica must notice the hole when the next
commit frame starts past what it holds, and read the log again, or it serves a state without
that commit: the agent admitted there is unknown to it, and its orders are missing from reads.

The test builds that order of events deterministically, in one process: the sequencer's greeting
of the worker is held back until the commit in the hole is durable and broadcast, and the
worker's store read is done before that commit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from flagship.sandbox._live import EngineOptions
from flagship.sandbox._live import _replica as replica_module
from flagship.sandbox._live._replica import Replica
from flagship.sandbox._live._split import WorkerLink, _Worker
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests.live._support import build_live, write_scenario


def test_a_commit_between_a_joining_workers_store_read_and_its_greeting_is_not_lost(
        store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = write_scenario(tmp_path, shoppers=0)
    live = build_live(store_url, scenario, tmp_path,
                      options=EngineOptions(measures_seconds=0, tick_seconds=0.02))
    engine = live.engine
    store_read = asyncio.Event()
    real_recover = replica_module.recover_trial
    loops: list[asyncio.AbstractEventLoop] = []

    def recover(*args: Any, **kwargs: Any) -> Any:  # the worker's store read, in its thread
        recovered = real_recover(*args, **kwargs)
        loops[0].call_soon_threadsafe(store_read.set)
        return recovered

    monkeypatch.setattr(replica_module, "recover_trial", recover)

    async def main() -> tuple[int, int, dict[str, Any], dict[str, Any]]:
        loops.append(asyncio.get_running_loop())
        link = WorkerLink(engine)
        held: list[_Worker] = []
        greet = link.greeted
        link.greeted = held.append  # type: ignore[method-assign]  # the sequencer's loop is busy
        await engine.start()
        await link.serve(str(tmp_path / "link"))
        replica_store = Store.open(store_url)  # the worker's own connection, as a worker process has
        replica = Replica(engine.resolved, engine.trial, TrialLog(replica_store), engine.key,
                          link=str(tmp_path / "link"), number=0, options=engine.options,
                          on_lost=lambda: None)
        try:
            await engine.submit("posted_price", "buy", {"offer": 150}, "alice")  # before the join
            joining = asyncio.create_task(replica.start())
            await store_read.wait()
            # In the hole: durable and broadcast after the worker read the store, before its greeting.
            await engine.submit("posted_price", "buy", {"offer": 150}, "bob")
            while not held:
                await asyncio.sleep(0.01)
            greet(held[0])
            await joining
            await engine.submit("posted_price", "buy", {"offer": 150}, "carol")  # after the join
            for _ in range(500):  # the replica applies the last commit's frame
                if replica.size == engine.durable.size:
                    break
                await asyncio.sleep(0.01)
            shop = replica.mechanism("posted_price").snapshot()
            writer = engine.host.mechanisms["posted_price"].snapshot() if engine.host else {}
            return replica.size, engine.durable.size, shop, writer
        finally:
            await replica.stop()
            await link.close()
            await engine.stop()
            replica_store.close()

    try:
        size, written, shop, writer = asyncio.run(main())
    finally:
        live.store.close()
    assert size == written == 3
    assert shop == writer and shop["sold"] == 3, (shop, writer)
