"""Competence credentials: issue, verify, and one distinct reason per kind of bad credential."""

from __future__ import annotations

import json
import math
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.agents import (
    CREDENTIAL_TYPE,
    AgentIdentity,
    CompetenceCredential,
    CredentialRejected,
    CredentialRejectReason,
    CredentialVerifier,
    Evaluator,
)
from flagship.agents._credentials import _unverified_header
from flagship.agents._identity import b64url_encode
from flagship.mechanisms._errors import InputError

R = CredentialRejectReason
T0 = 1_000.0
T1 = 2_000.0
EVALUATOR_IDENTITY = AgentIdentity.from_seed(b"E" * 32)
EVALUATOR = Evaluator(EVALUATOR_IDENTITY)
AGENT = AgentIdentity.from_seed(b"A" * 32)
OTHER_AGENT = AgentIdentity.from_seed(b"B" * 32)
STRANGER = AgentIdentity.from_seed(b"S" * 32)


def verifier(**kwargs: Any) -> CredentialVerifier:
    return CredentialVerifier({EVALUATOR.evaluator_id: EVALUATOR.public.public_key}, **kwargs)


def issue(**overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "agent_id": AGENT.agent_id,
        "battery": "negotiation-v1",
        "score": 0.82,
        "issued_at": T0,
        "valid_until": T1,
        "credential_id": "cred-1",
    }
    arguments.update(overrides)
    return EVALUATOR.issue(**arguments)


def claims(**overrides: Any) -> dict[str, Any]:
    """Well-formed claims, for hand-built tokens."""
    base: dict[str, Any] = {
        "iss": EVALUATOR.evaluator_id,
        "sub": AGENT.agent_id,
        "jti": "cred-x",
        "iat": T0,
        "nbf": T0,
        "exp": T1,
        "battery": "negotiation-v1",
        "score": 0.5,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def hand_signed(payload: dict[str, Any], *, key: AgentIdentity = EVALUATOR_IDENTITY) -> str:
    headers = {"typ": CREDENTIAL_TYPE, "kid": EVALUATOR.evaluator_id}
    return jwt.encode(payload, key.private_key, algorithm="EdDSA", headers=headers)


def raw_jws(header: dict[str, Any], payload: dict[str, Any], key: AgentIdentity) -> str:
    """A compact JWS built by hand, for headers PyJWT refuses to produce."""
    signing_input = ".".join(b64url_encode(json.dumps(part).encode()) for part in (header, payload))
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode()))}"


def reason(result: CompetenceCredential | CredentialRejected) -> CredentialRejectReason:
    assert isinstance(result, CredentialRejected), result
    return result.reason


def test_issued_credential_verifies_with_its_claims() -> None:
    result = verifier().verify(issue(), now=T0 + 1, subject=AGENT.agent_id)
    assert result == CompetenceCredential(
        credential_id="cred-1",
        agent_id=AGENT.agent_id,
        evaluator_id=EVALUATOR.evaluator_id,
        battery="negotiation-v1",
        score=0.82,
        issued_at=T0,
        not_before=T0,
        expires_at=T1,
    )


def test_token_is_a_typed_eddsa_jws_naming_its_evaluator() -> None:
    token = issue()
    assert jwt.get_unverified_header(token) == {
        "alg": "EdDSA",
        "kid": EVALUATOR.evaluator_id,
        "typ": CREDENTIAL_TYPE,
    }
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == EVALUATOR.evaluator_id
    assert payload["sub"] == AGENT.agent_id
    assert payload["iat"] == 1000  # whole seconds are JSON integers
    assert isinstance(payload["iat"], int)


def test_issuing_is_deterministic_given_the_credential_id() -> None:
    assert issue() == issue()
    assert issue(credential_id="cred-2") != issue()


def test_default_credential_ids_are_random_and_distinct() -> None:
    first = verifier().verify(issue(credential_id=None), now=T0)
    second = verifier().verify(issue(credential_id=None), now=T0)
    assert isinstance(first, CompetenceCredential)
    assert isinstance(second, CompetenceCredential)
    assert first.credential_id != second.credential_id


def test_simulation_times_need_not_be_whole_seconds() -> None:
    token = issue(issued_at=12.5, valid_until=30.25)
    assert isinstance(verifier().verify(token, now=30.0), CompetenceCredential)
    assert reason(verifier().verify(token, now=30.25)) is R.EXPIRED
    assert reason(verifier().verify(token, now=12.0)) is R.NOT_YET_VALID


