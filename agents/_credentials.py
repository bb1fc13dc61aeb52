"""Competence credentials: an evaluator's signed statement about an agent's score.

Encoding: a compact JWS (a JWT, RFC 7519) signed with EdDSA/Ed25519 (RFC 8037),
produced and checked by PyJWT.  Header ``{"alg": "EdDSA", "kid": <evaluator id>,
"typ": "competence+jwt"}``; claims::

    iss     evaluator id (thumbprint of the evaluator key; equals the header kid)
    sub     agent id the statement is about
    jti     credential id, the handle for revocation
    iat     issued at          (NumericDate: seconds, sim or unix time)
    nbf     valid from         (defaults to iat)
    exp     valid until, exclusive: at exp the credential is expired
    battery competence battery name
    score   the score (a finite number; its scale belongs to the battery)

The explicit ``typ`` (RFC 8725 section 3.11) stops a JWT the evaluator signed for
another purpose from being accepted as a competence credential.  Time claims are
checked here against the caller's ``now`` (PyJWT only knows the wall clock), so a
simulation verifies in simulated time.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from flagship.agents._checks import finite_number
from flagship.agents._identity import AgentIdentity, PublicIdentity, b64url_decode, is_agent_id
from flagship.agents._sodium_keys import sodium_private_key, sodium_public_key
from flagship.mechanisms._errors import InputError, Problem

__all__ = [
    "CREDENTIAL_TYPE",
    "CompetenceCredential",
    "CredentialRejectReason",
    "CredentialRejected",
    "CredentialVerifier",
    "Evaluator",
]

CREDENTIAL_TYPE = "competence+jwt"
"""The JOSE ``typ`` header every competence credential carries."""

_ALGORITHM = "EdDSA"
_REQUIRED_CLAIMS = ("iss", "sub", "jti", "iat", "nbf", "exp", "battery", "score")
# Far above any honest credential (~400 chars); bounds work done on hostile input.
_MAX_TOKEN_CHARS = 8192
_MAX_TEXT_CHARS = 256


class CredentialRejectReason(StrEnum):
    """Why a credential was refused: a closed set, one code per cause."""

    MALFORMED = "MALFORMED"
    """Not a compact EdDSA JWS of type competence+jwt, or a claim is missing or ill-typed."""
    BAD_SIGNATURE = "BAD_SIGNATURE"
    """The signature does not verify under the named trusted evaluator's key: forged or altered."""
    UNTRUSTED_EVALUATOR = "UNTRUSTED_EVALUATOR"
    """The evaluator named in ``kid`` is not one this verifier trusts."""
    EXPIRED = "EXPIRED"
    """``now`` is at or past ``exp`` (plus leeway)."""
    NOT_YET_VALID = "NOT_YET_VALID"
    """``now`` is before ``nbf`` or ``iat`` (minus leeway)."""
    REVOKED = "REVOKED"
    """The credential id is on the revocation list."""
    SUBJECT_MISMATCH = "SUBJECT_MISMATCH"
    """The credential is about another agent than the one presenting it."""


@dataclass(frozen=True, slots=True)
class CompetenceCredential:
    """The verified claims of a competence credential."""

    credential_id: str
    agent_id: str
    evaluator_id: str
    battery: str
    score: float
    issued_at: float
    not_before: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class CredentialRejected:
    """A refused credential: ``reason`` is the code to act on, ``detail`` is for people."""

    reason: CredentialRejectReason
    detail: str = ""


def _numeric_date(value: float) -> int | float:
    # Whole seconds serialise as JSON integers, as most JWT consumers expect.
    return int(value) if value.is_integer() else value


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT_CHARS:
        limit = _MAX_TEXT_CHARS
        raise InputError(Problem(field, f"expected a non-empty string of at most {limit} chars"))
    return value


