"""Bulk writes of action logs into the store: rows per second, SQLite and PostgreSQL.

Writes a 200,000-row action log through ``Store.write_actions`` (executemany on
SQLite, COPY on PostgreSQL) and, for comparison, through plain SQLAlchemy Core
``insert`` executemany. Rows are pre-built, as the runner hands them over. Run:

    python benchmarks/bench_store_writes.py [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from flagship.telemetry import Store
from flagship.telemetry._schema import actions, runs, sweeps

ROWS = 200_000


def make_rows(n: int) -> list[tuple[int, float, str, str, str, str, bool, str | None, str]]:
    return [
        (i, i * 0.01, "value_market", f"trader-{i % 1000}", "limit",
         f'{{"price":{10000 + i % 50},"qty":{1 + i % 9},"side":"{"buy" if i % 2 else "sell"}"}}',
         i % 7 != 0, None if i % 7 else "PRICE_BAND", '{"fills":[]}')
        for i in range(n)
    ]


def new_run(store: Store) -> str:
    run_id = uuid.uuid4().hex
    sweep = store.create_sweep("run", "bench", {})
    with store.engine.begin() as conn:
        conn.execute(runs.insert().values(
            id=run_id, sweep_id=sweep, cell="", arm="", seed=0, replication=0, scenario="bench",
            status="completed", manifest={}, wall_seconds=0.0, sim_time=0.0, n_actions=0,
            events={}, counters={}, created_at=sa.func.now()))
    return run_id


def bulk(store: Store, rows: list, repeats: int = 5) -> tuple[float, float]:  # type: ignore[type-arg]
    """Best and median rows/s over ``repeats`` loads of the whole log, each in one transaction."""
    rates = []
    for _ in range(repeats):
        run_id = new_run(store)
        started = time.perf_counter()
        with store.engine.begin() as conn:
            store.write_actions(conn, run_id, rows)
        rates.append(len(rows) / (time.perf_counter() - started))
    return max(rates), statistics.median(rates)


def core(store: Store, rows: list) -> float:  # type: ignore[type-arg]
    run_id = new_run(store)
    columns = ("seq", "time", "mechanism", "actor", "kind", "payload", "accepted", "reason", "effects")
    dicts = [{"run_id": run_id, **dict(zip(columns, row, strict=True))} for row in rows]
    started = time.perf_counter()
    with store.engine.begin() as conn:
        conn.execute(actions.insert(), dicts)
    return len(rows) / (time.perf_counter() - started)


def report(label: str, url: str, rows: list) -> None:  # type: ignore[type-arg]
    with Store.open(url) as store:
        fast, typical = bulk(store, rows)
        plain = core(store, rows[: ROWS // 4])
        print(f"{label}: Store.write_actions {fast:,.0f} rows/s (median of 5: {typical:,.0f}); "
              f"SQLAlchemy Core executemany {plain:,.0f} rows/s")
        with store.engine.begin() as conn:  # leave the database as we found it
            bench_runs = sa.select(runs.c.id).join(sweeps, runs.c.sweep_id == sweeps.c.id).where(
                sweeps.c.scenario == "bench")
            conn.execute(actions.delete().where(actions.c.run_id.in_(bench_runs)))
            conn.execute(sweeps.delete().where(sweeps.c.scenario == "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    rows = make_rows(ROWS)
    with tempfile.TemporaryDirectory() as tmp:
        report("SQLite (WAL, synchronous=NORMAL)", f"sqlite:///{Path(tmp) / 'bench.db'}", rows)
    try:
        report("PostgreSQL (COPY)", args.pg, rows)
    except Exception as exc:  # a benchmark reports what it could not measure and goes on
        print(f"PostgreSQL: not measured ({str(exc).splitlines()[0]})")


if __name__ == "__main__":
    main()
