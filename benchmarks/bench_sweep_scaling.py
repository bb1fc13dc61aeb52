"""Sweep scaling: wall time of a CPU-bound sweep with 1 and 2 workers, local pool and Dask.

The sweep is the posted-price example stretched to CPU-bound runs (sim duration 20,000 s,
no action log kept, so the driver only writes measures): 2 cells x 2 arms x 10 seeds =
40 replications of about half a second each on an idle core. Workers are started and warmed up before
the clock starts (a process pool or a LocalCluster is started once per sweep session, not
per run), and each configuration is timed ``--repeats`` times, keeping the best, since
other processes share the machine. Run:

    python benchmarks/bench_sweep_scaling.py [--repeats 3] [--executors local,dask]

It prints seconds per configuration and the speed-up of 2 workers over 1.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from flagship.sandbox import load_scenario
from flagship.sandbox._executors import open_executor, window_for
from flagship.sandbox._runner import RunJob, execute
from flagship.sandbox._sweep import Axis, SweepPlan, SweepSpec, pending_jobs, plan_sweep, store_results
from flagship.telemetry import Store

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "posted_price.toml"


def make_plan(replications: int) -> SweepPlan:
    base = load_scenario(EXAMPLE, ["duration=20000.0", "keep_actions=false",
                                   "mechanisms.posted_price.stock=100000"])
    spec = SweepSpec(grids=(Axis("populations.shoppers.count", (40, 60)),), replications=replications)
    return plan_sweep(base, spec)


def timed_sweep(plan: SweepPlan, kind: str, workers: int) -> float:
    """Seconds to run and store the whole sweep on warm workers (a fresh store each time)."""
    with tempfile.TemporaryDirectory() as folder, Store.open(f"sqlite:///{folder}/b.db") as store:
        jobs, _ = pending_jobs(plan, store)
        with open_executor(kind, workers=workers, n_jobs=len(jobs)) as executor:
            # warm-up: every worker imports the sandbox and runs a short job before the clock starts
            warm = [executor.submit(execute, job) for job in warm_up_jobs(2 * workers)]
            for future in warm:
                future.result()
            started = time.perf_counter()
            ran, failed = store_results(jobs, executor, store, window=window_for(executor))
            elapsed = time.perf_counter() - started
        if failed or ran != plan.total:
            raise SystemExit(f"{kind}/{workers}: {failed} of {ran} runs failed")
    return elapsed


def warm_up_jobs(count: int) -> list[RunJob]:
    base = load_scenario(EXAMPLE, ["duration=10.0", "keep_actions=false"])
    return plan_sweep(base, SweepSpec(replications=count)).jobs()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--replications", type=int, default=10, help="seeds per cell and arm")
    parser.add_argument("--executors", default="local,dask")
    args = parser.parse_args()
    plan = make_plan(args.replications)
    print(f"sweep: {plan.total} replications ({len(plan.cells)} cells x {len(plan.arms)} arms x "
          f"{args.replications} seeds); {os.cpu_count()} cores; best of {args.repeats}")
    for kind in args.executors.split(","):
        # 1 and 2 workers alternate, so a slow spell of the machine hits both alike.
        times: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.repeats):
            for workers in (1, 2):
                times[workers].append(timed_sweep(plan, kind, workers))
        best = {workers: min(found) for workers, found in times.items()}
        load = os.getloadavg()[0]  # other processes on the machine: > cores means contention
        for workers in (1, 2):
            print(f"  {kind:5s} {workers} worker{'s' if workers > 1 else ' '}: {best[workers]:6.2f} s "
                  f"({plan.total / best[workers]:.1f} runs/s; all: "
                  f"{', '.join(f'{t:.1f}' for t in times[workers])})", flush=True)
        print(f"  {kind:5s} speed-up 2 vs 1 workers: {best[1] / best[2]:.2f}x (load average {load:.1f})",
              flush=True)


if __name__ == "__main__":
    main()
