"""Ed25519 through libsodium (PyNaCl) against OpenSSL (cryptography): request checks and receipts.

The server verifies every signed request with libsodium because it is twice as fast; a
differential test keeps it honest: on honest signatures, on any single-bit change of the
signature, the message or the key, and on signatures by another key, both agree. The
server also signs receipts and checkpoints with libsodium: Ed25519 signing is deterministic,
so its signatures must be OpenSSL's, byte for byte. Agent identities sign and verify with
libsodium too (the gate's proofs of possession, in every simulated run): the same checks.
"""

from __future__ import annotations

import jwt
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.agents import AgentIdentity, PublicIdentity, RequestRejectReason
from flagship.agents._credentials import CREDENTIAL_TYPE, Evaluator
from flagship.agents._signatures import _Ed25519, _Refusal
from flagship.agents._sodium_keys import sodium_private_key, sodium_public_key
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
    assert PublicIdentity(key).verify(signature, message) == expected  # the gate's possession checks
    assert expected == (part == "none")


def test_another_keys_signature_and_wrong_lengths_are_bad_signatures() -> None:
    signer, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    message = b"POST /v1/market/orders"
    assert libsodium_accepts(signer.public_key(), signer.sign(message), message)
    assert not libsodium_accepts(signer.public_key(), other.sign(message), message)
    assert not PublicIdentity(signer.public_key()).verify(other.sign(message), message)
    for signature in (b"", signer.sign(message)[:63], signer.sign(message) + b"\0"):
        assert not openssl_accepts(signer.public_key(), signature, message)
        assert not libsodium_accepts(signer.public_key(), signature, message)
        assert not PublicIdentity(signer.public_key()).verify(signature, message)


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


@settings(max_examples=50, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=400))
def test_an_agent_identity_signs_exactly_as_openssl_does(seed: bytes, message: bytes) -> None:
    identity = AgentIdentity.from_seed(seed)
    signature = identity.sign(message)
    assert signature == Ed25519PrivateKey.from_private_bytes(seed).sign(message)
    assert identity.sign(message) == signature  # the second signature, with the kept signing key
    assert openssl_accepts(identity.public_key, signature, message)


@settings(max_examples=50, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(min_size=1, max_size=400),
       bit=st.integers(min_value=0), part=st.sampled_from(["none", "signature", "message"]))
def test_the_libsodium_keys_handed_to_pyjwt_sign_and_verify_as_openssls(seed: bytes, message: bytes, bit: int,
                                                                        part: str) -> None:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    wrapped = sodium_private_key(private)
    assert isinstance(wrapped, Ed25519PrivateKey) and sodium_private_key(wrapped) is wrapped
    signature = wrapped.sign(message)
    assert signature == private.sign(message)
    assert wrapped.private_bytes_raw() == seed
    public = sodium_public_key(private.public_key())
    assert public == private.public_key() == wrapped.public_key()
    assert public.public_bytes_raw() == private.public_key().public_bytes_raw()
    if part == "signature":
        signature = flipped(signature, bit)
    elif part == "message":
        message = flipped(message, bit)
    expected = openssl_accepts(private.public_key(), signature, message)
    assert openssl_accepts(public, signature, message) == expected == (part == "none")
    assert not openssl_accepts(public, signature[:63], message)


def test_a_credential_is_the_same_token_whichever_library_signs_and_verifies_it() -> None:
    identity = AgentIdentity.from_seed(bytes(range(32)))
    claims = {"iss": identity.agent_id, "sub": "s", "jti": "j", "iat": 1, "nbf": 1, "exp": 2,
              "battery": "b", "score": 0.5}
    headers = {"typ": CREDENTIAL_TYPE, "kid": identity.agent_id}
    token = jwt.encode(claims, sodium_private_key(identity.private_key), algorithm="EdDSA", headers=headers)
    assert token == jwt.encode(claims, identity.private_key, algorithm="EdDSA", headers=headers)
    assert Evaluator(identity).issue("a" * 43, "b", 0.5, issued_at=1, valid_until=2, credential_id="j") == \
        jwt.encode({**claims, "sub": "a" * 43}, identity.private_key, algorithm="EdDSA", headers=headers)
    decoded = jwt.decode(token, sodium_public_key(identity.public_key), algorithms=["EdDSA"],
                         options={"verify_exp": False})
    assert decoded == claims
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, sodium_public_key(identity.public_key), algorithms=["EdDSA"],
                   options={"verify_exp": False})