class Evaluator:
    """An evaluator that issues competence credentials with its own Ed25519 identity."""

    __slots__ = ("_identity", "_signing_key")

    def __init__(self, identity: AgentIdentity) -> None:
        if not isinstance(identity, AgentIdentity):
            raise InputError(Problem("identity", "expected an AgentIdentity"))
        self._identity = identity
        self._signing_key = sodium_private_key(identity.private_key)

    @property
    def evaluator_id(self) -> str:
        """The evaluator's key thumbprint: what verifiers list as trusted."""
        return self._identity.agent_id

    @property
    def public(self) -> PublicIdentity:
        """The evaluator's public identity, to hand to a CredentialVerifier."""
        return self._identity.public

    def issue(
        self,
        agent_id: str,
        battery: str,
        score: float,
        *,
        issued_at: float,
        valid_until: float,
        not_before: float | None = None,
        credential_id: str | None = None,
    ) -> str:
        """Sign "agent ``agent_id`` scored ``score`` on ``battery``"; return the compact JWS.

        Times are NumericDates in whatever clock the verifiers use (sim time in a
        simulation).  ``valid_until`` is exclusive.  ``credential_id`` defaults to
        128 random bits; pass one for runs that must replay byte for byte.
        Raises InputError naming the field for bad arguments.
        """
        if not is_agent_id(agent_id):
            raise InputError(Problem("agent_id", "expected an agent id (a 43-char JWK thumbprint)"))
        battery = _text(battery, "battery")
        score_value = finite_number(score, "score")
        iat = finite_number(issued_at, "issued_at")
        nbf = iat if not_before is None else finite_number(not_before, "not_before")
        exp = finite_number(valid_until, "valid_until")
        if exp <= max(iat, nbf):
            raise InputError(Problem("valid_until", "must be later than issued_at and not_before"))
        jti = secrets.token_urlsafe(16) if credential_id is None else credential_id
        jti = _text(jti, "credential_id")
        claims: dict[str, Any] = {
            "iss": self.evaluator_id,
            "sub": agent_id,
            "jti": jti,
            "iat": _numeric_date(iat),
            "nbf": _numeric_date(nbf),
            "exp": _numeric_date(exp),
            "battery": battery,
            "score": score_value,
        }
        return jwt.encode(
            claims,
            self._signing_key,
            algorithm=_ALGORITHM,
            headers={"typ": CREDENTIAL_TYPE, "kid": self.evaluator_id},
        )

    def __repr__(self) -> str:
        return f"Evaluator(evaluator_id={self.evaluator_id!r})"


def _canonical_b64url(text: str) -> bool:
    try:
        b64url_decode(text, "signature")
    except InputError:
        return False
    return True


def _unverified_header(token: str, segments: list[str]) -> dict[str, Any]:
    """``jwt.get_unverified_header(token)``, reading the common case without PyJWT's parse.

    The verifier reads the header to pick the evaluator's key, and PyJWT's ``decode`` then
    parses the whole token again (its per-character alphabet check made the two parses cost
    twice the signature check itself, in the simulated gate). A token whose three segments are
    canonical unpadded base64url (what PyJWT's decoder accepts, spelled one way: the strict
    decoder of agent keys) and whose header is a JSON object without ``b64`` or ``crit`` and
    with a string ``kid`` if any is read here: PyJWT would return the same dict. Anything else
    goes to PyJWT, whose answer (a header, or a PyJWTError and its message) stands.
    """
    header: Any = None
    try:
        header = json.loads(b64url_decode(segments[0], "header"))
        b64url_decode(segments[1], "payload")  # PyJWT decodes the payload before it answers too
    except (InputError, ValueError, RecursionError):
        header = None
    if type(header) is dict and "b64" not in header and "crit" not in header \
            and isinstance(header.get("kid", ""), str):
        return header
    return jwt.get_unverified_header(token)


def _claim_number(payload: Mapping[str, Any], name: str) -> float | None:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # a JSON integer beyond float range
        return None
    return number if math.isfinite(number) else None


