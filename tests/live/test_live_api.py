"""The live server's HTTP contract at unit level (ASGI transport): errors, limits, idempotency, mounting."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from flagship.mechanisms import (
    Action,
    CommonReason,
    ContractError,
    Gateway,
    InputError,
    Mechanism,
    NoConfig,
    Outcome,
    ScenarioError,
    register,
)
from flagship.sandbox._live import LiveGateway, LiveSpec, create_app, load_authenticators
from flagship.sandbox._live._limits import json_depth
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests.live._support import Live, auth, build_live, problem, write_scenario

GATES: dict[str, asyncio.Event] = {}


class AddRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int


def gated_routes(name: str, gateway: Gateway) -> APIRouter:
    router = APIRouter(prefix="/v1/gated")

    @router.post("/add")
    async def add(body: AddRequest) -> dict[str, Any]:
        gate = GATES.get("add")
        if gate is not None:
            await gate.wait()
        outcome = await gateway.submit(name, "add", {"n": body.n}, actor="tester")
        return {"accepted": outcome.accepted, "count": outcome.effects.get("count")}

    @router.post("/twice")
    async def twice(body: AddRequest) -> dict[str, Any]:
        first = await gateway.submit(name, "add", {"n": body.n}, actor="tester")
        second = await gateway.submit(name, "add", {"n": body.n}, actor="tester")
        return {"counts": [first.effects.get("count"), second.effects.get("count")]}

    @router.post("/boom")
    async def boom() -> dict[str, Any]:
        await gateway.submit(name, "boom", {}, actor="tester")
        return {}

    @router.get("")
    async def state() -> dict[str, Any]:
        mechanism: Any = gateway.mechanism(name)
        return {"count": mechanism.count}

    return router


@register
class Gated(Mechanism[NoConfig]):
    """A counter whose routes can be held at a gate; ``boom`` half-applies and raises."""

    name = "live_test_gated"
    http = gated_routes

    def __init__(self, config: NoConfig, ctx: Any) -> None:
        super().__init__(config, ctx)
        self.count = 0

    def handle(self, action: Action) -> Outcome:
        if action.kind == "boom":
            self.count += 1000  # a half-applied effect that the server must roll back
            raise RuntimeError("boom")
        if action.kind != "add":
            return Outcome.reject(CommonReason.UNKNOWN_KIND)
        n = action.payload.get("n")
        if isinstance(n, bool) or not isinstance(n, int):
            return Outcome.reject(CommonReason.INVALID_PAYLOAD)
        self.count += n
        return Outcome.accept({"count": self.count})

    def snapshot(self) -> dict[str, int]:
        return {"count": self.count}


def _scenario(tmp_path: Path, limits: str = "") -> Path:
    path = write_scenario(tmp_path, shoppers=0, limits=limits)
    text = path.read_text().replace("[populations.shoppers]", "[mechanisms.live_test_gated]\n\n"
                                    "[populations.shoppers]\nmechanism = \"posted_price\"")
    path.write_text(text)
    return path


@contextlib.asynccontextmanager
async def client_for(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    async with live.app.router.lifespan_context(live.app):
        transport = httpx.ASGITransport(app=live.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://live.test") as client:
            yield client
    live.store.close()


def run(tmp_path: Path, body: Callable[[httpx.AsyncClient, Live], Awaitable[None]], *,
        limits: str = "") -> Live:
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", _scenario(tmp_path, limits), tmp_path)

    async def main() -> None:
        async with client_for(live) as client:
            await body(client, live)

    asyncio.run(main())
    return live




def post(client: httpx.AsyncClient, path: str, json: Any, key: str | None, actor: str = "alice",
         **kwargs: Any) -> Awaitable[httpx.Response]:
    headers = {**auth(actor), **({"Idempotency-Key": key} if key else {}), **kwargs.pop("headers", {})}
    return client.post(path, json=json, headers=headers, **kwargs)


def test_errors_are_problem_json_and_never_5xx_for_bad_input(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        problem(await client.get("/v1/nowhere"), 404, "NOT_FOUND")
        problem(await client.delete("/v1/shop"), 405, "METHOD_NOT_ALLOWED")
        invalid = problem(await post(client, "/v1/shop/purchases", {"offer": "x", "tip": 1}, "k1"),
                          422, "INVALID_REQUEST")
        assert {e["path"] for e in invalid["errors"]} == {"body.offer", "body.tip"}
        problem(await client.post("/v1/shop/purchases", content=b'{"offer": NaN}',
                                  headers={**auth(), "Idempotency-Key": "k2",
                                           "content-type": "application/json"}), 400, "INVALID_JSON")
        deep = {"offer": 1}
        for _ in range(40):
            deep = {"x": deep}
        problem(await post(client, "/v1/shop/purchases", deep, "k3"), 400, "JSON_TOO_DEEP")
        problem(await post(client, "/v1/shop/purchases", {"offer": 1, "pad": "x" * 70_000}, "k4"),
                413, "BODY_TOO_LARGE")

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b" " * 4096  # no Content-Length: the cap is enforced while reading

        problem(await client.post("/v1/shop/purchases", content=chunks(),
                                  headers={**auth(), "Idempotency-Key": "k5"}), 413, "BODY_TOO_LARGE")
        problem(await post(client, "/v1/shop/purchases", {"offer": 120}, None), 400,
                "IDEMPOTENCY_KEY_REQUIRED")
        problem(await post(client, "/v1/shop/purchases", {"offer": 120}, "bad key"), 400,
                "IDEMPOTENCY_KEY_INVALID")
        refused = await client.post("/v1/shop/purchases", json={"offer": 120},
                                    headers={"Authorization": "Bearer wrong", "Idempotency-Key": "k6"})
        problem(refused, 401, "INVALID_TOKEN")
        assert refused.headers["www-authenticate"] == "bearer"
        problem(await client.post("/v1/shop/purchases", json={"offer": 120},
                                  headers={"Idempotency-Key": "k7"}), 401, "UNAUTHENTICATED")
        rejected = problem(await post(client, "/v1/shop/purchases", {"offer": 50}, "k8"), 409, "BELOW_PRICE")
        assert rejected["type"] == "urn:flagship:reason:BELOW_PRICE"
        shop = (await client.get("/v1/shop")).json()
        assert shop == {"price": 100, "stock": 100_000, "sold": 0}

    run(tmp_path, body)


def test_idempotency_replays_refuses_reuse_and_conflicts_and_acts_once(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, live: Live) -> None:
        first = await post(client, "/v1/shop/purchases", {"offer": 120}, "buy-1")
        assert first.status_code == 201 and first.json() == {"accepted": True, "buyer": "alice", "price": 100}
        again = await post(client, "/v1/shop/purchases", {"offer": 120}, "buy-1")
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        problem(await post(client, "/v1/shop/purchases", {"offer": 130}, "buy-1"), 422,
                "IDEMPOTENCY_KEY_REUSED")
        # keys are per identity: bob's "buy-1" is another action
        assert (await post(client, "/v1/shop/purchases", {"offer": 120}, "buy-1", "bob")).status_code == 201
        # a duplicate while the first is still being handled: 409, and the first still acts once
        GATES["add"] = gate = asyncio.Event()
        try:
            held = asyncio.create_task(post(client, "/v1/gated/add", {"n": 5}, "add-1"))
            for _ in range(200):
                await asyncio.sleep(0)
            problem(await post(client, "/v1/gated/add", {"n": 5}, "add-1"), 409, "IDEMPOTENCY_KEY_IN_FLIGHT")
            gate.set()
            assert (await held).json() == {"accepted": True, "count": 5}
        finally:
            GATES.clear()
        assert (await post(client, "/v1/gated/add", {"n": 5}, "add-1")).json()["count"] == 5
        assert (await client.get("/v1/gated")).json() == {"count": 5}
        # two actions under one key: both stored, both replayed
        twice = await post(client, "/v1/gated/twice", {"n": 1}, "twice-1")
        assert twice.json() == {"counts": [6, 7]}
        assert (await post(client, "/v1/gated/twice", {"n": 1}, "twice-1")).json() == {"counts": [6, 7]}
        assert (await client.get("/v1/gated")).json() == {"count": 7}

    live = run(tmp_path, body)
    with Store.open(f"sqlite:///{tmp_path / 'live.db'}") as store:
        entries = list(TrialLog(store).entries(live.engine.trial.id))
    keys = [e.idempotency_key for e in entries if e.origin == "http"]
    assert len(keys) == len(set(keys)) == 5  # each intended action exactly once
    assert all(e.origin == "http" for e in entries)


def test_a_failing_mechanism_gets_500_and_leaves_no_trace(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, live: Live) -> None:
        assert (await post(client, "/v1/gated/add", {"n": 2}, "a")).json()["count"] == 2
        problem(await post(client, "/v1/gated/boom", {}, "b"), 500, "MECHANISM_ERROR")
        assert (await client.get("/v1/gated")).json() == {"count": 2}  # the half-applied +1000 is gone
        assert (await post(client, "/v1/gated/add", {"n": 3}, "c")).json()["count"] == 5
        assert live.engine.size == 2

    run(tmp_path, body)


def test_rate_limits_per_identity_with_retry_after(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        statuses = [(await client.get("/v1/shop", headers=auth("alice"))).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = await client.get("/v1/shop", headers=auth("alice"))
        problem(limited, 429, "RATE_LIMITED")
        assert int(limited.headers["retry-after"]) >= 1
        assert (await client.get("/v1/shop", headers=auth("bob"))).status_code == 200  # another identity
        assert (await client.get("/healthz", headers=auth("alice"))).status_code == 200  # probes exempt

    run(tmp_path, body, limits="[live.limits]\nrate_per_second = 0.01\nburst = 2\n")


def test_openapi_documents_routes_keys_problems_and_security(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        spec = (await client.get("/openapi.json")).json()
        paths = spec["paths"]
        assert {"/v1/shop/purchases", "/v1/shop", "/v1/gated/add", "/healthz", "/readyz", "/metrics",
                "/v1/trial"} <= set(paths)
        purchase = paths["/v1/shop/purchases"]["post"]
        key = next(p for p in purchase["parameters"] if p["name"] == "Idempotency-Key")
        assert key["in"] == "header" and key["required"] is True
        assert "Flagship-Receipt" in purchase["responses"]["201"]["headers"]  # documented, optional
        assert "headers" not in paths["/v1/shop"]["get"]["responses"]["200"]  # a read has no receipt
        assert "application/problem+json" in purchase["responses"]["422"]["content"]
        assert "application/problem+json" in purchase["responses"]["default"]["content"]
        assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "reason"]
        assert spec["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
        assert "HTTPValidationError" not in spec["components"]["schemas"]

    run(tmp_path, body)


def test_metrics_negotiate_openmetrics_or_text(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        await post(client, "/v1/shop/purchases", {"offer": 120}, "m1")
        text = await client.get("/metrics")
        assert text.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert 'flagship_http_requests_total{code="201",endpoint="/v1/shop/purchases",method="POST"} 1.0' \
            in text.text
        assert 'flagship_actions_total{mechanism="posted_price",origin="http",outcome="accepted",reason=""}' \
            in text.text
        om = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0,"
                                                            "text/plain;version=0.0.4;q=0.5"})
        assert om.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
        assert om.text.endswith("# EOF\n")
        refused = await client.get("/metrics", headers={"Accept": "application/openmetrics-text;q=0"})
        assert refused.headers["content-type"].startswith("text/plain")
        for line in text.text.splitlines():  # bounded labels only: no actor or key ever appears
            assert "alice" not in line and "m1" not in line

    run(tmp_path, body)


def test_routes_must_be_async_under_v1_and_unclaimed(tmp_path: Path) -> None:
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", _scenario(tmp_path), tmp_path)
    try:
        def sync_routes(name: str, gateway: Gateway) -> APIRouter:
            router = APIRouter()

            @router.get("/v1/sync")
            def sync() -> dict[str, str]:
                return {}

            return router

        def outside(name: str, gateway: Gateway) -> APIRouter:
            router = APIRouter()

            @router.get("/shop")
            async def shop() -> dict[str, str]:
                return {}

            return router

        def clash(name: str, gateway: Gateway) -> APIRouter:
            router = APIRouter()

            @router.get("/v1/shop")
            async def shop() -> dict[str, str]:
                return {}

            return router

        for factory, message in ((sync_routes, "async def"), (outside, "/v1/"), (clash, "already served")):
            Gated.http = factory
            with pytest.raises(ContractError, match=message):
                create_app(live.engine, spec=LiveSpec())
    finally:
        Gated.http = gated_routes
        live.store.close()


def test_authenticators_come_from_entry_points_with_validated_options(tmp_path: Path) -> None:
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", _scenario(tmp_path), tmp_path)
    try:
        gateway = LiveGateway(live.engine)
        with pytest.raises(ScenarioError) as unknown:
            load_authenticators(LiveSpec(authenticators=["nope"]), gateway)
        assert unknown.value.problems[0].path == "live.authenticators.0"
        assert "bearer_token" in unknown.value.problems[0].message
        with pytest.raises(ScenarioError) as bad:
            load_authenticators(LiveSpec(authenticators=["bearer_token"],
                                         auth={"bearer_token": {"tokens": {"t": 3}}}), gateway)
        assert bad.value.problems[0].path == "live.auth.bearer_token.tokens"
        built = load_authenticators(LiveSpec(authenticators=["bearer_token"],
                                             auth={"bearer_token": {"tokens": {"t": "x"}}}), gateway)
        assert [a.scheme for a in built] == ["bearer"]
    finally:
        live.store.close()


def test_gateway_refuses_payloads_that_would_not_replay(tmp_path: Path) -> None:
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", _scenario(tmp_path), tmp_path)

    async def main() -> None:
        await live.engine.start()
        try:
            gateway = LiveGateway(live.engine)
            with pytest.raises(InputError) as nan:
                await gateway.submit("posted_price", "buy", {"offer": {"deep": [math.nan]}}, actor="a")
            assert nan.value.problems[0].path == "payload.offer.deep.0"
            with pytest.raises(InputError):
                await gateway.submit("posted_price", "buy", {"offer": object()}, actor="a")
            outcome = await gateway.submit("posted_price", "buy", {"offer": 150, "tags": ("a",)}, actor="a")
            assert outcome.accepted
            stored = live.engine.host.log.actions[-1] if live.engine.host and live.engine.host.log else None
            assert stored is not None and stored.payload == {"offer": 150, "tags": ["a"]}  # as replay sees it
        finally:
            await live.engine.stop()
            live.store.close()

    asyncio.run(main())


def test_json_depth() -> None:
    assert json_depth(1) == 0
    assert json_depth([]) == 1
    assert json_depth({"a": [1, {"b": []}]}) == 4
