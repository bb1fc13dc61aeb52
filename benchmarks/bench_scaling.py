"""How the market's order book costs grow: wall time and peak memory against participants and duration.

    .venv/bin/python benchmarks/bench_scaling.py [--repeats R] [--quick]
    .venv/bin/python benchmarks/bench_scaling.py --instructions [--quick] [--cache]   # under valgrind

A market of N traders (1k, 3k, 10k, 30k, 100k) each sending the same number of requests (5), and a market
of 10k traders running for 2, 4, 8 and 16 requests each (duration).  The requests are the mix of
bench_order_book.py (60% limit orders around a drifting mid, 25% cancels, 15% market orders),
the cancels aimed at orders placed earlier, so the book grows deep: with more traders more
orders rest at every price, and a cancel that costs O(orders at its price) makes the total grow
faster than the number of requests.  For each axis the script fits the growth exponent b of
``cost = a * size**b`` (least squares on logs, a 95 % t interval from the slope's standard error:
benchmarks/_scaling.py) for the CPU time of the replay (median of
``--repeats``; the machine is shared, so wall time, also printed, mostly measures the others) and for
the peak memory traced by :mod:`tracemalloc` during a separate run (the replay, the book and its
tape; the stream itself is built before tracing starts), and prints a verdict against 1.1 (PASS when
the whole interval is at most 1.1: benchmarks/_scaling.py).  Larger
markets of this stream also trade more per request (about 0.45 fills per request at 1k traders,
0.65 at 100k), so the exponent of the work itself (requests + fills) and of the CPU time against
that work are printed for reference.

``--instructions`` fits the same axes on a deterministic cost: the instructions each replay
executes, counted by callgrind in a child process per size (benchmarks/_callgrind.py: the
stream is built uncounted, the replay alone is counted). Other processes cannot move it, so
where CPU time's exponent is a coin toss around 1.1 on a shared machine, this one says whether
the book does more work per request as the market grows; what it leaves out (cache misses as
the working set outgrows the caches) is the difference between the two exponents.  ``--cache``
(with ``--instructions``, about twice as slow) runs the children through callgrind's cache
simulator and prints the first-level data cache's misses per request with their growth exponent:
the deterministic sign of that difference.  (Only the first level: valgrind sizes its simulated
last-level cache from what the CPU reports, which in a virtual machine can be anything; this
one reports 512 MiB.)  ``--replay TRADERS PER_TRADER`` is what each child runs.
"""

from __future__ import annotations

import argparse
import gc
import operator
import os
import statistics
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _callgrind
from _scaling import fit, summary

from flagship.markets import OrderBook, OrderRejected

LIMIT, CANCEL, MARKET = 0, 1, 2
Op = tuple[int, int, str, int, int, str]
SEED = 20_261_206


def stream(traders: int, per_trader: int, seed: int = SEED) -> list[Op]:
    """``traders * per_trader`` requests; cancels name an earlier limit order (live or not)."""
    n_ops = traders * per_trader
    rng = np.random.default_rng(np.random.SeedSequence([seed, traders, per_trader]))
    kinds = rng.choice(3, size=n_ops, p=[0.60, 0.25, 0.15])
    buys = rng.random(n_ops) < 0.5
    mids = 10_000 + np.cumsum(rng.choice([-1, 0, 1], size=n_ops, p=[0.05, 0.90, 0.05]))
    offsets = rng.geometric(0.1, size=n_ops) - 2
    qtys = rng.integers(1, 100, size=n_ops, endpoint=True)
    owners = rng.integers(0, traders, size=n_ops)
    picks = rng.random(n_ops)
    placed: list[int] = []
    ops: list[Op] = []
    for i in range(n_ops):
        kind = int(kinds[i])
        side = "buy" if buys[i] else "sell"
        if kind == CANCEL and placed:
            j = int(picks[i] * len(placed))
            ops.append((CANCEL, placed[j], "", 0, 0, ""))
            placed[j] = placed[-1]
            placed.pop()
        elif kind == MARKET:
            ops.append((MARKET, i, side, 0, int(qtys[i]), f"t{owners[i]}"))
        else:
            offset = int(offsets[i])
            price = int(mids[i]) - offset if buys[i] else int(mids[i]) + offset
            ops.append((LIMIT, i, side, price, int(qtys[i]), f"t{owners[i]}"))
            placed.append(i)
    return ops


def replay(ops: list[Op]) -> OrderBook:
    book = OrderBook()
    limit, market, cancel = book.limit, book.market, book.cancel
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
    return book


def measure(ops: list[Op], repeats: int) -> tuple[float, float, float, OrderBook]:
    """(median wall seconds, median CPU seconds, peak MiB traced, the final book) of replaying
    ``ops``.  The stream is frozen out of the garbage collector first (it is the
    harness's, not the book's); the book's own objects are collected as usual."""
    walls, cpus = [], []
    for _ in range(repeats):
        gc.collect()
        gc.freeze()
        start, start_cpu = time.perf_counter(), time.process_time()
        book = replay(ops)
        cpus.append(time.process_time() - start_cpu)
        walls.append(time.perf_counter() - start)
        del book
        gc.unfreeze()
    book = replay(ops)
    tracemalloc.start()
    replay(ops)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(walls), statistics.median(cpus), peak / 2**20, book


def exponent(sizes: list[int], costs: list[float]) -> float:
    slope, _ = np.polyfit(np.log(sizes), np.log(costs), 1)
    return float(slope)


