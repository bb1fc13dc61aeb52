"""Per-voter bearer tokens for live pilots of the emergency vote (authenticator ``voter_token``).

Human voters cannot sign requests the way AI agents do, so each one gets a bearer token
at registration. The design keeps the database free of anything that would let its
reader act as a voter:

* A **registrar** (the polity's clerk, who checks personhood) registers voters. Registrar
  tokens are configured by their SHA-256 only: ``[live.auth.voter_token] registrar_sha256 =
  ["<hex>", ...]``. A registrar authenticates as ``registrar:<first 12 hex digits of its
  token's SHA-256>`` and may register voters, nothing else.
* A **voter token** is ``<voter id>.<base64url(HMAC-SHA256(secret, voter id))>`` where the
  secret is ``gateway.secret("voter_token")``: derived from the trial's private key,
  never stored, stable across restarts. Being derived rather than random, a retried
  registration (whose stored outcome names the voter id) hands out the same token
  again, and only the token's SHA-256 goes into the registration action, so the trial
  log and the mechanism's state hold the hash and never the token.
* Presenting a token: the MAC is checked first (a forged token is refused without
  touching state), then the token's SHA-256 must be bound to that very voter in the
  mechanism's state (the registration was accepted and committed).

Bearer tokens that have neither shape (not a registrar's, not ``v-<24 hex>.<43 base64url>``)
are left to the scenario's other authenticators (``None``), so a pilot can list
``voter_token`` first next to, say, a bearer-token scheme for agents. Comparisons with
secrets are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from flagship.mechanisms import AuthError, ContractError, Gateway, InputError, Principal, Problem

__all__ = [
    "REGISTRAR_PREFIX",
    "SCHEME",
    "SECRET_PURPOSE",
    "VoterTokens",
    "is_registrar",
    "is_voter",
    "issue_token",
    "new_voter_id",
    "token_sha256",
]

SCHEME = "voter_token"
SECRET_PURPOSE = "voter_token"
"""The purpose string of ``gateway.secret``: the key of every voter token's MAC."""
REGISTRAR_PREFIX = "registrar:"
VOTER_ID_PATTERN = r"v-[0-9a-f]{24}"
_VOTER_ID = re.compile(VOTER_ID_PATTERN)
_TOKEN = re.compile(rf"({VOTER_ID_PATTERN})\.([A-Za-z0-9_-]{{43}})")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_OPTIONS = frozenset({"registrar_sha256", "mechanism"})


def new_voter_id() -> str:
    """A fresh voter id (``v-`` and 96 random bits in hex): unguessable, and with no dot in it."""
    return f"v-{secrets.token_hex(12)}"


def _mac(secret: bytes, voter_id: str) -> str:
    digest = hmac.new(secret, voter_id.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issue_token(secret: bytes, voter_id: str) -> str:
    """The token of ``voter_id``: the same for the same trial secret, so a retry re-issues it."""
    if not _VOTER_ID.fullmatch(voter_id):
        raise ContractError(f"not a voter id minted by the live routes: {voter_id!r}")
    return f"{voter_id}.{_mac(secret, voter_id)}"


def token_sha256(token: str) -> str:
    """What is stored of a token: its SHA-256, lowercase hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_registrar(principal: Principal) -> bool:
    """Whether the caller authenticated with a registrar token (other schemes never are)."""
    return principal.scheme == SCHEME and principal.actor.startswith(REGISTRAR_PREFIX)


def is_voter(principal: Principal) -> bool:
    """Whether the caller authenticated with a voter token: votes are cast with these only."""
    return principal.scheme == SCHEME and not principal.actor.startswith(REGISTRAR_PREFIX)


def _registrar_digests(value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise InputError([Problem("registrar_sha256", "expected a non-empty list of SHA-256 hex "
                                                      "digests of the registrars' tokens")])
    problems = [Problem(f"registrar_sha256.{i}", "expected 64 hex digits (the SHA-256 of a token, "
                                                 "never the token itself)")
                for i, item in enumerate(value) if not (isinstance(item, str) and _HEX64.fullmatch(item))]
    if problems:
        raise InputError(problems)
    return sorted({str(item).lower() for item in value})


class VoterTokens:
    """The ``voter_token`` authenticator: ``Authorization: Bearer <registrar or voter token>``.

    Built by the server as ``VoterTokens(gateway, options)`` from the scenario's
    ``[live.auth.voter_token]``: ``registrar_sha256`` (required, a list of SHA-256 hex
    digests) and ``mechanism`` (the emergency vote's name in the scenario, default
    ``"emergency_vote"``), whose state holds the voters' token hashes.
    """

    scheme = SCHEME
    security_scheme: Mapping[str, Any] = {
        "type": "http", "scheme": "bearer",
        "description": "a voter token issued by POST /v1/votes/registrations, or a registrar's token",
    }

    def __init__(self, gateway: Gateway, options: Mapping[str, Any]) -> None:
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise InputError([Problem(key, f"unknown option; known: {', '.join(sorted(_OPTIONS))}")
                              for key in unknown])
        mechanism = options.get("mechanism", "emergency_vote")
        if not isinstance(mechanism, str) or not mechanism:
            raise InputError([Problem("mechanism", "expected the name of the emergency_vote mechanism")])
        self._registrars = _registrar_digests(options.get("registrar_sha256"))
        self._gateway = gateway
        self._mechanism = mechanism
        self._secret: bytes | None = None

    def _key(self) -> bytes:
        # Asked for on first use: the trial (and so its key) may not be open when this is built.
        if self._secret is None:
            self._secret = self._gateway.secret(SECRET_PURPOSE)
        return self._secret

    def _voter_of(self, digest: str) -> str | None:
        vote: Any = self._gateway.mechanism(self._mechanism)
        lookup = getattr(vote, "voter_of_token", None)
        if not callable(lookup):
            raise ContractError(f"live.auth.voter_token.mechanism: {self._mechanism!r} is not an "
                                "emergency_vote mechanism (it keeps no voter tokens)")
        found = lookup(digest)
        return found if isinstance(found, str) else None

    async def authenticate(self, request: Any, body: bytes) -> Principal | None:
        """A registrar's or a voter's principal; ``None`` when the bearer token is not of ours."""
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer":
            return None  # another scheme: another authenticator's business
        token = credentials.strip()
        digest = token_sha256(token)
        for known in self._registrars:
            if hmac.compare_digest(known, digest):
                return Principal(f"{REGISTRAR_PREFIX}{known[:12]}", self.scheme)
        shaped = _TOKEN.fullmatch(token)
        if shaped is None:
            return None  # not a voter token: maybe another bearer scheme's
        voter_id, mac = shaped.groups()
        if not hmac.compare_digest(mac, _mac(self._key(), voter_id)):
            raise AuthError("INVALID_TOKEN", "this voter token was not issued by this trial")
        holder = self._voter_of(digest)
        if holder is None or not hmac.compare_digest(holder, voter_id):
            raise AuthError("INVALID_TOKEN", "no voter is registered with this token")
        return Principal(voter_id, self.scheme)
