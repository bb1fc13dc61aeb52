"""Telemetry's cost: a recording-heavy mechanism with telemetry on versus off.

The ``bench_busy`` mechanism records a counter, a sample and a gauge on every
action (1,000 Poisson participants, 300 sim seconds, about 300,000 actions).
"Off" keeps the final measures but drops counters, gauges, samples and series.
Runs alternate on and off to share the machine's noise, each after a full collection of
the previous run's garbage; the best of each is kept.

    python benchmarks/bench_telemetry_overhead.py
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import scenario

from flagship.sandbox import resolve, run


def rate(telemetry: bool) -> float:
    gc.collect()  # the previous run's garbage is not this run's cost
    result = run(resolve(scenario("bench_busy", telemetry=telemetry)), seed=1)
    return result.n_actions / result.wall_seconds


def main() -> None:
    on: list[float] = []
    off: list[float] = []
    for _ in range(4):
        on.append(rate(True))
        off.append(rate(False))
    best_on, best_off = max(on), max(off)
    print(f"telemetry on : {best_on:,.0f} actions/s")
    print(f"telemetry off: {best_off:,.0f} actions/s")
    print(f"slowdown with telemetry on: {best_off / best_on - 1:+.1%} (limit +10%)")


if __name__ == "__main__":
    main()
