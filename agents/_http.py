"""Live-pilot HTTP routes of the ``agent_gate`` mechanism (``AgentGate.http``).

Routes (fixed paths under ``/v1/gate``; see ``docs/agents.md`` "Live routes"):

* ``POST /v1/gate/applications``: apply with your public JWK and credentials; 201 with the
  exam (``exam_id``, ``challenge``, ``questions``, ``answer_by``) and the gate's name, which
  the signed answer binds.
* ``POST /v1/gate/applications/{exam_id}/answers``: answer your open exam, signed with your
  key (``exam_signing_input``); 200 when admitted (with the operator token of the agent's
  page, :mod:`flagship.agents._operator_tokens`), 403 ``EXAM_FAILED`` when refused.
* ``POST /v1/gate/agents/{agent_id}/credentials``: recertify with fresh credentials; 200.
* ``POST /v1/gate/agents/{agent_id}/appeals``: appeal the sanction in force; 202 (the review
  completes later: read your status).
* ``GET /v1/gate/agents/{agent_id}``: your own standing (status, reasons, strikes, dates).

Every route acts for the authenticated caller only. Its agent id (with ``web_bot_auth``, the
signature's ``keyid``, i.e. its key's thumbprint) is the action's actor, so the gate itself
binds an application to the signer (``IDENTITY_MISMATCH`` otherwise) and an answer to the
signer's own open exam. A path naming another agent is refused before anything is submitted:
403 ``NOT_YOURS`` for actions, and 404 ``UNKNOWN_AGENT`` for reads, the same answer as for an
id the gate does not know, so that nobody learns from the gate whether another agent applied
or was sanctioned.

Rejections are problem+json carrying the gate's reason code, with the status the gate declares
(``AgentGate.reason_status``, :data:`flagship.agents._reasons.REASON_STATUS`): 422 for a malformed
request, 403 for a refusal on the merits (credentials, identity, proof of possession, a failed
exam), 404 for an exam that is not your open one, 409 for a state conflict (``ALREADY_ADMITTED``,
``EXAM_PENDING``, ``APPEAL_PENDING``...), 429 for the gate's own per-identity application limit
(``RATE_LIMITED``, counted in sim time over ``application_window``, hence no ``Retry-After``).
Handlers ``await gateway.act(...)``, which raises :class:`~flagship.mechanisms.ActionRejected` for a
rejected action; the server answers it.

FastAPI is imported inside the factory, so the gate imports where it is not installed. No
``from __future__ import annotations``: FastAPI reads the handlers' annotations at runtime.
This module does not import the gate's class (the gate imports it for ``AgentGate.http``): the
standing route reads the gate through :class:`_StandingReader`, the one query it needs.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field

from flagship.agents._config import MAX_CREDENTIALS
from flagship.agents._operator_tokens import SECRET_PURPOSE, issue_operator_token, operator_sha256
from flagship.agents._reasons import REASON_STATUS, DecisionReason
from flagship.mechanisms import ActionRejected, Gateway, Principal, RoutesFactory

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["AGENT_ID_PATTERN", "GATE_STATUS", "routes"]

AGENT_ID_PATTERN = r"^[A-Za-z0-9_-]{43}$"
"""An agent id: the base64url SHA-256 thumbprint of its key (RFC 7638), 43 characters."""
EXAM_ID_PATTERN = r"^[A-Za-z0-9._~-]{1,64}$"
# Half the credential verifier's bound (honest credentials have ~400 characters), so that the
# largest valid application fits the server's default 64 KiB body limit.
_MAX_TOKEN = 4096
_MAX_QUESTIONS = 20  # GateConfig.exam_questions' bound

AgentId = Annotated[str, Field(pattern=AGENT_ID_PATTERN, description="an agent id (JWK thumbprint)")]
Credentials = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=_MAX_TOKEN)]],
    Field(min_length=1, max_length=MAX_CREDENTIALS,
          description="competence credentials (compact EdDSA JWTs from trusted evaluators)")]

GATE_STATUS: Mapping[str, int] = REASON_STATUS
"""HTTP status of each gate code: the gate's ``reason_status``, under the name the routes had for it."""


class _StandingReader(Protocol):
    """What the standing route reads from the gate (``AgentGate.standing``)."""

    def standing(self, actor: str) -> dict[str, Any] | None: ...


# -- request and response bodies ---------------------------------------------------------------


class ApplicationRequest(BaseModel):
    """An application: who you are (your public key) and what vouches for you."""

    model_config = ConfigDict(extra="forbid", strict=True)

    identity: dict[Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=512)]] = Field(
        max_length=16, description='your Ed25519 public JWK {"kty": "OKP", "crv": "Ed25519", "x": ...}; '
                                   "its thumbprint must be the agent id that signs the request")
    credentials: Credentials


