"""The read view: the writer hands it each commit, replayed when read; a divergence stops the writer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from flagship.mechanisms import Action, ContractError, Outcome, ShuttingDownError
from flagship.sandbox._live import Engine, LiveGateway
from flagship.sandbox._live._read_view import MAX_PENDING
from flagship.sandbox._replay import Commit, Recorded
from tests.live._support import build_live, write_scenario


def _run_engine(tmp_path: Path, body: Callable[[Engine, LiveGateway], Awaitable[None]]) -> None:
    """Start a one-process engine over a fresh SQLite store, run ``body`` against it, stop it."""
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", write_scenario(tmp_path, shoppers=0), tmp_path)

    async def main() -> None:
        await live.engine.start()
        try:
            await body(live.engine, LiveGateway(live.engine))
        finally:
            await live.engine.stop()
            live.store.close()

    asyncio.run(main())


def test_an_acknowledged_action_is_in_the_next_read_and_unread_commits_stay_bounded(tmp_path: Path) -> None:
    async def body(engine: Engine, gateway: LiveGateway) -> None:
        before = engine.mechanism("posted_price").snapshot()
        hash_before = engine.state_hash
        for _ in range(3):
            outcome = await gateway.submit("posted_price", "buy", {"offer": 150}, actor="a")
            assert outcome.accepted
        assert engine.mechanism("posted_price").snapshot() != before  # replayed on this read
        assert engine.state_hash != hash_before
        assert engine.view is not None and engine.host is not None
        assert engine.view.host.state_sha256() == engine.host.state_sha256()  # the writer's, committed
        for _ in range(MAX_PENDING + 5):  # nobody reads: the writer replays them itself now and then
            await gateway.submit("posted_price", "buy", {"offer": 150}, actor="a")
        assert len(engine.view._pending) < MAX_PENDING

    _run_engine(tmp_path, body)


def test_a_view_that_diverges_breaks_its_reads_and_stops_the_writer(tmp_path: Path) -> None:
    async def body(engine: Engine, gateway: LiveGateway) -> None:
        assert (await gateway.submit("posted_price", "buy", {"offer": 150}, actor="a")).accepted
        assert engine.view is not None and engine.host is not None
        # A commit the view cannot reproduce: an entry no action of the commit makes.
        now = float(engine.host.env.now)
        phantom = Recorded(engine.size, "posted_price", Action(now, "sim-x", "buy", {"offer": 1}),
                           Outcome(True), external=False)
        engine.view.follow(Commit(now, (phantom,), None))
        with pytest.raises(ContractError, match="diverged"):
            engine.mechanism("posted_price")
        with pytest.raises(ContractError, match="diverged"):  # and every later read
            _ = engine.state_hash
        with pytest.raises(ShuttingDownError):
            await gateway.submit("posted_price", "buy", {"offer": 150}, actor="a")
        assert engine.status == "failed"

    _run_engine(tmp_path, body)
