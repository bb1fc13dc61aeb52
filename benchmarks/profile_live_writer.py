"""Profile the live server's single writer alone: CPU per order and top functions of apply and commit.

No HTTP: the gate + agents-only market of ``bench_live_signed.py`` is built in this process on
a SQLite file (durable, with its trial lease, as ``flagship serve`` opens it), its agents are
admitted through the app (signed requests, in-process ASGI), then keyed market orders (the
payload, idempotency key and request hash the order route and the idempotency middleware would
hand over) are submitted straight to :meth:`Engine.submit` as a seeded Poisson stream at
``--rate``, each after reading the agent's standing in the gate from the read view, as the
Web Bot Auth authenticator does for every signed request. The writer task runs exactly as
when serving (group commit, read view, checkpoints every 10 s or 10,000 entries).

Two phases over the same stream: first unprofiled, where the writer's own counter
(``flagship_engine_cpu_seconds_total{part}``, the figure ``bench_live_signed.py`` prints) gives
CPU ms per order for ``apply`` (on the loop) and ``commit`` (in the database thread); then
profiled, with one cProfile on the loop that runs only inside ``Engine._apply_and_commit``
(switched off while the commit is awaited) and one inside ``DurableLog._append`` in the
commit's thread, each timing CPU (``time.thread_time``), printed by own time.

    python benchmarks/profile_live_writer.py [--rate 500] [--seconds 10] [--agents 32] [--top 25]
                                             [--commit-delay SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flagship.markets._http import OrderRequest  # noqa: E402
from flagship.sandbox._live import EngineOptions  # noqa: E402
from flagship.sandbox._live._gateway import normalize_payload  # noqa: E402
from flagship.sandbox._live._idempotency import IdempotencyContext, request_hash  # noqa: E402
from flagship.sandbox._live._lease import trial_lease  # noqa: E402
from flagship.sandbox._live._sequencer import Engine  # noqa: E402
from tests.live._gate_support import admit, agent, asgi_client, write_gate_scenario  # noqa: E402
from tests.live._support import Live, build_live  # noqa: E402

MARKET = "value_market"
GATE = "agent_gate"
MID, SPREAD = 10_000, 50  # as bench_live_signed.py: limits around a drifting mid, most rest
PATH = "/v1/market/orders"


def order_stream(actors: Sequence[str], count: int, seed: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` keyed orders, round robin over ``actors``, as the order route would submit them."""
    rng = np.random.default_rng(seed)
    orders = []
    for n in range(start, start + count):
        side = "buy" if rng.random() < 0.5 else "sell"
        mid = MID + int(50 * np.sin(n / 2_500))
        price = int(mid + (-1 if side == "buy" else 1) * rng.integers(0, SPREAD) + rng.integers(-5, 6))
        actor = actors[n % len(actors)]
        order_id = f"{n % len(actors)}-{n // len(actors)}"
        body = {"order_id": order_id, "side": side, "type": "limit", "price": price,
                "qty": int(rng.integers(1, 10))}
        context = IdempotencyContext(actor, order_id,
                                     request_hash("POST", PATH, "", b"", body, True), {})
        orders.append({"actor": actor, "payload": normalize_payload(OrderRequest(**body).payload()),
                       "key": context.key_for(0), "base_key": context.base_key,
                       "request_hash": context.request_hash})
    return orders


async def drive(engine: Engine, orders: list[dict[str, Any]], rate: float, seed: int) -> int:
    """Submit ``orders`` at Poisson arrivals of ``rate`` per second; the number accepted."""
    loop = asyncio.get_running_loop()
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, len(orders))
    begin = loop.time()
    arrivals = begin + np.cumsum(gaps)
    tasks = []
    for order, at in zip(orders, arrivals.tolist(), strict=True):
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        # As a signed request does: its authenticator reads the gate in the read view first.
        engine.mechanism(GATE).status(order["actor"])
        tasks.append(asyncio.ensure_future(engine.submit(MARKET, "limit", order["payload"], order["actor"],
                                                         key=order["key"], base_key=order["base_key"],
                                                         index=0, request_hash=order["request_hash"])))
    outcomes = await asyncio.gather(*tasks)
    return sum(1 for outcome in outcomes if outcome.accepted)


def writer_cpu(engine: Engine) -> dict[str, float]:
    """The writer's CPU seconds so far, by part, and its commits and committed entries."""
    metrics = engine.metrics
    parts = {part: metrics.engine_cpu.labels(part)._value.get() for part in ("apply", "commit")}
    commits = metrics.commit_entries
    parts["commits"] = sum(b.get() for b in commits._buckets)
    parts["entries"] = commits._sum.get()
    return parts


