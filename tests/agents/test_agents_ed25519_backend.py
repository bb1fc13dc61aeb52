"""Ed25519 through libsodium (PyNaCl) against OpenSSL (cryptography): request checks and receipts.

The server verifies every signed request with libsodium because it is twice as fast; a
differential test keeps it honest: on honest signatures, on any single-bit change of the
signature, the message or the key, and on signatures by another key, both agree. The
server also signs receipts and checkpoints with libsodium: Ed25519 signing is deterministic,
so its signatures must be OpenSSL's, byte for byte.
"""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.agents import RequestRejectReason
from flagship.agents._signatures import _Ed25519, _Refusal
from flagship.telemetry._trial_log import CheckpointKey, checkpoint_message


def openssl_accepts(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def libsodium_accepts(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        _Ed25519(public_key=key).verify(signature, message)
    except _Refusal as refusal:
        assert refusal.reason is RequestRejectReason.BAD_SIGNATURE
        return False
    return True


def flipped(data: bytes, bit: int) -> bytes:
    """``data`` with one bit inverted (``bit`` taken modulo its length in bits)."""
    position = bit % (8 * len(data))
    changed = bytearray(data)
    changed[position // 8] ^= 1 << (position % 8)
    return bytes(changed)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    message=st.binary(min_size=1, max_size=400),
    bit=st.integers(min_value=0),
    part=st.sampled_from(["none", "signature", "message", "key"]),
)
def test_libsodium_agrees_with_openssl(seed: bytes, message: bytes, bit: int, part: str) -> None:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    key, signature = private.public_key(), private.sign(message)
    if part == "signature":
        signature = flipped(signature, bit)
    elif part == "message":
        message = flipped(message, bit)
    elif part == "key":
        raw = flipped(key.public_bytes_raw(), bit)
        try:
            key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:  # not a point: no verifier is ever handed such a key
            return
    expected = openssl_accepts(key, signature, message)
    assert libsodium_accepts(key, signature, message) == expected
    assert expected == (part == "none")


def test_another_keys_signature_and_wrong_lengths_are_bad_signatures() -> None:
    signer, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    message = b"POST /v1/market/orders"
    assert libsodium_accepts(signer.public_key(), signer.sign(message), message)
    assert not libsodium_accepts(signer.public_key(), other.sign(message), message)
    for signature in (b"", signer.sign(message)[:63], signer.sign(message) + b"\0"):
        assert not openssl_accepts(signer.public_key(), signature, message)
        assert not libsodium_accepts(signer.public_key(), signature, message)


@pytest.mark.parametrize("length", [0, 63, 65])
def test_a_signature_of_the_wrong_length_is_refused_not_raised(length: int) -> None:
    key = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(_Refusal):
        _Ed25519(public_key=key).verify(b"\1" * length, b"message")


@settings(max_examples=50, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=400))
def test_checkpoint_key_signs_exactly_as_openssl_does(seed: bytes, message: bytes) -> None:
    # Receipts and checkpoints are signed with libsodium: Ed25519 is deterministic, so the
    # bytes must equal OpenSSL's for the same key, and verify with the published public key.
    private = Ed25519PrivateKey.from_private_bytes(seed)
    key = CheckpointKey(private)
    signature = key.sign_message(message)
    assert signature == private.sign(message).hex()
    assert openssl_accepts(private.public_key(), bytes.fromhex(signature), message)
    checkpoint = key.sign("trial", 3, "ab" * 32, 12.5)
    assert checkpoint.signature == private.sign(checkpoint_message("trial", 3, "ab" * 32, 12.5)).hex()
