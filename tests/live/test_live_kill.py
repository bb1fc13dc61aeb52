"""Crash recovery for real: SIGKILL ``flagship serve`` at random moments under signed load, restart.

For each backend the server runs as a subprocess on loopback: an agents-only value market
behind the agent gate, with agents that signed their way in (RFC 9421 Web Bot Auth, real
Ed25519 keys) placing and cancelling orders concurrently. It is killed (SIGKILL: no
shutdown code runs) at seeded random moments, at least ten times, and restarted (a split
server, ``--workers 2``, four times: its workers die with its sequencer). After
each restart: the trial resumes, the log it recovered is the durable log, and the state
it rebuilt is what an independent replay of that log gives. Every request whose fate was
unknown at the kill is retried with its key and body (signed afresh). At the end: every
acknowledged action is in the log exactly once with the outcome the client got, no key is
applied twice, the chain verifies, every receipt the agents kept verifies against the recovered
log and names the entry of its request, every state hash the server reported before a kill is
the state of its log at that size, and the book equals a plain :class:`flagship.markets.OrderBook`
fed the accepted orders and cancels: nothing unacknowledged is half-applied.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson

from flagship.agents import AgentIdentity, WebBotAuth
from flagship.markets import OrderBook
from flagship.mechanisms import sha256_hex
from flagship.sandbox import ReceiptKeeper
from flagship.sandbox._live import load_live_scenario
from flagship.sandbox._replay import commits_from_entries, replay, replay_scenario
from flagship.sandbox._runner import build_host
from flagship.telemetry import Store
from flagship.telemetry._receipts import Receipt, audit_trial, load_receipts
from flagship.telemetry._trial_log import LogEntry, TrialLog
from tests.live._gate_support import agent, answer_body, application_body, write_gate_scenario
from tests.live._support import ServerProcess, free_port

KILLS = 10
SPLIT_KILLS = 4  # a split server starts three processes per round: fewer rounds, the same checks
AGENTS = [agent(f"kill-{i}") for i in range(4)]
SIGNERS = {who.agent_id: WebBotAuth(who) for who in AGENTS}

Request = tuple[str, str, str, dict[str, Any] | None]  # actor, method, path, body


class Ledger:
    """What the agents sent and what they were told (and the receipts they kept)."""

    def __init__(self, receipts: Path, *, split: bool = False) -> None:
        self.split = split
        self.keeper = ReceiptKeeper(receipts)
        self.receipts: dict[str, Receipt] = {}
        self.sent: dict[str, Request] = {}
        self.acked: dict[str, tuple[int, dict[str, Any]]] = {}
        self.unknown: set[str] = set()
        self.samples: list[tuple[int, str]] = []
        self.resting: dict[str, list[str]] = {who.agent_id: [] for who in AGENTS}
        self.count = 0

    def new_request(self, rng: random.Random, who: AgentIdentity) -> str:
        self.count += 1
        key = f"k{self.count}"
        mine = self.resting[who.agent_id]
        if mine and rng.random() < 0.25:
            order_id = mine.pop(rng.randrange(len(mine)))
            self.sent[key] = (who.agent_id, "DELETE", f"/v1/market/orders/{order_id}", None)
        else:
            side = rng.choice(["buy", "sell"])
            price = 100 + (-1 if side == "buy" else 1) * rng.randint(-3, 10)  # some cross
            order_id = f"o{self.count}"
            self.sent[key] = (who.agent_id, "POST", "/v1/market/orders",
                              {"order_id": order_id, "side": side, "type": "limit", "price": price,
                               "qty": rng.randint(1, 5)})
            mine.append(order_id)
        return key

    def answer(self, key: str, response: httpx.Response) -> None:
        if self.split and response.status_code == 503 and \
                response.json()["reason"] in ("OUTCOME_UNKNOWN", "SHUTTING_DOWN"):
            # A worker whose sequencer was killed says so before it dies too: OUTCOME_UNKNOWN for
            # a request in flight at the kill, SHUTTING_DOWN for one that came after (never sent on:
            # not committed). Either is retried with its key after the restart, which tells.
            self.unknown.add(key)
            return
        # never a 5xx while the store is up; a cancel may find its order already traded (404)
        assert response.status_code in (200, 201, 404, 409), response.text
        if response.is_success:  # every acknowledgement of a committed action carries a receipt
            receipt = self.keeper.keep(response)
            assert receipt is not None, response.headers
            self.receipts[key] = receipt
        self.acked[key] = (response.status_code, response.json())
        self.unknown.discard(key)


async def _send(client: httpx.AsyncClient, ledger: Ledger, key: str) -> None:
    actor, method, path, body = ledger.sent[key]
    headers = {"Idempotency-Key": key}  # every state-changing request is keyed, DELETE too
    try:
        response = await client.request(method, path, json=body, headers=headers, auth=SIGNERS[actor])
    except httpx.HTTPError:
        ledger.unknown.add(key)  # sent, but no answer: it may or may not have been committed
        return
    ledger.answer(key, response)


async def _admit(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for who in AGENTS:
            signer = SIGNERS[who.agent_id]
            applied = await client.post("/v1/gate/applications", json=application_body(who),
                                        headers={"Idempotency-Key": f"apply-{who.agent_id}"}, auth=signer)
            assert applied.status_code == 201, applied.text
            exam = applied.json()
            decided = await client.post(f"/v1/gate/applications/{exam['exam_id']}/answers",
                                        json=answer_body(who, exam),
                                        headers={"Idempotency-Key": f"answer-{who.agent_id}"}, auth=signer)
            assert decided.status_code == 200 and decided.json()["decision"] == "admitted", decided.text


async def _traffic(server: ServerProcess, ledger: Ledger, rng: random.Random, kill_after: float) -> None:
    killed = asyncio.Event()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:

        async def trader(who: AgentIdentity, seed: int) -> None:
            local = random.Random(seed)
            while not killed.is_set():
                await _send(client, ledger, ledger.new_request(local, who))

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

        await asyncio.gather(killer(), sampler(), *(trader(who, rng.randrange(1 << 30)) for who in AGENTS))


def _durable(scenario: Path, store_url: str, trial_id: str) -> tuple[int, str]:
    """The durable log's size and the state an independent replay of it rebuilds."""
    with Store.open(store_url) as store:
        log = TrialLog(store)
        entries = list(log.entries(trial_id))
        seed = log.trial(trial_id).seed
    _, report, _ = replay_scenario(load_live_scenario(scenario).resolved, seed,
                                   commits_from_entries(entries), check=True)
    assert report.exact, report.divergences
    return len(entries), report.state_sha256


