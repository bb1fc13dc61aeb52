"""The request pipeline: endpoint labels from FastAPI's routing, keyed requests told apart per task."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path

import httpx

from tests.live._support import REPO_ROOT, Live, auth, build_live, problem, serving, write_scenario
from tests.live.test_live_api import GATES, post, run


def test_metric_labels_are_the_routers_templates_and_unmatched_is_bounded(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        assert (await post(client, "/v1/shop/purchases", {"offer": 120}, "p1")).status_code == 201
        problem(await client.get("/v1/nowhere/at/all"), 404, "NOT_FOUND")
        problem(await client.delete("/v1/shop"), 405, "METHOD_NOT_ALLOWED")
        problem(await post(client, "/v1/shop/purchases", {"offer": 120}, None), 400,
                "IDEMPOTENCY_KEY_REQUIRED")
        problem(await client.get("/v1/shop", headers={"Authorization": "Bearer nope"}), 401, "INVALID_TOKEN")
        problem(await post(client, "/v1/nowhere", {"offer": 1, "pad": "x" * 70_000}, "big"), 413,
                "BODY_TOO_LARGE")
        text = (await client.get("/metrics")).text
        for line in (
            'flagship_http_requests_total{code="201",endpoint="/v1/shop/purchases",method="POST"} 1.0',
            'flagship_http_requests_total{code="404",endpoint="unmatched",method="GET"} 1.0',
            'flagship_http_requests_total{code="405",endpoint="/v1/shop",method="DELETE"} 1.0',
            'flagship_http_requests_total{code="401",endpoint="/v1/shop",method="GET"} 1.0',
            'flagship_http_problems_total{endpoint="/v1/shop/purchases",'
            'reason="IDEMPOTENCY_KEY_REQUIRED"} 1.0',
            'flagship_http_problems_total{endpoint="/v1/shop",reason="INVALID_TOKEN"} 1.0',
            'flagship_http_problems_total{endpoint="unmatched",reason="BODY_TOO_LARGE"} 1.0',
        ):
            assert line in text, line
        assert "nowhere" not in text

    run(tmp_path, body)


def test_route_refusals_401_and_422_are_counted_as_problems_on_a_real_server(tmp_path: Path) -> None:
    # Raised inside a route (the gateway finds no principal; FastAPI finds an invalid body), these are
    # answered by the exception handlers, not the middlewares: they were never counted before.
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", write_scenario(tmp_path, shoppers=0), tmp_path)
    with serving(live) as server, httpx.Client(base_url=server.url) as client:
        unsigned = client.post("/v1/shop/purchases", json={"offer": 120}, headers={"Idempotency-Key": "u1"})
        problem(unsigned, 401, "UNAUTHENTICATED")
        for key in ("v1", "v2"):
            invalid = client.post("/v1/shop/purchases", json={"offer": -1},
                                  headers={**auth(), "Idempotency-Key": key})
            problem(invalid, 422, "INVALID_REQUEST")
        text = client.get("/metrics").text
    assert 'flagship_http_problems_total{endpoint="/v1/shop/purchases",reason="UNAUTHENTICATED"} 1.0' in text
    assert 'flagship_http_problems_total{endpoint="/v1/shop/purchases",reason="INVALID_REQUEST"} 2.0' in text
    reasons = re.findall(r'flagship_http_problems_total\{[^}]*reason="([^"]*)"', text)
    assert reasons and all(re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", r) for r in reasons)  # a bounded label set


def test_concurrent_keyed_requests_of_one_caller_keep_their_own_keys(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, live: Live) -> None:
        GATES["add"] = gate = asyncio.Event()
        try:
            first = asyncio.create_task(post(client, "/v1/gated/add", {"n": 1}, "a"))
            second = asyncio.create_task(post(client, "/v1/gated/add", {"n": 2}, "b"))
            await asyncio.sleep(0.05)
            gate.set()
            answers = [(await first).json(), (await second).json()]
        finally:
            GATES.pop("add", None)
        assert sorted(a["count"] for a in answers) in ([1, 3], [2, 3])
        retries = await asyncio.gather(post(client, "/v1/gated/add", {"n": 1}, "a"),
                                       post(client, "/v1/gated/add", {"n": 2}, "b"))
        assert [r.json() for r in retries] == answers
        assert all(r.headers["idempotent-replayed"] == "true" for r in retries)
        state = await client.get("/v1/gated", headers=auth())
        assert state.json() == {"count": 3}
        assert live.engine.size == 2

    run(tmp_path, body)


def test_no_request_state_travels_in_context_variables() -> None:
    sources = [*sorted((REPO_ROOT / "sandbox" / "_live").glob("*.py")),
               REPO_ROOT / "agents" / "_live_auth.py"]
    for source in sources:
        tree = ast.parse(source.read_text())
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                 for alias in node.names}
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "contextvars" not in names | modules and "ContextVar" not in names, source
