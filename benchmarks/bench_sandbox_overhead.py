"""The sandbox's own cost: a no-op mechanism driven by 1,000 Poisson participants.

Prints, next to bare SimPy on the same event pattern (1,000 processes with
exponential timeouts):

- the simulation phase (``env.run``: arrivals, Action objects, ``handle``, the
  action log, telemetry on), in actions per second;
- turning the kept log into canonical-JSON rows plus its SHA-256, in rows per second;
- ``flagship.sandbox.run`` end to end (build, simulate, serialise, hash), with and without
  the action log kept.

    python benchmarks/bench_sandbox_overhead.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bare_simpy, best_of, scenario

from flagship.sandbox import action_rows, build_host, log_digest, resolve, run
from flagship.sandbox._gc import quiet_gc

DURATION = 300.0


def phases() -> tuple[float, float]:
    """(simulation actions/s, serialisation rows/s) with the log kept and telemetry on."""
    host = build_host(resolve(scenario("bench_noop")), seed=1)
    host.start()
    with quiet_gc():
        started = time.perf_counter()
        host.env.run(until=DURATION)
        simulated = time.perf_counter()
    host.finish()
    assert host.log is not None
    before_rows = time.perf_counter()
    rows = action_rows(host.log)
    log_digest(rows)
    done = time.perf_counter()
    n = len(rows)
    return n / (simulated - started), n / (done - before_rows)


def end_to_end(keep_actions: bool) -> float:
    result = run(resolve(scenario("bench_noop", keep_actions=keep_actions)), seed=1)
    return result.n_actions / result.wall_seconds


def main() -> None:
    bare = best_of(3, bare_simpy)
    print(f"bare SimPy, 1,000 processes with exponential timeouts: {bare:,.0f} events/s")
    results = [phases() for _ in range(3)]
    simulate = max(r[0] for r in results)
    serialise = max(r[1] for r in results)
    print(f"sandbox simulation phase, no-op mechanism, log kept, telemetry on: {simulate:,.0f} "
          f"actions/s ({simulate / bare:.0%} of bare SimPy)")
    print(f"action log -> canonical JSON rows + SHA-256: {serialise:,.0f} rows/s")
    for keep in (True, False):
        rate = best_of(3, lambda k=keep: end_to_end(k))
        print(f"sandbox.run end to end, action log {'kept' if keep else 'off '}: {rate:,.0f} actions/s")


if __name__ == "__main__":
    main()
