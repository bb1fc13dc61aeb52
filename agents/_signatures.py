"""RFC 9421 HTTP Message Signatures in the Web Bot Auth profile, for agents and the server.

Every signed request carries one signature (label ``sig1``) made with the agent's
Ed25519 key, with parameters ``created``, ``expires``, ``nonce``, ``keyid`` (the
agent id, i.e. the key's JWK thumbprint), ``alg="ed25519"`` and
``tag="web-bot-auth"``, covering ``@method``, ``@authority``, ``@path`` and
``content-digest``, and ``@query`` whenever the request has a query string (a
``?limit=1`` changed to ``?limit=1000`` after signing must not verify), and the
``idempotency-key`` field whenever the request carries one (a captured request replayed
with another key would act again; with its own key it returns the committed outcome).
Content-Digest (RFC 9530, ``sha-256``) is sent and signed on *every* request,
bodyless ones included (the digest of the empty body), so the server applies one
rule: a signature that does not bind the body is refused.

The ``http-message-signatures`` library builds and checks the signature base,
the Content-Digest and the Ed25519 signature.  This module adds the profile's
policy (tag, required coverage, nonce, time window against a caller-supplied
clock, replay cache) and turns each failure into one reason code. A signature in
canonical form (every one a conforming signer writes) is accepted without the library's
parsing and serialising, over the values of the library's own component resolver
(``_canonical_signature``: 2.3 times faster); anything else, and every refusal, goes
the library's way. Signing is ``_signer.WebBotAuth``'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import http_sf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageVerifier,
    HTTPSignatureComponentResolver,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    VerifyResult,
    algorithms,
)
from nacl.signing import VerifyKey

from flagship.agents._canonical_signature import digest_matches, signature_base
from flagship.agents._canonical_signature import parse as parse_canonical
from flagship.agents._checks import finite_number, positive_number
from flagship.agents._identity import AgentIdentity, PublicIdentity
from flagship.agents._replay import ReplayCache
from flagship.agents._sodium_keys import sodium_verifies
from flagship.mechanisms._errors import ContractError, InputError, Problem

__all__ = [
    "COVERED_COMPONENTS",
    "WEB_BOT_AUTH_TAG",
    "AgentKeyResolver",
    "AgentRegistry",
    "RequestRejectReason",
    "RequestRejected",
    "RequestVerifier",
    "VerifiedRequest",
]

WEB_BOT_AUTH_TAG = "web-bot-auth"
"""The ``tag`` signature parameter that marks a Web Bot Auth signature."""

COVERED_COMPONENTS = ("@method", "@authority", "@path", "content-digest")
"""What every agent signature covers, and what the verifier requires it to cover."""

SIGNATURE_LABEL = "sig1"
"""The label our signer gives its one signature (``sig1``); a verifier accepts any label."""
_ROUTING_COMPONENTS = COVERED_COMPONENTS[:3]
QUERY = "@query"
IDEMPOTENCY_KEY = "idempotency-key"
SIGNATURE_AGENT = "signature-agent"
_SIGNATURE_PARAMETERS = frozenset({"alg", "created", "expires", "keyid", "nonce", "tag"})
_DIGEST_IDENTIFIER = '"content-digest"'  # how a covered content-digest component serializes
# Our agents send 43 characters; the bound caps what a replay-cache entry costs.
_MAX_NONCE_CHARS = 256


class RequestRejectReason(StrEnum):
    """Why a request's signature was refused: a closed set, one code per cause."""

    UNSIGNED = "UNSIGNED"
    """No ``Signature`` or no ``Signature-Input`` header."""
    MALFORMED = "MALFORMED"
    """Signature headers unparsable, a required parameter absent or ill-typed, a foreign
    ``alg``, more than one Web Bot Auth signature, or a signature base that cannot be built."""
    WRONG_TAG = "WRONG_TAG"
    """Signatures are present but none is tagged ``web-bot-auth``."""
    MISSING_COMPONENT = "MISSING_COMPONENT"
    """The signature does not cover ``@method``, ``@authority`` and ``@path`` (and ``@query``
    when the URL has a query string, ``idempotency-key`` when that field is sent)."""
    UNKNOWN_KEY = "UNKNOWN_KEY"
    """The ``keyid`` names no key the resolver knows."""
    BAD_SIGNATURE = "BAD_SIGNATURE"
    """The Ed25519 signature does not verify: signed by another key, or a covered value changed."""
    EXPIRED = "EXPIRED"
    """Past ``expires``, or ``created`` older than the maximum age (each with clock skew)."""
    CREATED_IN_FUTURE = "CREATED_IN_FUTURE"
    """``created`` is later than now plus the clock-skew allowance."""
    CREATED_BEFORE_START = "CREATED_BEFORE_START"
    """``created`` is before the verifier's ``not_before`` (the server's start): the replay cache
    of an earlier process may have held its nonce, so it could be a capture replayed."""
    REPLAYED_NONCE = "REPLAYED_NONCE"
    """This agent's nonce was already accepted within its validity window."""
    MISSING_NONCE = "MISSING_NONCE"
    """The signature has no ``nonce`` parameter, so replays could not be detected."""
    CONTENT_DIGEST_MISSING = "CONTENT_DIGEST_MISSING"
    """No Content-Digest header, or the signature does not cover it."""
    DIGEST_MISMATCH = "DIGEST_MISMATCH"
    """The signed Content-Digest does not match the body received (tampered body)."""


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """A request whose Web Bot Auth signature verified: it comes from ``agent_id``."""

    agent_id: str
    nonce: str
    created: int
    expires: int


