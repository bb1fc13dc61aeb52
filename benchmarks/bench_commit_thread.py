"""CPU per commit round trip off the event loop: ``asyncio.to_thread`` per call vs the writer's commit thread.

The sequencer hands every commit to a thread so its loop goes on reading requests. What that hand-off
costs in CPU, beyond the commit itself, is paid once per batch on the single writer's process. The
job here stands in for a commit: 0.3 ms of waiting without the GIL (an fsync). Each variant runs
``--commits`` round trips, one after the other, ``--repeats`` times, alternating, and the process's
CPU per round trip is printed (median of the repeats), with the floor: the same job called on the
loop itself (no thread).

    python benchmarks/bench_commit_thread.py [--commits 4000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

from flagship.sandbox._live._commit_thread import CommitThread

WAIT = 0.0003


def _job(n: int) -> int:
    time.sleep(WAIT)
    return n


async def _to_thread(commits: int) -> None:
    for n in range(commits):
        await asyncio.to_thread(_job, n)


async def _commit_thread(commits: int) -> None:
    thread = CommitThread()
    for n in range(commits):
        await thread.run(_job, n)
    thread.close()


async def _on_the_loop(commits: int) -> None:
    for n in range(commits):
        _job(n)
        await asyncio.sleep(0)


async def _measure(commits: int, repeats: int) -> dict[str, float]:
    variants: dict[str, Callable[[int], Awaitable[None]]] = {
        "to_thread": _to_thread, "commit_thread": _commit_thread, "on_the_loop": _on_the_loop}
    spent: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, variant in variants.items():
            started = time.process_time()
            await variant(commits)
            spent[name].append((time.process_time() - started) / commits * 1e6)
    return {name: round(statistics.median(values), 1) for name, values in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    medians = asyncio.run(_measure(args.commits, args.repeats))
    print(json.dumps({"cpu_us_per_round_trip": medians, "job_wait_us": WAIT * 1e6}, indent=2))


if __name__ == "__main__":
    main()