# --- one distinct reason per cause ---------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "!!!.???.###",
        "é" * 10,
        "x" * 9000,
        None,
        b"bytes.are.not",
        12,
    ],
)
def test_unreadable_tokens_are_malformed(token: object) -> None:
    assert reason(verifier().verify(token, now=T0)) is R.MALFORMED


def test_non_canonical_signature_spelling_is_malformed() -> None:
    token = issue()
    head, _, signature = token.rpartition(".")
    # 64 bytes -> 86 chars; the last one carries 4 ignored bits, so flipping its
    # lowest bit spells the same signature differently.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    respelled = signature[:-1] + alphabet[last ^ 1]
    assert jwt.utils.base64url_decode(respelled) == jwt.utils.base64url_decode(signature)
    assert reason(verifier().verify(f"{head}.{respelled}", now=T0)) is R.MALFORMED


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "EdDSA", "typ": "JWT", "kid": EVALUATOR.evaluator_id},
        {"alg": "EdDSA", "kid": EVALUATOR.evaluator_id},
        {"alg": "EdDSA", "typ": CREDENTIAL_TYPE},
        {"alg": "EdDSA", "typ": CREDENTIAL_TYPE, "kid": 7},
    ],
)
def test_wrong_type_or_missing_kid_is_malformed(header: dict[str, Any]) -> None:
    token = raw_jws(header, claims(), EVALUATOR_IDENTITY)
    assert reason(verifier().verify(token, now=T0)) is R.MALFORMED


def test_hand_built_jws_helper_matches_the_issuer() -> None:
    # Guards the test above: the same helper with the right header is accepted.
    header = {"alg": "EdDSA", "typ": CREDENTIAL_TYPE, "kid": EVALUATOR.evaluator_id}
    token = raw_jws(header, claims(), EVALUATOR_IDENTITY)
    assert isinstance(verifier().verify(token, now=T0), CompetenceCredential)


def test_alg_none_is_malformed() -> None:
    header = {"alg": "none", "typ": CREDENTIAL_TYPE, "kid": EVALUATOR.evaluator_id}
    segments = [b64url_encode(json.dumps(part).encode()) for part in (header, claims())]
    token = ".".join([*segments, ""])
    assert reason(verifier().verify(token, now=T0)) is R.MALFORMED


def test_hmac_with_the_public_key_as_secret_is_malformed() -> None:
    # The classic algorithm-confusion forgery: refused on the header, before any key use.
    secret = EVALUATOR.public.jwk()["x"].encode()
    token = jwt.encode(
        claims(score=1.0),
        secret,
        algorithm="HS256",
        headers={"typ": CREDENTIAL_TYPE, "kid": EVALUATOR.evaluator_id},
    )
    assert reason(verifier().verify(token, now=T0)) is R.MALFORMED


@pytest.mark.parametrize(
    "payload",
    [
        claims(score=None),
        claims(jti=None),
        claims(exp=None),
        claims(score=True),
        claims(score="0.9"),
        claims(score=10**400),
        claims(battery=""),
        claims(iat="yesterday"),
        claims(sub="agent-7"),
        claims(iss=STRANGER.agent_id),
    ],
)
def test_authentic_but_ill_formed_claims_are_malformed(payload: dict[str, Any]) -> None:
    assert reason(verifier().verify(hand_signed(payload), now=T0)) is R.MALFORMED


def test_altered_payload_is_a_bad_signature() -> None:
    header, _, signature = issue().split(".")
    raised = claims(jti="cred-1", score=1.0)
    forged = f"{header}.{b64url_encode(json.dumps(raised).encode())}.{signature}"
    assert reason(verifier().verify(forged, now=T0)) is R.BAD_SIGNATURE


def test_signed_by_another_key_under_a_trusted_kid_is_a_bad_signature() -> None:
    token = hand_signed(claims(), key=STRANGER)
    assert reason(verifier().verify(token, now=T0)) is R.BAD_SIGNATURE


def test_evaluator_not_trusted_is_untrusted() -> None:
    rogue = Evaluator(STRANGER)
    token = rogue.issue(AGENT.agent_id, "negotiation-v1", 1.0, issued_at=T0, valid_until=T1)
    assert reason(verifier().verify(token, now=T0)) is R.UNTRUSTED_EVALUATOR
    trusting_rogue = CredentialVerifier({rogue.evaluator_id: rogue.public.public_key})
    assert isinstance(trusting_rogue.verify(token, now=T0), CompetenceCredential)


