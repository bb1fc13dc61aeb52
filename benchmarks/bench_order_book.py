"""Throughput of the order book against a straightforward peer on a seeded stream of mixed requests.

    .venv/bin/python benchmarks/bench_order_book.py [--ops N] [--repeats R] [--profile]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python benchmarks/bench_order_book.py --only compiled [--ranked] [--ops N]

The peer is ``benchmarks/peer_book.py`` (a sorted dict of deques in plain Python); both books
run the same stream in the same process, interleaved, and must give identical fills.  It prints
the ratio peer time / our time (medians of ``--repeats``) with policies off and with every limit
order carrying a ``value_priority`` engine priority (-1, 0 or +1), for the installed engine
(``flagship.markets.ENGINE``: ``compiled`` by mypyc, or ``pure``) and, when that is the
compiled one, also for the pure-Python source of the same engine.

The stream (200,000 requests by default) is about 60% limit orders around a drifting mid
price (some of them marketable), 25% cancels of orders that are live at that moment and 15%
market orders, from 100 owners under the default self-trade prevention.  It is generated once
(a generation pass runs a book to learn which orders are live when each cancel is drawn), then
replayed on a fresh book per repeat; only the replay is timed, in CPU seconds of this process
(the machine is shared, and wall time would mostly measure the other processes).
``--profile`` prints a cProfile of one replay of our book.  ``--only BOOK`` replays the stream
once on that book alone (``none``: generation only) and prints nothing: under valgrind the
difference of a book's instruction count and ``none``'s is the book's, a figure that other
processes on a shared machine do not disturb (unlike its cache misses, which CPU time includes).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from peer_book import PeerBook, PeerRejectedError

from flagship.markets import ENGINE, OrderBook, OrderRejected
from flagship.markets._engine import load_pure_book

LIMIT, CANCEL, MARKET = 0, 1, 2
# (kind, order id, side, price, qty, owner); cancels use only the id.
Op = tuple[int, int, str, int, int, str]
PricedOp = tuple[int, int, str, int, int, str, int]  # an Op and the limit order's priority

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


PRIORITIES = (-1, 0, 1)  # value_priority's engine priorities: breaching, neutral, aligned


def with_priorities(ops: list[Op], seed: int = SEED) -> list[PricedOp]:
    """``ops`` with an engine priority per limit order (20% -1, 60% 0, 20% +1), as under
    ``value_priority``; cancels of orders that are no longer live stay harmless no-ops."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    draws = rng.choice(PRIORITIES, size=len(ops), p=[0.2, 0.6, 0.2])
    return [(*op, int(draw)) for op, draw in zip(ops, draws, strict=True)]


def replay(make: Callable[[], Any], ops: list[Op], rejected: type[Exception]) -> tuple[float, Any]:
    """CPU seconds to run ``ops`` (policies off) on a fresh book from ``make``; rejections are
    part of the workload."""
    book = make()
    limit, market, cancel = book.limit, book.market, book.cancel
    start = time.process_time()
    for kind, oid, side, price, qty, owner in ops:
        try:
            if kind == LIMIT:
                limit(oid, side, price, qty, owner)
            elif kind == CANCEL:
                cancel(oid)
            else:
                market(oid, side, qty, owner)
        except rejected:
            pass
    return time.process_time() - start, book


def replay_ranked(
    make: Callable[[], Any], ops: list[PricedOp], rejected: type[Exception]
) -> tuple[float, Any]:
    """As :func:`replay`, every limit order with its priority (``value_priority`` on)."""
    book = make()
    limit, market, cancel = book.limit, book.market, book.cancel
    start = time.process_time()
    for kind, oid, side, price, qty, owner, priority in ops:
        try:
            if kind == LIMIT:
                limit(oid, side, price, qty, owner, priority=priority)
            elif kind == CANCEL:
                cancel(oid)
            else:
                market(oid, side, qty, owner)
        except rejected:
            pass
    return time.process_time() - start, book


def compare(
    name: str, run: Callable[..., tuple[float, Any]], ops: list[Any], repeats: int, engines: dict[str, Any]
) -> dict[str, float]:
    """Interleaved repeats of each engine and the peer on ``ops``; print medians and return the
    ratio per engine (peer time / engine time, so > 1 means the engine is faster).  Exits
    non-zero on differing fills."""
    times: dict[str, list[float]] = {engine: [] for engine in [*engines, "peer"]}
    books: dict[str, Any] = {}
    for _ in range(repeats):
        for engine, make in engines.items():
            seconds, books[engine] = run(make, ops, OrderRejected)
            times[engine].append(seconds)
        seconds, peer = run(PeerBook, ops, PeerRejectedError)
        times["peer"].append(seconds)
    peer_median = statistics.median(times["peer"])
    ratios = {}
    for engine, ours in books.items():
        if [tuple(fill) for fill in ours.tape] != peer.tape or len(ours) != len(peer):
            raise SystemExit(f"{name}: the {engine} engine and the peer disagree on this stream")
        ours_median = statistics.median(times[engine])
        ratios[engine] = peer_median / ours_median
        print(
            f"{name:>14} {engine:>8}: ours {len(ops) / ours_median:>9,.0f} ops/s, "
            f"peer {len(ops) / peer_median:>9,.0f} ops/s, ratio {ratios[engine]:.2f}x "
            f"(medians of {repeats}; {len(ours.tape):,} identical fills, {len(ours):,} live)"
        )
    return ratios


def replay_only(book: str, n_ops: int, ranked: bool) -> int:
    """One replay on ``book`` alone, for instruction counts under valgrind (see the docstring)."""
    pure = load_pure_book().OrderBook  # loaded (its source compiled) whichever book runs: a common cost
    ops: list[Any] = generate(n_ops)
    if ranked:
        ops = with_priorities(ops)
    run = replay_ranked if ranked else replay
    if book == "peer":
        run(PeerBook, ops, PeerRejectedError)
    elif book != "none":
        if book == "compiled" and ENGINE != "compiled":
            raise SystemExit("the compiled engine is not installed")
        run(OrderBook if book == "compiled" else pure, ops, OrderRejected)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--only", choices=["compiled", "pure", "peer", "none"])
    parser.add_argument("--ranked", action="store_true", help="with --only: the value_priority stream")
    args = parser.parse_args(argv)
    if args.only:
        return replay_only(args.only, args.ops, args.ranked)

    t0 = time.perf_counter()
    ops = generate(args.ops)
    ranked = with_priorities(ops)
    gen_seconds = time.perf_counter() - t0
    mix = [sum(1 for op in ops if op[0] == kind) / len(ops) for kind in (LIMIT, CANCEL, MARKET)]
    print(
        f"stream: {len(ops):,} requests (limit {mix[0]:.0%}, cancel {mix[1]:.0%}, "
        f"market {mix[2]:.0%}), seed {SEED}, generated in {gen_seconds:.1f}s"
    )
    # The installed engine, and the pure-Python source beside it when the installed one is compiled.
    engines: dict[str, Any] = {ENGINE: OrderBook}
    if ENGINE == "compiled":
        engines["pure"] = load_pure_book().OrderBook
    print(f"engine: flagship.markets.ENGINE = {ENGINE!r}")
    compare("policies off", replay, ops, args.repeats, engines)
    compare("value priority", replay_ranked, ranked, args.repeats, engines)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        replay(OrderBook, ops, OrderRejected)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
