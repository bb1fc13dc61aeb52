"""The value market's live routes, at ASGI level against a real engine and trial log (SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from tests.live._support import TOKENS, Live, auth, build_live, problem

_keys = itertools.count()


def keyed(actor: str) -> dict[str, str]:
    """The actor's credentials and a fresh Idempotency-Key (every DELETE carries one)."""
    return {**auth(actor), "Idempotency-Key": f"cancel-{next(_keys)}"}

_KEYS = itertools.count()


def _scenario(directory: Path, market: str = "") -> Path:
    tokens = ", ".join(f'"{token}" = "{actor}"' for token, actor in TOKENS.items())
    path = directory / "market.toml"
    path.write_text(f"""
name = "market_live"
seed = 5
duration = 1e6

[mechanisms.value_market]
policies = ["screen"]
prohibited = ["deforestation"]
{market}

[live]
authenticators = ["bearer_token"]
time_factor = 10.0

[live.auth.bearer_token]
tokens = {{ {tokens} }}
""")
    return path


def run(tmp_path: Path, body: Callable[[httpx.AsyncClient, Live], Awaitable[None]], market: str = "") -> None:
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", _scenario(tmp_path, market), tmp_path)

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(live.app.router.lifespan_context(live.app))
            transport = httpx.ASGITransport(app=live.app)
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://live.test"))
            await body(client, live)

    try:
        asyncio.run(main())
    finally:
        live.store.close()


def order(client: httpx.AsyncClient, actor: str, **fields: Any) -> Awaitable[httpx.Response]:
    headers = {**auth(actor), "Idempotency-Key": f"key-{next(_KEYS)}"}
    return client.post("/v1/market/orders", json=fields, headers=headers)




