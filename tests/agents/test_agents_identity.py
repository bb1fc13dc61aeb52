"""Agent identity: RFC 8037 / RFC 7638 vectors, determinism, and JWK validation."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from flagship import agents
from flagship.agents import AgentIdentity, PublicIdentity, jwk_thumbprint, public_key_from_jwk
from flagship.agents._identity import b64url_decode, b64url_encode, is_agent_id
from flagship.mechanisms._errors import FlagshipError, InputError

# RFC 8037 Appendix A.1 (the key), A.3 (its thumbprint), A.4 (a JWS signed with it).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_SIGNING_INPUT = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
RFC8037_SIGNATURE = (
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


def rfc8037_identity() -> AgentIdentity:
    return AgentIdentity.from_seed(b64url_decode(RFC8037_D, "d"))


def problem_paths(error: InputError) -> set[str]:
    return {problem.path for problem in error.problems}


def test_rfc8037_key_has_the_published_public_key_and_thumbprint() -> None:
    identity = rfc8037_identity()
    assert identity.public_jwk() == {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}
    assert identity.agent_id == RFC8037_THUMBPRINT
    assert identity.public.agent_id == RFC8037_THUMBPRINT


def test_thumbprint_of_the_rfc8037_jwk_ignores_non_required_members() -> None:
    public = {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}
    assert jwk_thumbprint(public) == RFC8037_THUMBPRINT
    # RFC 7638: only required members count, so the private JWK and one with
    # optional members have the same thumbprint.
    assert jwk_thumbprint({**public, "d": RFC8037_D, "use": "sig", "kid": "x"}) == (
        RFC8037_THUMBPRINT
    )


def test_signing_reproduces_the_rfc8037_jws_signature() -> None:
    # Ed25519 is deterministic, so the RFC's signature is the only right answer.
    signature = rfc8037_identity().sign(RFC8037_SIGNING_INPUT)
    assert b64url_encode(signature) == RFC8037_SIGNATURE


def test_public_identity_verifies_own_signatures_and_refuses_altered_ones() -> None:
    identity = AgentIdentity.generate()
    signature = identity.sign(b"bid 42")
    assert identity.public.verify(signature, b"bid 42")
    assert not identity.public.verify(signature, b"bid 43")
    assert not AgentIdentity.generate().public.verify(signature, b"bid 42")


def test_from_seed_is_deterministic_and_seed_sensitive() -> None:
    seed = bytes(range(32))
    assert AgentIdentity.from_seed(seed).agent_id == AgentIdentity.from_seed(seed).agent_id
    assert AgentIdentity.from_seed(seed).agent_id != AgentIdentity.from_seed(bytes(32)).agent_id


def test_generate_gives_distinct_well_formed_ids() -> None:
    first, second = AgentIdentity.generate(), AgentIdentity.generate()
    assert first.agent_id != second.agent_id
    assert is_agent_id(first.agent_id)
    assert len(first.agent_id) == 43


@given(st.binary(min_size=32, max_size=32))
def test_jwk_round_trip_keeps_the_agent_id(seed: bytes) -> None:
    identity = AgentIdentity.from_seed(seed)
    parsed = PublicIdentity.from_jwk(identity.public_jwk())
    assert parsed == identity.public
    assert hash(parsed) == hash(identity.public)
    assert parsed.agent_id == identity.agent_id == jwk_thumbprint(identity.public_jwk())
    raw = b64url_decode(identity.public_jwk()["x"], "x")
    assert PublicIdentity.from_bytes(raw) == parsed


def test_repr_shows_the_agent_id_and_never_the_private_key() -> None:
    identity = rfc8037_identity()
    assert RFC8037_THUMBPRINT in repr(identity)
    assert RFC8037_D not in repr(identity)
    assert RFC8037_D not in repr(identity.public)


def test_jwk_returned_is_a_copy() -> None:
    identity = AgentIdentity.generate()
    jwk = identity.public_jwk()
    jwk["x"] = "tampered"
    assert identity.public_jwk()["x"] != "tampered"


@pytest.mark.parametrize(
    ("jwk", "paths"),
    [
        ({"kty": "EC", "crv": "Ed25519", "x": RFC8037_X}, {"jwk.kty"}),
        ({"kty": "OKP", "crv": "X25519", "x": RFC8037_X}, {"jwk.crv"}),
        ({"kty": "OKP", "crv": "Ed25519"}, {"jwk.x"}),
        ({"kty": "OKP", "crv": "Ed25519", "x": 5}, {"jwk.x"}),
        ({"crv": "P-256"}, {"jwk.kty", "jwk.crv", "jwk.x"}),
        ({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X + "="}, {"jwk.x"}),
        ({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X[:-1] + "+"}, {"jwk.x"}),
        ({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X[:-2]}, {"jwk.x"}),
        ({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(bytes(31))}, {"jwk.x"}),
        ({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "d": RFC8037_D}, {"jwk.d"}),
    ],
)
def test_bad_public_jwks_are_refused_naming_the_member(
    jwk: Mapping[str, object], paths: set[str]
) -> None:
    with pytest.raises(InputError) as caught:
        public_key_from_jwk(jwk)
    assert problem_paths(caught.value) == paths


def test_non_canonical_x_is_refused() -> None:
    # The last character of a 32-byte value carries 2 ignored bits: 'o' -> 'p'
    # decodes to the same bytes in lenient decoders, but is a second spelling.
    assert RFC8037_X.endswith("o")
    with pytest.raises(InputError, match="non-canonical"):
        PublicIdentity.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X[:-1] + "p"})


def test_field_prefix_is_configurable_for_nested_documents() -> None:
    with pytest.raises(InputError) as caught:
        PublicIdentity.from_jwk({"kty": "OKP", "crv": "Ed25519"}, field="agents[3].key")
    assert problem_paths(caught.value) == {"agents[3].key.x"}


def test_not_a_mapping_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        jwk_thumbprint(["kty", "OKP"])  # type: ignore[arg-type]
    assert problem_paths(caught.value) == {"jwk"}


@pytest.mark.parametrize("seed", [b"", bytes(31), bytes(33), "0" * 32])
def test_from_seed_needs_exactly_32_bytes(seed: object) -> None:
    with pytest.raises(InputError) as caught:
        AgentIdentity.from_seed(seed)  # type: ignore[arg-type]
    assert problem_paths(caught.value) == {"seed"}


def test_constructors_refuse_other_key_types() -> None:
    with pytest.raises(InputError) as caught:
        AgentIdentity(b"not a key")  # type: ignore[arg-type]
    assert problem_paths(caught.value) == {"private_key"}
    with pytest.raises(InputError) as caught:
        PublicIdentity(Ed25519PrivateKey.generate())  # type: ignore[arg-type]
    assert problem_paths(caught.value) == {"public_key"}
    with pytest.raises(InputError) as caught:
        PublicIdentity.from_bytes(bytes(16))
    assert problem_paths(caught.value) == {"public_key"}


def test_sign_takes_bytes_only() -> None:
    with pytest.raises(InputError) as caught:
        AgentIdentity.generate().sign("text")  # type: ignore[arg-type]
    assert problem_paths(caught.value) == {"data"}


def test_input_errors_are_flagship_errors() -> None:
    with pytest.raises(FlagshipError):
        AgentIdentity.from_seed(b"short")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (RFC8037_THUMBPRINT, True),
        (RFC8037_THUMBPRINT[:-1], False),
        (RFC8037_THUMBPRINT + "A", False),
        ("+" * 43, False),
        (None, False),
    ],
)
def test_is_agent_id_checks_the_shape(value: object, expected: bool) -> None:
    assert is_agent_id(value) is expected


def test_public_surface_is_pinned() -> None:
    assert sorted(agents.__all__) == sorted(
        [
            "COVERED_COMPONENTS",
            "CREDENTIAL_TYPE",
            "WEB_BOT_AUTH_TAG",
            "AgentIdentity",
            "AgentKeyResolver",
            "AgentRegistry",
            "CompetenceCredential",
            "CredentialRejectReason",
            "CredentialRejected",
            "CredentialVerifier",
            "Evaluator",
            "PublicIdentity",
            "RequestRejectReason",
            "RequestRejected",
            "RequestVerifier",
            "VerifiedRequest",
            "WebBotAuth",
            "WebBotAuthenticator",
            "OperatorTokens",
            "jwk_thumbprint",
            "public_key_from_jwk",
            "AgentGate",
            "AgentParams",
            "AgentStatus",
            "DeceptiveAgents",
            "DeceptiveParams",
            "DecisionReason",
            "EXAM_SIGNATURE_DOMAIN",
            "ExamOption",
            "ExamScenario",
            "ForgerAgents",
            "ForgerParams",
            "GateConfig",
            "GateReason",
            "HonestAgents",
            "IncompetentAgents",
            "Question",
            "ReplayerAgents",
            "ReplayerParams",
            "SCENARIOS",
            "SybilAgents",
            "SybilParams",
            "choose_answers",
            "draw_exam",
            "exam_signing_input",
            "grade",
            "simulated_evaluator",
            "simulated_evaluator_identity",
        ]
    )
    for name in agents.__all__:
        assert getattr(agents, name) is not None
