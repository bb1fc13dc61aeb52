"""Load on a live server: closed-loop clients POSTing actions, throughput and latency percentiles.

Generic over mechanisms: give a scenario with a ``[live]`` table, the route, a JSON body
template and the bearer tokens (or extra headers) of your clients. By default it
drives the plug-in shop (``tests/plugin``) on SQLite. The server runs as ``flagship
serve``-equivalent subprocess on loopback; the load is bounded in requests and time
and stops by itself.

    python benchmarks/bench_live_load.py --clients 16 --requests 2000 [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.live._support import ServerProcess, write_scenario  # noqa: E402


async def _load(url: str, route: str, body: dict[str, Any], headers: list[dict[str, str]], clients: int,
                requests: int, seconds: float) -> tuple[list[float], dict[int, int], float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(requests))
    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        rng = random.Random(index)
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for n in counter:
                if time.monotonic() > deadline:
                    return
                payload = {k: (rng.randint(*v) if isinstance(v, list) else v) for k, v in body.items()}
                started = time.perf_counter()
                response = await http.post(route, json=payload, headers={
                    **headers[index % len(headers)], "Idempotency-Key": f"bench-{n}"})
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, statuses, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", type=Path,
                        help="scenario with a [live] table (default: the plug-in shop)")
    parser.add_argument("--db", help="store URL (default: a temporary SQLite file)")
    parser.add_argument("--route", default="/v1/shop/purchases")
    parser.add_argument("--body", default='{"offer": [90, 130]}',
                        help="JSON body; [lo, hi] values are drawn uniformly per request")
    parser.add_argument("--token", action="append", default=None, help="bearer token (repeatable)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long anyway")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        scenario = args.scenario or write_scenario(directory, shoppers=0, stock=10_000_000,
                                                   limits="[live.limits]\nrate_per_second = 1e9\n"
                                                          "burst = 1000000000\n")
        tokens = args.token or ["tok-alice", "tok-bob", "tok-carol", "tok-dave"]
        server = ServerProcess(scenario, args.db or f"sqlite:///{directory / 'bench.db'}", cwd=directory)
        try:
            server.wait_ready()
            headers = [{"Authorization": f"Bearer {t}"} for t in tokens]
            latencies, statuses, wall = asyncio.run(_load(
                server.url, args.route, json.loads(args.body), headers, args.clients, args.requests,
                args.seconds))
            metrics = httpx.get(f"{server.url}/metrics").text
        finally:
            server.stop()
    quantiles = statistics.quantiles(latencies, n=100)
    def value(name: str) -> float:
        return next(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(name + " "))

    entries = value("flagship_engine_commit_entries_sum")
    count = value("flagship_engine_commit_entries_count")
    commit_seconds = value("flagship_store_commit_duration_seconds_sum")
    ack_seconds = value('flagship_action_ack_seconds_sum{mechanism="posted_price"}')
    acks = value('flagship_action_ack_seconds_count{mechanism="posted_price"}')
    print(json.dumps({
        "clients": args.clients, "requests": len(latencies), "statuses": statuses,
        "throughput_per_second": round(len(latencies) / wall, 1),
        "latency_ms": {"p50": round(quantiles[49] * 1e3, 2), "p90": round(quantiles[89] * 1e3, 2),
                       "p99": round(quantiles[98] * 1e3, 2)},
        "entries_per_commit": round(entries / count, 2) if count else None,
        "commit_ms_mean": round(commit_seconds / count * 1e3, 2) if count else None,
        "server_action_to_ack_ms_mean": round(ack_seconds / acks * 1e3, 2) if acks else None,
    }, indent=2))


if __name__ == "__main__":
    main()
