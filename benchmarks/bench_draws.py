"""Scalar random draws: RandomStream's fast draws against numpy's own calls, same numbers.

    python benchmarks/bench_draws.py [--draws 200000] [--repeats 7]

Prints, per kind of draw, the time per draw of numpy's call (the peer: a plain
``numpy.random.Generator(PCG64(seed))``) and of the stream's fast draw, each the median of
``--repeats`` timed batches run alternately in this process, and the peer's median over ours.
Before timing it checks that both gave the same numbers. The kinds are those of the built-in
populations: a ZI shout's price (``int(integers(low, high))``, a 41-value range), a coin
(``random()``), a ZIP margin step (``uniform(low, high)``), and a 2**31 + 1-value range, where
Lemire's method rejects about half the draws.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from flagship.mechanisms import RandomStream

SEED = 20
KINDS: dict[str, tuple[Callable[[np.random.Generator], object], Callable[[RandomStream], object]]] = {
    "int, 41 values": (lambda g: int(g.integers(60, 101)), lambda s: s.draw_int(60, 101)),
    "float": (lambda g: g.random(), lambda s: s.draw_float()),
    "uniform": (lambda g: g.uniform(0.95, 1.05), lambda s: s.draw_uniform(0.95, 1.05)),
    "int, 2**31 + 1 values": (lambda g: int(g.integers(0, 2**31 + 1)), lambda s: s.draw_int(0, 2**31 + 1)),
}


def per_draw(draw: Callable[[], object], n: int) -> float:
    """Seconds per call of ``draw`` over ``n`` calls."""
    started = time.perf_counter()
    for _ in range(n):
        draw()
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200_000, help="draws per timed batch")
    parser.add_argument("--repeats", type=int, default=7, help="timed batches per side")
    args = parser.parse_args()
    print(f"{args.draws:,} draws per batch, median of {args.repeats} batches per side, alternated")
    print(f"{'draw':24} {'numpy ns':>9} {'fast ns':>8} {'speed-up':>9}")
    for kind, (numpy_call, fast_call) in KINDS.items():
        generator = np.random.Generator(np.random.PCG64(SEED))
        stream = RandomStream(np.random.PCG64(SEED))
        same = [numpy_call(generator) for _ in range(1000)] == [fast_call(stream) for _ in range(1000)]
        if not same:
            raise SystemExit(f"{kind}: the fast draw gave other numbers than numpy's")
        peer: list[float] = []
        ours: list[float] = []
        for _ in range(args.repeats):
            peer.append(per_draw(lambda: numpy_call(generator), args.draws))  # noqa: B023
            ours.append(per_draw(lambda: fast_call(stream), args.draws))  # noqa: B023
        slow, fast = statistics.median(peer), statistics.median(ours)
        print(f"{kind:24} {slow * 1e9:9.0f} {fast * 1e9:8.0f} {slow / fast:8.2f}x")


if __name__ == "__main__":
    main()
