"""Agent identity, competence credentials and signed HTTP requests (the crypto layer).

* Identity: an Ed25519 key; the agent id is its RFC 7638 JWK thumbprint
  (:class:`AgentIdentity`, :class:`PublicIdentity`, :func:`jwk_thumbprint`,
  :func:`public_key_from_jwk`).
* Competence credentials: an evaluator's EdDSA-signed JWT saying "agent K scored
  S on battery B, valid until T" (:class:`Evaluator`, :class:`CredentialVerifier`).
* Requests: RFC 9421 HTTP Message Signatures in the Web Bot Auth profile
  (:class:`WebBotAuth` for httpx clients, :class:`RequestVerifier` for servers, and
  :class:`WebBotAuthenticator`, the live server's ``web_bot_auth`` authenticator).

* The gate: the ``agent_gate`` mechanism (:class:`AgentGate`, policy :class:`GateConfig`)
  admits agents by credentials and a normative exam (:mod:`flagship.agents._exam`), monitors
  them through ``ViolationObserved`` events and hears appeals; live, at ``/v1/gate``. Its
  parts: the admission actions (``_admissions``), identity and credential checks
  (``_screening``), the exam (``_examiner``), sanctions (``_sanctions``), appeals
  (``_appeals``), regulator raises (``_thresholds``), measures (``_tally``); reason codes
  and their HTTP statuses in ``_reasons``.
* Simulated agent populations: ``honest_agents``, ``incompetent_agents``,
  ``deceptive_agents``, ``sybil_agents``, ``forger_agents``, ``replayer_agents``.

Verifiers never raise for bad input from the other side: they return a verified
value or a rejection whose ``reason`` is a member of a closed StrEnum.
Importing this package registers the gate and the populations.
"""

from flagship.agents._config import GateConfig, simulated_evaluator, simulated_evaluator_identity
from flagship.agents._credentials import (
    CREDENTIAL_TYPE,
    CompetenceCredential,
    CredentialRejected,
    CredentialRejectReason,
    CredentialVerifier,
    Evaluator,
)
from flagship.agents._exam import (
    SCENARIOS,
    ExamOption,
    ExamScenario,
    Question,
    choose_answers,
    draw_exam,
    grade,
)
from flagship.agents._examiner import EXAM_SIGNATURE_DOMAIN, exam_signing_input
from flagship.agents._identity import AgentIdentity, PublicIdentity, jwk_thumbprint, public_key_from_jwk
from flagship.agents._live_auth import WebBotAuthenticator
from flagship.agents._mechanism import AgentGate
from flagship.agents._operator_tokens import OperatorTokens
from flagship.agents._populations import (
    AgentParams,
    DeceptiveAgents,
    DeceptiveParams,
    ForgerAgents,
    ForgerParams,
    HonestAgents,
    IncompetentAgents,
    ReplayerAgents,
    ReplayerParams,
    SybilAgents,
    SybilParams,
)
from flagship.agents._reasons import DecisionReason, GateReason
from flagship.agents._records import AgentStatus
from flagship.agents._signatures import (
    COVERED_COMPONENTS,
    WEB_BOT_AUTH_TAG,
    AgentKeyResolver,
    AgentRegistry,
    RequestRejected,
    RequestRejectReason,
    RequestVerifier,
    VerifiedRequest,
)
from flagship.agents._signer import WebBotAuth

__all__ = [
    "COVERED_COMPONENTS",
    "CREDENTIAL_TYPE",
    "EXAM_SIGNATURE_DOMAIN",
    "SCENARIOS",
    "WEB_BOT_AUTH_TAG",
    "AgentGate",
    "AgentIdentity",
    "AgentKeyResolver",
    "AgentParams",
    "AgentRegistry",
    "AgentStatus",
    "CompetenceCredential",
    "CredentialRejectReason",
    "CredentialRejected",
    "CredentialVerifier",
    "DeceptiveAgents",
    "DeceptiveParams",
    "DecisionReason",
    "Evaluator",
    "ExamOption",
    "ExamScenario",
    "ForgerAgents",
    "ForgerParams",
    "GateConfig",
    "GateReason",
    "HonestAgents",
    "IncompetentAgents",
    "OperatorTokens",
    "PublicIdentity",
    "Question",
    "ReplayerAgents",
    "ReplayerParams",
    "RequestRejectReason",
    "RequestRejected",
    "RequestVerifier",
    "SybilAgents",
    "SybilParams",
    "VerifiedRequest",
    "WebBotAuth",
    "WebBotAuthenticator",
    "choose_answers",
    "draw_exam",
    "exam_signing_input",
    "grade",
    "jwk_thumbprint",
    "public_key_from_jwk",
    "simulated_evaluator",
    "simulated_evaluator_identity",
]
