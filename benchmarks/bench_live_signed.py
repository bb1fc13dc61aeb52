"""Signed agents on a live market: accepted orders per second, ack latency and CPU per order at a set rate.

The pilot the issue describes: an agents-only value market behind the agent gate, served by
the live server as a subprocess on loopback (SQLite by default, ``--db`` for PostgreSQL) with
``flagship serve``'s default settings (measures refreshed every 10 s, checkpoints every 10 s
or 10,000 entries, a signed receipt on every acknowledged order). Each agent is a real Ed25519
identity with a credential from the evaluator the scenario trusts; before the clock starts
every agent applies, answers its exam and is admitted, all over signed HTTP.

The load generator must cost less than the server, or it measures itself: on a small machine a
client signing and sending through httpx spends more CPU per order than the server does. So
every order of the measured phase is signed *before* the phase starts, by the project's own
signer (:meth:`flagship.agents.WebBotAuth.sign`: RFC 9421, Web Bot Auth profile, each with its
own nonce and Idempotency-Key, ``created`` within the server's 60 s signature window for the
whole phase), and kept as the raw HTTP/1.1 bytes to write. A lean sender then writes them over
``--connections`` keep-alive connections and reads each answer's status line, headers and body.

Phases, on one server:

1. **reference** (closed loop, ``--reference-seconds``): unsigned ``GET /healthz`` over the same
   connections, as fast as they are answered: the HTTP stack's rate on this machine now, the
   peer to read the order figures against when the machine is shared.
2. **at a rate** (open loop): orders arrive as a seeded Poisson stream at ``--rate`` per second,
   each from the next agent in turn, whether or not earlier ones were answered. Latency runs
   from an order's *scheduled* arrival to its answer, so an order waiting for a free connection,
   or a server (or sender) that falls behind, shows in it (no coordinated omission).

The first ``--warmup`` seconds of phase 2 are not counted. A request that fails on the wire is
counted under status 0 with the error's name, not raised. CPU is read from the operating system
(``psutil``) for the server process, its measure worker and this process over the counted
seconds. The server's ``flagship_engine_cpu_seconds_total{part}`` splits its CPU: the single
writer (``apply``: clock, mechanisms, log entries, answers; ``commit``: the database write) is
the serial part, which one core bounds; the rest (HTTP parsing, signature checks, validation,
idempotency, receipts, and the read view's replay of each commit, done by its first reader) is
the parallel part, which more workers could share.

With ``--workers N`` the server is split (``flagship serve --workers N``, docs/live.md "Several
cores"): ``server`` is then the sequencer process alone (its writer's ``apply`` and ``commit``
within it, the rest its link to the workers), and ``http_workers`` the N workers' CPU together
(HTTP, signatures, validation, replicas, receipts): the serial part and the parallel part, each
per accepted order.

The serial part's CPU per order depends on how many orders share a commit: a batch's fixed costs
(the transaction and its fsync, the commit hand-off, a frame to each worker) are divided among
its orders. The phase prints its commits and entries per commit, and the sequencer's CPU per
commit. At 500/s a batch holds about 3.5 orders with the server's default ``commit_delay`` (4
ms); at 4,000/s the same delay gathers about 16. ``--commit-delay`` sets the server's delay, so a
run at 500/s with batches as large as a faster stream's (``--commit-delay 0.032 --connections
64``: 64 connections, since each holds one order for as long as its batch waits) measures the
sequencer's CPU per order at that batch size on this machine's two cores.

    python benchmarks/bench_live_signed.py [--rate 500] [--agents 32] [--seconds 15] [--db URL] [--workers N]
                                           [--commit-delay SECONDS] [--connections 16]

Prints one JSON document: the machine's load average at start and end, the reference rate, and
for the phase at a rate the accepted orders per second, ack latency p50/p95/p99/max, and CPU ms
per accepted order (server split serial/parallel, measure worker, client).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from tests.live._gate_support import answer_body, application_body, write_gate_scenario  # noqa: E402
from tests.live._support import ServerProcess, free_port  # noqa: E402

# Orders are limits on a 100-tick band around a mid that drifts: they trade often but most rest.
MID, SPREAD = 10_000, 50
ORDERS_PATH = "/v1/market/orders"
ENGINE_CPU = "flagship_engine_cpu_seconds_total"
COMMIT_ENTRIES = "flagship_engine_commit_entries"  # a histogram: _count commits, _sum their entries
WORKER_MODULE = "flagship.sandbox._live._worker_main"


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


def raw_request(request: httpx.Request) -> bytes:
    """The HTTP/1.1 bytes of a built (and signed) request, written as they are by the sender."""
    head = [f"{request.method} {request.url.raw_path.decode('ascii')} HTTP/1.1".encode("ascii")]
    head += [name + b": " + value for name, value in request.headers.raw]
    return b"\r\n".join(head) + b"\r\n\r\n" + request.content


def presign_orders(url: str, agents: list[AgentIdentity], count: int, seed: int) -> list[bytes]:
    """``count`` signed orders, round robin over the agents, each with its own nonce and key."""
    rng = np.random.default_rng(seed)
    signers = [WebBotAuth(agent) for agent in agents]
    orders = []
    for n in range(count):
        side = "buy" if rng.random() < 0.5 else "sell"
        mid = MID + int(50 * np.sin(n / 2_500))  # the mid drifts over the phase, as in a market
        price = int(mid + (-1 if side == "buy" else 1) * rng.integers(0, SPREAD) + rng.integers(-5, 6))
        order_id = f"{n % len(agents)}-{n // len(agents)}"
        request = httpx.Request("POST", url + ORDERS_PATH, headers={"Idempotency-Key": order_id},
                                json={"order_id": order_id, "side": side, "type": "limit", "price": price,
                                      "qty": int(rng.integers(1, 10))})
        signers[n % len(agents)].sign(request)
        orders.append(raw_request(request))
    return orders


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads its whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Write ``request``; the answer's status and body (Content-Length framed, as uvicorn sends it)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length) if length else b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@dataclass
class Tally:
    """Latencies and statuses of the counted requests of one phase."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    last_answer: float = 0.0
    """``time.perf_counter()`` when the last counted request was answered."""

    def add(self, status: int, body: bytes | Exception, latency: float, expected: int) -> None:
        self.latencies.append(latency)
        self.last_answer = time.perf_counter()
        if isinstance(body, Exception):  # failed on the wire: status 0, the error's name
            reason = type(body).__name__
        else:
            reason = "" if status == expected else str(json.loads(body or b"{}").get("reason", "?"))
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if reason:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1


