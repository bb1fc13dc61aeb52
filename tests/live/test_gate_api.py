"""The gate's live routes (/v1/gate) with real signed agents, and the agents-only market over HTTP.

Unit-level tests drive the app in-process through the ASGI transport (SQLite trial log); the
end-to-end test serves it on loopback with uvicorn, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from flagship.agents import AgentGate, AgentIdentity, DecisionReason, GateReason, WebBotAuth
from flagship.agents._http import GATE_STATUS
from flagship.mechanisms import CommonReason
from tests.agents.test_agents_gate import AGENTS, World, worst_answers
from tests.agents.test_agents_gate import credential as gate_credential
from tests.live._gate_support import (
    UNTRUSTED,
    admit,
    agent,
    answer,
    answer_body,
    apply,
    credential,
    key,
    order,
    run_gate,
    standing,
    write_gate_scenario,
)
from tests.live._support import Live, build_live, free_port, fuzz_api, problem, serving

ALICE, BOB, CAROL, DAVE = (agent(name) for name in ("alice", "bob", "carol", "dave"))


def gate_of(live: Live) -> AgentGate:
    gate = live.engine.mechanism("agent_gate")
    assert isinstance(gate, AgentGate)
    return gate


def test_every_gate_code_has_a_4xx_status() -> None:
    codes = {str(code) for code in GateReason} | {str(DecisionReason.EXAM_FAILED),
                                                  str(CommonReason.INVALID_PAYLOAD)}
    assert codes <= set(GATE_STATUS)
    assert all(400 <= status < 500 for status in GATE_STATUS.values())


def test_the_gates_standing_explains_each_status_with_its_reasons() -> None:
    world = World(probation=10.0, suspend_strikes=2, revoke_strikes=4, suspension=50.0,
                  recertify_interval=1000.0, appeal_review_delay=5.0)
    alice, bob, carol = (AGENTS[n] for n in range(3))
    assert world.gate.standing(bob.agent_id) is None and world.gate.public_identity(bob.agent_id) is None

    def view(who: AgentIdentity) -> dict[str, Any]:
        current = world.gate.standing(who.agent_id)
        assert current is not None
        return current

    world.admit(alice, t=1.0)
    assert (view(alice)["status"], view(alice)["reasons"], view(alice)["on_probation"]) == \
        ("admitted", ["EXAM_PASSED"], True)
    world.violate(alice, t=20.0)
    world.violate(alice, t=21.0)
    suspended = view(alice)
    assert (suspended["status"], suspended["reasons"], suspended["strikes"]) == \
        ("suspended", ["STRIKES_SUSPENSION"], 2)
    assert suspended["sanction"]["until"] == 71.0 and suspended["sanction"]["appeal"] == "none"
    assert world.submit(alice.agent_id, "appeal", {}, t=22.0).accepted
    assert view(alice)["sanction"]["appeal"] == "pending"
    world.at(30.0)  # both strikes are strong evidence: denied
    assert view(alice)["reasons"] == ["STRIKES_SUSPENSION", "APPEAL_DENIED"]
    assert view(alice)["sanction"]["appeal"] == "denied"
    world.at(80.0)
    assert (view(alice)["status"], view(alice)["reasons"], view(alice)["sanction"]) == \
        ("admitted", ["SUSPENSION_ENDED"], None)
    assert world.submit(alice.agent_id, "recertify", {"credentials": [gate_credential(alice)]}).accepted
    assert view(alice)["reasons"] == ["RECERTIFIED"]

    opened = world.apply(bob, t=81.0).effects
    known = world.gate.public_identity(bob.agent_id)
    assert known is not None and known.agent_id == bob.agent_id
    bobs = view(bob)
    assert (bobs["status"], bobs["reasons"]) == ("examining", ["CREDENTIALS_ACCEPTED"])
    assert bobs["exam"]["exam_id"] == opened["exam_id"] and bobs["exam"]["questions"] == opened["questions"]
    world.answer(bob, opened, worst_answers(opened["questions"]), t=82.0)
    refused = view(bob)
    assert (refused["status"], refused["reasons"], refused["exam"]) == ("refused", ["EXAM_FAILED"], None)

    world.admit(carol, t=100.0)
    world.at(1200.0)
    assert (view(carol)["status"], view(carol)["reasons"]) == ("lapsed", ["ADMISSION_LAPSED"])


def test_an_agent_applies_answers_and_reads_only_its_own_standing(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, live: Live) -> None:
        applied = await apply(client, ALICE)
        assert applied.status_code == 201, applied.text
        application = applied.json()
        assert application["agent_id"] == ALICE.agent_id and application["gate"] == "agent_gate"
        assert application["status"] == "examining"
        assert application["reasons"] == ["CREDENTIALS_ACCEPTED"]
        assert application["credential_score"] == pytest.approx(0.9)
        assert len(application["questions"]) == 4 and application["answer_by"] > 0

        examining = (await standing(client, ALICE)).json()
        assert examining["status"] == "examining" and examining["exam"]["exam_id"] == application["exam_id"]
        assert examining["exam"]["challenge"] == application["challenge"]

        decided = await answer(client, ALICE, application)
        assert decided.status_code == 200, decided.text
        decision = decided.json()
        assert decision["decision"] == "admitted" and decision["reasons"] == ["EXAM_PASSED"]
        assert decision["exam_score"] == 1.0
        assert decision["admitted_until"] > decision["probation_until"] > 0

        mine = await standing(client, ALICE)
        assert mine.status_code == 200, mine.text
        view = mine.json()
        assert view["agent_id"] == ALICE.agent_id
        assert (view["status"], view["reasons"], view["on_probation"], view["strikes"]) == \
            ("admitted", ["EXAM_PASSED"], True, 0)
        assert view["admitted_until"] == decision["admitted_until"]
        assert view["exam"] is None and view["sanction"] is None
        assert gate_of(live).status(ALICE.agent_id) == "admitted"

        # Bob (known to the gate) may not read Alice's standing: the same 404 as an unknown id.
        await admit(client, BOB)
        theirs = problem(await standing(client, BOB, ALICE.agent_id), 404, "UNKNOWN_AGENT")
        nobody = problem(await standing(client, BOB, CAROL.agent_id), 404, "UNKNOWN_AGENT")
        assert theirs == nobody
        problem(await standing(client, BOB, "not-an-agent-id"), 422, "INVALID_REQUEST")
        problem(await client.get(f"/v1/gate/agents/{ALICE.agent_id}"), 401, "UNAUTHENTICATED")

    run_gate(tmp_path, body)


def test_gate_refusals_are_4xx_problems_with_the_gates_codes(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, live: Live) -> None:
        # Credentials: refusals on the merits are 403, malformed ones 422.
        problem(await apply(client, ALICE, credentials=[credential(ALICE, evaluator=UNTRUSTED)]),
                403, "CREDENTIAL_UNTRUSTED_EVALUATOR")
        problem(await apply(client, ALICE, credentials=[credential(BOB)]), 403,
                "CREDENTIAL_SUBJECT_MISMATCH")
        problem(await apply(client, ALICE, credentials=[credential(ALICE, score=0.2)]), 403,
                "CREDENTIAL_SCORE_LOW")
        problem(await apply(client, ALICE, credentials=["not.a.jwt"]), 422, "CREDENTIAL_MALFORMED")
        empty = problem(await apply(client, ALICE, credentials=[]), 422, "INVALID_REQUEST")
        assert [e["path"] for e in empty["errors"]] == ["body.credentials"]
        assert gate_of(live).status(ALICE.agent_id) is None  # rejected actions change nothing

        applied = (await apply(client, ALICE)).json()
        problem(await apply(client, ALICE), 409, "EXAM_PENDING")
        problem(await answer(client, ALICE, applied, exam_id="exam-99"), 404, "EXAM_MISMATCH")
        problem(await answer(client, BOB, applied), 401, "UNKNOWN_KEY")  # Bob never applied
        problem(await answer(client, ALICE, applied, signer=BOB), 403, "BAD_PROOF")
        failed = problem(await answer(client, ALICE, applied, honest=False), 403, "EXAM_FAILED")
        assert "below the threshold" in failed["detail"]
        assert (await standing(client, ALICE)).json()["reasons"] == ["EXAM_FAILED"]
        problem(await answer(client, ALICE, applied), 404, "NO_EXAM")  # grading closed the exam
        problem(await apply(client, ALICE), 429, "RATE_LIMITED")  # max_applications = 1

        await admit(client, BOB)
        problem(await apply(client, BOB), 409, "ALREADY_ADMITTED")
        # Bob signs an application presenting Carol's key: the gate binds identity to signer.
        problem(await apply(client, BOB, identity=CAROL, credentials=[credential(CAROL)]), 403,
                "IDENTITY_MISMATCH")
        bad_jwk = await client.post("/v1/gate/applications", headers=key(), auth=WebBotAuth(BOB),
                                    json={"identity": {"kty": "RSA", "x": "AA"}, "credentials": ["a.b.c"]})
        problem(bad_jwk, 422, "BAD_IDENTITY")

        # Acting for someone else: 403 NOT_YOURS, and nothing is submitted.
        size = live.engine.size
        problem(await client.post(f"/v1/gate/agents/{BOB.agent_id}/credentials", headers=key(),
                                  json={"credentials": [credential(BOB)]}, auth=WebBotAuth(ALICE)),
                403, "NOT_YOURS")
        problem(await client.post(f"/v1/gate/agents/{BOB.agent_id}/appeals", headers=key(),
                                  auth=WebBotAuth(ALICE)), 403, "NOT_YOURS")
        assert live.engine.size == size

        problem(await client.post(f"/v1/gate/agents/{ALICE.agent_id}/credentials", headers=key(),
                                  json={"credentials": [credential(ALICE)]}, auth=WebBotAuth(ALICE)),
                409, "NOT_ADMITTED")  # refused, not admitted
        problem(await client.post(f"/v1/gate/agents/{BOB.agent_id}/appeals", headers=key(),
                                  auth=WebBotAuth(BOB)), 409, "APPEAL_NOT_ALLOWED")  # no sanction
        problem(await client.post(f"/v1/gate/agents/{BOB.agent_id}/credentials", headers=key(),
                                  json={"credentials": [credential(ALICE)]}, auth=WebBotAuth(BOB)),
                403, "CREDENTIAL_SUBJECT_MISMATCH")
        renewed = await client.post(f"/v1/gate/agents/{BOB.agent_id}/credentials", headers=key(),
                                    json={"credentials": [credential(BOB, score=0.8)]}, auth=WebBotAuth(BOB))
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["decision"] == "recertified"
        assert renewed.json()["credential_score"] == pytest.approx(0.8)
        assert (await standing(client, BOB)).json()["reasons"] == ["RECERTIFIED"]

    run_gate(tmp_path, body, gate="max_applications = 1")


def test_the_application_is_idempotent_under_its_key(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, live: Live) -> None:
        headers = {"Idempotency-Key": "apply-1"}
        presented = [credential(ALICE)]
        first = await apply(client, ALICE, headers=headers, credentials=presented)
        assert first.status_code == 201, first.text
        # A retry is a new signature (new nonce) over the same body: the stored outcome comes back.
        again = await apply(client, ALICE, headers=headers, credentials=presented)
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert gate_of(live).snapshot()["exam_seq"] == 1  # one exam opened, not two
        reused = await client.post("/v1/gate/applications", headers=headers, auth=WebBotAuth(ALICE),
                                   json={"identity": ALICE.public_jwk(),
                                         "credentials": [credential(ALICE, score=0.8)]})
        problem(reused, 422, "IDEMPOTENCY_KEY_REUSED")
        # Keys are scoped per agent: Bob's "apply-1" is his own application.
        assert (await apply(client, BOB, headers=headers)).status_code == 201

    run_gate(tmp_path, body)


async def _until(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


def test_a_spoofer_is_revoked_appeals_and_is_reinstated_over_http(tmp_path: Path) -> None:
    async def body(client: httpx.AsyncClient, live: Live) -> None:
        await admit(client, ALICE)
        assert (await order(client, ALICE, order_id="touch", side="buy", type="limit", price=100,
                            qty=1)).status_code == 201
        spoof = await order(client, ALICE, order_id="spoof", side="buy", type="limit", price=90, qty=50)
        assert spoof.status_code == 201, spoof.text
        # A large order far from the touch, cancelled at once: surveillance reports it, the gate
        # (on probation) revokes, the market drops the agent and its resting orders.
        cancelled = await client.delete("/v1/market/orders/spoof", auth=WebBotAuth(ALICE), headers=key())
        assert cancelled.status_code == 200, cancelled.text
        view = (await standing(client, ALICE)).json()
        assert (view["status"], view["reasons"], view["strikes"]) == \
            ("revoked", ["PROBATION_VIOLATION"], 1)
        assert view["sanction"]["kind"] == "revocation" and view["sanction"]["appeal"] == "none"
        problem(await order(client, ALICE, order_id="after", side="buy", type="limit", price=99, qty=1),
                403, "NOT_ADMITTED")

        lodged = await client.post(f"/v1/gate/agents/{ALICE.agent_id}/appeals", headers=key(),
                                   auth=WebBotAuth(ALICE))
        assert lodged.status_code == 202, lodged.text
        assert lodged.json()["status"] == "appeal_pending"
        assert lodged.json()["sanction_id"] == view["sanction"]["sanction_id"]

        async def reinstated() -> dict[str, Any] | None:
            current: dict[str, Any] = (await standing(client, ALICE)).json()
            return current if current["status"] == "admitted" else None

        # The review (after appeal_review_delay) voids the weak-evidence strike: reinstated.
        back = await _until(reinstated)
        assert back is not None, "the appeal was not decided"
        assert (back["reasons"], back["strikes"], back["sanction"]) == (["APPEAL_UPHELD"], 0, None)
        problem(await client.post(f"/v1/gate/agents/{ALICE.agent_id}/appeals", headers=key(),
                                  auth=WebBotAuth(ALICE)), 409, "APPEAL_NOT_ALLOWED")
        assert (await order(client, ALICE, order_id="again", side="buy", type="limit", price=99,
                            qty=1)).status_code == 201

    run_gate(tmp_path, body, time_factor=20.0,
             gate="appeal_review_delay = 2.0\nweak_evidence_severity = 0.9",
             market="[mechanisms.value_market.surveillance]\nspoof_min_qty = 10\nspoof_repeat = 1\n"
                    "spoof_max_lifetime = 1000.0")


# -- end to end, on loopback ------------------------------------------------------------------


def _tampered(client: httpx.Client, signed: httpx.Request, **changes: Any) -> httpx.Response:
    """Send a copy of an already signed request with some of its parts changed."""
    headers = httpx.Headers(signed.headers)
    for name, value in changes.pop("headers", {}).items():
        headers[name] = value
    content = changes.pop("content", signed.content)
    headers["content-length"] = str(len(content))
    return client.send(httpx.Request(signed.method, signed.url, headers=headers, content=content))


def _forged(signature: str) -> str:
    """The same ``sig1=:...:`` field with one bit of the Ed25519 signature flipped."""
    label, _, rest = signature.partition("=:")
    raw = bytearray(base64.b64decode(rest.rstrip(":")))
    raw[0] ^= 1
    return f"{label}=:{base64.b64encode(bytes(raw)).decode()}:"


def _signed(client: httpx.Client, signer: WebBotAuth, method: str, path: str, **kwargs: Any) -> httpx.Request:
    request = client.build_request(method, path, **kwargs)
    signer.sign(request)
    return request


def limit(order_id: str, side: str, price: int, qty: int) -> dict[str, Any]:
    return {"order_id": order_id, "side": side, "type": "limit", "price": price, "qty": qty}


def test_agents_only_market_end_to_end_over_loopback(tmp_path: Path, store_url: str) -> None:
    port = free_port()  # signatures are made for the authority the scenario binds
    live = build_live(store_url, write_gate_scenario(tmp_path, authority=f"127.0.0.1:{port}"), tmp_path)
    with serving(live, port) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        alice, bob, carol = WebBotAuth(ALICE), WebBotAuth(BOB), WebBotAuth(CAROL)

        # Alice applies (her JWK in the body is how the server learns her key), answers, trades.
        application = {"identity": ALICE.public_jwk(), "credentials": [credential(ALICE)]}
        applied = client.post("/v1/gate/applications", headers={"Idempotency-Key": "apply"}, auth=alice,
                              json=application)
        assert applied.status_code == 201, applied.text
        retried = client.post("/v1/gate/applications", headers={"Idempotency-Key": "apply"}, auth=alice,
                              json=application)  # a lost response: the same exam, not a second one
        assert retried.json() == applied.json() and retried.headers["idempotent-replayed"] == "true"
        exam = applied.json()
        admitted = client.post(f"/v1/gate/applications/{exam['exam_id']}/answers", headers=key(), auth=alice,
                               json=answer_body(ALICE, exam))
        assert admitted.status_code == 200 and admitted.json()["decision"] == "admitted", admitted.text
        placed = client.post("/v1/market/orders", headers=key(), auth=alice,
                             json=limit("a-1", "buy", 100, 5))
        assert placed.status_code == 201, placed.text
        assert placed.json()["resting"] == 5

        # Bob applied but is still examining: the agents-only market refuses him.
        bobs = client.post("/v1/gate/applications", headers=key(), auth=bob,
                           json={"identity": BOB.public_jwk(), "credentials": [credential(BOB)]})
        assert bobs.status_code == 201, bobs.text
        problem(client.post("/v1/market/orders", headers=key(), auth=bob, json=limit("b-1", "sell", 101, 1)),
                403, "NOT_ADMITTED")
        # Carol never applied: her key is unknown, whatever she asks.
        carols = client.post("/v1/market/orders", headers=key(), auth=carol, json=limit("c-1", "sell", 9, 1))
        problem(carols, 401, "UNKNOWN_KEY")

        # Unsigned, and signed but refused: 401, each refusal with its own reason.
        unsigned = client.post("/v1/market/orders", headers=key(), json=limit("u", "buy", 1, 1))
        problem(unsigned, 401, "UNAUTHENTICATED")
        assert unsigned.headers["www-authenticate"] == "web_bot_auth"
        body = limit("a-2", "buy", 99, 1)
        request = _signed(client, alice, "POST", "/v1/market/orders", json=body, headers=key())
        forged = _forged(request.headers["signature"])
        problem(_tampered(client, request, headers={"signature": forged}), 401, "BAD_SIGNATURE")
        problem(_tampered(client, request, content=request.content.replace(b'"qty":1', b'"qty":9')),
                401, "DIGEST_MISMATCH")
        stale = WebBotAuth(ALICE, clock=lambda: time.time() - 3600)
        problem(client.post("/v1/market/orders", headers=key(), auth=stale, json=body), 401, "EXPIRED")
        assert client.send(request).status_code == 201  # the genuine request still goes through once
        problem(client.send(request), 401, "REPLAYED_NONCE")

        # Bob, admitted too, cannot cancel Alice's order: his "a-1" names nothing (ids are per
        # participant), and the same id names his own order once he places one.
        exam = bobs.json()
        assert client.post(f"/v1/gate/applications/{exam['exam_id']}/answers", headers=key(), auth=bob,
                           json=answer_body(BOB, exam)).status_code == 200
        problem(client.delete("/v1/market/orders/a-1", auth=bob, headers=key()), 404, "UNKNOWN_ORDER")
        assert client.post("/v1/market/orders", headers=key(), auth=bob,
                           json=limit("a-1", "sell", 101, 2)).status_code == 201
        book = client.get("/v1/market/book", auth=bob).json()
        assert (book["bids"][0], book["asks"][0]) == ({"price": 100, "qty": 5, "orders": 1},
                                                      {"price": 101, "qty": 2, "orders": 1})
        # ...nor read her standing, while she reads her own.
        problem(client.get(f"/v1/gate/agents/{ALICE.agent_id}", auth=bob), 404, "UNKNOWN_AGENT")
        mine = client.get(f"/v1/gate/agents/{ALICE.agent_id}", auth=alice)
        assert mine.status_code == 200 and mine.json()["status"] == "admitted"
        cancelled = client.delete("/v1/market/orders/a-1", auth=alice, headers=key())
        assert cancelled.json() == {"order_id": "a-1", "cancelled": 5}


# -- fuzzing the gate routes ----------------------------------------------------------------------


@pytest.mark.slow
def test_fuzzing_the_gate_routes_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    # Schemathesis cannot sign requests, and the routes only need an agent id as the caller: a
    # bearer token standing for Alice, who is admitted first, lets it reach every gate action.
    # The body limit is raised so that oversized fuzz reaches validation instead of a 413.
    scenario = write_gate_scenario(
        tmp_path, auth=f'[live.auth.bearer_token]\ntokens = {{ "tok-alice" = "{ALICE.agent_id}" }}\n'
                       '[live.auth.web_bot_auth]\nauthority = "live.test"',
        limits="[live.limits]\nrate_per_second = 100000.0\nburst = 100000\nmax_body_bytes = 1000000")
    scenario.write_text(scenario.read_text().replace('authenticators = ["web_bot_auth"]',
                                                     'authenticators = ["bearer_token", "web_bot_auth"]'))
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", scenario, tmp_path)
    bearer = {"Authorization": "Bearer tok-alice"}
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=10, headers=bearer) as client:
        exam = client.post("/v1/gate/applications", headers=key(),
                           json={"identity": ALICE.public_jwk(), "credentials": [credential(ALICE)]}).json()
        assert client.post(f"/v1/gate/applications/{exam['exam_id']}/answers", headers=key(),
                           json=answer_body(ALICE, exam)).status_code == 200
        fuzz_api(server.url, "tok-alice", tmp_path / "st", paths="^/v1/gate", examples=15)


def test_a_gate_trusting_simulated_evaluators_is_refused_before_serving(tmp_path: Path) -> None:
    from flagship.mechanisms import ScenarioError
    from flagship.sandbox._live import load_live_scenario

    path = tmp_path / "unsafe.toml"
    path.write_text(write_gate_scenario(tmp_path).read_text().replace(
        "trusted_evaluators = []", 'trusted_evaluators = ["eval-a"]'))
    with pytest.raises(ScenarioError) as refused:
        load_live_scenario(path)
    assert [p.path for p in refused.value.problems] == ["mechanisms.agent_gate.trusted_evaluators"]
    assert "trusted_evaluator_jwks" in refused.value.problems[0].message
    load_live_scenario(write_gate_scenario(tmp_path))  # the live tests' gate trusts a JWK only: served