class AnswerRequest(BaseModel):
    """One option per question, signed with your key over ``exam_signing_input(...)``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    answers: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=128)]] = Field(
        min_length=1, max_length=_MAX_QUESTIONS, description="question_id -> option id")
    signature: str = Field(min_length=1, max_length=128,
                           description="base64url Ed25519 signature of exam_signing_input(gate, exam_id, "
                                       "challenge, answers)")


class CredentialsRequest(BaseModel):
    """Fresh credentials, to extend an admission before ``admitted_until``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    credentials: Credentials


class QuestionView(BaseModel):
    question_id: str
    scenario: str
    variant: int
    norm: str = Field(description="the marketplace's declared norm")
    prompt: str
    options: list[str] = Field(description="option ids; answer with one of them")


class Application(BaseModel):
    agent_id: str
    gate: str = Field(description="the gate's name, bound by the signed answer")
    status: Literal["examining"]
    reasons: list[str]
    exam_id: str
    challenge: str = Field(description="bound by the signed answer")
    answer_by: float = Field(description="sim time by which the answers must arrive")
    credential_score: float
    questions: list[QuestionView]


class Decision(BaseModel):
    agent_id: str
    exam_id: str
    decision: Literal["admitted"]
    reasons: list[str]
    exam_score: float
    exam_threshold: float
    probation_until: float = Field(description="sim time; a strike before it revokes at once")
    admitted_until: float = Field(description="sim time; recertify before it")
    operator_token: str = Field(description="your operator's sign-in token for the gate's agent page "
                                            "(/pages/gate/sign-in?token=...); keep it secret")


class Recertified(BaseModel):
    agent_id: str
    decision: Literal["recertified"]
    reasons: list[str]
    credential_score: float
    admitted_until: float


class AppealLodged(BaseModel):
    agent_id: str
    status: Literal["appeal_pending"]
    sanction_id: int
    review_at: float = Field(description="sim time of the decision; read your status then")


class ExamView(BaseModel):
    exam_id: str
    challenge: str
    answer_by: float
    questions: list[QuestionView]


class SanctionView(BaseModel):
    sanction_id: int
    kind: Literal["suspension", "revocation"]
    reason: str
    at: float
    until: float | None = Field(description="end of a suspension; None for a revocation")
    appeal: Literal["none", "pending", "upheld", "denied"]
    appeal_by: float = Field(description="sim time the appeal window closes")


class Standing(BaseModel):
    agent_id: str
    status: Literal["examining", "refused", "admitted", "suspended", "revoked", "lapsed"]
    reasons: list[str] = Field(description="DecisionReason codes explaining the status")
    on_probation: bool
    admitted_at: float | None
    probation_until: float | None
    admitted_until: float | None
    strikes: int = Field(description="violations on record")
    exam: ExamView | None = Field(description="the open exam, while examining")
    sanction: SanctionView | None = Field(description="the sanction in force, if any")
    time: float = Field(description="the trial's sim time")


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "refused on the merits (credentials, identity, proof, EXAM_FAILED) or "
                         "NOT_YOURS: the path names another agent"},
    404: {"description": "NO_EXAM / EXAM_MISMATCH: no such open exam of yours; UNKNOWN_AGENT"},
    409: {"description": "your state does not allow it now (ALREADY_ADMITTED, EXAM_PENDING, ...)"},
    422: {"description": "a malformed request (each field named) or payload"},
    429: {"description": "RATE_LIMITED: the gate's application limit per identity"},
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: _PROBLEMS[status] for status in statuses}