async def send(connection: Connection, request: bytes, started: float, tally: Tally | None,
               expected: int) -> Connection:
    """One exchange, tallied; a connection that failed is replaced by a fresh one."""
    try:
        status, body = await connection.exchange(request)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        if tally is not None:
            tally.add(0, exc, time.perf_counter() - started, expected)
        connection.writer.close()
        return await Connection.open(connection.writer.get_extra_info("peername")[1])
    if tally is not None:
        tally.add(status, body, time.perf_counter() - started, expected)
    return connection


async def reference(connections: list[Connection], seconds: float) -> dict[str, Any]:
    """Closed loop of unsigned GET /healthz on every connection: the machine's HTTP reference rate."""
    tally = Tally()
    request = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
    deadline = time.perf_counter() + seconds

    async def run(connection: Connection) -> None:
        while (now := time.perf_counter()) < deadline:
            connection = await send(connection, request, now, tally, 200)

    begin = time.perf_counter()
    await asyncio.gather(*(run(connection) for connection in connections))
    return {"requests_per_second": round(tally.statuses.get(200, 0) / (time.perf_counter() - begin), 1),
            "statuses": tally.statuses}


async def at_rate(connections: list[Connection], orders: list[bytes], rate: float, warmup: float,
                  rng: np.random.Generator, at_counting: Any) -> tuple[Tally, float]:
    """Open loop: the pre-signed orders at Poisson arrivals of ``rate``, on the first free connection.

    ``at_counting()`` is called when the counted seconds begin (the CPU readings start then).
    Returns the tally and the seconds from the first counted arrival to the last answer: the
    offered seconds when the server keeps up, longer when answers fall behind.
    """
    tally = Tally()
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in connections:
        free.put_nowait(connection)
    tasks: set[asyncio.Task[None]] = set()

    async def place(request: bytes, scheduled: float, counted: bool) -> None:
        connection = await free.get()  # waiting for a connection counts: latency is from `scheduled`
        free.put_nowait(await send(connection, request, scheduled, tally if counted else None, 201))

    begin = time.perf_counter()
    arrivals = begin + np.cumsum(rng.exponential(1.0 / rate, len(orders)))
    counting = False
    for request, scheduled in zip(orders, arrivals.tolist(), strict=True):
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        counted = scheduled - begin >= warmup
        if counted and not counting:
            counting = True
            at_counting()
        task = asyncio.create_task(place(request, scheduled, counted))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    counted_seconds = float(arrivals[-1]) - (begin + warmup)
    return tally, max(counted_seconds, tally.last_answer - (begin + warmup))


