"""The measure worker: incremental, forked measures equal a full replay's, and it survives its process."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from flagship.mechanisms import RunFailedError
from flagship.sandbox import _measure_worker, build_host
from flagship.sandbox._measure_worker import ArmMeasures, MeasureWorker, measure_arms
from flagship.sandbox._replay import Commit, commits_from_entries, replay
from flagship.sandbox._scenario import ResolvedScenario
from tests.live._support import Live, drive_session


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[Live, str]]:
    live = drive_session(tmp_path, shadow=["mechanisms.posted_price.price=80"])
    try:
        yield live, f"sqlite:///{tmp_path / 'live.db'}"
    finally:
        live.store.close()


def arms_of(live: Live) -> list[tuple[str, ResolvedScenario]]:
    assert live.engine.shadow is not None
    return [("live", live.engine.resolved), ("shadow", live.engine.shadow)]


def commit_boundaries(live: Live) -> tuple[list[Commit], list[int]]:
    """The trial's commits and the log sizes after each."""
    commits = commits_from_entries(live.engine.log.entries(live.engine.trial.id))
    sizes = list(itertools.accumulate(len(commit.entries) for commit in commits))
    assert sizes[-1] == live.engine.size and len(commits) >= 6
    return commits, sizes


def full_replay(live: Live, commits: list[Commit]) -> ArmMeasures:
    return measure_arms(arms_of(live), live.engine.trial.seed, commits)


def test_incremental_forked_measures_equal_a_full_replay_at_every_refresh(session: tuple[Live, str]) -> None:
    live, url = session
    commits, sizes = commit_boundaries(live)
    points = [len(commits) // 3, 2 * len(commits) // 3, len(commits)]  # each refresh reads only what is new

    async def refreshes() -> list[ArmMeasures]:
        worker = MeasureWorker(url, live.engine.trial.id)
        try:
            await worker.start()
            assert worker.pid is not None and worker.pid != os.getpid()
            return [await worker.refresh(arms_of(live), live.engine.trial.seed, sizes[n - 1]) for n in points]
        finally:
            worker.close()

    got = asyncio.run(refreshes())
    for n, measured in zip(points, got, strict=True):
        assert measured == full_replay(live, commits[:n])
    live_values = {f"{m.scope}.{m.name}": m.value for m in dict(got[-1])["live"]}
    shadow_values = {f"{m.scope}.{m.name}": m.value for m in dict(got[-1])["shadow"]}
    assert live_values != shadow_values  # the arms really are measured apart


def test_without_fork_every_refresh_replays_the_whole_log(session: tuple[Live, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    live, url = session
    commits, sizes = commit_boundaries(live)
    monkeypatch.setattr(_measure_worker, "_mirrors", {})
    half = len(commits) // 2
    for n in (half, len(commits)):
        measured = _measure_worker._measure_trial(url, live.engine.trial.id, sizes[n - 1], arms_of(live),
                                                  live.engine.trial.seed, fork=False)
        assert measured == full_replay(live, commits[:n])


def test_a_killed_worker_is_replaced_and_reads_the_log_again(session: tuple[Live, str]) -> None:
    live, url = session
    commits, sizes = commit_boundaries(live)

    async def scenario() -> ArmMeasures:
        worker = MeasureWorker(url, live.engine.trial.id)
        try:
            await worker.refresh(arms_of(live), live.engine.trial.seed, sizes[0])
            assert worker.pid is not None
            os.kill(worker.pid, signal.SIGKILL)
            with pytest.raises(BrokenProcessPool):
                await worker.refresh(arms_of(live), live.engine.trial.seed, sizes[-1])
            assert worker.pid is None
            return await worker.refresh(arms_of(live), live.engine.trial.seed, sizes[-1])
        finally:
            worker.close()

    assert asyncio.run(scenario()) == full_replay(live, commits)


def test_measures_are_taken_in_a_fork_so_the_host_stays_unfinished(session: tuple[Live, str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    live, _ = session
    commits, _ = commit_boundaries(live)
    host = build_host(live.engine.resolved, live.engine.trial.seed)
    host.start()
    mechanism = host.mechanisms["posted_price"]
    finished: list[float] = []
    finish = mechanism.finish

    def counted() -> None:
        finished.append(mechanism.ctx.now)
        finish()

    monkeypatch.setattr(mechanism, "finish", counted)
    replay(host, commits[:3], check=False)
    first = _measure_worker._finished_measures(host)
    assert _measure_worker._finished_measures(host) == first
    assert finished == []  # finish() ran in the forks only: this host was never finished
    replay(host, commits[3:], check=False)
    assert [("live", _measure_worker._finished_measures(host))] == measure_arms(
        [("live", live.engine.resolved)], live.engine.trial.seed, commits)


def test_a_finish_that_raises_comes_back_as_a_run_failure_with_its_traceback(
        session: tuple[Live, str], monkeypatch: pytest.MonkeyPatch) -> None:
    live, _ = session
    host = build_host(live.engine.resolved, live.engine.trial.seed)
    host.start()

    def broken() -> None:
        raise ValueError("no end for this trial")

    monkeypatch.setattr(host.mechanisms["posted_price"], "finish", broken)
    with pytest.raises(RunFailedError, match="ValueError: no end for this trial") as failed:
        _measure_worker._finished_measures(host)
    assert "in broken" in failed.value.traceback
