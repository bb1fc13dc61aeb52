"""Agent identity: an Ed25519 key whose RFC 7638 JWK thumbprint is the agent id.

The JWK form of an Ed25519 public key is RFC 8037's ``{"kty": "OKP", "crv":
"Ed25519", "x": <base64url of the 32 raw bytes>}``.  Its RFC 7638 thumbprint is
the base64url (no padding) SHA-256 of the canonical JSON of exactly the required
members in lexicographic order, ``{"crv":"Ed25519","kty":"OKP","x":"..."}``: 43
characters that name the key and nothing else.  The same string is the agent id
in credentials and the ``keyid`` of Web Bot Auth request signatures, so a
verifier never has to trust a self-chosen name.

Keys are ``cryptography``'s objects (what JOSE and HTTP-signature libraries take), but an
identity signs and verifies with libsodium (PyNaCl), as the live server's request checks,
receipts and checkpoints do: about half of OpenSSL's cost here. Ed25519 signing is
deterministic, so the signatures are OpenSSL's byte for byte; libsodium's verification also
refuses keys and ``R`` points of small order, which no honestly made key or signature has
(tests/agents/test_agents_ed25519_backend.py checks both against OpenSSL).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.signing import VerifyKey

from flagship.agents._sodium_keys import sodium_private_key, sodium_verifies
from flagship.mechanisms._errors import InputError, Problem

__all__ = [
    "AgentIdentity",
    "PublicIdentity",
    "b64url_decode",
    "b64url_encode",
    "is_agent_id",
    "jwk_thumbprint",
    "public_key_from_jwk",
]

_KEY_BYTES = 32
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# A SHA-256 thumbprint is 32 bytes: 43 base64url characters without padding.
_AGENT_ID = re.compile(r"[A-Za-z0-9_-]{43}")


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2), as JOSE uses everywhere."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, field: str) -> bytes:
    """Strictly decode unpadded base64url; InputError naming ``field`` otherwise.

    Padding, whitespace, the standard alphabet's ``+``/``/`` and non-canonical
    trailing bits are all refused: each would give one key several spellings,
    and so several thumbprints.
    """
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise InputError(Problem(field, "expected unpadded base64url text"))
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InputError(Problem(field, "expected unpadded base64url text")) from exc
    if b64url_encode(data) != text:
        raise InputError(Problem(field, "non-canonical base64url (stray trailing bits)"))
    return data


def is_agent_id(value: object) -> bool:
    """Whether ``value`` has the shape of an agent id (a base64url SHA-256 thumbprint).

    A shape check only: it says nothing about whether any key has that thumbprint.
    """
    return isinstance(value, str) and _AGENT_ID.fullmatch(value) is not None


def _raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _thumbprint_of_x(x: str) -> str:
    # RFC 7638 section 3.2: required members only, sorted, no whitespace.  The
    # values are ASCII, so json.dumps' escaping cannot change the bytes.
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True
    )
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def _check_public_members(jwk: object, field: str) -> str:
    """Validate kty/crv/x of an Ed25519 JWK; return x."""
    if not isinstance(jwk, Mapping):
        raise InputError(Problem(field, f"expected a JWK object, got {type(jwk).__name__}"))
    problems: list[Problem] = []
    if jwk.get("kty") != "OKP":
        problems.append(Problem(f"{field}.kty", f"expected 'OKP', got {jwk.get('kty')!r}"))
    if jwk.get("crv") != "Ed25519":
        problems.append(Problem(f"{field}.crv", f"expected 'Ed25519', got {jwk.get('crv')!r}"))
    x = jwk.get("x")
    if not isinstance(x, str):
        problems.append(Problem(f"{field}.x", "missing or not a string"))
        x = ""
    if problems:
        raise InputError(problems)
    raw = b64url_decode(x, f"{field}.x")
    if len(raw) != _KEY_BYTES:
        raise InputError(Problem(f"{field}.x", f"expected {_KEY_BYTES} bytes, got {len(raw)}"))
    return x


def jwk_thumbprint(jwk: Mapping[str, object], *, field: str = "jwk") -> str:
    """RFC 7638 SHA-256 thumbprint of an Ed25519 JWK (public or private).

    Only the required public members count, so a private JWK has the same
    thumbprint as its public half.  Raises InputError naming the bad member.
    """
    return _thumbprint_of_x(_check_public_members(jwk, field))


def public_key_from_jwk(jwk: Mapping[str, object], *, field: str = "jwk") -> Ed25519PublicKey:
    """The Ed25519 public key of an RFC 8037 public JWK.

    A JWK carrying ``d`` (the private key) is refused: code that wants a public
    key and is handed a private one is about to store or forward a secret.
    """
    x = _check_public_members(jwk, field)
    if "d" in jwk:
        raise InputError(Problem(f"{field}.d", "a public JWK must not carry the private key"))
    return Ed25519PublicKey.from_public_bytes(b64url_decode(x, f"{field}.x"))


class PublicIdentity:
    """An agent's public half: the Ed25519 public key and its agent id.

    Two public identities are equal when their agent ids are, i.e. when they
    hold the same key.
    """

    __slots__ = ("_agent_id", "_key", "_verifier", "_x")

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        if not isinstance(public_key, Ed25519PublicKey):
            kind = type(public_key).__name__
            raise InputError(Problem("public_key", f"expected an Ed25519 public key, got {kind}"))
        self._key = public_key
        raw = _raw_public_bytes(public_key)
        self._x = b64url_encode(raw)
        self._agent_id = _thumbprint_of_x(self._x)
        self._verifier = VerifyKey(raw)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, object], *, field: str = "jwk") -> PublicIdentity:
        """Parse an RFC 8037 public JWK; InputError naming the bad member otherwise."""
        return cls(public_key_from_jwk(jwk, field=field))

    @classmethod
    def from_bytes(cls, raw: bytes, *, field: str = "public_key") -> PublicIdentity:
        """The identity of a raw 32-byte Ed25519 public key."""
        if not isinstance(raw, bytes) or len(raw) != _KEY_BYTES:
            raise InputError(Problem(field, f"expected {_KEY_BYTES} raw bytes"))
        return cls(Ed25519PublicKey.from_public_bytes(raw))

    @property
    def agent_id(self) -> str:
        """The RFC 7638 thumbprint of the key: the agent's stable, self-certifying id."""
        return self._agent_id

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The ``cryptography`` public key object."""
        return self._key

    def jwk(self) -> dict[str, str]:
        """The RFC 8037 public JWK (a fresh dict each call, safe to mutate)."""
        return {"kty": "OKP", "crv": "Ed25519", "x": self._x}

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``data`` (libsodium)."""
        return sodium_verifies(self._verifier, signature, data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicIdentity):
            return NotImplemented
        return self._agent_id == other._agent_id

    def __hash__(self) -> int:
        return hash(self._agent_id)

    def __repr__(self) -> str:
        return f"PublicIdentity(agent_id={self._agent_id!r})"