def test_expiry_is_exclusive_at_valid_until() -> None:
    token = issue()
    assert isinstance(verifier().verify(token, now=T1 - 0.001), CompetenceCredential)
    assert reason(verifier().verify(token, now=T1)) is R.EXPIRED
    assert reason(verifier().verify(token, now=T1 + 1e6)) is R.EXPIRED


def test_not_yet_valid_before_issue_or_not_before() -> None:
    assert reason(verifier().verify(issue(), now=T0 - 0.001)) is R.NOT_YET_VALID
    assert isinstance(verifier().verify(issue(), now=T0), CompetenceCredential)
    later = issue(not_before=T0 + 100)
    assert reason(verifier().verify(later, now=T0 + 99)) is R.NOT_YET_VALID
    assert isinstance(verifier().verify(later, now=T0 + 100), CompetenceCredential)


def test_leeway_widens_both_ends() -> None:
    lenient = verifier(leeway=5)
    assert isinstance(lenient.verify(issue(), now=T0 - 5), CompetenceCredential)
    assert reason(lenient.verify(issue(), now=T0 - 5.5)) is R.NOT_YET_VALID
    assert isinstance(lenient.verify(issue(), now=T1 + 4.9), CompetenceCredential)
    assert reason(lenient.verify(issue(), now=T1 + 5)) is R.EXPIRED


def test_revocation_by_credential_id() -> None:
    assert reason(verifier(revoked=["cred-1"]).verify(issue(), now=T0)) is R.REVOKED
    live = verifier(revoked=["cred-other"])
    assert isinstance(live.verify(issue(), now=T0), CompetenceCredential)
    live.revoke("cred-1")
    assert live.is_revoked("cred-1")
    assert reason(live.verify(issue(), now=T0)) is R.REVOKED


def test_credential_for_another_agent_is_a_subject_mismatch() -> None:
    token = issue()
    assert reason(verifier().verify(token, now=T0, subject=OTHER_AGENT.agent_id)) is (
        R.SUBJECT_MISMATCH
    )
    matching = verifier().verify(token, now=T0, subject=AGENT.agent_id)
    assert isinstance(matching, CompetenceCredential)


def test_documented_check_order() -> None:
    # Revoked outranks subject and time; trust is judged before the signature.
    stale = issue()
    assert reason(verifier(revoked=["cred-1"]).verify(stale, now=T1 + 10)) is R.REVOKED
    assert reason(verifier().verify(stale, now=T1 + 10, subject=STRANGER.agent_id)) is (
        R.SUBJECT_MISMATCH
    )
    rogue = Evaluator(STRANGER).issue(AGENT.agent_id, "b", 0, issued_at=T0, valid_until=T1)
    assert reason(verifier().verify(rogue, now=T1 + 10)) is R.UNTRUSTED_EVALUATOR


def test_reason_codes_are_a_closed_distinct_set() -> None:
    assert [member.value for member in R] == [
        "MALFORMED",
        "BAD_SIGNATURE",
        "UNTRUSTED_EVALUATOR",
        "EXPIRED",
        "NOT_YET_VALID",
        "REVOKED",
        "SUBJECT_MISMATCH",
    ]


# --- programming errors raise -------------------------------------------------------------


@pytest.mark.parametrize("now", [math.nan, math.inf, "1000", True, None])
def test_verify_raises_for_a_bad_clock(now: object) -> None:
    with pytest.raises(InputError) as caught:
        verifier().verify(issue(), now=now)  # type: ignore[arg-type]
    assert [p.path for p in caught.value.problems] == ["now"]


def test_verify_raises_for_a_non_string_subject() -> None:
    with pytest.raises(InputError, match="subject"):
        verifier().verify(issue(), now=T0, subject=42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"agent_id": "not-a-thumbprint"}, "agent_id"),
        ({"battery": ""}, "battery"),
        ({"score": math.nan}, "score"),
        ({"score": "high"}, "score"),
        ({"issued_at": math.inf}, "issued_at"),
        ({"valid_until": T0}, "valid_until"),
        ({"not_before": T1, "valid_until": T1}, "valid_until"),
        ({"credential_id": ""}, "credential_id"),
    ],
)
def test_issue_refuses_bad_arguments_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        issue(**overrides)
    assert [p.path for p in caught.value.problems] == [field]


