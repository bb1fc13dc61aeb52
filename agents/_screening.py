"""The gate's identity and credential checks: who an applicant is, and what vouches for it.

* Identity: the ``identity`` JWK must be an Ed25519 public key whose RFC 7638 thumbprint is
  the acting agent id; once an application is accepted the gate keeps the key, and an
  answer must be signed with it (proof of possession).
* Credentials: every one must verify against a trusted evaluator, be about the actor, be
  within validity, not be revoked and certify the required battery; the credential score
  (the mean over distinct evaluators of each one's best score) must reach the threshold
  in force from enough evaluators.

Every check answers with a value or a rejection reason; none changes the gate's state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flagship.agents._config import MAX_CREDENTIALS, GateConfig
from flagship.agents._credentials import CredentialRejected, CredentialVerifier
from flagship.agents._identity import PublicIdentity, b64url_decode
from flagship.agents._reasons import CREDENTIAL_REASON, GateReason
from flagship.agents._records import AgentRecord
from flagship.agents._thresholds import Thresholds
from flagship.mechanisms import InputError, Outcome

__all__ = ["Screening", "credential_tokens"]

_SIGNATURE_BYTES = 64


def credential_tokens(value: object) -> list[str] | None:
    """``value`` as a list of credential strings, or None if it is not a short list of strings."""
    if not isinstance(value, list | tuple) or len(value) > MAX_CREDENTIALS:
        return None
    tokens = [token for token in value if isinstance(token, str)]
    return tokens if len(tokens) == len(value) else None


class Screening:
    """Checks identities, credentials and proofs of possession; caches the keys of known agents."""

    __slots__ = ("_battery", "_keys", "_min_evaluators", "_thresholds", "_verifier")

    def __init__(self, config: GateConfig, thresholds: Thresholds) -> None:
        self._verifier = CredentialVerifier(config.evaluator_keys(), revoked=config.revoked_credentials)
        self._battery = config.credential_battery
        self._min_evaluators = config.min_evaluators
        self._thresholds = thresholds
        # Derived from the gate's state (each key from its agent's jwk_x): a cache, not state.
        self._keys: dict[str, PublicIdentity] = {}

    def identity(self, jwk: Mapping[str, object], actor: str) -> PublicIdentity | Outcome:
        """The applicant's public identity, or the rejection: not an Ed25519 JWK, or not the actor's."""
        try:
            identity = PublicIdentity.from_jwk(jwk, field="identity")
        except InputError as exc:
            return Outcome.reject(GateReason.BAD_IDENTITY, str(exc))
        if identity.agent_id != actor:
            return Outcome.reject(GateReason.IDENTITY_MISMATCH, "identity thumbprint is not the actor")
        return identity

    def remember(self, actor: str, identity: PublicIdentity) -> None:
        """Keep the key of an agent whose application was accepted."""
        self._keys[actor] = identity

    def key_of(self, actor: str, record: AgentRecord) -> PublicIdentity:
        """The key of a known agent, rebuilt from its record (never from a payload) when not cached."""
        key = self._keys.get(actor)
        if key is None:
            key = self._keys[actor] = PublicIdentity.from_jwk(
                {"kty": "OKP", "crv": "Ed25519", "x": record.jwk_x})
        return key

    def proves_possession(self, actor: str, record: AgentRecord, signature: str, message: bytes) -> bool:
        """Whether ``signature`` is the known agent's signature of ``message``."""
        try:
            raw = b64url_decode(signature, "signature")
        except InputError:
            return False
        if len(raw) != _SIGNATURE_BYTES:
            return False
        return self.key_of(actor, record).verify(raw, message)

    def credential_score(self, tokens: Sequence[str], subject: str,
                         now: float) -> float | tuple[GateReason, str]:
        """The credential score, or the first reason to refuse with a detail.

        One bad credential spoils the application: presenting a forged, replayed or
        expired token is itself a reason to refuse, whatever else is presented.
        """
        if not tokens:
            return GateReason.NO_CREDENTIALS, ""
        battery = self._battery
        best: dict[str, float] = {}
        for index, token in enumerate(tokens):
            result = self._verifier.verify(token, now=now, subject=subject)
            if isinstance(result, CredentialRejected):
                return CREDENTIAL_REASON[result.reason], f"credentials[{index}]: {result.detail}"
            if battery and result.battery != battery:
                return GateReason.CREDENTIAL_WRONG_BATTERY, f"credentials[{index}]: {result.battery!r}"
            previous = best.get(result.evaluator_id)
            best[result.evaluator_id] = result.score if previous is None else max(previous, result.score)
        if len(best) < self._min_evaluators:
            return (GateReason.INSUFFICIENT_CREDENTIALS,
                    f"{len(best)} evaluators, {self._min_evaluators} required")
        score = sum(best.values()) / len(best)
        threshold = self._thresholds.credential()
        if score < threshold:
            return GateReason.CREDENTIAL_SCORE_LOW, f"score {score:.3f} < {threshold:.3f}"
        return score