class AgentIdentity:
    """An agent's private Ed25519 key, with its public identity.

    ``repr`` shows only the agent id, so identities can be logged safely.
    """

    __slots__ = ("_agent_id", "_key", "_public", "_signer")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise InputError(
                Problem(
                    "private_key",
                    f"expected an Ed25519 private key, got {type(private_key).__name__}",
                )
            )
        self._key = private_key
        self._public = PublicIdentity(private_key.public_key())
        # The public identity's id, kept here too: a simulated agent reads it at every order.
        self._agent_id = self._public.agent_id
        self._signer: Ed25519PrivateKey | None = None  # libsodium's, made at the first signature

    @classmethod
    def generate(cls) -> AgentIdentity:
        """A fresh identity from the operating system's CSPRNG (live use)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> AgentIdentity:
        """The identity whose RFC 8032 private key (seed) is these 32 bytes.

        Deterministic, for simulations and tests that must replay exactly.  The
        seed *is* the private key: derive it from a simulation's seeded stream,
        never from anything a live agent would reuse.
        """
        if not isinstance(seed, bytes) or len(seed) != _KEY_BYTES:
            raise InputError(Problem("seed", f"expected exactly {_KEY_BYTES} bytes"))
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def agent_id(self) -> str:
        """The RFC 7638 thumbprint of the public key."""
        return self._agent_id

    @property
    def public(self) -> PublicIdentity:
        """The public half, to register with a marketplace or a verifier."""
        return self._public

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The ``cryptography`` public key object."""
        return self._public.public_key

    @property
    def private_key(self) -> Ed25519PrivateKey:
        """The ``cryptography`` private key, for handing to JOSE / HTTP-signature libraries.

        Never serialise or log it; pass the identity itself around instead.
        """
        return self._key

    def public_jwk(self) -> dict[str, str]:
        """The RFC 8037 public JWK."""
        return self._public.jwk()

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data`` (deterministic, RFC 8032)."""
        if not isinstance(data, bytes):
            raise InputError(Problem("data", f"expected bytes, got {type(data).__name__}"))
        signer = self._signer
        if signer is None:
            signer = self._signer = sodium_private_key(self._key)
        return signer.sign(data)

    def __repr__(self) -> str:
        return f"AgentIdentity(agent_id={self.agent_id!r})"