def _routes(name: str, gateway: Gateway) -> "APIRouter":
    """The gate's routes for mechanism ``name`` of a live trial (see the module docstring)."""
    from fastapi import APIRouter, Depends, Path  # noqa: PLC0415 - the server's deps

    router = APIRouter(prefix="/v1/gate", tags=["gate"])
    Caller = Annotated[Principal, Depends(gateway.principal)]  # noqa: N806 - a type alias

    def unknown() -> ActionRejected:
        # One answer for "not yours" and "not known": it must not tell the two apart.
        return ActionRejected("UNKNOWN_AGENT", "no agent with this id that you may see", status=404)

    def own(principal: Principal, agent_id: str) -> str:
        """The caller's agent id, if the path names it (403 ``NOT_YOURS`` otherwise)."""
        if agent_id != principal.actor:
            raise ActionRejected("NOT_YOURS", "you may act only for yourself (the signing agent)", status=403)
        return principal.actor

    @router.post("/applications", status_code=201, response_model=Application, summary="Apply",
                 responses=_problems(403, 409, 422, 429))
    async def apply(body: ApplicationRequest, principal: Caller) -> Application:
        """Present your key and credentials; an accepted application opens an exam.

        Sign the request with the key of ``identity``: its thumbprint is your agent id.
        """
        actor = principal.actor
        outcome = await gateway.act(name, "apply", body.model_dump(), actor=actor)
        effects = outcome.effects
        return Application(agent_id=actor, gate=name, status="examining", reasons=list(effects["reasons"]),
                           exam_id=effects["exam_id"], challenge=effects["challenge"],
                           answer_by=effects["answer_by"], credential_score=effects["credential_score"],
                           questions=[QuestionView(**q) for q in effects["questions"]])

    @router.post("/applications/{exam_id}/answers", response_model=Decision, summary="Answer your exam",
                 responses=_problems(403, 404, 409, 422))
    async def answer(body: AnswerRequest, principal: Caller,
                     exam_id: Annotated[str, Path(pattern=EXAM_ID_PATTERN)]) -> Decision:
        """Grading closes the exam either way: a failed exam is 403 ``EXAM_FAILED`` (apply again)."""
        actor = principal.actor
        # Derived, not random: a retried answer hands out the same token; the log holds its hash only.
        token = issue_operator_token(gateway.secret(SECRET_PURPOSE), actor)
        payload = {"exam_id": exam_id, **body.model_dump(), "operator_sha256": operator_sha256(token)}
        outcome = await gateway.act(name, "answer", payload, actor=actor)
        effects = outcome.effects
        if effects.get("decision") != "admitted":
            # Accepted (grading consumed the exam), yet a refusal for the caller.
            reason = str((effects.get("reasons") or [DecisionReason.EXAM_FAILED])[0])
            detail = (f"exam score {float(effects['exam_score']):.3f} is below the threshold "
                      f"{float(effects['exam_threshold']):.3f}; you may apply again")
            raise ActionRejected(reason, detail, status=REASON_STATUS.get(reason, 403))
        return Decision(agent_id=actor, exam_id=exam_id, decision="admitted",
                        reasons=list(effects["reasons"]), exam_score=effects["exam_score"],
                        exam_threshold=effects["exam_threshold"],
                        probation_until=effects["probation_until"], admitted_until=effects["admitted_until"],
                        operator_token=token)

    @router.post("/agents/{agent_id}/credentials", response_model=Recertified, summary="Recertify",
                 responses=_problems(403, 409, 422))
    async def recertify(body: CredentialsRequest, principal: Caller,
                        agent_id: Annotated[str, Path(pattern=AGENT_ID_PATTERN)]) -> Recertified:
        """Fresh credentials extend your admission by the gate's ``recertify_interval``."""
        actor = own(principal, agent_id)
        outcome = await gateway.act(name, "recertify", body.model_dump(), actor=actor)
        effects = outcome.effects
        return Recertified(agent_id=actor, decision="recertified", reasons=list(effects["reasons"]),
                           credential_score=effects["credential_score"],
                           admitted_until=effects["admitted_until"])

    @router.post("/agents/{agent_id}/appeals", status_code=202, response_model=AppealLodged,
                 summary="Appeal your sanction", responses=_problems(403, 409, 422))
    async def appeal(principal: Caller,
                     agent_id: Annotated[str, Path(pattern=AGENT_ID_PATTERN)]) -> AppealLodged:
        """One appeal per sanction, within its window; the review decides ``review_at``. No body."""
        actor = own(principal, agent_id)
        outcome = await gateway.act(name, "appeal", {}, actor=actor)
        effects = outcome.effects
        return AppealLodged(agent_id=actor, status="appeal_pending", sanction_id=effects["sanction_id"],
                            review_at=effects["review_at"])

    @router.get("/agents/{agent_id}", response_model=Standing, summary="Your standing at the gate",
                responses=_problems(404, 422))
    async def standing(principal: Caller,
                       agent_id: Annotated[str, Path(pattern=AGENT_ID_PATTERN)]) -> Standing:
        """Only to the agent itself: for anyone else the answer is 404, as for an unknown agent."""
        actor = principal.actor
        if agent_id != actor:
            raise unknown()
        gate = cast(_StandingReader, gateway.mechanism(name))
        view = gate.standing(actor)
        if view is None:
            raise unknown()
        return Standing(agent_id=actor, time=gateway.now, **view)

    return router


routes: RoutesFactory = _routes
"""``AgentGate.http``: typed as the factory protocol, so a class attribute does not bind it."""
