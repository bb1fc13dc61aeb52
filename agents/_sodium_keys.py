"""``cryptography``'s Ed25519 key interfaces, signing and verifying through libsodium.

PyJWT signs and verifies EdDSA through the key object it is handed (``key.sign``,
``key.verify``). These keys keep the OpenSSL key for everything else (raw bytes,
serialisation, equality) and sign and verify with libsodium (PyNaCl), at about half the cost, as
agent identities do (see :mod:`._identity`). Ed25519 signing is deterministic, so the signatures
are OpenSSL's byte for byte; libsodium's verification also refuses keys and ``R`` points of
small order, which no honestly made key or signature has
(tests/agents/test_agents_ed25519_backend.py checks both against OpenSSL).

Lifecycle: wrap a key once (:func:`sodium_public_key`, :func:`sodium_private_key`), where it is
kept (a verifier's trusted keys, an evaluator), and hand the wrapper to the library each time.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

__all__ = ["sodium_private_key", "sodium_public_key", "sodium_verifies"]

_SIGNATURE_BYTES = 64


def sodium_verifies(verifier: VerifyKey, signature: bytes, message: bytes) -> bool:
    """libsodium's verdict on an Ed25519 signature of ``message`` by ``verifier``'s key (a wrong
    length is a bad signature, not an error)."""
    if len(signature) != _SIGNATURE_BYTES:  # PyNaCl raises ValueError on a wrong length
        return False
    try:
        verifier.verify(message, signature)
    except BadSignatureError:
        return False
    return True


class _SodiumPublicKey(Ed25519PublicKey):
    """An Ed25519 public key that verifies with libsodium (raises ``InvalidSignature`` as OpenSSL's)."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self._verifier = VerifyKey(key.public_bytes_raw())

    def public_bytes(self, encoding: serialization.Encoding, format: serialization.PublicFormat) -> bytes:
        return self._key.public_bytes(encoding, format)

    def public_bytes_raw(self) -> bytes:
        return self._key.public_bytes_raw()

    def verify(self, signature: Any, data: Any) -> None:
        if not sodium_verifies(self._verifier, bytes(signature), bytes(data)):
            raise InvalidSignature

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ed25519PublicKey):
            return NotImplemented
        return self.public_bytes_raw() == other.public_bytes_raw()

    def __hash__(self) -> int:
        return hash(self.public_bytes_raw())

    def __copy__(self) -> _SodiumPublicKey:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> _SodiumPublicKey:
        return self


class _SodiumPrivateKey(Ed25519PrivateKey):
    """An Ed25519 private key that signs with libsodium (its public key verifies with it too)."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._signer = SigningKey(key.private_bytes_raw())
        self._public = _SodiumPublicKey(key.public_key())

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def private_bytes(self, encoding: serialization.Encoding, format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption) -> bytes:
        return self._key.private_bytes(encoding, format, encryption_algorithm)

    def private_bytes_raw(self) -> bytes:
        return self._key.private_bytes_raw()

    def sign(self, data: Any) -> bytes:
        signature: bytes = self._signer.sign(bytes(data)).signature
        return signature

    def __copy__(self) -> _SodiumPrivateKey:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> _SodiumPrivateKey:
        return self


def sodium_public_key(key: Ed25519PublicKey) -> Ed25519PublicKey:
    """``key``, verifying through libsodium (a key already wrapped is returned as is)."""
    return key if isinstance(key, _SodiumPublicKey) else _SodiumPublicKey(key)


def sodium_private_key(key: Ed25519PrivateKey) -> Ed25519PrivateKey:
    """``key``, signing through libsodium (a key already wrapped is returned as is)."""
    return key if isinstance(key, _SodiumPrivateKey) else _SodiumPrivateKey(key)
