"""Agent identity, competence credentials and signed HTTP requests (the crypto layer).

* Identity: an Ed25519 key; the agent id is its RFC 7638 JWK thumbprint
  (:class:`AgentIdentity`, :class:`PublicIdentity`, :func:`jwk_thumbprint`,
  :func:`public_key_from_jwk`).
* Competence credentials: an evaluator's EdDSA-signed JWT saying "agent K scored
  S on battery B, valid until T" (:class:`Evaluator`, :class:`CredentialVerifier`).
* Requests: RFC 9421 HTTP Message Signatures in the Web Bot Auth profile
  (:class:`WebBotAuth` for httpx clients, :class:`RequestVerifier` for servers).

Verifiers never raise for bad input from the other side: they return a verified
value or a rejection whose ``reason`` is a member of a closed StrEnum.
"""

from agents._credentials import (
    CREDENTIAL_TYPE,
    CompetenceCredential,
    CredentialRejected,
    CredentialRejectReason,
    CredentialVerifier,
    Evaluator,
)
from agents._identity import AgentIdentity, PublicIdentity, jwk_thumbprint, public_key_from_jwk
from agents._signatures import (
    COVERED_COMPONENTS,
    WEB_BOT_AUTH_TAG,
    AgentKeyResolver,
    AgentRegistry,
    RequestRejected,
    RequestRejectReason,
    RequestVerifier,
    VerifiedRequest,
    WebBotAuth,
)

__all__ = [
    "COVERED_COMPONENTS",
    "CREDENTIAL_TYPE",
    "WEB_BOT_AUTH_TAG",
    "AgentIdentity",
    "AgentKeyResolver",
    "AgentRegistry",
    "CompetenceCredential",
    "CredentialRejectReason",
    "CredentialRejected",
    "CredentialVerifier",
    "Evaluator",
    "PublicIdentity",
    "RequestRejectReason",
    "RequestRejected",
    "RequestVerifier",
    "VerifiedRequest",
    "WebBotAuth",
    "jwk_thumbprint",
    "public_key_from_jwk",
]
