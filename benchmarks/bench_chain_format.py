"""Chain format 1 (orjson canonical JSON) against format 2 (RFC 8785, checkpoints linked in).

What a live writer pays per entry to chain its log (``make_entry``, a signed checkpoint every
``--every`` entries and, in format 2, the link over it), the same through a real SQLite
``TrialLog.append`` (one commit per 50 entries, as group commits do), and what
``verify_chain`` pays per entry to check the log back. Both formats run in the same process
on the same entries, alternating, and the medians of ``--repeats`` runs are compared. Run:

    python benchmarks/bench_chain_format.py [--entries 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from flagship.telemetry import Store
from flagship.telemetry._trial_log import (
    Checkpoint,
    CheckpointKey,
    LogEntry,
    Trial,
    TrialLog,
    make_entry,
    next_prev_hash,
    verify_chain,
)

COMMIT = 50


def chain(trial: Trial, key: CheckpointKey, n: int, every: int,
          write: Callable[[list[LogEntry], Checkpoint | None], None] | None = None,
          ) -> tuple[list[LogEntry], list[Checkpoint]]:
    """``n`` entries of an order book's traffic chained as the writer does, in commits of 50."""
    entries: list[LogEntry] = []
    checkpoints: list[Checkpoint] = []
    head = trial.genesis_hash()
    last: Checkpoint | None = None
    for start in range(0, n, COMMIT):
        batch = []
        prev = next_prev_hash(trial, start, head, last)
        for seq in range(start, min(n, start + COMMIT)):
            entry = make_entry(
                trial.id, prev, seq=seq, time=seq * 0.013, mechanism="value_market",
                actor=f"trader-{seq % 997}",
                kind="limit", payload=f'{{"price":{10000 + seq % 50}.25,"qty":{1 + seq % 9},"side":"buy"}}',
                accepted=seq % 7 != 0, reason=None if seq % 7 else "PRICE_BAND", effects='{"fills":[]}',
                origin="http" if seq % 2 else "sim",
                idempotency_key=f'["actor","k{seq}"]' if seq % 2 else None,
                request_hash="ab" * 32 if seq % 2 else None,
                response='{"accepted":true}' if seq % 2 else None,
                clock=seq * 0.013 if seq == min(n, start + COMMIT) - 1 else None,
                chain_format=trial.chain_format)
            batch.append(entry)
            prev = entry.hash
        head = prev
        size = start + len(batch)
        checkpoint = None
        if size % every == 0 or size == n:
            checkpoint = key.sign(trial.id, size, head, 1.7e9 + size, chain_format=trial.chain_format)
            checkpoints.append(checkpoint)
            last = checkpoint
        if write is not None:
            write(batch, checkpoint)
        entries.extend(batch)
    return entries, checkpoints


def new_trial(log: TrialLog | None, key: CheckpointKey, chain_format: int) -> Trial:
    """A trial in ``chain_format``: recorded in ``log``, or only in memory."""
    scenario = {"scenario": {"name": "bench", "seed": 7}, "live": {}}
    if log is not None:
        return log.create_trial(trial_id=uuid.uuid4().hex, scenario=scenario, scenario_sha256="0" * 64,
                                epoch=1.7e9, time_factor=1.0, seed=7, public_key=key.public_hex,
                                chain_format=chain_format)
    return Trial(uuid.uuid4().hex, scenario, "0" * 64, 1.7e9, 1.0, 7, key.public_hex,
                 dt.datetime.now(dt.UTC), "running", chain_format)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=1_000, help="entries per checkpoint")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    key = CheckpointKey.generate()
    times: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, Store.open(f"sqlite:///{Path(tmp) / 'bench.db'}") as store:
        log = TrialLog(store)
        for _ in range(args.repeats):
            for fmt in (1, 2):
                trial = new_trial(None, key, fmt)
                started = time.perf_counter()
                entries, checkpoints = chain(trial, key, args.entries, args.every)
                times.setdefault(("append in memory", fmt), []).append(time.perf_counter() - started)
                started = time.perf_counter()
                result = verify_chain(trial, entries, checkpoints)
                times.setdefault(("verify", fmt), []).append(time.perf_counter() - started)
                assert result.ok, result.problem
                stored = new_trial(log, key, fmt)
                started = time.perf_counter()
                chain(stored, key, args.entries, args.every,
                      write=lambda batch, cp, t=stored: log.append(t.id, batch, cp))
                times.setdefault(("append to SQLite", fmt), []).append(time.perf_counter() - started)
                started = time.perf_counter()
                assert log.verify(stored.id).ok
                times.setdefault(("verify from SQLite", fmt), []).append(time.perf_counter() - started)
    print(f"{args.entries} entries, a checkpoint every {args.every}, median of {args.repeats} runs "
          "(microseconds per entry)")
    print(f"{'':22}{'format 1':>10}{'format 2':>10}{'2 / 1':>8}")
    for what in ("append in memory", "verify", "append to SQLite", "verify from SQLite"):
        one, two = (statistics.median(times[(what, f)]) * 1e6 / args.entries for f in (1, 2))
        print(f"{what:22}{one:10.1f}{two:10.1f}{two / one:8.2f}")


if __name__ == "__main__":
    main()
