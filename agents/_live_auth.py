"""The ``web_bot_auth`` authenticator of live pilots: agents sign every request (RFC 9421).

Entry point ``web_bot_auth`` of the group ``flagship.authenticators``; the live server
calls ``WebBotAuthenticator(gateway, options)`` with the scenario's
``[live.auth.web_bot_auth]`` table. Each request is checked by :class:`RequestVerifier`
(the Web Bot Auth profile: tag, coverage of ``@method``, ``@authority``, ``@path``,
``@query`` when there is a query, and ``content-digest``, nonce, time window, replay
cache), and its refusal codes become
:class:`~flagship.mechanisms.AuthError` reasons unchanged, so a client can tell an expired
signature from a replayed one or a tampered body. The caller is the signature's
``keyid``: the RFC 7638 thumbprint of the signing key, i.e. the agent id.

Which key verifies a ``keyid``? The key is self-certifying (its thumbprint *is* the
id), so any source of it is as good as another; two are used:

* the gate's: every agent whose application the gate accepted (``gate`` option), read
  from the live mechanism per request, so admissions need no restart;
* the request's own body, for a first application: a top-level ``identity`` member that
  is an Ed25519 public JWK whose thumbprint equals the ``keyid``. The signature then
  proves possession of that very key, and the Content-Digest binds the body to it.

Reading the gate from the middleware may see a batch applied but not yet committed;
that is harmless here, since a key only ever resolves its own thumbprint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from flagship.agents._identity import PublicIdentity
from flagship.agents._mechanism import AgentGate
from flagship.agents._records import AgentStatus
from flagship.agents._signatures import RequestRejected, RequestVerifier
from flagship.mechanisms import (
    AuthError,
    ContractError,
    Gateway,
    InputError,
    Principal,
    Problem,
    UnknownNameError,
)

__all__ = ["WebBotAuthenticator"]

_OPTIONS = ("gate", "max_age", "clock_skew", "authority")
_MAX_AUTHORITY = 255  # a DNS name, an optional port

def _identity_in(body: bytes) -> PublicIdentity | None:
    """The public identity a JSON body presents as ``identity``, or None if there is none."""
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    jwk = parsed.get("identity") if isinstance(parsed, dict) else None
    if not isinstance(jwk, Mapping):
        return None
    try:
        return PublicIdentity.from_jwk(jwk, field="identity")  # refuses a private JWK
    except InputError:
        return None


def signed_operator(fields: Mapping[str, str]) -> str | None:
    """The origin a verified signature's ``Signature-Agent`` names, when the signature covers it.

    Web Bot Auth's ``Signature-Agent`` (a structured-field string, or a dictionary of them)
    points at the operator's key directory; its origin (scheme, host, port; lower case) is the
    operator. Only a covered header counts, so nobody else can spend an operator's budget by
    sending its name; an absent, uncovered or unparsable one names no operator.
    """
    value = fields.get("signature-agent")
    if value is None or '"signature-agent"' not in fields.get("signature-input", ""):
        return None
    first = value.split(",", 1)[0].strip()
    first = first.split("=", 1)[1].strip() if not first.startswith('"') and "=" in first else first
    url = urlsplit(first.strip('"'))
    if url.scheme not in ("http", "https") or not url.netloc or len(url.netloc) > _MAX_AUTHORITY:
        return None
    return f"{url.scheme}://{url.netloc.lower()}"


def _fields(request: Any) -> dict[str, str]:
    """The request's header fields by lower-case name, repeated lines joined with ", " (RFC 9110)."""
    joined: dict[str, str] = {}
    for raw_name, raw_value in request.headers.raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


