"""Telemetry's cost: a recording-heavy mechanism with telemetry on versus off.

The ``bench_busy`` mechanism records a counter, a sample and a gauge on every
action (1,000 Poisson participants, 300 sim seconds, about 300,000 actions) through the
recorder's per-action handles (``counter``, ``sampler``, ``gauge_setter``); ``bench_busy_named``
records the same through the name-keyed methods (``count``, ``sample``, ``gauge``).
"Off" keeps the final measures but drops counters, gauges, samples and series.

Prints the simulation phase (``env.run``, the part issue 20 bounds at +3%) in CPU seconds of
this process, which other processes on a shared machine disturb far less than wall time,
and the end-to-end ``flagship.sandbox.run`` rate in wall time as before. Runs alternate on and
off to share the machine's noise, each after a full collection of the previous run's
garbage, in an order reversed every other round; medians of 6 are kept.

    python benchmarks/bench_telemetry_overhead.py
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import scenario

from flagship.sandbox import build_host, resolve, run
from flagship.sandbox._gc import quiet_gc

RUNS = 6
DURATION = 300.0


def simulation_cpu(telemetry: bool, mechanism: str = "bench_busy") -> float:
    """CPU seconds of the simulation phase alone."""
    gc.collect()  # the previous run's garbage is not this run's cost
    host = build_host(resolve(scenario(mechanism, telemetry=telemetry, duration=DURATION)), seed=1)
    host.start()
    with quiet_gc():
        started = time.process_time()
        host.env.run(until=DURATION)
        elapsed = time.process_time() - started
    host.finish()
    return elapsed


def rate(telemetry: bool) -> float:
    gc.collect()
    result = run(resolve(scenario("bench_busy", telemetry=telemetry, duration=DURATION)), seed=1)
    return result.n_actions / result.wall_seconds


def main() -> None:
    measurements: dict[str, Callable[[], float]] = {
        "cpu_on": lambda: simulation_cpu(True),
        "cpu_off": lambda: simulation_cpu(False),
        "named_on": lambda: simulation_cpu(True, "bench_busy_named"),
        "named_off": lambda: simulation_cpu(False, "bench_busy_named"),
        "on": lambda: rate(True),
        "off": lambda: rate(False),
    }
    results: dict[str, list[float]] = {name: [] for name in measurements}
    for round_ in range(RUNS):
        # Every other round in reverse order: a run's position after the one before it (the heap
        # that run left behind) shifted the fixed-order comparison by several percent.
        names = list(measurements) if round_ % 2 == 0 else list(reversed(measurements))
        for name in names:
            results[name].append(measurements[name]())
    median = {name: statistics.median(values) for name, values in results.items()}
    phase_on, phase_off = median["cpu_on"], median["cpu_off"]
    print(f"simulation phase, CPU seconds (median of {RUNS}): telemetry on {phase_on:.3f}, "
          f"off {phase_off:.3f}: {phase_on / phase_off - 1:+.1%} with telemetry on (issue 20 target: +3%)")
    named_on, named_off = median["named_on"], median["named_off"]
    print(f"  the same through the name-keyed methods (bench_busy_named): on {named_on:.3f}, "
          f"off {named_off:.3f}: {named_on / named_off - 1:+.1%}")
    end_on, end_off = median["on"], median["off"]
    print(f"end to end, wall (median of {RUNS}): telemetry on {end_on:,.0f} actions/s, off {end_off:,.0f}: "
          f"{end_off / end_on - 1:+.1%} slower with telemetry on")

if __name__ == "__main__":
    main()
