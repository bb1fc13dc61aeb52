"""What the trial's lease costs a PostgreSQL commit: ``TrialLease.confirm`` (a ping of the lock
connection) before each group commit, against the same commit without it.

Commits of 50 chained entries (as the live writer's group commits) go to a real PostgreSQL
store through ``TrialLog.append``, alternating with and without the lease's confirmation in the
same run, in a schema of their own (dropped after); the medians of ``--repeats`` runs of
``--commits`` commits are compared. On SQLite the confirmation is free (an flock cannot be lost
while its file is open), so only PostgreSQL is measured. Run:

    python benchmarks/bench_lease.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                     [--commits 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import sqlalchemy as sa
from bench_chain_format import chain, new_trial

from flagship.sandbox._live._lease import AdvisoryLease
from flagship.telemetry import Store
from flagship.telemetry._trial_log import Checkpoint, CheckpointKey, LogEntry, TrialLog

ENTRIES_PER_COMMIT = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(args.url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = f"{args.url}{'&' if '?' in args.url else '?'}options=-csearch_path%3D{schema}"
    key = CheckpointKey.generate()
    times: dict[str, list[float]] = {"without the lease": [], "with the lease": []}
    try:
        with Store.open(url, durable=True) as store:
            log = TrialLog(store)
            for _ in range(args.repeats):
                for what, spent in times.items():
                    trial = new_trial(log, key, 2)
                    lease = AdvisoryLease(url, trial.id) if what == "with the lease" else None
                    if lease is not None:
                        lease.acquire()

                    def write(batch: list[LogEntry], checkpoint: Checkpoint | None, trial_id: str = trial.id,
                              held: AdvisoryLease | None = lease) -> None:
                        if held is not None and not held.confirm():
                            raise RuntimeError("the lease was lost during the benchmark")
                        log.append(trial_id, batch, checkpoint, timeout=5.0)

                    started = time.perf_counter()
                    chain(trial, key, args.commits * ENTRIES_PER_COMMIT, 10**9, write=write)
                    spent.append((time.perf_counter() - started) / args.commits)
                    if lease is not None:
                        lease.release()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
    print(f"{args.commits} commits of {ENTRIES_PER_COMMIT} entries to PostgreSQL, median of "
          f"{args.repeats} runs (milliseconds per commit, chaining included)")
    base, leased = (statistics.median(times[what]) * 1e3 for what in times)
    print(f"{'without the lease':20}{base:8.3f}")
    print(f"{'with the lease':20}{leased:8.3f}  ({leased - base:+.3f} ms, {leased / base:.3f}x)")


if __name__ == "__main__":
    main()