@contextlib.contextmanager
def _counting(profile: cProfile.Profile, *, on: bool = True) -> Iterator[None]:
    """Switch ``profile`` on (or, with ``on=False``, off) for the block, and back after it."""
    (profile.enable if on else profile.disable)()
    try:
        yield
    finally:
        (profile.disable if on else profile.enable)()


def profiled(engine: Engine) -> tuple[cProfile.Profile, cProfile.Profile]:
    """Wrap the writer's batch step and its commit with one profiler each (see the module docstring)."""
    # CPU time, not wall: the commit's fsync waits are no cost to the writer's core.
    apply, commit = cProfile.Profile(time.thread_time), cProfile.Profile(time.thread_time)
    step = engine._apply_and_commit
    durable = engine.durable
    append, write = durable.append, durable._append

    async def step_profiled(items: Any, target: float) -> None:
        with _counting(apply):
            await step(items, target)

    async def append_unprofiled(entries: Any, checkpoint: Any) -> None:
        with _counting(apply, on=False):  # the commit is the other profiler's
            await append(entries, checkpoint)

    def write_profiled(entries: Any, checkpoint: Any) -> None:
        with _counting(commit):
            write(entries, checkpoint)

    engine._apply_and_commit = step_profiled  # type: ignore[method-assign]
    durable.append = append_unprofiled  # type: ignore[method-assign]
    durable._append = write_profiled  # type: ignore[method-assign]
    return apply, commit


def top(profile: cProfile.Profile, count: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(count)
    text = out.getvalue()
    return text[text.find("   ncalls"):] if "   ncalls" in text else text


async def phase(engine: Engine, orders: list[dict[str, Any]], rate: float, seed: int) -> dict[str, Any]:
    before = writer_cpu(engine)
    accepted = await drive(engine, orders, rate, seed)
    after = writer_cpu(engine)
    spent = {k: after[k] - before[k] for k in after}
    per = 1e3 / max(len(orders), 1)
    return {"orders": len(orders), "accepted": accepted,
            "entries_per_commit": round(spent["entries"] / max(spent["commits"], 1), 2),
            "cpu_ms_per_order": {"apply": round(spent["apply"] * per, 4),
                                 "commit": round(spent["commit"] * per, 4),
                                 "writer": round((spent["apply"] + spent["commit"]) * per, 4)}}


def run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    scenario = write_gate_scenario(directory, time_factor=1.0,
                                   limits="[live.limits]\nrate_per_second = 1e9\nburst = 1000000000\n")
    delay = {} if args.commit_delay is None else {"commit_delay": args.commit_delay}
    live: Live = build_live(f"sqlite:///{directory / 'writer.db'}", scenario, directory,
                            options=EngineOptions(measures_seconds=0, **delay))
    engine = live.engine
    lease = trial_lease(live.store.private_url, engine.trial.id)
    if lease is not None:
        lease.acquire()
        engine.durable.lease = lease
    agents = [agent(f"writer-{i}") for i in range(args.agents)]
    count = int(args.rate * args.seconds)
    actors = [who.agent_id for who in agents]
    warm = order_stream(actors, int(args.rate), args.seed, start=0)
    plain = order_stream(actors, count, args.seed + 1, start=len(warm))
    hot = order_stream(actors, count, args.seed + 2, start=len(warm) + count)
    results: dict[str, Any] = {"rate": args.rate, "seconds": args.seconds, "agents": args.agents,
                               "commit_delay": getattr(engine.options, "commit_delay", None)}

    async def main(body: Callable[[], Awaitable[None]]) -> None:
        async with asgi_client(live) as client:
            await asyncio.gather(*(admit(client, who) for who in agents))
            await body()

    async def body() -> None:
        await drive(engine, warm, args.rate, args.seed)  # uncounted: caches, first checkpoint
        results["unprofiled"] = await phase(engine, plain, args.rate, args.seed + 1)
        apply, commit = profiled(engine)
        results["profiled"] = await phase(engine, hot, args.rate, args.seed + 2)
        results["apply_profile"] = top(apply, args.top)
        results["commit_profile"] = top(commit, args.top)

    try:
        asyncio.run(main(body))
    finally:
        if lease is not None:
            lease.release()
        live.store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="orders per second offered")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of each phase")
    parser.add_argument("--agents", type=int, default=32)
    parser.add_argument("--top", type=int, default=25, help="functions printed per profile")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--commit-delay", type=float, help="EngineOptions.commit_delay (default: its own)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = run(args, Path(tmp))
    apply_text, commit_text = results.pop("apply_profile"), results.pop("commit_profile")
    print(json.dumps(results, indent=2))
    print("\n== apply (the loop's share of each batch), by own time ==\n" + apply_text)
    print("== commit (DurableLog._append, in its thread), by own time ==\n" + commit_text)


if __name__ == "__main__":
    main()
