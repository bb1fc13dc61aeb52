"""Throughput of the pure-Python order book on a seeded stream of mixed requests.

    /work/venv/bin/python benchmarks/bench_order_book.py [--ops N] [--repeats R] [--profile]

The stream (200,000 requests by default) is about 60% limit orders around a drifting mid
price (some of them marketable), 25% cancels of orders that are live at that moment and 15%
market orders, from 100 owners under the default self-trade prevention.  It is generated once
(a generation pass runs a book to learn which orders are live when each cancel is drawn), then
replayed on a fresh book per repeat; only the replay is timed, and the best repeat is reported
because other processes share the machine.  ``--profile`` prints a cProfile of one replay.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flagship.markets import OrderBook, OrderRejected

LIMIT, CANCEL, MARKET = 0, 1, 2
# (kind, order id, side, price, qty, owner); cancels use only the id.
Op = tuple[int, int, str, int, int, str]

SEED = 20_240_601
OWNERS = [f"trader{i}" for i in range(100)]


def generate(n_ops: int, seed: int = SEED) -> list[Op]:
    """The request stream; deterministic for a given ``n_ops`` and ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    kinds = rng.choice(3, size=n_ops, p=[0.60, 0.25, 0.15])
    buys = rng.random(n_ops) < 0.5
    # Mid price: a random walk in ticks that moves on about one request in ten.
    steps = rng.choice([-1, 0, 1], size=n_ops, p=[0.05, 0.90, 0.05])
    mids = 10_000 + np.cumsum(steps)
    # Distance from the mid on the passive side; negative distances are marketable.
    offsets = rng.geometric(0.1, size=n_ops) - 2
    qtys = rng.integers(1, 100, size=n_ops, endpoint=True)
    owners = rng.integers(0, len(OWNERS), size=n_ops)
    picks = rng.random(n_ops)

    book = OrderBook()  # generation pass: learns which ids are live when a cancel is drawn
    live: list[int] = []
    ops: list[Op] = []
    for i in range(n_ops):
        kind = int(kinds[i])
        side = "buy" if buys[i] else "sell"
        owner = OWNERS[int(owners[i])]
        qty = int(qtys[i])
        if kind == CANCEL:
            target = None
            while live:
                j = int(picks[i] * len(live))
                candidate = live[j]
                live[j] = live[-1]
                live.pop()
                if book.order(candidate) is not None:
                    target = candidate
                    break
            if target is None:  # nothing live: make it a limit order instead
                kind = LIMIT
            else:
                ops.append((CANCEL, target, "", 0, 0, ""))
                book.cancel(target)
                continue
        if kind == LIMIT:
            mid = int(mids[i])
            offset = int(offsets[i])
            price = mid - offset if side == "buy" else mid + offset
            ops.append((LIMIT, i, side, price, qty, owner))
            try:
                book.limit(i, side, price, qty, owner)
            except OrderRejected:
                continue
            if book.order(i) is not None:
                live.append(i)
        else:
            ops.append((MARKET, i, side, 0, qty, owner))
            try:
                book.market(i, side, qty, owner)
            except OrderRejected:
                continue
    return ops


def replay(ops: list[Op]) -> tuple[float, OrderBook]:
    """Seconds to run ``ops`` on a fresh book (rejections are part of the workload)."""
    book = OrderBook()
    limit = book.limit
    market = book.market
    cancel = book.cancel
    start = time.perf_counter()
    for kind, oid, side, price, qty, owner in ops:
        try:
            if kind == LIMIT:
                limit(oid, side, price, qty, owner)
            elif kind == CANCEL:
                cancel(oid)
            else:
                market(oid, side, qty, owner)
        except OrderRejected:
            pass
    return time.perf_counter() - start, book


def loop_overhead(ops: list[Op]) -> float:
    """Seconds the replay loop itself takes with no-op calls (the harness's share)."""

    def noop(*args: object) -> None:
        return None

    start = time.perf_counter()
    for kind, oid, side, price, qty, owner in ops:
        try:
            if kind == LIMIT:
                noop(oid, side, price, qty, owner)
            elif kind == CANCEL:
                noop(oid)
            else:
                noop(oid, side, qty, owner)
        except OrderRejected:
            pass
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    ops = generate(args.ops)
    gen_seconds = time.perf_counter() - t0
    mix = [sum(1 for op in ops if op[0] == kind) / len(ops) for kind in (LIMIT, CANCEL, MARKET)]
    print(
        f"stream: {len(ops):,} requests (limit {mix[0]:.0%}, cancel {mix[1]:.0%}, "
        f"market {mix[2]:.0%}), seed {SEED}, generated in {gen_seconds:.1f}s"
    )

    times = []
    book = OrderBook()
    for _ in range(args.repeats):
        seconds, book = replay(ops)
        times.append(seconds)
    best = min(times)
    overhead = min(loop_overhead(ops) for _ in range(3))
    print(
        f"final book: {len(book):,} live orders, {len(book.tape):,} fills, "
        f"bid {book.best_bid()} ask {book.best_ask()}, {len(book.stp_log):,} STP events"
    )
    print(
        f"engine: best {len(ops) / best:,.0f} ops/s ({best * 1e6 / len(ops):.2f} us/op), "
        f"median {len(ops) / sorted(times)[len(times) // 2]:,.0f} ops/s over {args.repeats} repeats"
    )
    print(
        f"harness loop alone: {overhead * 1e6 / len(ops):.2f} us/op (included above); "
        f"engine excluding it: {len(ops) / (best - overhead):,.0f} ops/s"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        replay(ops)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