@dataclass(frozen=True, slots=True)
class RequestRejected:
    """A refused request: ``reason`` is the code to act on, ``detail`` is for logs."""

    reason: RequestRejectReason
    detail: str = ""


@runtime_checkable
class AgentKeyResolver(Protocol):
    """Finds the Ed25519 public key of a registered agent from a signature's ``keyid``.

    Return ``None`` for an unknown key id; the verifier then refuses with
    UNKNOWN_KEY.  The key returned must be the one whose JWK thumbprint is
    ``keyid`` (the verifier reports ``keyid`` as the agent id).  An exception
    raised here is the resolver's failure, not the request's, and propagates.
    """

    def resolve_key(self, keyid: str) -> Ed25519PublicKey | None:
        """The public key for ``keyid``, or None if no such agent is registered."""
        ...


class AgentRegistry:
    """An in-memory :class:`AgentKeyResolver` of registered agents, keyed by agent id."""

    __slots__ = ("_keys",)

    def __init__(self, agents: Iterable[PublicIdentity | AgentIdentity] = ()) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for agent in agents:
            self.register(agent)

    def register(self, agent: PublicIdentity | AgentIdentity) -> str:
        """Register an agent's public key; return its agent id (idempotent)."""
        if isinstance(agent, AgentIdentity):
            agent = agent.public
        if not isinstance(agent, PublicIdentity):
            raise InputError(Problem("agent", "expected a PublicIdentity or AgentIdentity"))
        self._keys[agent.agent_id] = agent.public_key
        return agent.agent_id

    def unregister(self, agent_id: str) -> bool:
        """Forget an agent; its signatures become UNKNOWN_KEY.  True if it was registered."""
        return self._keys.pop(agent_id, None) is not None

    def resolve_key(self, keyid: str) -> Ed25519PublicKey | None:
        """The registered key for ``keyid``, or None."""
        return self._keys.get(keyid)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)