def axis(name: str, label: str, sizes: list[int], runs: list[tuple[int, int]], repeats: int) -> list[str]:
    print(f"{name}:")
    walls: list[float] = []
    work: list[int] = []  # requests + fills: the work the market itself asks for
    seconds: list[float] = []
    peaks: list[float] = []
    for size, (traders, per_trader) in zip(sizes, runs, strict=True):
        ops = stream(traders, per_trader)
        wall, cpu, peak, book = measure(ops, repeats)
        work.append(len(ops) + len(book.tape))
        walls.append(wall)
        seconds.append(cpu)
        peaks.append(peak)
        print(f"  {label} {size:>7,}: {len(ops):>9,} requests  wall {wall:7.3f} s  CPU {cpu:7.3f} s "
              f"({cpu * 1e6 / len(ops):.2f} us/request)  peak {peak:6.1f} MiB  {len(book):,} live orders  "
              f"{len(book.tape) / len(ops):.2f} fills/request")
    outcomes = []
    print(f"  (for reference: growth exponent of wall time {exponent(sizes, walls):.2f}; of the work, "
          f"requests + fills, {exponent(sizes, work):.2f}; of CPU time against that work "
          f"{exponent(work, seconds):.2f})")
    for what, costs in (("CPU time", seconds), ("peak memory", peaks)):
        result = fit(sizes, costs)
        outcomes.append(result.outcome)
        print(f"  growth exponent of {what + ':':<14} {result.verdict()}")
    return outcomes


HERE = Path(__file__).resolve()


def replay_counted(traders: int, per_trader: int) -> None:
    """What an ``--instructions`` child runs: build the stream, hand over, replay it through
    ``operator.call`` (the only part callgrind counts), then print its requests and fills (so the
    parent need not build and replay the stream again to know its work)."""
    ops = stream(traders, per_trader)
    gc.collect()
    gc.freeze()
    _callgrind.handshake()
    book = operator.call(replay, ops)
    print(len(ops), len(book.tape))


def instruction_axis(name: str, label: str, sizes: list[int], runs: list[tuple[int, int]], *,
                     cache: bool = False) -> list[str]:
    """One axis fitted on instruction counts (two valgrind children at a time); with ``cache``,
    the simulated first-level data cache's misses per request are printed beside them."""
    def count(run: tuple[int, int]) -> tuple[dict[str, int], str]:
        return _callgrind.count_events(HERE, ["--replay", str(run[0]), str(run[1])], f"{label} {run}",
                                       cache_sim=cache)

    with ThreadPoolExecutor(max_workers=2) as pool:  # instruction counts do not mind sharing cores
        counted = list(pool.map(count, runs))
    counts = [events["Ir"] for events, _ in counted]
    misses = [events.get("D1mr", 0) + events.get("D1mw", 0) for events, _ in counted]
    print(f"{name}:")
    work: list[int] = []
    for size, instructions, missed, (_, printed) in zip(sizes, counts, misses, counted, strict=True):
        requests, fills = (int(word) for word in printed.split())
        work.append(requests + fills)
        cached = f"  {missed / requests:5.1f} D1 misses per request" if cache else ""
        print(f"  {label} {size:>7,}: {requests:>9,} requests  {instructions:>15,} instructions  "
              f"({instructions / requests:,.0f} per request, {instructions / work[-1]:,.0f} per request "
              f"or fill){cached}")
    result = fit(sizes, counts)
    print(f"  (for reference: growth exponent of the work, requests + fills, {exponent(sizes, work):.2f}; "
          f"of instructions against that work {fit(work, counts).verdict()})")
    if cache:
        print(f"  (for reference: growth exponent of D1 misses {exponent(sizes, misses):.2f}: what the "
              "caches add to CPU time and instructions leave out)")
    print(f"  growth exponent of {'instructions:':<14} {result.verdict()}")
    return [result.outcome]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of every size (a smoke run)")
    parser.add_argument("--instructions", action="store_true",
                        help="fit instruction counts under valgrind's callgrind instead of CPU time")
    parser.add_argument("--cache", action="store_true",
                        help="with --instructions: also simulate the caches (about twice as slow) and print "
                             "the first-level data cache's misses per request")
    parser.add_argument("--replay", nargs=2, type=int, metavar=("TRADERS", "PER_TRADER"),
                        help="what an --instructions child runs (under valgrind, with its handshake)")
    args = parser.parse_args(argv)
    if args.cache and not args.instructions:
        parser.error("--cache: expected with --instructions (it simulates the caches under valgrind)")
    if args.replay:
        replay_counted(*args.replay)
        sys.stdout.flush()
        os._exit(0)  # no teardown: it is not counted, and under valgrind it is slow
    scale = 10 if args.quick else 1
    traders = [n // scale for n in (1_000, 3_000, 10_000, 30_000, 100_000)]
    rounds = [2, 4, 8, 16]
    axes = [("participants (5 requests each)", "traders", traders, [(n, 5) for n in traders]),
            (f"duration ({10_000 // scale:,} traders)", "requests/trader", rounds,
             [(10_000 // scale, r) for r in rounds])]
    outcomes: list[str] = []
    for name, label, sizes, runs in axes:
        if args.instructions:
            outcomes += instruction_axis(name, label, sizes, runs, cache=args.cache)
        else:
            outcomes += axis(name, label, sizes, runs, args.repeats)
    print(summary(outcomes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
