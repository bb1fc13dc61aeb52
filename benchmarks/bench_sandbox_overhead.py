"""The sandbox's own cost: a no-op mechanism driven by 1,000 Poisson participants.

Prints actions per second through ``sandbox.run`` (telemetry on, action log kept:
the defaults) next to bare SimPy on the same event pattern. Run:

    python benchmarks/bench_sandbox_overhead.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bare_simpy, best_of, scenario

from sandbox import resolve, run


def sandbox_rate(keep_actions: bool, telemetry: bool) -> float:
    resolved = resolve(scenario("bench_noop", keep_actions=keep_actions, telemetry=telemetry))
    result = run(resolved, seed=1)
    # wall_seconds includes building the host and serialising the log, not only env.run
    return result.n_actions / result.wall_seconds


def main() -> None:
    bare = best_of(3, bare_simpy)
    print(f"bare SimPy, 1,000 processes with exponential timeouts: {bare:,.0f} events/s")
    for keep, telemetry in ((True, True), (False, True), (False, False)):
        rate = best_of(3, lambda k=keep, t=telemetry: sandbox_rate(k, t))
        print(f"sandbox no-op, action log {'kept' if keep else 'off '}, telemetry "
              f"{'on ' if telemetry else 'off'}: {rate:,.0f} actions/s "
              f"({rate / bare:.0%} of bare SimPy)")


if __name__ == "__main__":
    main()