class _Refusal(InvalidSignature):
    """Carries a reason code through the library, which re-raises InvalidSignature as is."""

    def __init__(self, reason: RequestRejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _ResolverFailed(InvalidSignature):
    """Carries an exception of the caller's key resolver out through the library untouched."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _Ed25519(algorithms.ED25519):
    """The library's Ed25519 (key handling, algorithm id), verifying with libsodium.

    The check itself is the server's largest single cost per signed request, and libsodium's
    (PyNaCl) takes half of OpenSSL's time here (54 against 105 us a signature on the bench
    machine). Both implement RFC 8032 verification; libsodium also refuses keys and ``R``
    points of small order, which no key that signs honestly has (a test checks the two agree
    on honest, tampered and foreign signatures). A failed signature is told apart from every
    other failure.
    """

    def verify(self, signature: bytes, message: bytes) -> None:
        if not _ed25519_verifies(self.public_key, signature, message):
            raise _Refusal(RequestRejectReason.BAD_SIGNATURE, "signature does not verify")


def _ed25519_verifies(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """libsodium's verdict on an Ed25519 signature (:class:`_Ed25519` says why libsodium's)."""
    return sodium_verifies(VerifyKey(key.public_bytes_raw()), signature, message)


class _KeyLookup(HTTPSignatureKeyResolver):
    def __init__(self, keys: AgentKeyResolver) -> None:
        self._keys = keys

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey:
        try:
            key = self._keys.resolve_key(key_id)
        except Exception as exc:
            raise _ResolverFailed(exc) from exc
        if key is None:
            raise _Refusal(RequestRejectReason.UNKNOWN_KEY, f"no agent with keyid {key_id!r}")
        if not isinstance(key, Ed25519PublicKey):
            kind = type(key).__name__
            bug = ContractError(f"key resolver returned a {kind}, not an Ed25519 key")
            raise _ResolverFailed(bug)
        return key


@dataclass(frozen=True, slots=True)
class _Request:
    """The request as the library's component resolver reads it."""

    method: str
    url: str
    headers: dict[str, str]


