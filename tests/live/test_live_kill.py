"""Crash recovery for real: SIGKILL ``flagship serve`` at random moments under load, restart, check.

For each backend the server runs as a subprocess on loopback with simulated shoppers
acting on their own while clients buy concurrently; it is killed (SIGKILL: no
shutdown code runs) at seeded random moments, at least ten times, and restarted.
After each restart: the trial resumes, its state rebuilt from the log equals the
state hash the killed server committed last. Every request whose fate was unknown
at the kill is retried with its key and body. At the end: every acknowledged
action is in the log exactly once with the outcome the client got, no key is
applied twice, the chain verifies, and a replay reproduces every entry.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from sandbox._live import load_live_scenario
from sandbox._replay import commits_from_entries, replay_scenario
from telemetry import Store
from telemetry._trial_log import TrialLog
from tests.live._support import TOKENS, ServerProcess, write_scenario

KILLS = 10
WORKERS = 6
ACTORS = sorted(TOKENS.values())


class Ledger:
    """What the clients sent and what they were told."""

    def __init__(self) -> None:
        self.sent: dict[str, tuple[str, dict[str, Any]]] = {}
        self.acked: dict[str, tuple[int, dict[str, Any]]] = {}
        self.unknown: set[str] = set()
        self.samples: list[tuple[int, str]] = []
        self.count = 0

    def new_request(self, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        self.count += 1
        key = f"k{self.count}"
        actor = rng.choice(ACTORS)
        body = {"offer": rng.randint(60, 160)}
        self.sent[key] = (actor, body)
        return key, actor, body

    def answer(self, key: str, response: httpx.Response) -> None:
        assert response.status_code in (201, 409), response.text  # never a 5xx while the store is up
        self.acked[key] = (response.status_code, response.json())
        self.unknown.discard(key)


async def _buy(client: httpx.AsyncClient, ledger: Ledger, key: str) -> None:
    actor, body = ledger.sent[key]
    try:
        response = await client.post("/v1/shop/purchases", json=body,
                                     headers={"Authorization": f"Bearer tok-{actor}", "Idempotency-Key": key})
    except httpx.HTTPError:
        ledger.unknown.add(key)  # sent, but no answer: it may or may not have been committed
        return
    ledger.answer(key, response)


async def _traffic(server: ServerProcess, ledger: Ledger, rng: random.Random, kill_after: float) -> None:
    killed = asyncio.Event()
    limits = httpx.Limits(max_connections=WORKERS + 2)
    async with httpx.AsyncClient(base_url=server.url, timeout=10, limits=limits) as client:

        async def worker(seed: int) -> None:
            local = random.Random(seed)
            while not killed.is_set():
                key, _, _ = ledger.new_request(local)
                await _buy(client, ledger, key)

        async def sampler() -> None:
            while not killed.is_set():
                try:
                    info = (await client.get("/v1/trial")).json()
                except httpx.HTTPError:
                    return
                ledger.samples.append((info["log_size"], info["state_sha256"]))
                await asyncio.sleep(0.05)

        async def killer() -> None:
            await asyncio.sleep(kill_after)
            await asyncio.to_thread(server.kill)
            killed.set()

        await asyncio.gather(killer(), sampler(), *(worker(rng.randrange(1 << 30)) for _ in range(WORKERS)))


def _durable(store_url: str, trial_id: str) -> tuple[int, str]:
    with Store.open(store_url) as store:
        log = TrialLog(store)
        size, _ = log.head(trial_id)
        if size == 0:
            return 0, ""
        last = next(iter(log.entries(trial_id, start=size - 1)))
    assert last.state_hash is not None  # a commit's last entry always carries the state hash
    return size, last.state_hash


def _rounds(scenario: Path, store_url: str, tmp_path: Path, ledger: Ledger, rng: random.Random
            ) -> tuple[str, int]:
    """Serve, load, SIGKILL, restart... KILLS times; returns (trial id, kills)."""
    trial_id = ""
    durable: tuple[int, str] = (0, "")
    kills = 0
    while True:
        server = ServerProcess(scenario, store_url, cwd=tmp_path)
        try:
            server.wait_ready()
            info = httpx.get(f"{server.url}/v1/trial").json()
            if trial_id:
                assert info["trial_id"] == trial_id  # the same trial resumed
                # the state rebuilt from the log is the state the killed server last committed
                assert (info["recovered_entries"], info["recovered_state_sha256"]) == durable
            trial_id = info["trial_id"]

            async def retry_unknown(url: str) -> None:
                async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                    for key in sorted(ledger.unknown):
                        await _buy(client, ledger, key)

            asyncio.run(retry_unknown(server.url))
            assert not ledger.unknown, f"retries went unanswered: {server.output()}"
            if kills == KILLS:
                info = httpx.get(f"{server.url}/v1/trial").json()
                ledger.samples.append((info["log_size"], info["state_sha256"]))
                assert server.stop(), server.output()
                return trial_id, kills
            asyncio.run(_traffic(server, ledger, rng, kill_after=rng.uniform(0.1, 0.6)))
        finally:
            server.kill()  # a no-op when it has already stopped
        kills += 1
        durable = _durable(store_url, trial_id)


def test_sigkill_loses_nothing_acknowledged_and_applies_nothing_twice(store_url: str, tmp_path: Path) -> None:
    rng = random.Random(20261127)
    scenario = write_scenario(tmp_path, shoppers=3, rate=0.5, time_factor=20.0)
    ledger = Ledger()
    trial_id, kills = _rounds(scenario, store_url, tmp_path, ledger, rng)

    with Store.open(store_url) as store:
        log = TrialLog(store)
        verification = log.verify(trial_id)
        entries = list(log.entries(trial_id))
        trial = log.trial(trial_id)
    assert verification.ok, verification
    assert kills >= 10 and len(ledger.acked) >= 50, (kills, len(ledger.acked))

    by_key = {}
    counts: Counter[str] = Counter()
    for entry in entries:
        if entry.origin == "http":
            assert entry.idempotency_key is not None
            key = entry.idempotency_key.split('"')[3]
            counts[key] += 1
            by_key[key] = entry
    assert max(counts.values()) == 1  # no action applied twice
    assert set(by_key) <= set(ledger.sent)
    for key, (status, body) in ledger.acked.items():
        entry = by_key.get(key)
        assert entry is not None, f"acknowledged {key} is not in the log"
        actor, sent = ledger.sent[key]
        assert entry.actor == actor and entry.payload == f'{{"offer":{sent["offer"]}}}'
        assert entry.accepted == (status == 201)
        if status == 409:
            assert entry.reason == body["reason"]
    # every state the server reported was the state its log says it committed
    state_at = {entry.seq + 1: entry.state_hash for entry in entries if entry.state_hash is not None}
    for size, state in ledger.samples:
        if size:
            assert state_at[size] == state
    # a replay reproduces every entry and every commit's state hash...
    resolved = load_live_scenario(scenario).resolved
    host, report, _ = replay_scenario(resolved, trial.seed, commits_from_entries(entries), check=True)
    assert report.exact, report.divergences
    assert report.entries == len(entries)
    # ...and nothing is half-applied: the state is exactly what the accepted entries add up to
    accepted = [e for e in entries if e.accepted]
    surplus = sum(int(e.payload.split(":")[1].rstrip("}")) - 100 for e in accepted)
    assert host.mechanisms["posted_price"].snapshot() == {
        "stock": 100_000 - len(accepted), "sold": len(accepted), "surplus": surplus}