def _claim_text(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT_CHARS:
        return None
    return value


def _parse_claims(payload: Mapping[str, Any], kid: str) -> CompetenceCredential | str:
    """The typed claims, or a sentence saying which claim is wrong."""
    iss, sub, jti, battery = (_claim_text(payload, n) for n in ("iss", "sub", "jti", "battery"))
    iat, nbf, exp, score = (_claim_number(payload, n) for n in ("iat", "nbf", "exp", "score"))
    if (
        iss is None or sub is None or jti is None or battery is None
        or iat is None or nbf is None or exp is None or score is None
    ):
        return "claim missing or ill-typed (iss/sub/jti/battery: text; iat/nbf/exp/score: numbers)"
    if iss != kid:
        return "iss claim differs from the kid header"
    if not is_agent_id(sub):
        return "sub claim is not an agent id"
    return CompetenceCredential(
        credential_id=jti,
        agent_id=sub,
        evaluator_id=iss,
        battery=battery,
        score=score,
        issued_at=iat,
        not_before=nbf,
        expires_at=exp,
    )


class CredentialVerifier:
    """Checks competence credentials against trusted evaluators, revocations and a clock.

    ``verify`` never raises for a bad credential: it returns the verified
    :class:`CompetenceCredential` or a :class:`CredentialRejected` whose reason is
    the first failed check, in this order: shape and header (MALFORMED), evaluator
    trusted (UNTRUSTED_EVALUATOR), signature (BAD_SIGNATURE), claims (MALFORMED),
    REVOKED, SUBJECT_MISMATCH, NOT_YET_VALID, EXPIRED.  Only unauthenticated
    checks precede the signature; revocation and subject are judged on
    authentic claims.  It raises InputError only for a caller's mistake (a
    non-finite ``now``, a non-string ``subject``).
    """

    __slots__ = ("_decoder", "_leeway", "_revoked", "_trusted")

    def __init__(
        self,
        trusted_evaluators: Mapping[str, Ed25519PublicKey],
        *,
        revoked: Iterable[str] = (),
        leeway: float = 0.0,
    ) -> None:
        """``trusted_evaluators`` maps evaluator id (key thumbprint) to public key.

        Each id must be its key's thumbprint: a mismatch is a wiring bug and is
        raised as InputError naming the entry.  ``leeway`` (seconds, >= 0) widens
        the validity window on both ends for clock disagreement in live use; keep
        0 in simulations.
        """
        if not isinstance(trusted_evaluators, Mapping):
            raise InputError(Problem("trusted_evaluators", "expected a mapping id -> public key"))
        self._trusted: dict[str, Ed25519PublicKey] = {}
        for evaluator_id, key in trusted_evaluators.items():
            field = f"trusted_evaluators[{evaluator_id!r}]"
            if not isinstance(key, Ed25519PublicKey):
                raise InputError(Problem(field, "expected an Ed25519 public key"))
            if PublicIdentity(key).agent_id != evaluator_id:
                raise InputError(Problem(field, "id is not the thumbprint of its key"))
            self._trusted[evaluator_id] = sodium_public_key(key)
        self._revoked: set[str] = set()
        for credential_id in revoked:
            self.revoke(credential_id)
        self._leeway = finite_number(leeway, "leeway")
        if self._leeway < 0:
            raise InputError(Problem("leeway", "must be >= 0"))
        self._decoder = jwt.PyJWT()

    def revoke(self, credential_id: str) -> None:
        """Add a credential id to the revocation list (takes effect on the next verify)."""
        self._revoked.add(_text(credential_id, "credential_id"))

    def is_revoked(self, credential_id: str) -> bool:
        """Whether ``credential_id`` is on the revocation list."""
        return credential_id in self._revoked

    def verify(
        self, token: object, *, now: float, subject: str | None = None
    ) -> CompetenceCredential | CredentialRejected:
        """Verify ``token`` at ``now``; with ``subject``, also require it to be about that agent."""
        at = finite_number(now, "now")
        if subject is not None and not isinstance(subject, str):
            raise InputError(Problem("subject", "expected an agent id or None"))
        reason = CredentialRejectReason
        # Non-ASCII text cannot be a compact JWS and would make PyJWT's encode raise.
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
            return CredentialRejected(reason.MALFORMED, "not a compact JWS string")
        segments = token.split(".")
        if len(segments) != 3 or not _canonical_b64url(segments[2]):
            # Base64 ignores a few trailing bits, so one signature has several
            # spellings; accepting only the canonical one gives each credential
            # exactly one token string (safe to use as a cache or audit key).
            return CredentialRejected(reason.MALFORMED, "not a compact JWS (canonical signature)")
        try:
            header = _unverified_header(token, segments)
        except jwt.PyJWTError as exc:
            return CredentialRejected(reason.MALFORMED, f"unreadable JWS: {exc}")
        if header.get("alg") != _ALGORITHM:
            # Refused before any key is touched: no algorithm confusion is possible.
            return CredentialRejected(reason.MALFORMED, f"alg must be {_ALGORITHM}")
        if header.get("typ") != CREDENTIAL_TYPE:
            return CredentialRejected(reason.MALFORMED, f"typ must be {CREDENTIAL_TYPE}")
        kid = header.get("kid")
        if not isinstance(kid, str):
            return CredentialRejected(reason.MALFORMED, "kid header missing")
        key = self._trusted.get(kid)
        if key is None:
            return CredentialRejected(reason.UNTRUSTED_EVALUATOR, f"evaluator {kid!r} not trusted")
        try:
            payload = self._decoder.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                options={
                    # Time claims are judged below against the caller's clock.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "require": list(_REQUIRED_CLAIMS),
                },
            )
        except jwt.InvalidSignatureError:
            return CredentialRejected(reason.BAD_SIGNATURE, "signature does not verify")
        except jwt.PyJWTError as exc:
            return CredentialRejected(reason.MALFORMED, f"invalid JWT: {exc}")
        claims = _parse_claims(payload, kid)
        if isinstance(claims, str):
            return CredentialRejected(reason.MALFORMED, claims)
        if claims.credential_id in self._revoked:
            return CredentialRejected(reason.REVOKED, f"{claims.credential_id!r} is revoked")
        if subject is not None and claims.agent_id != subject:
            return CredentialRejected(reason.SUBJECT_MISMATCH, "credential is about another agent")
        if at < max(claims.not_before, claims.issued_at) - self._leeway:
            return CredentialRejected(reason.NOT_YET_VALID, "credential not valid yet")
        if at >= claims.expires_at + self._leeway:
            return CredentialRejected(reason.EXPIRED, "credential expired")
        return claims
