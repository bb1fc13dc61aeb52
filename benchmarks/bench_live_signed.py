"""Signed agents on a live market: accepted orders per second and ack latency, at a set rate and flat out.

The pilot the issue describes: an agents-only value market behind the agent gate, served by
the live server as a subprocess on loopback (SQLite by default, ``--db`` for PostgreSQL) with
``flagship serve``'s default settings (measures refreshed every 10 s, checkpoints every 10 s
or 10,000 entries). Each agent is a real Ed25519 identity with a credential from the
evaluator the scenario trusts; before the clock starts every agent applies, answers its exam
and is admitted, all over signed HTTP. Every order is signed per RFC 9421 Web Bot Auth by
:class:`flagship.agents.WebBotAuth` and verified by the server. Two phases, on the same server:

1. **at a rate** (open loop): orders arrive as a seeded Poisson stream at ``--rate`` per
   second, each from the next agent in turn, whether or not earlier ones were answered.
   Latency runs from an order's scheduled arrival to its response, so a client or server
   that falls behind shows in it (no coordinated omission).
2. **flat out** (closed loop): ``--agents`` agents each place their next order as soon as
   the last is answered: the most the server sustains. Latency there is agents / rate by
   Little's law, not a service figure.

The agents' connection pools together stay within the server's default cap of open connections
per client address (they all come from 127.0.0.1; a connection beyond the cap is refused and
closed), so an order waiting for a free connection waits in its agent's pool, and that wait
counts in its latency. A request that fails on the wire is counted under status 0 with the
error's name, not raised.

The first ``--warmup`` seconds of each phase are not counted. Client and server share this
machine's cores (the client costs about as much CPU per order as the server), so the
figures are a floor for a server with its own machine.

    python benchmarks/bench_live_signed.py [--rate 500] [--agents 32] [--seconds 15] [--db URL]

Prints, per phase, accepted orders per second and ack latency p50/p90/p99/max, and the
server's own action-to-ack mean from its /metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flagship.agents import AgentIdentity, WebBotAuth  # noqa: E402
from flagship.sandbox._live import EngineOptions  # noqa: E402
from flagship.sandbox._live._connections import ConnectionLimits  # noqa: E402
from tests.live._gate_support import answer_body, application_body, write_gate_scenario  # noqa: E402
from tests.live._support import ServerProcess, free_port  # noqa: E402

# Orders are limits on a 100-tick band around a mid that drifts: they trade often but most rest.
MID, SPREAD = 10_000, 50
# Connections kept free of the per-address cap for the probes (/readyz, /metrics) beside the agents.
SPARE_CONNECTIONS = 8


def pool_limits(agents: int) -> httpx.Limits:
    """Each agent's share of the server's per-address connection cap (all agents are on loopback)."""
    per_agent = max(1, (ConnectionLimits().max_connections_per_address - SPARE_CONNECTIONS) // agents)
    return httpx.Limits(max_connections=per_agent, max_keepalive_connections=per_agent)


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


@dataclass
class Agent:
    """One admitted agent: its signer, its own connection pool, its order stream."""

    index: int
    signer: WebBotAuth
    client: httpx.AsyncClient
    rng: np.random.Generator
    count: int = 0

    def next_order(self) -> tuple[dict[str, Any], str]:
        self.count += 1
        side = "buy" if self.rng.random() < 0.5 else "sell"
        mid = MID + int(50 * np.sin(time.monotonic() / 5))
        price = int(mid + (-1 if side == "buy" else 1) * self.rng.integers(0, SPREAD)
                    + self.rng.integers(-5, 6))
        body = {"order_id": f"{self.index}-{self.count}", "side": side, "type": "limit", "price": price,
                "qty": int(self.rng.integers(1, 10))}
        return body, f"{self.index}-{self.count}"


@dataclass
class Tally:
    """Latencies and statuses of the counted orders of one phase."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    last_answer: float = 0.0
    """``time.perf_counter()`` when the last counted order was answered."""

    def add(self, response: httpx.Response | httpx.HTTPError, latency: float) -> None:
        self.latencies.append(latency)
        self.last_answer = time.perf_counter()
        if isinstance(response, httpx.HTTPError):  # failed on the wire: status 0, the error's name
            status, reason = 0, type(response).__name__
        else:
            status = response.status_code
            reason = "" if status == 201 else str(response.json().get("reason", "?"))
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if reason:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1


async def place(agent: Agent, started: float, tally: Tally | None) -> None:
    body, key = agent.next_order()
    response: httpx.Response | httpx.HTTPError
    try:
        response = await agent.client.post("/v1/market/orders", json=body, auth=agent.signer,
                                           headers={"Idempotency-Key": key})
    except httpx.HTTPError as exc:
        response = exc
    if tally is not None:
        tally.add(response, time.perf_counter() - started)


