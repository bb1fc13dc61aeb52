"""A one-address flood of fresh identities: durable log growth and what the server accepts.

The attack issue 17 reports: one client address makes a new Ed25519 key per request and
sends a first application (``POST /v1/gate/applications``) with a credential from an
evaluator the gate does not trust, so every application is refused. Before flood limits
each refusal was a durable log entry and each fresh key had its own full rate-limit burst.

The live server runs as a subprocess on loopback (SQLite by default, ``--db`` for
PostgreSQL) with the gate + agents-only market scenario of the live tests and default
limits. ``--workers`` concurrent flooders on 127.0.0.1 send for ``--seconds``; meanwhile a
peer on 127.0.0.2 (another address: loopback holds all of 127/8) reads the book twice a
second, so the figures compare the flooder with a well-behaved client of the same run.

    python benchmarks/bench_live_flood.py [--seconds 20] [--workers 8] [--db URL]

Prints the durable log growth (entries/s from the server's ``flagship_trial_log_entries``,
bytes/s of the SQLite database and its WAL), the flood's answered rate by status, and the
peer's answered share and median latency. Runs unchanged against code without flood limits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flagship.agents import AgentIdentity, WebBotAuth  # noqa: E402
from tests.live._gate_support import UNTRUSTED, credential, write_gate_scenario  # noqa: E402
from tests.live._support import ServerProcess, free_port  # noqa: E402


def log_entries(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    match = re.search(r"^flagship_trial_log_entries (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def flood(url: str, seconds: float, workers: int, statuses: dict[int, int]) -> None:
    """Fresh key per request, refused credentials, as fast as ``workers`` connections go."""
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            who = AgentIdentity.from_seed(next(counter).to_bytes(8, "big") * 4)
            body = {"identity": who.public_jwk(), "credentials": [credential(who, evaluator=UNTRUSTED)]}
            answer = await client.post("/v1/gate/applications", json=body, auth=WebBotAuth(who),
                                       headers={"Idempotency-Key": uuid.uuid4().hex})
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.1")
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(workers)))


async def peer(url: str, seconds: float, latencies: list[float], statuses: dict[int, int]) -> None:
    """A well-behaved reader on another address: two book reads a second."""
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            answer = await client.get("/v1/market/book")
            latencies.append(time.perf_counter() - started)
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            await asyncio.sleep(0.5)


async def run(url: str, seconds: float, workers: int) -> tuple[dict[int, int], list[float], dict[int, int]]:
    flooded: dict[int, int] = {}
    latencies: list[float] = []
    peered: dict[int, int] = {}
    await asyncio.gather(flood(url, seconds, workers, flooded), peer(url, seconds, latencies, peered))
    return flooded, latencies, peered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        port = free_port()
        scenario = write_gate_scenario(directory, authority=f"127.0.0.1:{port}")
        db_path = directory / "flood.db"
        server = ServerProcess(scenario, args.db or f"sqlite:///{db_path}", cwd=directory, port=port,
                               checkpoint_seconds=10.0, new_trial=True)
        try:
            server.wait_ready()
            entries_before, bytes_before = log_entries(server.url), db_bytes(db_path)
            started = time.monotonic()
            flooded, latencies, peered = asyncio.run(run(server.url, args.seconds, args.workers))
            elapsed = time.monotonic() - started
            entries_after, bytes_after = log_entries(server.url), db_bytes(db_path)
        finally:
            server.stop()
    sent = sum(flooded.values())
    answered = sum(n for status, n in flooded.items() if status != 429)
    print(f"code: {REPO} ({os.environ.get('FLOOD_LABEL', 'this checkout')})")
    print(f"flood: {args.workers} workers, 1 address, fresh key per request, {elapsed:.1f} s")
    print(f"  durable log growth: {(entries_after - entries_before) / elapsed:8.1f} entries/s  "
          f"({entries_after - entries_before:.0f} entries)")
    if args.db is None:
        print(f"  database growth:    {(bytes_after - bytes_before) / elapsed:8.0f} bytes/s  "
              f"({bytes_after - bytes_before} bytes, SQLite file + WAL)")
    print(f"  sent {sent / elapsed:.1f}/s; answered by the gate (not 429) {answered / elapsed:.1f}/s; "
          f"statuses {dict(sorted(flooded.items()))}")
    median = statistics.median(latencies) * 1000 if latencies else float("nan")
    print(f"peer (127.0.0.2, book reads): {sum(peered.values())} sent, statuses "
          f"{dict(sorted(peered.items()))}, median latency {median:.1f} ms")


if __name__ == "__main__":
    main()