def _rounds(scenario: Path, store_url: str, tmp_path: Path, ledger: Ledger, rng: random.Random,
            port: int, *, workers: int, kills_wanted: int) -> tuple[str, int, dict[str, Any]]:
    """Serve, load, SIGKILL, restart... ``kills_wanted`` times; returns (trial id, kills, the final book)."""
    trial_id = ""
    durable: tuple[int, str] = (0, "")
    kills = 0
    while True:
        server = ServerProcess(scenario, store_url, cwd=tmp_path, port=port, workers=workers)
        try:
            server.wait_ready()
            info = httpx.get(f"{server.url}/v1/trial").json()
            if trial_id:
                assert info["trial_id"] == trial_id  # the same trial resumed
                # the state rebuilt from the log is the state of the log the killed server left
                assert (info["recovered_entries"], info["recovered_state_sha256"]) == durable
            else:
                asyncio.run(_admit(server.url))
            trial_id = info["trial_id"]

            async def retry_unknown(url: str) -> None:
                async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                    for key in sorted(ledger.unknown, key=lambda k: int(k[1:])):
                        await _send(client, ledger, key)

            asyncio.run(retry_unknown(server.url))
            assert not ledger.unknown, f"retries went unanswered: {server.output()}"
            if kills == kills_wanted:
                info = httpx.get(f"{server.url}/v1/trial").json()
                ledger.samples.append((info["log_size"], info["state_sha256"]))
                book = httpx.get(f"{server.url}/v1/market/book?levels=100").json()
                assert server.stop(), server.output()
                return trial_id, kills, book
            asyncio.run(_traffic(server, ledger, rng, kill_after=rng.uniform(0.2, 0.8)))
        finally:
            server.kill()  # a no-op when it has already stopped
        kills += 1
        durable = _durable(scenario, store_url, trial_id)


def _plain_book(entries: list[LogEntry]) -> OrderBook:
    """The accepted orders and cancels of the log fed to a plain order book (no market, no gate)."""
    book = OrderBook()
    ids: dict[tuple[str, str], int] = {}
    for entry in entries:
        if entry.mechanism != "value_market" or not entry.accepted:
            continue
        payload = orjson.loads(entry.payload)
        if entry.kind == "limit":
            ids[(entry.actor, payload["order_id"])] = len(ids) + 1
            book.limit(len(ids), payload["side"], payload["price"], payload["qty"], owner=entry.actor)
        elif entry.kind == "cancel":
            assert book.cancel(ids[(entry.actor, payload["order_id"])])
    return book