async def at_rate(agents: list[Agent], rate: float, seconds: float, warmup: float,
                  rng: np.random.Generator) -> tuple[Tally, float]:
    """Open loop: a Poisson stream of orders at ``rate``, round robin over the agents.

    Returns the tally and the seconds from the first counted arrival to the last answer: the
    offered seconds when the server keeps up, longer when answers fall behind (then the rate
    accepted is what was answered in that time, not what was offered).
    """
    tally = Tally()
    tasks: set[asyncio.Task[None]] = set()
    begin = time.perf_counter()
    scheduled = begin
    n = 0
    while scheduled - begin < warmup + seconds:
        scheduled += float(rng.exponential(1.0 / rate))
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        counted = scheduled - begin >= warmup
        task = asyncio.create_task(place(agents[n % len(agents)], scheduled, tally if counted else None))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)
    return tally, max(seconds, tally.last_answer - (begin + warmup))


async def flat_out(agents: list[Agent], seconds: float, warmup: float) -> tuple[Tally, float]:
    """Closed loop: every agent places its next order as soon as the last one is answered."""
    tally = Tally()
    begin = time.perf_counter()
    counting_from = begin + warmup
    deadline = counting_from + seconds

    async def run(agent: Agent) -> None:
        while (now := time.perf_counter()) < deadline:
            await place(agent, now, tally if now >= counting_from else None)

    await asyncio.gather(*(run(agent) for agent in agents))
    return tally, time.perf_counter() - counting_from


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return None


def summary(tally: Tally, wall: float) -> dict[str, Any]:
    quantiles = statistics.quantiles(tally.latencies, n=100)
    return {
        "seconds": round(wall, 1), "orders": len(tally.latencies), "statuses": tally.statuses,
        "refusals": tally.reasons,
        "accepted_orders_per_second": round(tally.statuses.get(201, 0) / wall, 1),
        "ack_latency_ms": {"p50": round(quantiles[49] * 1e3, 1), "p90": round(quantiles[89] * 1e3, 1),
                           "p99": round(quantiles[98] * 1e3, 1),
                           "max": round(max(tally.latencies) * 1e3, 1)},
    }


async def bench(url: str, args: argparse.Namespace, server: psutil.Process) -> dict[str, Any]:
    identities = [agent_key(i) for i in range(args.agents)]
    await admit_all(url, identities)
    # The client keeps nothing per order, so its collector need not rescan what setup left.
    gc.collect()
    gc.freeze()
    seeds = np.random.SeedSequence(args.seed).spawn(args.agents + 1)
    limits = pool_limits(args.agents)
    agents = [Agent(i, WebBotAuth(identity), httpx.AsyncClient(base_url=url, timeout=30, limits=limits),
                    np.random.default_rng(seeds[i])) for i, identity in enumerate(identities)]
    results: dict[str, Any] = {}
    try:
        cpu = sum(server.cpu_times()[:2]), time.process_time()
        tally, wall = await at_rate(agents, args.rate, args.seconds, args.warmup,
                                    np.random.default_rng(seeds[-1]))
        results["at_rate"] = {"offered_orders_per_second": args.rate, **summary(tally, wall)}
        tally, wall = await flat_out(agents, args.seconds, args.warmup)
        results["flat_out"] = {"agents": args.agents, **summary(tally, wall)}
        orders = sum(results[phase]["orders"] for phase in ("at_rate", "flat_out"))
        results["cpu_ms_per_order"] = {
            "server": round((sum(server.cpu_times()[:2]) - cpu[0]) / orders * 1e3, 2),
            "client": round((time.process_time() - cpu[1]) / orders * 1e3, 2)}
    finally:
        for agent in agents:
            await agent.client.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="orders per second offered in phase 1")
    parser.add_argument("--agents", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0, help="counted seconds per phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds per phase")
    parser.add_argument("--db", help="store URL (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    defaults = EngineOptions()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        # The gate + agents-only market of the live tests, with rate limits off (this measures capacity).
        port = free_port()
        scenario = write_gate_scenario(directory, time_factor=1.0, authority=f"127.0.0.1:{port}",
                                       limits="[live.limits]\nrate_per_second = 1e9\nburst = 1000000000\n")
        server = ServerProcess(scenario, args.db or f"sqlite:///{directory / 'bench.db'}", cwd=directory,
                               port=port,
                               tick=defaults.tick_seconds, checkpoint_seconds=defaults.checkpoint_seconds,
                               measures_seconds=defaults.measures_seconds, new_trial=True)
        try:
            server.wait_ready()
            results = asyncio.run(bench(server.url, args, psutil.Process(server.process.pid)))
            metrics = httpx.get(f"{server.url}/metrics").text
        finally:
            server.stop()
    ack_sum = metric(metrics, 'flagship_action_ack_seconds_sum{mechanism="value_market"}')
    ack_n = metric(metrics, 'flagship_action_ack_seconds_count{mechanism="value_market"}')
    print(json.dumps({
        "store": "postgresql" if args.db and args.db.startswith("postgresql") else "sqlite",
        **results,
        "load_average": round(os.getloadavg()[0], 1),
        "server_action_to_ack_ms_mean": round(ack_sum / ack_n * 1e3, 2) if ack_sum and ack_n else None,
    }, indent=2))


if __name__ == "__main__":
    main()
