"""Telemetry's cost: a recording-heavy mechanism with telemetry on versus off.

The ``bench_busy`` mechanism records a counter, a sample and a gauge on every
action (1,000 Poisson participants, 300 sim seconds, about 300,000 actions).
"Off" keeps the final measures but drops counters, gauges, samples and series.

Prints the simulation phase (``env.run``, the part issue 20 bounds at +3%) in CPU seconds of
this process, which other processes on a shared machine disturb far less than wall time,
and the end-to-end ``flagship.sandbox.run`` rate in wall time as before. Runs alternate on and
off to share the machine's noise, each after a full collection of the previous run's
garbage; medians of 5 are kept.

    python benchmarks/bench_telemetry_overhead.py
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import scenario

from flagship.sandbox import build_host, resolve, run
from flagship.sandbox._gc import quiet_gc

RUNS = 5
DURATION = 300.0


def simulation_cpu(telemetry: bool) -> float:
    """CPU seconds of the simulation phase alone."""
    gc.collect()  # the previous run's garbage is not this run's cost
    host = build_host(resolve(scenario("bench_busy", telemetry=telemetry, duration=DURATION)), seed=1)
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
    cpu_on: list[float] = []
    cpu_off: list[float] = []
    on: list[float] = []
    off: list[float] = []
    for _ in range(RUNS):
        cpu_on.append(simulation_cpu(True))
        cpu_off.append(simulation_cpu(False))
        on.append(rate(True))
        off.append(rate(False))
    phase_on, phase_off = statistics.median(cpu_on), statistics.median(cpu_off)
    print(f"simulation phase, CPU seconds (median of {RUNS}): telemetry on {phase_on:.3f}, "
          f"off {phase_off:.3f}: {phase_on / phase_off - 1:+.1%} with telemetry on (issue 20 target: +3%)")
    end_on, end_off = statistics.median(on), statistics.median(off)
    print(f"end to end, wall (median of {RUNS}): telemetry on {end_on:,.0f} actions/s, off {end_off:,.0f}: "
          f"{end_off / end_on - 1:+.1%} slower with telemetry on")


if __name__ == "__main__":
    main()