_COMPONENT_RESOLVER: Callable[[_Request], Any] = HTTPSignatureComponentResolver
"""The library's component resolver, which ``_OneVerification`` builds too (an untyped class)."""


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the policy needs to know of the request itself, beside its signature."""

    has_digest_header: bool
    has_query: bool
    has_idempotency_key: bool


def _policy_refusal(policy: RequestVerifier, params: Mapping[str, Any], plain: set[str],
                    digest_covered: bool, shape: _Shape, now: float) -> _Refusal | None:
    """The Web Bot Auth policy's refusal of one signature, or None: ``plain`` are the covered
    components without parameters, ``digest_covered`` whether the Content-Digest is covered."""
    refuse = _Refusal
    reason = RequestRejectReason
    unknown = set(params) - _SIGNATURE_PARAMETERS
    if unknown:
        return refuse(reason.MALFORMED, f"unexpected signature parameters {sorted(unknown)}")
    if params.get("alg", algorithms.ED25519.algorithm_id) != algorithms.ED25519.algorithm_id:
        return refuse(reason.MALFORMED, "alg must be ed25519")
    if not isinstance(params.get("keyid"), str):
        return refuse(reason.MALFORMED, "keyid parameter missing")
    created, expires = params.get("created"), params.get("expires")
    if type(created) is not int or type(expires) is not int:
        return refuse(reason.MALFORMED, "created and expires parameters are required")
    if expires < created:
        return refuse(reason.MALFORMED, "expires precedes created")

    missing = [name for name in _ROUTING_COMPONENTS if name not in plain]
    if shape.has_query and QUERY not in plain:
        missing.append(QUERY)  # else the query could be changed after signing
    if shape.has_idempotency_key and IDEMPOTENCY_KEY not in plain:
        missing.append(IDEMPOTENCY_KEY)  # else a replay under a fresh key would act again
    if missing:
        return refuse(reason.MISSING_COMPONENT, f"signature does not cover {missing}")
    if not digest_covered or not shape.has_digest_header:
        return refuse(reason.CONTENT_DIGEST_MISSING, "no signed Content-Digest")

    nonce = params.get("nonce")
    if nonce is None:
        return refuse(reason.MISSING_NONCE, "nonce parameter missing")
    if not nonce or len(nonce) > _MAX_NONCE_CHARS:
        return refuse(reason.MALFORMED, f"nonce must have 1 to {_MAX_NONCE_CHARS} characters")

    skew = policy.clock_skew
    if created > now + skew:
        return refuse(reason.CREATED_IN_FUTURE, f"created {created} is after now {now:.0f}")
    if expires + skew < now:
        return refuse(reason.EXPIRED, f"expired at {expires}")
    if created + policy.max_age + skew < now:
        return refuse(reason.EXPIRED, f"created {created} is older than the maximum age")
    start = policy.not_before
    if start is not None and created < start:
        return refuse(reason.CREATED_BEFORE_START,
                      f"the signature's created parameter ({created}) is before this server "
                      f"started ({start}); sign the request again")
    return None


class _OneVerification(HTTPMessageVerifier):
    """The library's verifier, with the Web Bot Auth policy hooked in for one request.

    The library calls ``validate_created_and_expires`` for each selected
    signature before it resolves the key or builds the signature base, so every
    policy refusal here is cheap and happens before any cryptography.
    """

    def __init__(self, policy: RequestVerifier, now: float, shape: _Shape) -> None:
        super().__init__(signature_algorithm=_Ed25519, key_resolver=_KeyLookup(policy.keys))
        self._policy = policy
        self._now = now
        self._shape = shape
        self.selected = 0

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        self.selected += 1
        # http_sf's inner list is a UserList: iterating it goes through Sequence.__iter__ and an
        # IndexError per call (7% of a signed request's server time); its .data is the list.
        nodes: list[Any] = list(getattr(sig_input, "data", sig_input))
        plain = {str(node.value) for node in nodes if not node.params}
        # Same test as the library's digest check: the whole field or a member of it.
        digest_covered = any(
            node.value == "content-digest" and not set(node.params) - {"sf", "key"}
            for node in nodes
        )
        refusal = _policy_refusal(self._policy, sig_input.params, plain, digest_covered, self._shape,
                                  self._now)
        if refusal is not None:
            raise refusal


def _unselected(signature_input: str) -> RequestRejected:
    """Classify a failure before any signature was selected: wrong tag, or malformed."""
    # The library parsed these headers and gave up; a second look only decides
    # which of the two codes applies, so it runs on refusals alone.
    malformed = RequestRejected(RequestRejectReason.MALFORMED, "malformed signature headers")
    try:
        parsed = http_sf.parse(signature_input.encode(), tltype="dictionary")
    except (ValueError, TypeError):
        return malformed
    if not isinstance(parsed, dict) or not parsed:
        return malformed
    # Each member is (inner list or item, parameters).
    tags = [
        member[1].get("tag")
        for member in parsed.values()
        if isinstance(member, tuple) and isinstance(member[1], dict)
    ]
    if WEB_BOT_AUTH_TAG in tags:
        return malformed
    return RequestRejected(RequestRejectReason.WRONG_TAG, f"no signature tagged {WEB_BOT_AUTH_TAG}")


class RequestVerifier:
    """Server-side check of Web Bot Auth request signatures; framework-neutral.

    ``verify`` never raises for a bad request: it returns a :class:`VerifiedRequest`
    or a :class:`RequestRejected` with the first failed check, in this order:
    headers present (UNSIGNED); headers parse and a ``web-bot-auth`` signature
    exists (MALFORMED, WRONG_TAG); parameters (MALFORMED); coverage
    (MISSING_COMPONENT, ``@query`` included when the URL has a query and ``idempotency-key``
    when sent; CONTENT_DIGEST_MISSING); MISSING_NONCE; time
    (CREATED_IN_FUTURE, EXPIRED, CREATED_BEFORE_START); UNKNOWN_KEY; BAD_SIGNATURE; DIGEST_MISMATCH;
    REPLAYED_NONCE.  A nonce is remembered only once everything else passed, so
    a forged or tampered copy of a request cannot burn the genuine one's nonce.

    A signature is accepted while ``now <= expires + clock_skew`` and ``now <=
    created + max_age + clock_skew``, and refused if ``created > now +
    clock_skew``.  Each nonce is remembered, per agent, exactly that long, so
    the replay cache holds at most (accepted requests/s) x (max_age + 2 x
    clock_skew) entries.  Thread-safe.

    The cache lives in memory, so a verifier that replaces another one (a restarted server)
    passes ``not_before``, its start in unix seconds: a signature whose ``created`` is before
    that whole second is refused (CREATED_BEFORE_START), since the previous process may have
    accepted its nonce. A client whose clock lags the server's by ``d`` seconds is refused for
    the first ``d`` seconds after a start and signs again.
    """

    __slots__ = ("_clock_skew", "_keys", "_max_age", "_nonces", "_not_before")

    def __init__(
        self, keys: AgentKeyResolver, *, max_age: float = 60.0, clock_skew: float = 5.0,
        not_before: float | None = None,
    ) -> None:
        if not isinstance(keys, AgentKeyResolver):
            raise InputError(Problem("keys", "expected an AgentKeyResolver (resolve_key method)"))
        self._keys = keys
        self._max_age = positive_number(max_age, "max_age")
        self._clock_skew = finite_number(clock_skew, "clock_skew")
        if self._clock_skew < 0:
            raise InputError(Problem("clock_skew", "must be >= 0"))
        self._not_before = (None if not_before is None
                            else math.floor(finite_number(not_before, "not_before")))
        self._nonces = ReplayCache()

    @property
    def keys(self) -> AgentKeyResolver:
        """The key resolver."""
        return self._keys

    @property
    def max_age(self) -> float:
        """Seconds after ``created`` that a signature stays acceptable (plus skew)."""
        return self._max_age

    @property
    def clock_skew(self) -> float:
        """Seconds of clock disagreement tolerated on every time check."""
        return self._clock_skew

    @property
    def not_before(self) -> int | None:
        """The whole unix second before which a signature's ``created`` is refused, if any."""
        return self._not_before

    @property
    def remembered_nonces(self) -> int:
        """Entries in the replay cache (expired ones are dropped on each verify)."""
        return len(self._nonces)

    def verify(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float,
    ) -> VerifiedRequest | RequestRejected:
        """Verify one request.

        ``method`` is the request method as received (upper case); ``url`` the
        absolute, percent-encoded URL the client addressed, built as
        ``scheme://`` + Host header + raw request target when behind a proxy;
        ``headers`` the received fields (a mapping that joins repeated fields
        with ", ", as httpx and Starlette do); ``body`` the exact received
        bytes, before any content decoding; ``now`` unix seconds.  Raises
        InputError only for arguments of the wrong type.
        """
        at = finite_number(now, "now")
        if not isinstance(method, str):
            raise InputError(Problem("method", "expected a string"))
        if not isinstance(url, str):
            raise InputError(Problem("url", "expected a string"))
        if not isinstance(body, bytes):
            raise InputError(Problem("body", "expected the raw body bytes"))
        if not isinstance(headers, Mapping):
            raise InputError(Problem("headers", "expected a mapping of field name to value"))
        fields = dict(headers.items())
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
            raise InputError(Problem("headers", "field names and values must be strings"))
        # Field names are case-insensitive; repeated lines join with ", " (RFC 9110 5.3).
        lines: dict[str, list[str]] = {}
        for name, value in fields.items():
            lines.setdefault(name.lower(), []).append(value)
        if "signature" not in lines or "signature-input" not in lines:
            return RequestRejected(RequestRejectReason.UNSIGNED, "no Signature / Signature-Input")

        message = _Request(method=method, url=url, headers=fields)
        query = url.partition("#")[0].partition("?")[2]
        shape = _Shape(has_digest_header="content-digest" in lines, has_query=bool(query),
                       has_idempotency_key=IDEMPOTENCY_KEY in lines)
        params = self._canonical(message, lines, body, at, shape)
        if params is None:
            verified = self._with_library(message, lines, body, at, shape)
            if isinstance(verified, RequestRejected):
                return verified
            params = verified
        keyid, nonce = str(params["keyid"]), str(params["nonce"])
        created, expires = int(params["created"]), int(params["expires"])
        deadline = min(expires, created + self._max_age) + self._clock_skew
        if not self._nonces.first_use((keyid, nonce), until=deadline, now=at):
            return RequestRejected(RequestRejectReason.REPLAYED_NONCE, "nonce already used")
        return VerifiedRequest(agent_id=keyid, nonce=nonce, created=created, expires=expires)

    def _canonical(self, message: _Request, lines: Mapping[str, list[str]], body: bytes, at: float,
                   shape: _Shape) -> Mapping[str, Any] | None:
        """The parameters of a signature in canonical form that passes every check; None sends
        the request down the library's path (``_canonical_signature`` says why this is safe)."""
        inputs, signatures = lines["signature-input"], lines["signature"]
        if len(inputs) != 1 or len(signatures) != 1:
            return None
        canonical = parse_canonical(inputs[0], signatures[0])
        if canonical is None or canonical.parameters.get("tag") != WEB_BOT_AUTH_TAG:
            return None
        params = canonical.parameters
        plain = set(canonical.components)
        if _policy_refusal(self, params, plain, "content-digest" in plain, shape, at) is not None:
            return None
        try:
            resolver = _COMPONENT_RESOLVER(message)
            base = signature_base(canonical, resolver)
        except HTTPMessageSignaturesException:
            return None  # what the library cannot resolve, its own path refuses with its reason
        if base is None:
            return None
        try:
            key = _KeyLookup(self._keys).resolve_public_key(str(params["keyid"]))
        except _Refusal:
            return None
        except _ResolverFailed as failure:
            raise failure.error from None
        if not _ed25519_verifies(key, canonical.signature, base):
            return None
        if not digest_matches(resolver.headers["content-digest"], body):
            return None
        return params

    def _with_library(self, message: _Request, lines: Mapping[str, list[str]], body: bytes, at: float,
                      shape: _Shape) -> Mapping[str, Any] | RequestRejected:
        """The one signature's parameters as ``http-message-signatures`` verifies it, or the refusal."""
        verifier = _OneVerification(self, at, shape)
        try:
            results: list[VerifyResult] = verifier.verify(
                message, max_age=None, expect_tag=WEB_BOT_AUTH_TAG
            )
        except _Refusal as refusal:
            return RequestRejected(refusal.reason, refusal.detail)
        except _ResolverFailed as failure:
            raise failure.error from None
        except HTTPMessageSignaturesException as exc:
            if verifier.selected == 0:
                return _unselected(", ".join(lines["signature-input"]))
            return RequestRejected(RequestRejectReason.MALFORMED, f"cannot verify: {exc}")
        if verifier.selected != len(results):
            # Every policy check lives in the hook; a library release that stopped
            # calling it must fail loudly, not accept requests unchecked.
            raise ContractError(
                "http-message-signatures verified a signature without calling "
                "validate_created_and_expires: Web Bot Auth policy was not applied"
            )
        if len(results) != 1:
            return RequestRejected(
                RequestRejectReason.MALFORMED, f"{len(results)} web-bot-auth signatures, expected 1"
            )
        # The library checks every covered component that names the content digest, parsing
        # each covered identifier again to find them (a tenth of a request's verification).
        # A serialized identifier starts with its quoted name, so only these can name it:
        digest_results = [result._replace(covered_components={
            name: value for name, value in result.covered_components.items()
            if name.startswith(_DIGEST_IDENTIFIER)}) for result in results]
        try:
            verifier.verify_body(message, digest_results, body)
        except HTTPMessageSignaturesException as exc:
            return RequestRejected(RequestRejectReason.DIGEST_MISMATCH, str(exc))
        return results[0].parameters
