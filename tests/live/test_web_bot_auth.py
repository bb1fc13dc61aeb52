"""The ``web_bot_auth`` authenticator: options, key resolution, and each refusal as a distinct 401.

Requests are built and signed by the agents' own WebBotAuth (real Ed25519) and sent in-process
through the ASGI transport to a live app with the gate and an agents-only market.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from flagship.agents import AgentIdentity, WebBotAuth, WebBotAuthenticator
from flagship.mechanisms import ContractError, InputError, Principal, ScenarioError, UnknownNameError
from flagship.sandbox._live import LiveGateway, LiveSpec, create_app, load_authenticators, load_live_scenario
from tests.live._gate_support import (
    admit,
    agent,
    apply,
    asgi_client,
    credential,
    key,
    run_gate,
    standing,
    write_gate_scenario,
)
from tests.live._support import REPO_ROOT, Live, build_live, flagship_command, free_port, problem

ALICE, BOB, MALLORY = (agent(name) for name in ("alice", "bob", "mallory"))


def test_the_entry_point_builds_it_and_options_are_checked_by_name(tmp_path: Path) -> None:
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", write_gate_scenario(tmp_path), tmp_path)
    try:
        gateway = LiveGateway(live.engine)
        built = load_authenticators(LiveSpec(authenticators=["web_bot_auth"], auth={"web_bot_auth": {
            "gate": "agent_gate", "max_age": 30, "clock_skew": 2, "authority": "pilot.example:8443"}}),
            gateway)
        assert [a.scheme for a in built] == ["web_bot_auth"]
        assert isinstance(built[0], WebBotAuthenticator)
        assert (built[0].verifier.max_age, built[0].verifier.clock_skew) == (30.0, 2.0)

        bad = {"gate": "", "max_age": True, "authority": "https://pilot.example/", "nonce_ttl": 5}
        with pytest.raises(ScenarioError) as refused:
            load_authenticators(LiveSpec(authenticators=["web_bot_auth"], auth={"web_bot_auth": bad}),
                                gateway)
        paths = {problem.path for problem in refused.value.problems}
        assert paths == {f"live.auth.web_bot_auth.{name}" for name in
                         ("nonce_ttl", "gate", "authority", "max_age")}
        for options, field in (({"max_age": 0}, "max_age"), ({"clock_skew": -1}, "clock_skew"),
                               ({"max_age": float("nan")}, "max_age"), ({"authority": 80}, "authority"),
                               ({"authority": None}, "authority")):
            with pytest.raises(InputError) as one:
                WebBotAuthenticator(gateway, {k: v for k, v in {"authority": "live.test", **options}.items()
                                              if v is not None})
            assert [problem.path for problem in one.value.problems] == [field]
    finally:
        live.store.close()


def test_no_signature_headers_leave_the_request_to_others_and_partial_ones_are_refused(
        tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        signed = client.build_request("GET", f"/v1/gate/agents/{ALICE.agent_id}")
        WebBotAuth(ALICE).sign(signed)
        # Signature-Input without Signature: present, so refused, not passed over.
        partial = await client.get(f"/v1/gate/agents/{ALICE.agent_id}",
                                   headers={"signature-input": signed.headers["signature-input"]})
        problem(partial, 401, "UNSIGNED")
        assert partial.headers["www-authenticate"] == "web_bot_auth"
        # No signature at all: nobody authenticated the request.
        problem(await client.get(f"/v1/gate/agents/{ALICE.agent_id}"), 401, "UNAUTHENTICATED")
        problem(await client.get(f"/v1/gate/agents/{ALICE.agent_id}",
                                 headers={"signature": "x", "signature-input": "(("}), 401, "MALFORMED")

    run_gate(tmp_path, body)


def test_keys_come_from_the_gate_or_from_a_first_applications_own_jwk(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        # Unknown to the gate, and no JWK to learn the key from.
        problem(await standing(client, ALICE), 401, "UNKNOWN_KEY")
        # Mallory presents Alice's public JWK but signs with her own key: her keyid is not its
        # thumbprint, so the JWK does not vouch for her.
        problem(await apply(client, MALLORY, identity=ALICE, credentials=[credential(ALICE)]),
                401, "UNKNOWN_KEY")
        # A private JWK is never taken as a key.
        private = {**ALICE.public_jwk(), "d": "AAAA"}
        problem(await client.post("/v1/gate/applications", headers=key(), auth=WebBotAuth(ALICE),
                                  json={"identity": private, "credentials": [credential(ALICE)]}),
                401, "UNKNOWN_KEY")
        # Alice's own JWK, signed with her key: proof of possession, she is authenticated.
        assert (await apply(client, ALICE)).status_code == 201
        # From then on the gate knows her key: no JWK needed.
        assert (await standing(client, ALICE)).status_code == 200

    run_gate(tmp_path, body)


def test_each_refusal_has_its_own_reason(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        await admit(client, ALICE)
        path = f"/v1/gate/agents/{ALICE.agent_id}"
        ahead = WebBotAuth(ALICE, clock=lambda: time.time() + 3600)
        problem(await client.get(path, auth=ahead), 401, "CREATED_IN_FUTURE")
        behind = WebBotAuth(ALICE, clock=lambda: time.time() - 120)  # older than max_age (60 s)
        problem(await client.get(path, auth=behind), 401, "EXPIRED")

        request = client.build_request("GET", path)
        WebBotAuth(ALICE).sign(request)
        assert (await client.send(request)).status_code == 200
        problem(await client.send(request), 401, "REPLAYED_NONCE")

        # The same signature on another path: @path is covered.
        moved = client.build_request("GET", f"/v1/gate/agents/{BOB.agent_id}", headers=dict(request.headers))
        problem(await client.send(moved), 401, "BAD_SIGNATURE")
        # The signed Content-Digest no longer matches the body received.
        post = client.build_request("POST", "/v1/market/orders", headers=key(),
                                    json={"order_id": "o", "side": "buy", "type": "limit", "price": 5,
                                          "qty": 1})
        WebBotAuth(ALICE).sign(post)
        tampered = post.content.replace(b'"price":5', b'"price":7')
        sent = client.build_request("POST", "/v1/market/orders", content=tampered,
                                    headers={**dict(post.headers), "content-length": str(len(tampered))})
        problem(await client.send(sent), 401, "DIGEST_MISMATCH")
        # Signature headers without a Content-Digest.
        stripped = {k: v for k, v in post.headers.items() if k != "content-digest"}
        problem(await client.send(client.build_request("POST", "/v1/market/orders", content=post.content,
                                                       headers=stripped)), 401, "CONTENT_DIGEST_MISSING")
        assert (await client.send(post)).status_code == 201  # the untouched original, once

    run_gate(tmp_path, body)


def test_the_query_string_is_covered_by_the_signature(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, _: Live) -> None:
        await admit(client, ALICE)
        signed = client.build_request("GET", "/v1/market/fills?limit=1")
        WebBotAuth(ALICE).sign(signed)
        assert '"@query"' in signed.headers["signature-input"]
        # ?limit=1 turned into ?limit=1000 after signing: refused, not served.
        widened = client.build_request("GET", "/v1/market/fills?limit=1000", headers=dict(signed.headers))
        problem(await client.send(widened), 401, "BAD_SIGNATURE")
        # A query appended to a request signed without one is not covered by its signature.
        bare = client.build_request("GET", "/v1/market/fills")
        WebBotAuth(ALICE).sign(bare)
        grown = client.build_request("GET", "/v1/market/fills?limit=1000", headers=dict(bare.headers))
        problem(await client.send(grown), 401, "MISSING_COMPONENT")
        assert (await client.send(signed)).status_code == 200  # the untouched original

    run_gate(tmp_path, body)


def test_a_configured_authority_refuses_signatures_made_for_another_host(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, live: Live) -> None:
        await admit(client, ALICE)  # signed for live.test, the pinned authority
        path = f"/v1/gate/agents/{ALICE.agent_id}"
        assert (await standing(client, ALICE)).status_code == 200
        # A request signed for another service (Host included) does not verify here.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=live.app),
                                     base_url="http://other.example") as elsewhere:
            problem(await elsewhere.get(path, auth=WebBotAuth(ALICE)), 401, "BAD_SIGNATURE")

    run_gate(tmp_path, body, auth='[live.auth.web_bot_auth]\nauthority = "LIVE.test"')


def test_the_host_header_never_decides_what_signatures_must_cover(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, live: Live) -> None:
        await admit(client, ALICE)
        request = client.build_request("GET", f"/v1/gate/agents/{ALICE.agent_id}")
        WebBotAuth(ALICE).sign(request)
        moved = client.build_request("GET", request.url, headers={**dict(request.headers),
                                                                   "host": "other.example"})
        assert (await client.send(moved)).status_code == 200  # signed for live.test, served here
        # signed for another host, Host forged to match: refused, the authority is configured
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=live.app),
                                     base_url="http://other.example") as elsewhere:
            problem(await elsewhere.get(f"/v1/gate/agents/{ALICE.agent_id}", auth=WebBotAuth(ALICE)),
                    401, "BAD_SIGNATURE")

    run_gate(tmp_path, body)


def test_a_live_server_without_an_authority_refuses_to_start(tmp_path: Path) -> None:
    # The red team's finding: with no authority, a request signed for another host was accepted.
    scenario = write_gate_scenario(tmp_path, auth="")
    result = subprocess.run(flagship_command("serve", str(scenario), "--db", f"sqlite:///{tmp_path / 'l.db'}",
                                             "--port", str(free_port()), "--key-dir", str(tmp_path)),
                            capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "live.auth.web_bot_auth.authority" in lines[0] and "required" in lines[0], \
        result.stderr


def test_the_example_pilot_binds_its_authority() -> None:
    spec = load_live_scenario(REPO_ROOT / "examples" / "live_pilot.toml").spec
    assert "web_bot_auth" in spec.authenticators
    assert spec.auth["web_bot_auth"]["authority"] == "127.0.0.1:8000"


def test_the_server_clock_judges_signatures_and_openapi_lists_the_scheme(tmp_path: Path) -> None:
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", write_gate_scenario(tmp_path), tmp_path)
    hour_later = WebBotAuthenticator(LiveGateway(live.engine), {"authority": "live.test"},
                                     clock=lambda: time.time() + 3600)
    live = dataclasses.replace(live, app=create_app(live.engine, authenticators=[hour_later]))

    async def body() -> None:
        async with asgi_client(live) as client:
            problem(await apply(client, ALICE), 401, "EXPIRED")
            spec = (await client.get("/openapi.json")).json()
            scheme = spec["components"]["securitySchemes"]["web_bot_auth"]
            assert scheme["type"] == "apiKey" and scheme["name"] == "Signature"
            assert {"/v1/gate/applications", "/v1/gate/applications/{exam_id}/answers",
                    "/v1/gate/agents/{agent_id}", "/v1/gate/agents/{agent_id}/credentials",
                    "/v1/gate/agents/{agent_id}/appeals"} <= set(spec["paths"])

    try:
        asyncio.run(body())
    finally:
        live.store.close()


class _Gateway:
    """Just enough of a gateway to hand the authenticator a mechanism (or none)."""

    def __init__(self, mechanism: Any) -> None:
        self._mechanism = mechanism

    @property
    def now(self) -> float:
        return 0.0

    @property
    def started_at(self) -> float:
        return 0.0

    async def submit(self, mechanism: str, kind: str, payload: Any, *, actor: str) -> Any:
        raise NotImplementedError

    def mechanism(self, name: str) -> Any:
        if self._mechanism is None:
            raise UnknownNameError("no such mechanism")
        return self._mechanism

    async def principal(self, request: Any) -> Principal:
        raise NotImplementedError

    def secret(self, purpose: str) -> bytes:
        return b"\0" * 32


def test_a_gate_option_naming_no_gate_is_a_configuration_bug_not_a_refusal() -> None:
    for gateway, message in ((_Gateway(None), "no mechanism 'agent_gate'"),
                             (_Gateway(object()), "not an agent_gate")):
        authenticator = WebBotAuthenticator(gateway, {"authority": "live.test"})
        with pytest.raises(ContractError, match=message):
            authenticator.known_key(AgentIdentity.from_seed(b"\1" * 32).agent_id)

