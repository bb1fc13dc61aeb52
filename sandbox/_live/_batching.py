"""How the single writer gathers a batch: the first queued action, what else is queued, and, under
steady traffic, what arrives within a short commit delay.

Group commit spreads a commit's fixed cost over its batch. On SQLite that cost is most of the
writer's work per action at a moderate rate: a durable commit spends about 0.2 ms of CPU in the
transaction and its fsync whatever it holds, against tens of microseconds per entry
(``benchmarks/profile_live_writer.py``). At 500 actions/s an idle writer commits each action
almost alone. So, while actions arrive more often than ``commit_delay`` apart, the batch waits
until its first action is ``commit_delay`` old before it is applied (PostgreSQL's
``commit_delay`` does the same for its WAL flush): a few milliseconds more latency, fewer
commits. An action that already waited that long (it queued behind a commit) is not held; when
actions arrive further apart than that, none is: waiting would gather nothing.

Lifecycle: one :class:`Batcher` per engine; :meth:`Batcher.arrived` as each action is queued
(the request's coroutine); :meth:`Batcher.gather` once per writer step (the writer task).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, Protocol

__all__ = ["STOP", "Batcher"]

STOP = object()
"""Queued by ``Engine.stop``: the writer finishes the batch it gathered, then ends."""

_SMOOTHING = 0.2
"""Weight of the newest gap in the running mean of gaps between arrivals."""


class Queued(Protocol):
    """A queued action as the batcher sees it: when it was queued (``time.perf_counter()``)."""

    @property
    def enqueued(self) -> float: ...


class Batcher:
    """Gathers the writer's batches from its queue (see the module docstring)."""

    __slots__ = ("_gap", "_last", "commit_delay", "max_batch", "tick")

    def __init__(self, *, max_batch: int, tick: float, commit_delay: float) -> None:
        self.max_batch = max_batch
        self.tick = tick
        self.commit_delay = commit_delay
        self._gap = math.inf  # running mean of the seconds between two arrivals
        self._last: float | None = None

    def arrived(self, at: float) -> None:
        """An action was queued at ``at`` (``time.perf_counter()``)."""
        if self._last is not None:
            gap = at - self._last
            self._gap = gap if math.isinf(self._gap) else self._gap + _SMOOTHING * (gap - self._gap)
        self._last = at

    async def gather(self, queue: asyncio.Queue[Any]) -> tuple[list[Any], bool]:
        """The next batch (empty after a tick without actions) and whether :data:`STOP` was met."""
        first: Any = None
        try:
            async with asyncio.timeout(self.tick):
                first = await queue.get()
        except TimeoutError:
            first = None
        stop = first is STOP
        batch: list[Any] = [] if first is None or stop else [first]
        stop = self._drain(queue, batch, stop)
        if batch and not stop and len(batch) < self.max_batch and self._gap < self.commit_delay:
            first_item: Queued = batch[0]
            wait = first_item.enqueued + self.commit_delay - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
                stop = self._drain(queue, batch, stop)
        return batch, stop

    def _drain(self, queue: asyncio.Queue[Any], batch: list[Any], stop: bool) -> bool:
        """Move what is queued into ``batch`` (up to ``max_batch``); whether STOP was met."""
        while not stop and len(batch) < self.max_batch:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if item is STOP:
                stop = True
            else:
                batch.append(item)
        return stop
