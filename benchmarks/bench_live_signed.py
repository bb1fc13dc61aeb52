"""Signed agents on a live market: sustained accepted orders per second and ack latency.

The pilot the issue describes: an agents-only value market behind the agent gate, served by
the live server as a subprocess on loopback (SQLite by default, ``--db`` for PostgreSQL).
Each agent is a real Ed25519 identity with a credential from the evaluator the scenario
trusts; before the clock starts every agent applies, answers its exam and is admitted, all
over signed HTTP. Then the agents, concurrently (one asyncio task each, ``--processes``
client processes), place limit orders around a drifting mid for ``--seconds``, every request
signed per RFC 9421 Web Bot Auth by :class:`agents.WebBotAuth` and verified by the server.
Client and server share this machine's cores, so the figures are a floor for a server with
its own machine.

    python benchmarks/bench_live_signed.py [--agents 32] [--seconds 15] [--processes 1] [--db URL]

Prints accepted orders per second, client-side ack latency p50/p90/p99 (request sent to
response received), and the server's own action-to-ack mean from its /metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agents import AgentIdentity, WebBotAuth  # noqa: E402
from tests.live._gate_support import answer_body, application_body, write_gate_scenario  # noqa: E402
from tests.live._support import ServerProcess  # noqa: E402

# Orders are limits on a 100-tick band around a mid that drifts: they trade often but most rest.
MID, SPREAD = 10_000, 50


def agent_key(index: int) -> AgentIdentity:
    return AgentIdentity.from_seed(index.to_bytes(4, "big") * 8)


async def admit_all(url: str, agents: list[AgentIdentity]) -> None:
    """Apply and pass the exam for every agent (before the clock starts)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async def admit(agent: AgentIdentity) -> None:
            signer = WebBotAuth(agent)
            applied = await client.post("/v1/gate/applications", json=application_body(agent),
                                        headers={"Idempotency-Key": uuid.uuid4().hex}, auth=signer)
            if applied.status_code != 201:
                raise SystemExit(f"application refused: {applied.text}")
            exam = applied.json()
            decided = await client.post(f"/v1/gate/applications/{exam['exam_id']}/answers",
                                        json=answer_body(agent, exam),
                                        headers={"Idempotency-Key": uuid.uuid4().hex}, auth=signer)
            if decided.status_code != 200 or decided.json()["decision"] != "admitted":
                raise SystemExit(f"not admitted: {decided.text}")
        await asyncio.gather(*(admit(agent) for agent in agents))


async def trade(url: str, agents: list[int], seconds: float, seed: int) -> tuple[list[float], dict[int, int]]:
    """Closed loop: each agent places its next order as soon as the last one is answered."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds

    async def run(index: int) -> None:
        rng = np.random.default_rng([seed, index])
        signer = WebBotAuth(agent_key(index))
        # One client (one connection) per agent, as separate agents have: a pool shared by all
        # would cost O(connections) per request in httpcore.
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await _orders(client, signer, rng, index)

    async def _orders(client: httpx.AsyncClient, signer: WebBotAuth, rng: np.random.Generator,
                      index: int) -> None:
        count = 0
        while time.monotonic() < deadline:
            count += 1
            side = "buy" if rng.random() < 0.5 else "sell"
            mid = MID + int(50 * np.sin(time.monotonic() / 5))
            price = int(mid + (-1 if side == "buy" else 1) * rng.integers(0, SPREAD) + rng.integers(-5, 6))
            body = {"order_id": f"o{count}", "side": side, "type": "limit", "price": price,
                    "qty": int(rng.integers(1, 10))}
            started = time.perf_counter()
            response = await client.post("/v1/market/orders", json=body, auth=signer,
                                         headers={"Idempotency-Key": f"{index}-{count}"})
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    await asyncio.gather(*(run(index) for index in agents))
    return latencies, statuses


def _client_process(url: str, agents: list[int], seconds: float, seed: int,
                    out: Any) -> None:
    latencies, statuses = asyncio.run(trade(url, agents, seconds, seed))
    out.put((latencies, statuses))


def scenario(directory: Path) -> Path:
    """The gate + agents-only market of the live tests, with limits off (this measures capacity)."""
    return write_gate_scenario(directory, time_factor=1.0,
                               limits="[live.limits]\nrate_per_second = 1e9\nburst = 1000000000\n")


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--processes", type=int, default=1, help="client processes (agents split)")
    parser.add_argument("--db", help="store URL (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    agents = [agent_key(i) for i in range(args.agents)]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        server = ServerProcess(scenario(directory), args.db or f"sqlite:///{directory / 'bench.db'}",
                               cwd=directory)
        try:
            server.wait_ready()
            asyncio.run(admit_all(server.url, agents))
            server_process = psutil.Process(server.process.pid)
            server_cpu = sum(server_process.cpu_times()[:2])
            client_cpu = time.process_time()
            started = time.perf_counter()
            if args.processes == 1:
                latencies, statuses = asyncio.run(trade(server.url, list(range(args.agents)), args.seconds,
                                                        args.seed))
            else:
                context = multiprocessing.get_context("spawn")
                queue = context.Queue()
                shares = [list(range(args.agents))[p::args.processes] for p in range(args.processes)]
                procs = [context.Process(target=_client_process,
                                         args=(server.url, share, args.seconds, args.seed, queue))
                         for share in shares]
                for proc in procs:
                    proc.start()
                latencies, statuses = [], {}
                for _ in procs:
                    part, codes = queue.get()
                    latencies.extend(part)
                    for code, n in codes.items():
                        statuses[code] = statuses.get(code, 0) + n
                for proc in procs:
                    proc.join()
            wall = time.perf_counter() - started
            server_cpu = sum(server_process.cpu_times()[:2]) - server_cpu
            client_cpu = time.process_time() - client_cpu
            metrics = httpx.get(f"{server.url}/metrics").text
        finally:
            server.stop()
    quantiles = statistics.quantiles(latencies, n=100)
    ack_sum = metric(metrics, 'flagship_action_ack_seconds_sum{mechanism="value_market"}')
    ack_n = metric(metrics, 'flagship_action_ack_seconds_count{mechanism="value_market"}')
    accepted = statuses.get(201, 0)
    print(json.dumps({
        "store": "postgresql" if args.db and args.db.startswith("postgresql") else "sqlite",
        "agents": args.agents, "client_processes": args.processes, "seconds": round(wall, 1),
        "requests": len(latencies), "statuses": statuses,
        "accepted_orders_per_second": round(accepted / wall, 1),
        "ack_latency_ms": {"p50": round(quantiles[49] * 1e3, 1), "p90": round(quantiles[89] * 1e3, 1),
                           "p99": round(quantiles[98] * 1e3, 1)},
        "cpu_ms_per_request": {"server": round(server_cpu / len(latencies) * 1e3, 2),
                               "client": round(client_cpu / len(latencies) * 1e3, 2)
                               if args.processes == 1 else None},
        "load_average": round(os.getloadavg()[0], 1),
        "server_action_to_ack_ms_mean": round(ack_sum / ack_n * 1e3, 2) if ack_sum and ack_n else None,
    }, indent=2))


if __name__ == "__main__":
    main()