async def book(client: httpx.AsyncClient, levels: int = 10) -> dict[str, Any]:
    response = await client.get(f"/v1/market/book?levels={levels}", headers=auth("carol"))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_place_and_cancel_round_trip_and_ids_are_per_participant(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        placed = await order(client, "alice", order_id="a-1", side="buy", type="limit", price=100, qty=5)
        assert placed.status_code == 201, placed.text
        assert placed.json() == {"order_id": "a-1", "side": "buy", "type": "limit", "fills": [],
                                 "filled": 0, "resting": 5, "bid": 100, "ask": None, "fee": None}
        assert (await book(client))["bids"] == [{"price": 100, "qty": 5, "orders": 1}]
        # Bob uses the same id for his own order: no clash, ids are scoped per participant.
        bobs = await order(client, "bob", order_id="a-1", side="buy", type="limit", price=99, qty=1)
        assert bobs.status_code == 201, bobs.text
        problem(await order(client, "alice", order_id="a-1", side="buy", type="limit", price=98, qty=1),
                409, "DUPLICATE_ID")

        # Carol cannot cancel Alice's order (her "a-1" names nothing): 404, the order stays.
        problem(await client.delete("/v1/market/orders/a-1", headers=keyed("carol")), 404, "UNKNOWN_ORDER")
        assert (await book(client))["bids"][0] == {"price": 100, "qty": 5, "orders": 1}

        cancelled = await client.delete("/v1/market/orders/a-1", headers=keyed("alice"))
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json() == {"order_id": "a-1", "cancelled": 5}
        assert (await book(client))["bids"] == [{"price": 99, "qty": 1, "orders": 1}]  # Bob's remains
        problem(await client.delete("/v1/market/orders/a-1", headers=keyed("alice")), 404, "UNKNOWN_ORDER")
        problem(await client.delete("/v1/market/orders/a-1", headers={"Idempotency-Key": "k"}), 401,
                "UNAUTHENTICATED")
        # a cancellation is keyed like any state-changing request: a replay acts once
        problem(await client.delete("/v1/market/orders/a-1", headers=auth("alice")), 400,
                "IDEMPOTENCY_KEY_REQUIRED")

    run(tmp_path, body)


def test_orders_trade_and_the_book_and_tape_show_public_fields_only(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        for i, price in enumerate((101, 102, 103)):
            made = await order(client, "alice", order_id=f"s{i}", side="sell", type="limit", price=price,
                               qty=2)
            assert made.status_code == 201, made.text
        bid = await order(client, "bob", order_id="b0", side="buy", type="limit", price=95, qty=4)
        assert bid.status_code == 201, bid.text
        depth = await book(client, levels=2)
        assert depth["asks"] == [{"price": 101, "qty": 2, "orders": 1}, {"price": 102, "qty": 2, "orders": 1}]
        assert depth["bids"] == [{"price": 95, "qty": 4, "orders": 1}]
        assert depth["halted"] is False and isinstance(depth["time"], float)

        taken = await order(client, "carol", order_id="c0", side="buy", type="market", qty=3)
        assert taken.status_code == 201, taken.text
        assert taken.json() == {"order_id": "c0", "side": "buy", "type": "market",
                                "fills": [{"price": 101, "qty": 2}, {"price": 102, "qty": 1}],
                                "filled": 3, "resting": 0, "bid": 95, "ask": 102, "fee": None}
        crossing = await order(client, "dave", order_id="d0", side="sell", type="limit", price=90, qty=1,
                               tif="IOC", values=["low_carbon"], externality=0.5)
        assert crossing.status_code == 201, crossing.text
        assert crossing.json()["fills"] == [{"price": 95, "qty": 1}]

        tape = await client.get("/v1/market/trades", headers=auth("dave"))
        assert tape.status_code == 200, tape.text
        assert tape.json() == {"trades": [{"seq": 1, "price": 101, "qty": 2},
                                          {"seq": 2, "price": 102, "qty": 1},
                                          {"seq": 3, "price": 95, "qty": 1}]}
        recent = (await client.get("/v1/market/trades?limit=1")).json()
        assert recent == {"trades": [{"seq": 3, "price": 95, "qty": 1}]}
        assert "alice" not in tape.text and "carol" not in taken.text  # no counterparties, no owners

    run(tmp_path, body)


def test_bad_bodies_are_422_naming_the_field_and_rejections_carry_the_reason(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        def paths(problem_body: dict[str, Any]) -> set[str]:
            return {error["path"] for error in problem_body["errors"]}

        bad = problem(await order(client, "alice", order_id="x", side="up", type="limit", price=1.5, qty=0,
                                  colour="red"), 422, "INVALID_REQUEST")
        assert paths(bad) == {"body.side", "body.price", "body.qty", "body.colour"}
        assert paths(problem(await order(client, "alice", order_id="x", side="buy", type="limit", qty=1),
                             422, "INVALID_REQUEST")) == {"body.price"}
        market_extras = await order(client, "alice", order_id="x", side="buy", type="market", qty=1,
                                    price=5, tif="GTC")
        assert paths(problem(market_extras, 422, "INVALID_REQUEST")) == {"body.price", "body.tif"}
        assert paths(problem(await order(client, "alice", order_id="has space", side="buy", type="market",
                                         qty="1", externality=-1), 422, "INVALID_REQUEST")) == {
            "body.order_id", "body.qty", "body.externality"}
        no_id = await order(client, "alice", side="buy", type="market", qty=1)
        assert paths(problem(no_id, 422, "INVALID_REQUEST")) == {"body.order_id"}
        problem(await client.get("/v1/market/book?levels=0"), 422, "INVALID_REQUEST")
        problem(await client.get("/v1/market/trades?limit=x"), 422, "INVALID_REQUEST")

        # Well-formed, but the market refuses: its reason code, 409 (or 422 when malformed for it).
        problem(await order(client, "alice", order_id="n", side="buy", type="limit", price=10, qty=1,
                            values=["deforestation"]), 409, "NORM_PROHIBITED")
        problem(await order(client, "alice", order_id="n", side="buy", type="limit", price=10, qty=1,
                            values=["no_such_tag"]), 422, "UNKNOWN_VALUE_TAG")
        await order(client, "bob", order_id="ask", side="sell", type="limit", price=20, qty=1)
        problem(await order(client, "alice", order_id="p", side="buy", type="limit", price=20, qty=1,
                            post_only=True), 409, "POST_ONLY_WOULD_CROSS")
        assert (await book(client))["bids"] == []  # nothing rejected reached the book

    run(tmp_path, body)


def test_openapi_documents_the_market_routes(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        spec = (await client.get("/openapi.json")).json()
        paths = spec["paths"]
        assert set(paths["/v1/market/orders"]) == {"post", "get"}
        assert set(paths["/v1/market/orders/{order_id}"]) == {"delete", "patch"}
        patch_params = {p["name"] for p in paths["/v1/market/orders/{order_id}"]["patch"]["parameters"]}
        assert "Idempotency-Key" in patch_params
        assert "201" in paths["/v1/market/orders"]["post"]["responses"]
        assert "404" in paths["/v1/market/orders/{order_id}"]["delete"]["responses"]
        assert {"get"} == set(paths["/v1/market/book"]) == set(paths["/v1/market/trades"])
        assert {"OrderRequest", "OrderPlaced", "BookView", "Trades"} <= set(spec["components"]["schemas"])

    run(tmp_path, body)


def test_agents_only_market_refuses_unadmitted_participants_with_403(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        refused = await order(client, "alice", order_id="a", side="buy", type="limit", price=10, qty=1)
        problem(refused, 403, "NOT_ADMITTED")
        assert (await book(client))["bids"] == []

    run(tmp_path, body, market='admission = "agents_only"')


def modify(client: httpx.AsyncClient, actor: str, order_id: str, key: str | None = None,
           **fields: Any) -> Awaitable[httpx.Response]:
    headers = {**auth(actor), "Idempotency-Key": key or f"key-{next(_KEYS)}"}
    return client.patch(f"/v1/market/orders/{order_id}", json=fields, headers=headers)


def test_modify_keeps_or_loses_priority_and_a_crossing_price_trades(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        for actor, oid in (("alice", "a"), ("bob", "b")):
            placed = await order(client, actor, order_id=oid, side="sell", type="limit", price=105, qty=4)
            assert placed.status_code == 201, placed.text
        # Quantity down keeps Alice first in the queue: a buyer of 2 lots trades with her.
        down = await modify(client, "alice", "a", qty=2)
        assert down.status_code == 200, down.text
        assert down.json() == {"order_id": "a", "fills": [], "filled": 0, "resting": 2, "bid": None,
                               "ask": 105, "fee": None}
        await order(client, "carol", order_id="c1", side="buy", type="market", qty=1)
        alice_orders = (await client.get("/v1/market/orders", headers=auth("alice"))).json()["orders"]
        assert [(o["order_id"], o["resting"], o["filled"]) for o in alice_orders] == [("a", 1, 1)]
        # Quantity up loses priority: Bob is now first.
        assert (await modify(client, "alice", "a", qty=3)).status_code == 200
        await order(client, "carol", order_id="c2", side="buy", type="market", qty=1)
        bob_orders = (await client.get("/v1/market/orders", headers=auth("bob"))).json()["orders"]
        assert [(o["order_id"], o["resting"], o["filled"]) for o in bob_orders] == [("b", 3, 1)]
        # A price that crosses the bid trades at the resting order's price.
        await order(client, "dave", order_id="d", side="buy", type="limit", price=100, qty=2)
        crossed = await modify(client, "alice", "a", price=100)
        assert crossed.status_code == 200, crossed.text
        assert crossed.json()["fills"] == [{"price": 100, "qty": 2}]
        assert crossed.json()["resting"] == 1

    run(tmp_path, body)


def test_participants_see_only_their_own_orders_and_fills_and_cannot_touch_others(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        assert (await order(client, "alice", order_id="a", side="sell", type="limit", price=50, qty=3)
                ).status_code == 201
        assert (await order(client, "bob", order_id="b", side="buy", type="limit", price=50, qty=2)
                ).status_code == 201
        # Bob cannot modify or cancel Alice's order: under his identity the id names nothing.
        problem(await modify(client, "bob", "a", qty=1), 404, "UNKNOWN_ORDER")
        problem(await client.delete("/v1/market/orders/a", headers=keyed("bob")), 404, "UNKNOWN_ORDER")
        alice = (await client.get("/v1/market/orders", headers=auth("alice"))).json()["orders"]
        assert [(o["order_id"], o["side"], o["price"], o["resting"], o["filled"]) for o in alice] == [
            ("a", "sell", 50, 1, 2)]
        assert (await client.get("/v1/market/orders", headers=auth("bob"))).json() == {"orders": []}
        assert (await client.get("/v1/market/orders", headers=auth("carol"))).json() == {"orders": []}
        alice_fills = (await client.get("/v1/market/fills", headers=auth("alice"))).json()["fills"]
        bob_fills = (await client.get("/v1/market/fills", headers=auth("bob"))).json()["fills"]
        trade = {"seq": 1, "price": 50, "qty": 2}
        assert alice_fills == [{**trade, "order_id": "a", "side": "sell", "maker": True}]
        assert bob_fills == [{**trade, "order_id": "b", "side": "buy", "maker": False}]
        assert (await client.get("/v1/market/fills", headers=auth("carol"))).json() == {"fills": []}
        # Reading your own orders needs credentials.
        problem(await client.get("/v1/market/orders"), 401, "UNAUTHENTICATED")

    run(tmp_path, body)


def test_modify_is_idempotent_and_validated(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, live: Live) -> None:
        assert (await order(client, "alice", order_id="a", side="buy", type="limit", price=40, qty=5)
                ).status_code == 201
        first = await modify(client, "alice", "a", key="m-1", qty=9)
        again = await modify(client, "alice", "a", key="m-1", qty=9)
        assert first.status_code == again.status_code == 200
        assert again.headers.get("idempotent-replayed") == "true"
        assert first.json() == again.json()
        problem(await modify(client, "alice", "a", key="m-1", qty=8), 422, "IDEMPOTENCY_KEY_REUSED")
        assert (await book(client))["bids"] == [{"price": 40, "qty": 9, "orders": 1}]
        no_key = await client.patch("/v1/market/orders/a", json={"qty": 2}, headers=auth("alice"))
        problem(no_key, 400, "IDEMPOTENCY_KEY_REQUIRED")
        empty = await modify(client, "alice", "a")
        assert empty.status_code == 422 and "qty, price or both" in empty.text
        for bad in ({"qty": 0}, {"qty": 1.5}, {"price": "7"}, {"qty": 2, "side": "sell"}):
            assert (await modify(client, "alice", "a", **bad)).status_code == 422, bad
        assert (await book(client))["bids"] == [{"price": 40, "qty": 9, "orders": 1}]

    run(tmp_path, body)
