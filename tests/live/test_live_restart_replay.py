"""A captured signed request replayed after a restart (the replay cache lived in memory) acts no second time.

The red team's case (issue #17, failure 8): Alice cancels order "o1"; the server restarts;
Alice places "o1" again; the captured DELETE, replayed within its signature's window,
cancelled the new order. Now a restarted server refuses every signature created before its
start (``CREATED_BEFORE_START``: the replay cache of the process before may have held its
nonce), and every state-changing request carries an Idempotency-Key that its signature
covers, whose index is rebuilt from the durable log: a retry signed afresh under the same
key gets the committed outcome back and acts no second time.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from flagship.agents import WebBotAuth
from tests.live._gate_support import admit, agent, asgi_client, key, order, write_gate_scenario
from tests.live._support import build_live, problem

ALICE = agent("alice")


def _limit(order_id: str) -> dict[str, object]:
    return {"order_id": order_id, "side": "buy", "type": "limit", "price": 90, "qty": 3}


def test_a_signed_delete_replayed_after_a_restart_does_not_cancel_the_new_order(
        store_url: str, tmp_path: Path) -> None:
    scenario = write_gate_scenario(tmp_path)
    captured: list[httpx.Request] = []

    async def before_restart() -> None:
        live = build_live(store_url, scenario, tmp_path)
        try:
            async with asgi_client(live) as client:
                await admit(client, ALICE)
                assert (await order(client, ALICE, **_limit("o1"))).status_code == 201
                cancel = client.build_request("DELETE", "/v1/market/orders/o1", headers=key())
                WebBotAuth(ALICE).sign(cancel)
                assert "idempotency-key" in cancel.headers["signature-input"]
                captured.append(cancel)
                first = await client.send(cancel)
                assert first.json() == {"order_id": "o1", "cancelled": 3}, first.text
                problem(await client.send(cancel), 401, "REPLAYED_NONCE")  # same server: the cache
        finally:
            live.store.close()

    def next_second() -> None:
        # A signature created in the server's start second is accepted (``created`` is whole
        # seconds); a real restart takes longer, this in-process one may not, so wait it out.
        # The assertions below do not depend on how long this takes.
        time.sleep(max(0.0, int(time.time()) + 1 - time.time()))

    async def after_restart() -> None:
        live = build_live(store_url, scenario, tmp_path)  # resumes the trial: nonces forgotten
        try:
            async with asgi_client(live) as client:
                assert live.engine.recovered_entries > 0
                assert (await order(client, ALICE, **_limit("o1"))).status_code == 201
                cancel = captured[0]
                replayed = await client.send(client.build_request(
                    "DELETE", cancel.url, headers=dict(cancel.headers)))
                found = problem(replayed, 401, "CREATED_BEFORE_START")
                assert "created" in found["detail"], found
                # under a fresh key too (refused on its time before the signature is checked)
                rekeyed = client.build_request("DELETE", cancel.url,
                                               headers={**dict(cancel.headers), **key()})
                problem(await client.send(rekeyed), 401, "CREATED_BEFORE_START")
                mine = (await client.get("/v1/market/orders", auth=WebBotAuth(ALICE))).json()["orders"]
                assert [(o["order_id"], o["resting"]) for o in mine] == [("o1", 3)]  # untouched
                # Alice's own retry, signed now under the captured key: the committed outcome of
                # the first cancellation, not a second one (DELETE is idempotent by key)
                retry = client.build_request("DELETE", cancel.url,
                                             headers={"Idempotency-Key": cancel.headers["idempotency-key"]})
                WebBotAuth(ALICE).sign(retry)
                retried = await client.send(retry)
                assert retried.status_code == 200 and retried.headers["idempotent-replayed"] == "true"
                assert retried.json() == {"order_id": "o1", "cancelled": 3}
                mine = (await client.get("/v1/market/orders", auth=WebBotAuth(ALICE))).json()["orders"]
                assert [(o["order_id"], o["resting"]) for o in mine] == [("o1", 3)]
                mine = (await client.get("/v1/market/orders", auth=WebBotAuth(ALICE))).json()["orders"]
                assert [(o["order_id"], o["resting"]) for o in mine] == [("o1", 3)]  # still on the book
        finally:
            live.store.close()

    asyncio.run(before_restart())
    next_second()
    asyncio.run(after_restart())


def test_state_changing_requests_must_sign_their_idempotency_key(tmp_path: Path) -> None:
    from tests.live._gate_support import run_gate

    async def body(client: httpx.AsyncClient, _: object) -> None:
        await admit(client, ALICE)
        unkeyed = client.build_request("DELETE", "/v1/market/orders/x")
        WebBotAuth(ALICE).sign(unkeyed)
        problem(await client.send(unkeyed), 400, "IDEMPOTENCY_KEY_REQUIRED")
        # a key added after signing is not covered by the signature
        signed = client.build_request("DELETE", "/v1/market/orders/x")
        WebBotAuth(ALICE).sign(signed)
        added = client.build_request("DELETE", signed.url, headers={**dict(signed.headers), **key()})
        problem(await client.send(added), 401, "MISSING_COMPONENT")

    run_gate(tmp_path, body)