async def engine_cpu(url: str) -> dict[str, float]:
    """The server's writer CPU seconds so far, by part (apply, commit), and its commits and their
    entries so far (``commits``, ``entries``), from its /metrics."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    parts = {}
    for line in text.splitlines():
        if line.startswith(ENGINE_CPU + "{"):
            parts[line.split('part="', 1)[1].split('"', 1)[0]] = float(line.split()[-1])
        elif line.startswith((COMMIT_ENTRIES + "_count ", COMMIT_ENTRIES + "_sum ")):
            parts["commits" if "_count " in line else "entries"] = float(line.split()[-1])
    return parts


def process_cpu(process: psutil.Process) -> tuple[float, float, float]:
    """CPU seconds (user + system) of ``process`` (the one-process server, or a split server's
    sequencer), of its measure worker, and of its HTTP workers (``--workers``)."""
    measure = workers = 0.0
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker that ended meanwhile
            spent = sum(child.cpu_times()[:2])
            if any(WORKER_MODULE in part for part in child.cmdline()):
                workers += spent
            else:
                measure += spent
    return sum(process.cpu_times()[:2]), measure, workers


async def bench(url: str, port: int, args: argparse.Namespace, server: psutil.Process) -> dict[str, Any]:
    identities = [agent_key(i) for i in range(args.agents)]
    await admit_all(url, identities)
    count = int(args.rate * (args.warmup + args.seconds))
    client_cpu = time.process_time()
    signing = time.perf_counter()
    orders = presign_orders(url, identities, count, args.seed)
    presign = {"orders": count, "seconds": round(time.perf_counter() - signing, 2),
               "cpu_ms_per_order": round((time.process_time() - client_cpu) / count * 1e3, 3)}
    # The sender keeps nothing per request, so its collector need not rescan what setup left.
    gc.collect()
    gc.freeze()
    connections = [await Connection.open(port) for _ in range(args.connections)]
    results: dict[str, Any] = {"presigned": presign}
    try:
        results["reference_healthz"] = await reference(connections, args.reference_seconds)
        readings: dict[str, Any] = {}

        async def read_start() -> None:
            # The writer's counter first, then the processes': a scrape's own CPU counts in neither.
            readings["engine"] = await engine_cpu(url)
            readings.update(server=process_cpu(server), client=time.process_time())

        started: list[asyncio.Task[None]] = []
        tally, wall = await at_rate(connections, orders, args.rate, args.warmup,
                                    np.random.default_rng(args.seed + 1),
                                    lambda: started.append(asyncio.create_task(read_start())))
        await asyncio.gather(*started)
        server_cpu, measure_cpu, http_cpu = process_cpu(server)
        client = time.process_time() - readings["client"]
        engine = await engine_cpu(url)
    finally:
        for connection in connections:
            await connection.close()
    accepted = tally.statuses.get(201, 0)
    per_order = 1e3 / max(accepted, 1)
    serial = {part: (engine.get(part, 0.0) - readings["engine"].get(part, 0.0)) * per_order
              for part in ("apply", "commit")}
    commits = engine.get("commits", 0.0) - readings["engine"].get("commits", 0.0)
    entries = engine.get("entries", 0.0) - readings["engine"].get("entries", 0.0)
    server_ms = (server_cpu - readings["server"][0]) * per_order
    workers_ms = (http_cpu - readings["server"][2]) * per_order
    quantiles = statistics.quantiles(tally.latencies, n=100)
    results["at_rate"] = {
        "offered_orders_per_second": args.rate, "connections": args.connections,
        "seconds": round(wall, 1), "orders": len(tally.latencies), "statuses": tally.statuses,
        "refusals": tally.reasons, "accepted_orders_per_second": round(accepted / wall, 1),
        "commit_delay_ms": args.commit_delay * 1e3,
        # Group commit: a batch's fixed costs (the transaction, its fsync, a frame to each worker)
        # are shared by its orders, so the sequencer's CPU per order falls as batches grow.
        "commits": int(commits), "entries_per_commit": round(entries / max(commits, 1), 2),
        # the server process's CPU per commit (a split server's: the sequencer's)
        "server_cpu_ms_per_commit": round(server_ms * accepted / max(commits, 1), 3),
        "ack_latency_ms": {"p50": round(quantiles[49] * 1e3, 1), "p95": round(quantiles[94] * 1e3, 1),
                           "p99": round(quantiles[98] * 1e3, 1), "max": round(max(tally.latencies) * 1e3, 1)},
        "cpu_ms_per_accepted_order": {
            "server": round(server_ms, 3),
            "server_serial_writer": round(sum(serial.values()), 3),
            "server_serial_apply": round(serial["apply"], 3),
            "server_serial_commit": round(serial["commit"], 3),
            "server_parallel_rest": round(server_ms - sum(serial.values()), 3),
            "http_workers": round(workers_ms, 3),
            "measure_worker": round((measure_cpu - readings["server"][1]) * per_order, 3),
            "client": round(client * per_order, 3)},
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="orders per second offered")
    parser.add_argument("--agents", type=int, default=32)
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections of the sender")
    parser.add_argument("--seconds", type=float, default=15.0, help="counted seconds at the rate")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds before them")
    parser.add_argument("--reference-seconds", type=float, default=3.0, help="seconds of GET /healthz")
    parser.add_argument("--db", help="store URL (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=0,
                        help="split the server: HTTP worker processes beside the sequencer (0: one process)")
    parser.add_argument("--commit-delay", type=float, default=EngineOptions().commit_delay,
                        help="seconds a batch waits for more actions under steady traffic (the "
                             "server's default unless given)")
    args = parser.parse_args()
    if args.commit_delay < 0:
        parser.error(f"--commit-delay: expected seconds >= 0, got {args.commit_delay}")
    if args.warmup + args.seconds > 50:
        parser.error("--warmup + --seconds: at most 50 (every order is signed before the phase, and "
                     "the server refuses a signature older than 60 s)")
    load_at_start = os.getloadavg()
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
                               measures_seconds=defaults.measures_seconds, new_trial=True,
                               workers=args.workers, commit_delay=args.commit_delay)
        try:
            server.wait_ready()
            results = asyncio.run(bench(server.url, port, args, psutil.Process(server.process.pid)))
        finally:
            server.stop()
    print(json.dumps({
        "store": "postgresql" if args.db and args.db.startswith("postgresql") else "sqlite",
        "cores": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in load_at_start],
        **results,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }, indent=2))


if __name__ == "__main__":
    main()