class WebBotAuthenticator:
    """Authenticates agents by their Web Bot Auth request signatures (see the module docstring).

    Options (``[live.auth.web_bot_auth]``), each checked with an InputError naming it:

    * ``gate`` (default ``"agent_gate"``): the gate mechanism whose agents' keys are known.
    * ``max_age`` (seconds, default 60): how long after ``created`` a signature is accepted.
    * ``clock_skew`` (seconds, default 5): clock disagreement tolerated on every time check.
    * ``authority`` (required): the ``host[:port]`` clients address, which their signatures
      must cover as ``@authority``. A signature made for another service is refused
      (``BAD_SIGNATURE``) whatever the request's ``Host`` says, so a request signed for
      another host cannot be replayed here. Never taken from the request: a server that
      trusted ``Host`` would accept any service's signatures.

    Each nonce is remembered until its signature could no longer verify (``max_age`` plus
    ``clock_skew``, or ``expires`` if earlier), so the replay cache needs no size or TTL of
    its own: it holds at most (accepted requests/s) x that window, and evicting a nonce any
    earlier would reopen a replay window. It lives in memory, so a restarted server refuses
    every signature whose ``created`` is before its start (``gateway.started_at``; reason
    ``CREATED_BEFORE_START``): a request captured before a restart cannot be replayed after
    it. Every state-changing request (POST, PATCH, DELETE) also carries an Idempotency-Key
    that its signature covers, and the server's key index is rebuilt from the durable log,
    so a retry returns the committed outcome and acts no second time.
    """

    scheme = "web_bot_auth"
    security_scheme: Mapping[str, Any] = {
        "type": "apiKey", "in": "header", "name": "Signature",
        "description": "RFC 9421 HTTP Message Signatures, Web Bot Auth profile: Signature, "
                       "Signature-Input (tag=\"web-bot-auth\", keyid = your agent id, Ed25519, "
                       "created/expires/nonce, covering @method @authority @path content-digest, @query "
                       "when the URL has a query string and idempotency-key when sent) "
                       "and Content-Digest (sha-256) on every request.",
    }

    def __init__(self, gateway: Gateway, options: Mapping[str, Any], *,
                 clock: Callable[[], float] = time.time) -> None:
        """Validate ``options``; ``clock`` (unix seconds, what agents sign with) is for tests."""
        if not isinstance(options, Mapping):
            raise InputError([Problem("", "expected a table of options")])
        problems = [Problem(str(key), f"unknown option; known: {', '.join(_OPTIONS)}")
                    for key in sorted(map(str, options)) if key not in _OPTIONS]
        gate = options.get("gate", "agent_gate")
        if not isinstance(gate, str) or not gate:
            problems.append(Problem("gate", "expected the name of the scenario's agent_gate mechanism"))
        authority = options.get("authority")
        if authority is None:
            problems.append(Problem("authority", "required: the host[:port] clients address this server "
                                                 "by (e.g. \"pilot.example.org\"), which every signature "
                                                 "must cover; without it a request signed for another "
                                                 "host would be accepted"))
        elif (not isinstance(authority, str) or not authority or len(authority) > _MAX_AUTHORITY
              or authority != authority.strip() or any(ch in authority for ch in "/?#@ ")):
            problems.append(Problem("authority", "expected host[:port], as clients address this server"))
        verifier: RequestVerifier | None = None
        self._keys = _GateKeys(self)
        try:
            verifier = RequestVerifier(self._keys, max_age=options.get("max_age", 60.0),
                                       clock_skew=options.get("clock_skew", 5.0),
                                       not_before=gateway.started_at)
        except InputError as exc:
            problems.extend(exc.problems)
        if problems or verifier is None:
            raise InputError(problems)
        self._gateway = gateway
        self._gate = str(gate)
        self._authority = str(authority).lower()
        self._clock = clock
        self._verifier = verifier

    @property
    def verifier(self) -> RequestVerifier:
        """The request verifier (its replay cache and time window)."""
        return self._verifier

    async def authenticate(self, request: Any, body: bytes) -> Principal | None:
        """The signing agent; None without signature headers; AuthError with the refusal code."""
        fields = _fields(request)
        if "signature" not in fields and "signature-input" not in fields:
            return None  # not this scheme: another authenticator's turn
        # The resolver sees the body only for this call: verify() is synchronous, so no other
        # request's authentication can run on this loop before the body is taken back.
        self._keys.body = body
        try:
            result = self._verifier.verify(request.method, self._url(request), fields, body,
                                           now=self._clock())
        finally:
            self._keys.body = b""
        if isinstance(result, RequestRejected):
            raise AuthError(str(result.reason), result.detail or str(result.reason))
        # Until admitted, a key's requests are charged to its address: fresh keys earn no burst.
        admitted = self._gate_mechanism().status(result.agent_id) is AgentStatus.ADMITTED
        return Principal(result.agent_id, self.scheme, admitted=admitted, operator=signed_operator(fields))

    def known_key(self, keyid: str, body: bytes = b"") -> Ed25519PublicKey | None:
        """The key of ``keyid`` from the gate, else from ``body`` (the request's), else None."""
        known = self._gate_mechanism().public_identity(keyid)
        if known is not None:
            return known.public_key
        presented = _identity_in(body)
        if presented is not None and presented.agent_id == keyid:
            return presented.public_key
        return None

    def _gate_mechanism(self) -> AgentGate:
        """The live gate (fetched per request: admissions need no restart)."""
        try:
            gate = self._gateway.mechanism(self._gate)
        except UnknownNameError as exc:
            raise ContractError(f"live.auth.web_bot_auth.gate: no mechanism {self._gate!r} in this "
                                "trial") from exc
        if not isinstance(gate, AgentGate):
            raise ContractError(f"live.auth.web_bot_auth.gate: {self._gate!r} is a "
                                f"{type(gate).__name__}, not an agent_gate")
        return gate

    def _url(self, request: Any) -> str:
        """The absolute URL the client addressed: what ``@authority`` and ``@path`` are read from."""
        scope = request.scope
        authority = self._authority  # never the request's Host: that is the client's to forge
        raw_path = scope.get("raw_path") or str(scope.get("path", "/")).encode("utf-8")
        target = raw_path.decode("latin-1").split("?", 1)[0]
        query = scope.get("query_string", b"").decode("latin-1")
        return f"{scope.get('scheme', 'http')}://{authority}{target}{'?' + query if query else ''}"


class _GateKeys:
    """The verifier's key resolver: asks its authenticator (the gate), with the body being verified."""

    __slots__ = ("_owner", "body")

    def __init__(self, owner: WebBotAuthenticator) -> None:
        self._owner = owner
        self.body = b""
        """The body of the request being verified (set around one verify call only)."""

    def resolve_key(self, keyid: str) -> Ed25519PublicKey | None:
        return self._owner.known_key(keyid, self.body)
