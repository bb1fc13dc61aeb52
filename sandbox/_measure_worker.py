"""Refreshing a live trial's measures in a worker process.

A live trial's measures are those of a replay of its durable history, per arm (the
trial itself and, in shadow mode, the counterfactual): clients' actions fixed, the
simulated participants re-simulated, then every mechanism finished
(:func:`measure_arms`). That is O(trial) work and a second copy of the trial's state.
In the server's process it would hold the GIL for the replay and leave the whole copy
for the cyclic collector to scan, stalling request handling for longer as the trial
grows; even shipping the history to another process stalls it, since pickling a large
object is one call that holds the GIL. So :class:`MeasureWorker` runs one worker
process, at a low CPU priority, that reads the trial's log from the store itself (the
server sends it a few names and numbers), only the entries it has not read yet. It
replays them into one host per arm that it keeps, and takes each arm's end-of-trial
measures in a fork of itself (:func:`~flagship.sandbox._fork_measures.finished_measures`): a
refresh costs what was added since the last one.

Lifecycle: constructing a worker starts nothing; :meth:`~MeasureWorker.start` starts
the process (forkserver: a clean interpreter, not a copy of the server) and waits
until it has imported what a replay needs, so that cost is paid before the server
takes traffic (started on first use, it stalled every request for ~100 ms on two
cores); :meth:`~MeasureWorker.close` stops it. A process that died is replaced by
the next refresh, which reads the log from the start. The server runs
:func:`refresh_measures` as a task that owns the worker from start to close.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flagship.sandbox._fork_measures import finished_measures as _finished_measures
from flagship.sandbox._host import Host
from flagship.sandbox._replay import Commit, commits_from_entries, replay, replay_scenario
from flagship.sandbox._runner import build_host
from flagship.sandbox._scenario import ResolvedScenario
from flagship.telemetry import MeasureValue, Store
from flagship.telemetry._trial_log import TrialLog

if TYPE_CHECKING:  # the worker process imports this module: it needs no metrics
    from flagship.telemetry._prometheus import LiveMetrics

__all__ = ["ArmMeasures", "MeasureWorker", "measure_arms", "refresh_measures"]

_log = logging.getLogger("flagship.live")

ArmMeasures = list[tuple[str, list[MeasureValue]]]
"""Measures per arm name (``live``, ``shadow``)."""


def measure_arms(arms: Sequence[tuple[str, ResolvedScenario]], seed: int,
                 commits: Sequence[Commit]) -> ArmMeasures:
    """Each arm's measures after replaying ``commits`` (clients' actions fixed, the rest re-simulated)."""
    results = []
    for arm, resolved in arms:
        _, _, telemetry = replay_scenario(resolved, seed, commits, check=False, finish=True)
        results.append((arm, list(telemetry.measures) if telemetry is not None else []))
    return results


@dataclass
class _Mirror:
    """In the worker process: one trial's log as read so far, replayed into a host per arm."""

    log: TrialLog
    arms: tuple[str, ...]
    hosts: list[Host]
    commits: list[Commit] = field(default_factory=list)  # for platforms without fork()
    size: int = 0


_mirrors: dict[tuple[str, str], _Mirror] = {}


def _background() -> None:
    """Run the worker at a low CPU priority: request handling comes first on a busy machine."""
    if hasattr(os, "nice"):
        os.nice(10)


def _ready() -> int:
    return os.getpid()  # unpickling this call imported this module and, with it, the sandbox