def test_sigkill_loses_nothing_acknowledged_and_applies_nothing_twice(store_url: str, tmp_path: Path) -> None:
    _kill_and_check(store_url, tmp_path, workers=0, kills_wanted=KILLS)


def test_a_split_server_killed_loses_nothing_acknowledged(store_url: str, tmp_path: Path) -> None:
    """The same with ``--workers 2``: the sequencer is killed (its workers die with it) mid-traffic;
    the state each worker's replica reported is checked against the log like the single server's."""
    _kill_and_check(store_url, tmp_path, workers=2, kills_wanted=SPLIT_KILLS)


def _kill_and_check(store_url: str, tmp_path: Path, *, workers: int, kills_wanted: int) -> None:
    rng = random.Random(20261127 + workers)
    # Four agents trading with each other look like wash traders: surveillance is another test's.
    port = free_port()  # every restart listens here: the authority signatures are made for
    scenario = write_gate_scenario(tmp_path, time_factor=20.0, authority=f"127.0.0.1:{port}",
                                   market="[mechanisms.value_market.surveillance]\nenabled = false",
                                   limits="[live.limits]\nrate_per_second = 1e6\nburst = 1000000\n")
    ledger = Ledger(tmp_path / "receipts", split=workers > 0)
    trial_id, kills, final_book = _rounds(scenario, store_url, tmp_path, ledger, rng, port, workers=workers,
                                          kills_wanted=kills_wanted)

    with Store.open(store_url) as store:
        log = TrialLog(store)
        verification = log.verify(trial_id)
        entries = list(log.entries(trial_id))
        trial = log.trial(trial_id)
        # every receipt kept across the kills verifies against the recovered log: signature, entry, head
        kept = load_receipts(tmp_path / "receipts")
        audit = audit_trial(trial, log.entries(trial_id), log.checkpoints(trial_id), receipts=kept)
    assert verification.ok, verification
    assert kills >= kills_wanted and len(ledger.acked) >= 50, (kills, len(ledger.acked))
    assert audit.findings == [] and audit.receipts == len(kept) >= 50, audit
    for key, receipt in ledger.receipts.items():  # ...and names the entry that committed that request
        stored = entries[receipt.seq].idempotency_key
        assert stored is not None and orjson.loads(stored)[1] == key

    by_key: dict[str, LogEntry] = {}
    counts: Counter[str] = Counter()
    for entry in entries:
        if entry.origin == "http" and entry.mechanism == "value_market" and entry.kind == "limit":
            assert entry.idempotency_key is not None
            key = orjson.loads(entry.idempotency_key)[1]
            counts[key] += 1
            by_key[key] = entry
    assert max(counts.values()) == 1  # no order applied twice
    assert set(by_key) <= set(ledger.sent)
    for key, (status, body) in ledger.acked.items():
        actor, method, _, sent = ledger.sent[key]
        if method != "POST":
            continue
        logged = by_key.get(key)
        assert logged is not None, f"acknowledged {key} is not in the log"
        assert sent is not None and logged.actor == actor and orjson.loads(logged.payload) == {
            k: v for k, v in sent.items() if k != "type"}
        assert logged.accepted == (status == 201)
        if status != 201:
            assert logged.reason == body["reason"]

    resolved = load_live_scenario(scenario).resolved
    commits = commits_from_entries(entries)
    # every state the server reported (before each kill, and at the end) was its log's state then
    reported: dict[int, set[str]] = {}
    for size, state in ledger.samples:
        reported.setdefault(size, set()).add(state)
    host = build_host(resolved, trial.seed)
    host.start()
    size = 0
    checked = 0
    for commit in commits:
        report = replay(host, [commit], check=True)
        assert report.exact, report.divergences
        size += len(commit.entries)
        if size in reported:
            assert reported.pop(size) == {sha256_hex(host.state())}, f"state at log size {size}"
            checked += 1
    assert not {s for s in reported if s}, f"reported sizes that are no commit boundary: {reported}"
    assert checked >= kills_wanted

    # nothing half-applied: the book is exactly what the accepted orders and cancels add up to
    plain = _plain_book(entries)
    depth = plain.depth(100)
    assert depth.bids and depth.asks and len(plain.tape) > 10  # the comparison below has teeth
    assert final_book["bids"] == [{"price": p, "qty": q, "orders": n} for p, q, n in depth.bids]
    assert final_book["asks"] == [{"price": p, "qty": q, "orders": n} for p, q, n in depth.asks]
    market: Any = host.mechanisms["value_market"]
    assert market.book.depth(100) == depth
