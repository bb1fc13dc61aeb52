"""Per-agent operator tokens: how the person running an AI agent signs in to its gate page.

An agent signs its own requests (Web Bot Auth); its operator, a person with a browser, cannot.
So the gate's admission answer (``POST /v1/gate/applications/{exam_id}/answers``, when admitted)
carries an **operator token** for the agent: ``op.<agent id>.<base64url(HMAC-SHA256(secret,
agent id))>``, the secret being ``gateway.secret("agent_operator_token")`` (derived from the
trial's private key, never stored, stable across restarts, so a retried answer hands out the
same token). Only the token's SHA-256 goes into the ``answer`` action (``operator_sha256``),
so the trial log and the gate's state hold the hash and never the token.

The ``agent_operator_token`` authenticator (``[live.auth.agent_operator_token]``, option
``gate``, default ``"agent_gate"``) takes ``Authorization: Bearer op.…`` (the pages' session
cookie becomes that header): the MAC is checked first (a forged token is refused without
touching state), then the token's SHA-256 must be the one the gate holds for that agent. The
caller is ``operator:<agent id>``, never the agent itself: every route that acts for an agent
(orders, applications, recertification) sees an actor the gate never admitted, so the token
can read the agent's standing and appeal for it on its page (:mod:`flagship.agents._pages`),
nothing more. Bearer tokens of another shape are left to the scenario's other authenticators.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from flagship.mechanisms import AuthError, ContractError, Gateway, InputError, Principal, Problem

__all__ = ["OPERATOR_PREFIX", "SCHEME", "SECRET_PURPOSE", "OperatorTokens", "agent_of_operator",
           "issue_operator_token", "operator_sha256"]

SCHEME = "agent_operator_token"
SECRET_PURPOSE = "agent_operator_token"
"""The purpose string of ``gateway.secret``: the key of every operator token's MAC."""
OPERATOR_PREFIX = "operator:"
_TOKEN = re.compile(r"op\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})")
_OPTIONS = frozenset({"gate"})


def _mac(secret: bytes, agent_id: str) -> str:
    digest = hmac.new(secret, agent_id.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issue_operator_token(secret: bytes, agent_id: str) -> str:
    """The operator token of ``agent_id``: the same for the same trial secret (a retry re-issues it)."""
    return f"op.{agent_id}.{_mac(secret, agent_id)}"


def operator_sha256(token: str) -> str:
    """What is stored of a token: its SHA-256, lowercase hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def agent_of_operator(principal: Principal) -> str | None:
    """The agent id an operator-token caller runs; None for any other caller."""
    if principal.scheme != SCHEME or not principal.actor.startswith(OPERATOR_PREFIX):
        return None
    return principal.actor[len(OPERATOR_PREFIX):]


class OperatorTokens:
    """The ``agent_operator_token`` authenticator: ``Authorization: Bearer op.<agent id>.<mac>``.

    Built by the server as ``OperatorTokens(gateway, options)`` from the scenario's
    ``[live.auth.agent_operator_token]`` table (may be empty): ``gate``, the agent gate's name.
    """

    scheme = SCHEME
    security_scheme: Mapping[str, Any] = {
        "type": "http", "scheme": "bearer",
        "description": "an agent's operator token, issued with its admission (operator pages only)",
    }

    def __init__(self, gateway: Gateway, options: Mapping[str, Any]) -> None:
        if not isinstance(options, Mapping):
            raise InputError([Problem("", "expected a table of options")])
        unknown = sorted(set(map(str, options)) - _OPTIONS)
        if unknown:
            raise InputError([Problem(key, f"unknown option; known: {', '.join(sorted(_OPTIONS))}")
                              for key in unknown])
        gate = options.get("gate", "agent_gate")
        if not isinstance(gate, str) or not gate:
            raise InputError([Problem("gate", "expected the name of the scenario's agent_gate mechanism")])
        self._gateway = gateway
        self._gate = gate
        self._secret: bytes | None = None

    def _key(self) -> bytes:
        # Asked for on first use: the trial (and so its key) may not be open when this is built.
        if self._secret is None:
            self._secret = self._gateway.secret(SECRET_PURPOSE)
        return self._secret

    def _held_digest(self, agent_id: str) -> str | None:
        gate: Any = self._gateway.mechanism(self._gate)
        lookup = getattr(gate, "operator_digest", None)
        if not callable(lookup):
            raise ContractError(f"live.auth.{SCHEME}.gate: {self._gate!r} is not an agent_gate mechanism")
        found = lookup(agent_id)
        return found if isinstance(found, str) else None

    async def authenticate(self, request: Any, body: bytes) -> Principal | None:
        """The operator of an admitted agent; ``None`` when the bearer token is not an operator's."""
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, credentials = header.partition(" ")
        token = credentials.strip()
        matched = _TOKEN.fullmatch(token)
        if scheme.lower() != "bearer" or matched is None:
            return None  # another scheme or shape: another authenticator's business
        agent_id, mac = matched.groups()
        if not hmac.compare_digest(mac, _mac(self._key(), agent_id)):
            raise AuthError("INVALID_TOKEN", "this operator token was not issued by this trial")
        held = self._held_digest(agent_id)
        if held is None or not hmac.compare_digest(held, operator_sha256(token)):
            raise AuthError("INVALID_TOKEN", "no admitted agent holds this operator token")
        return Principal(f"{OPERATOR_PREFIX}{agent_id}", SCHEME)