def _measure_trial(url: str, trial_id: str, size: int, arms: Sequence[tuple[str, ResolvedScenario]],
                   seed: int, *, fork: bool = hasattr(os, "fork")) -> ArmMeasures:
    """In the worker: read the trial's log up to ``size`` entries (a commit boundary), measure.

    Each arm's host is replayed incrementally, through the new commits only, and
    finished in a fork: O(new entries) per refresh. Without ``fork`` every refresh
    replays the whole log again.
    """
    names = tuple(name for name, _ in arms)
    mirror = _mirrors.get((url, trial_id))
    if mirror is None or size < mirror.size or mirror.arms != names:
        hosts = []
        for _, resolved in arms:
            host = build_host(resolved, seed)
            host.start()
            hosts.append(host)
        mirror = _mirrors[(url, trial_id)] = _Mirror(TrialLog(Store.open(url)), names, hosts)
    if size > mirror.size:
        entries = list(itertools.takewhile(lambda entry: entry.seq < size,
                                           mirror.log.entries(trial_id, start=mirror.size)))
        commits = commits_from_entries(entries, trial_id=trial_id)
        if fork:
            for host in mirror.hosts:
                replay(host, commits, check=False)
        else:
            mirror.commits.extend(commits)
        mirror.size = size
    if not fork:
        return measure_arms(arms, seed, mirror.commits)
    return [(name, _finished_measures(host)) for name, host in zip(names, mirror.hosts, strict=True)]


class MeasureWorker:
    """One worker process that measures a live trial from its durable log (see the module docstring)."""

    def __init__(self, url: str, trial_id: str) -> None:
        self.url = url
        self.trial_id = trial_id
        self._pool: ProcessPoolExecutor | None = None
        self.pid: int | None = None
        """The worker process's id while it runs."""

    async def start(self) -> None:
        """Start the process and wait until it is ready to replay."""
        await self._running()

    async def _running(self) -> ProcessPoolExecutor:
        pool = self._pool
        if pool is None:
            pool = self._pool = ProcessPoolExecutor(max_workers=1, initializer=_background,
                                                    mp_context=multiprocessing.get_context("forkserver"))
            # Starting the pool's process blocks the caller until the forkserver forks it: not on the loop.
            self.pid = await asyncio.to_thread(lambda: pool.submit(_ready).result())
        return pool

    async def refresh(self, arms: Sequence[tuple[str, ResolvedScenario]], seed: int,
                      size: int) -> ArmMeasures:
        """Every arm's measures over the first ``size`` durable entries (a commit boundary)."""
        pool = await self._running()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, _measure_trial, self.url, self.trial_id, size,
                                              list(arms), seed)
        except BrokenProcessPool:
            self.close()  # the next refresh starts a new process
            raise

    def close(self) -> None:
        """Stop the worker process (a refresh running in it is abandoned)."""
        pool, self._pool, self.pid = self._pool, None, None
        if pool is None:
            return
        # A replay of a long trial can take seconds; stopping the server must not wait for it.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)


async def refresh_measures(worker: MeasureWorker, arms: Sequence[tuple[str, ResolvedScenario]], seed: int,
                           log_size: Callable[[], int], metrics: LiveMetrics, interval: float,
                           on_measures: Callable[[ArmMeasures, int], Awaitable[object]] | None = None
                           ) -> None:
    """Publish each arm's measures to ``metrics`` every ``interval`` wall seconds while the log grows.

    ``on_measures`` (the guardrails) is awaited with each refresh's values and the log size they
    cover. Runs until cancelled, then closes ``worker``. A refresh that fails is logged and tried
    again next time: a measure that cannot be computed must not stop the server.
    """
    measured = -1
    try:
        while True:
            duration = 0.0
            size = log_size()
            if size != measured:
                started = time.perf_counter()
                try:
                    values = await worker.refresh(arms, seed, size)
                except Exception as exc:
                    _log.warning("measures could not be refreshed: %s", exc)
                else:
                    for arm, arm_values in values:
                        metrics.set_measures(arm, arm_values)
                    measured = size
                    if on_measures is not None:  # guardrails judge what was just published
                        await on_measures(values, size)
                duration = time.perf_counter() - started
                metrics.measures_refresh.set(duration)
            # A long trial's replay can outgrow the interval: then refresh at most half the time.
            await asyncio.sleep(max(interval, duration))
    finally:
        worker.close()
