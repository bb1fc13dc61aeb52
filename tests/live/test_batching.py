"""The writer's batches: what is queued, a tick when nothing is, and the commit delay under steady traffic."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from flagship.sandbox._live._batching import STOP, Batcher


@dataclass
class Item:
    name: str
    enqueued: float = field(default_factory=time.perf_counter)


def _batcher(delay: float, *, max_batch: int = 256, tick: float = 0.05) -> Batcher:
    return Batcher(max_batch=max_batch, tick=tick, commit_delay=delay)


def _queue(batcher: Batcher, *items: Any) -> asyncio.Queue[Any]:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
        if isinstance(item, Item):
            batcher.arrived(item.enqueued)
    return queue


def test_a_lone_action_is_not_held() -> None:
    async def main() -> None:
        batcher = _batcher(0.2)
        queue = _queue(batcher, Item("a"))
        started = time.perf_counter()
        batch, stop = await batcher.gather(queue)
        assert [item.name for item in batch] == ["a"] and not stop
        assert time.perf_counter() - started < 0.1  # no arrivals less than 0.2 s apart yet: no wait

    asyncio.run(main())


def test_under_steady_traffic_a_batch_waits_for_the_delay_and_takes_what_arrives() -> None:
    async def main() -> None:
        batcher = _batcher(0.2)
        for _ in range(5):  # arrivals 1 ms apart: the mean gap is far below the delay
            batcher.arrived(time.perf_counter())
            await asyncio.sleep(0.001)
        first = Item("first")
        queue = _queue(batcher, first)

        async def later() -> None:
            await asyncio.sleep(0.05)
            item = Item("later")
            queue.put_nowait(item)
            batcher.arrived(item.enqueued)

        arriving = asyncio.create_task(later())
        batch, stop = await batcher.gather(queue)
        await arriving
        assert [item.name for item in batch] == ["first", "later"] and not stop
        assert time.perf_counter() - first.enqueued >= 0.2

    asyncio.run(main())


def test_an_action_that_already_waited_the_delay_is_not_held_again() -> None:
    async def main() -> None:
        batcher = _batcher(0.2)
        for _ in range(5):  # steady traffic
            batcher.arrived(time.perf_counter())
            await asyncio.sleep(0.001)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        queue.put_nowait(Item("old", enqueued=time.perf_counter() - 1.0))  # it queued behind a long commit
        started = time.perf_counter()
        batch, _ = await batcher.gather(queue)
        assert [item.name for item in batch] == ["old"]
        assert time.perf_counter() - started < 0.1

    asyncio.run(main())


def test_max_batch_stop_and_ticks() -> None:
    async def main() -> None:
        batcher = _batcher(0.0, max_batch=2, tick=0.01)
        queue = _queue(batcher, Item("a"), Item("b"), Item("c"), STOP)
        batch, stop = await batcher.gather(queue)
        assert [item.name for item in batch] == ["a", "b"] and not stop
        batch, stop = await batcher.gather(queue)
        assert [item.name for item in batch] == ["c"] and stop  # the batch before STOP still runs
        batch, stop = await batcher.gather(queue)  # nothing queued: an empty batch after a tick
        assert batch == [] and not stop

    asyncio.run(main())
