"""Helpers of the gate's live tests: a gate + agents-only market scenario and signing agents.

Everything is real: agents are Ed25519 keys, credentials are EdDSA JWTs from an evaluator the
scenario trusts by its public JWK (as a live gate must), requests are signed with WebBotAuth.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from flagship.agents import SCENARIOS, AgentIdentity, Evaluator, WebBotAuth, exam_signing_input
from tests.live._support import Live, build_live

BASE_URL = "http://live.test"
EVALUATOR = Evaluator(AgentIdentity.from_seed(hashlib.sha256(b"live-test-evaluator").digest()))
UNTRUSTED = Evaluator(AgentIdentity.from_seed(hashlib.sha256(b"live-test-untrusted").digest()))
BATTERY = "agent-competence-v1"


def agent(name: str) -> AgentIdentity:
    """A deterministic agent key (tests must not depend on randomness to be reproducible)."""
    return AgentIdentity.from_seed(hashlib.sha256(f"live-test-agent-{name}".encode()).digest())


def credential(subject: AgentIdentity, *, score: float = 0.9, evaluator: Evaluator = EVALUATOR,
               valid_until: float = 1e7) -> str:
    """A competence credential about ``subject`` (sim-time validity: the gate judges in sim time)."""
    return evaluator.issue(subject.agent_id, BATTERY, score, issued_at=0, valid_until=valid_until)


def write_gate_scenario(directory: Path, *, gate: str = "", market: str = "", auth: str | None = None,
                        time_factor: float = 1.0, limits: str = "", authority: str = "live.test",
                        authenticators: tuple[str, ...] = ("web_bot_auth",)) -> Path:
    """agent_gate (trusting EVALUATOR's JWK only) + an agents-only value_market, web_bot_auth.

    Signatures must be made for ``authority`` (``BASE_URL``'s, or ``127.0.0.1:PORT`` of a real
    server); ``auth`` replaces the whole ``[live.auth...]`` part.
    """
    if auth is None:
        auth = f'[live.auth.web_bot_auth]\nauthority = "{authority}"'
    jwk = EVALUATOR.public.jwk()
    path = directory / "gate.toml"
    path.write_text(f"""
name = "gate_live"
seed = 3
duration = 1e7

[mechanisms.agent_gate]
trusted_evaluators = []
trusted_evaluator_jwks = [{{ kty = "{jwk['kty']}", crv = "{jwk['crv']}", x = "{jwk['x']}" }}]
exam_questions = 4
{gate}

[mechanisms.value_market]
admission = "agents_only"
{market}

[live]
authenticators = [{", ".join(f'"{a}"' for a in authenticators)}]
time_factor = {time_factor}
{auth}
{limits}
""")
    return path


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def best_answers(questions: list[dict[str, Any]], *, honest: bool = True) -> dict[str, str]:
    """What the declared norms ask (``honest``), or the tempting breach of each question."""
    chosen: dict[str, str] = {}
    for question in questions:
        options = SCENARIOS[question["scenario"]].options
        pick = max(options, key=lambda o: o.points) if honest else next(o for o in options if o.tempting)
        chosen[question["question_id"]] = pick.option_id
    return chosen


def answer_body(signer: AgentIdentity, application: dict[str, Any], *, honest: bool = True) -> dict[str, Any]:
    """Answers to an application's exam, signed by ``signer`` over the gate's signing input."""
    answers = best_answers(application["questions"], honest=honest)
    message = exam_signing_input(application["gate"], application["exam_id"], application["challenge"],
                                 answers)
    signature = base64.urlsafe_b64encode(signer.sign(message)).rstrip(b"=").decode()
    return {"answers": answers, "signature": signature}


def application_body(who: AgentIdentity, *, identity: AgentIdentity | None = None,
                     credentials: list[str] | None = None) -> dict[str, Any]:
    return {"identity": (identity or who).public_jwk(),
            "credentials": credentials if credentials is not None else [credential(who)]}


async def apply(client: httpx.AsyncClient, who: AgentIdentity, **fields: Any) -> httpx.Response:
    headers = fields.pop("headers", None) or key()
    return await client.post("/v1/gate/applications", json=application_body(who, **fields),
                             headers=headers, auth=WebBotAuth(who))


async def answer(client: httpx.AsyncClient, who: AgentIdentity, application: dict[str, Any], *,
                 honest: bool = True, signer: AgentIdentity | None = None,
                 exam_id: str | None = None) -> httpx.Response:
    return await client.post(f"/v1/gate/applications/{exam_id or application['exam_id']}/answers",
                             json=answer_body(signer or who, application, honest=honest), headers=key(),
                             auth=WebBotAuth(who))


async def admit(client: httpx.AsyncClient, who: AgentIdentity) -> dict[str, Any]:
    """Apply and pass the exam; the admission decision."""
    applied = await apply(client, who)
    assert applied.status_code == 201, applied.text
    decided = await answer(client, who, applied.json())
    assert decided.status_code == 200, decided.text
    result: dict[str, Any] = decided.json()
    return result


async def standing(client: httpx.AsyncClient, who: AgentIdentity, agent_id: str | None = None
                   ) -> httpx.Response:
    return await client.get(f"/v1/gate/agents/{agent_id or who.agent_id}", auth=WebBotAuth(who))


async def order(client: httpx.AsyncClient, who: AgentIdentity, **fields: Any) -> httpx.Response:
    return await client.post("/v1/market/orders", json=fields, headers=key(), auth=WebBotAuth(who))




@contextlib.asynccontextmanager
async def asgi_client(live: Live, transport: httpx.AsyncBaseTransport | None = None
                      ) -> AsyncIterator[httpx.AsyncClient]:
    async with live.app.router.lifespan_context(live.app), httpx.AsyncClient(
            transport=transport or httpx.ASGITransport(app=live.app), base_url=BASE_URL) as client:
        yield client


def run_gate(tmp_path: Path, body: Callable[[httpx.AsyncClient, Live], Awaitable[None]], *,
             scenario: Path | None = None, **scenario_options: Any) -> Live:
    """Serve the gate scenario in-process (ASGI) on SQLite and run ``body`` against it."""
    path = scenario or write_gate_scenario(tmp_path, **scenario_options)
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", path, tmp_path)

    async def main() -> None:
        async with asgi_client(live) as client:
            await body(client, live)

    try:
        asyncio.run(main())
    finally:
        live.store.close()
    return live
