"""Floods against a real server on loopback: fresh keys, one operator's many keys, churned keys.

Each test serves the gate + agents-only market scenario with uvicorn on 127.0.0.1 and talks to
it over TCP; a second client binds 127.0.0.2 (loopback holds all of 127/8) to be another address.
On the code before flood limits every one of these fails: a fresh key had its own full burst and
each refused application was a durable log entry; five keys of one operator had five bursts.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from flagship.agents import AgentIdentity, WebBotAuth
from flagship.agents._mechanism import AgentGate
from flagship.sandbox.cli import main
from tests.live._gate_support import UNTRUSTED, admit, apply, credential, key, write_gate_scenario
from tests.live._support import Live, build_live, free_port, problem, serving

OPERATOR = "https://operator.example"


def fresh(index: int) -> AgentIdentity:
    """A throwaway key, as a flooder makes them (deterministic here, to be reproducible)."""
    return AgentIdentity.from_seed(index.to_bytes(4, "big") * 8)


def bid(order_id: str, price: int) -> dict[str, object]:
    """A one-lot limit buy (it rests: nobody sells in these tests)."""
    return {"order_id": order_id, "side": "buy", "type": "limit", "price": price, "qty": 1}


@asynccontextmanager
async def client_from(url: str, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30.0) as client:
        yield client


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of an exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def serve_gate(tmp_path: Path, body: Callable[[str], Awaitable[None]], *, limits: str,
               market: str = "", url: str | None = None) -> Live:
    """Serve the gate scenario on loopback and run ``body`` against it."""
    port = free_port()
    scenario = write_gate_scenario(tmp_path, authority=f"127.0.0.1:{port}", limits=limits, market=market,
                                   time_factor=1.0)
    live = build_live(url or f"sqlite:///{tmp_path / 'live.db'}", scenario, tmp_path)
    with serving(live, port) as server:
        asyncio.run(body(server.url))
    return live


def test_a_fresh_key_flood_is_throttled_by_address_and_does_not_grow_the_log(
        tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    limits = "[live.limits]\naddress_burst = 20\naddress_rate_per_second = 0.5"

    async def body(url: str) -> None:
        async with client_from(url, "127.0.0.1") as flooder, client_from(url, "127.0.0.2") as other:
            before = metric((await flooder.get("/metrics")).text, "flagship_trial_log_entries")
            answers = [await apply(flooder, fresh(i), credentials=[credential(fresh(i), evaluator=UNTRUSTED)])
                       for i in range(60)]
            refused = [a for a in answers if a.status_code == 403]
            limited = [a for a in answers if a.status_code == 429]
            assert len(refused) == 20 and len(limited) == 40, [a.status_code for a in answers]
            assert {a.json()["reason"] for a in refused} == {"CREDENTIAL_UNTRUSTED_EVALUATOR"}
            for answer in limited:
                problem(answer, 429, "ADDRESS_RATE_LIMITED")
                assert int(answer.headers["Retry-After"]) >= 1
            exposition = (await flooder.get("/metrics")).text
            # Refused first applications are counted, not logged: the log did not grow at all.
            assert metric(exposition, "flagship_trial_log_entries") == before
            assert metric(exposition, "flagship_unlogged_rejections_total", mechanism="agent_gate",
                          reason="CREDENTIAL_UNTRUSTED_EVALUATOR") == 20
            # Another address is served meanwhile, and its accepted application is logged.
            accepted = await apply(other, fresh(1000))
            assert accepted.status_code == 201, accepted.text
            after = metric((await other.get("/metrics")).text, "flagship_trial_log_entries")
            assert after == before + 1

    trial = serve_gate(tmp_path, body, limits=limits, url=store_url).engine.trial.id
    # The log without the refusals still replays to every recorded outcome and state hash.
    capsys.readouterr()
    with pytest.raises(SystemExit) as replayed:
        main(["replay", store_url, "--trial", trial, "--json"])
    assert replayed.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exact"] and report["divergences"] == [] and report["external"] == 1


def test_refused_first_applications_are_counted_not_logged_under_default_limits(tmp_path: Path) -> None:
    async def body(url: str) -> None:
        async with client_from(url, "127.0.0.1") as client:
            before = metric((await client.get("/metrics")).text, "flagship_trial_log_entries")
            for i in range(30):
                who = fresh(500 + i)
                refused = await apply(client, who, credentials=[credential(who, evaluator=UNTRUSTED)])
                assert refused.status_code == 403, refused.text  # refused by the gate
            exposition = (await client.get("/metrics")).text
            assert metric(exposition, "flagship_trial_log_entries") == before  # grew by 30 before
            assert metric(exposition, "flagship_unlogged_rejections_total", mechanism="agent_gate",
                          reason=refused.json()["reason"]) == 30

    live = serve_gate(tmp_path, body, limits="")
    gate = live.engine.mechanism("agent_gate")
    assert isinstance(gate, AgentGate)
    assert gate._tally.steps == {}  # nothing kept per refused fresh key either (memory stays bounded)


def test_churning_keys_earns_no_fresh_burst(tmp_path: Path) -> None:
    limits = "[live.limits]\naddress_burst = 10\naddress_rate_per_second = 0.2\nburst = 10"

    async def body(url: str) -> None:
        async with client_from(url, "127.0.0.1") as client:
            first = [await apply(client, fresh(i), credentials=[]) for i in range(10)]
            assert all(a.status_code != 429 for a in first)
            # Each of these keys was never seen: a per-identity limit alone would let all through.
            churned = [await apply(client, fresh(100 + i), credentials=[]) for i in range(5)]
            for answer in churned:
                problem(answer, 429, "ADDRESS_RATE_LIMITED")

    serve_gate(tmp_path, body, limits=limits)


def test_five_keys_of_one_operator_share_one_burst(tmp_path: Path) -> None:
    limits = "[live.limits]\noperator_burst = 12\noperator_rate_per_second = 0.2"

    async def body(url: str) -> None:
        agents = [fresh(200 + i) for i in range(5)]
        async with client_from(url, "127.0.0.1") as client:
            for agent in agents:
                await admit(client, agent)
            statuses = []
            for n in range(30):
                agent = agents[n % 5]
                sent = await client.post("/v1/market/orders", headers=key(),
                                         auth=WebBotAuth(agent, signature_agent=OPERATOR),
                                         json=bid(f"o{n}", 1))
                statuses.append(sent.status_code)
                if sent.status_code == 429:
                    problem(sent, 429, "OPERATOR_RATE_LIMITED")
            # One burst for all five (each alone would have had its own 100).
            assert statuses.count(201) == 12 and statuses.count(429) == 18, statuses
            # Naming the operator without the signature covering it charges nobody else's budget.
            loner = fresh(300)
            await admit(client, loner)
            request = client.build_request("POST", "/v1/market/orders", headers=key(), json=bid("solo", 1))
            WebBotAuth(loner).sign(request)
            request.headers["Signature-Agent"] = f'"{OPERATOR}"'  # added after signing: not covered
            sent = await client.send(request)
            assert sent.status_code == 201, sent.text

    serve_gate(tmp_path, body, limits=limits)


@pytest.mark.parametrize("cap", [3])
def test_an_admitted_agent_has_a_cap_on_resting_orders(tmp_path: Path, cap: int) -> None:
    async def body(url: str) -> None:
        agent = fresh(400)
        auth = WebBotAuth(agent)
        async with client_from(url, "127.0.0.1") as client:
            await admit(client, agent)

            async def place(order_id: str) -> httpx.Response:
                return await client.post("/v1/market/orders", headers=key(), auth=auth,
                                         json=bid(order_id, 5))

            for n in range(cap):
                assert (await place(f"r{n}")).status_code == 201
            problem(await place("over"), 429, "TOO_MANY_RESTING_ORDERS")
            cancelled = await client.delete("/v1/market/orders/r0", headers=key(), auth=auth)
            assert cancelled.status_code == 200, cancelled.text
            assert (await place("again")).status_code == 201

    serve_gate(tmp_path, body, limits="", market=f"max_resting_orders = {cap}")