def test_trusted_ids_must_be_the_keys_thumbprints() -> None:
    with pytest.raises(InputError, match="thumbprint"):
        CredentialVerifier({STRANGER.agent_id: EVALUATOR.public.public_key})
    with pytest.raises(InputError, match="Ed25519"):
        CredentialVerifier({EVALUATOR.evaluator_id: "key"})  # type: ignore[dict-item]
    with pytest.raises(InputError, match="leeway"):
        verifier(leeway=-1)


# --- properties -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    battery=st.text(min_size=1, max_size=40),
    score=st.floats(allow_nan=False, allow_infinity=False),
    issued_at=st.floats(min_value=0, max_value=1e9),
    lifetime=st.floats(min_value=1e-3, max_value=1e6),
)
def test_any_issued_credential_verifies_inside_its_window(
    battery: str, score: float, issued_at: float, lifetime: float
) -> None:
    valid_until = issued_at + lifetime
    token = issue(battery=battery, score=score, issued_at=issued_at, valid_until=valid_until)
    result = verifier().verify(token, now=issued_at, subject=AGENT.agent_id)
    assert isinstance(result, CompetenceCredential)
    assert (result.battery, result.score) == (battery, score)
    assert result.expires_at == valid_until


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_single_character_change_is_refused(data: st.DataObject) -> None:
    token = issue()
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    replacement = data.draw(st.sampled_from(alphabet).filter(lambda c: c != token[index]))
    mutated = token[:index] + replacement + token[index + 1 :]
    assert isinstance(verifier().verify(mutated, now=T0), CredentialRejected)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_refused_without_raising(text: str) -> None:
    assert isinstance(verifier().verify(text, now=T0), CredentialRejected)


def _pyjwt_header(token: str) -> object:
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        return (type(exc), str(exc))


def _our_header(token: str) -> object:
    try:
        return _unverified_header(token, token.split("."))
    except jwt.PyJWTError as exc:
        return (type(exc), str(exc))


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3), max_leaves=4)
HEADERS = st.one_of(
    st.fixed_dictionaries({"alg": st.sampled_from(["EdDSA", "none", "HS256"]),
                           "typ": st.sampled_from([CREDENTIAL_TYPE, "JWT"])},
                          optional={"kid": st.text(max_size=10) | JSON_VALUES, "crit": JSON_VALUES,
                                    "b64": st.booleans(), "x": JSON_VALUES}),
    JSON_VALUES,  # JSON that is not an object
)


def _segment(data: bytes, spelling: str) -> str:
    text = b64url_encode(data)
    if spelling == "padded":
        return text + "=" * (-len(text) % 4)
    if spelling == "stray bits" and len(text) % 4 in (2, 3):
        return text[:-1] + chr(ord(text[-1]) + 1) if text[-1] not in "_9-z" else text
    if spelling == "junk":
        return text[:1] + "!" + text[1:]
    return text


@settings(max_examples=400, deadline=None, derandomize=True)
@given(header=HEADERS, raw_header=st.none() | st.binary(max_size=12), payload=st.binary(max_size=40),
       header_spelling=st.sampled_from(["canonical", "padded", "stray bits", "junk"]),
       payload_spelling=st.sampled_from(["canonical", "padded", "stray bits", "junk"]))
def test_the_header_read_is_pyjwts(header: object, raw_header: bytes | None, payload: bytes,
                                   header_spelling: str, payload_spelling: str) -> None:
    """The verifier reads a token's header without PyJWT's parse where it can: the same header,
    or the same PyJWTError and message, as ``jwt.get_unverified_header`` for any header (JSON
    objects with or without ``kid``, ``crit`` and ``b64``, other JSON, bytes that are not JSON)
    and any spelling of the segments (canonical, padded, stray trailing bits, a junk character)."""
    header_bytes = json.dumps(header).encode() if raw_header is None else raw_header
    token = ".".join([_segment(header_bytes, header_spelling), _segment(payload, payload_spelling),
                      b64url_encode(b"s" * 64)])
    assert _our_header(token) == _pyjwt_header(token)


def test_the_header_read_takes_the_common_case_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """An issued credential's header is read without PyJWT (which is asked only for the rest)."""
    token = issue()
    monkeypatch.setattr(jwt, "get_unverified_header", lambda _: pytest.fail("PyJWT asked for the header"))
    assert _unverified_header(token, token.split(".")) == {
        "alg": "EdDSA", "typ": CREDENTIAL_TYPE, "kid": EVALUATOR.evaluator_id}
    assert isinstance(verifier().verify(token, now=T0), CompetenceCredential)
