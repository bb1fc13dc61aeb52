"""Why the gate decides as it does: the closed reason codes and the HTTP status of each.

Two closed sets: :class:`GateReason` says why an action was *rejected* (``Outcome.reason``;
the action changed nothing), :class:`DecisionReason` says why a decision went the way it
did (``effects["reasons"]``, the published events' ``reason`` and an agent's standing).
:data:`REASON_STATUS` is the gate's ``reason_status``: what the live routes answer for each.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from flagship.agents._credentials import CredentialRejectReason
from flagship.mechanisms import CommonReason

__all__ = ["CREDENTIAL_REASON", "DECISION_CODES", "MERIT_REFUSALS", "REASON_STATUS", "DecisionReason",
           "GateReason"]


class GateReason(StrEnum):
    """Why the gate rejected an action (``Outcome.reason``): a closed set, one code per cause."""

    BAD_IDENTITY = "BAD_IDENTITY"
    """``identity`` is not an Ed25519 public JWK."""
    IDENTITY_MISMATCH = "IDENTITY_MISMATCH"
    """The JWK's thumbprint is not the acting agent id."""
    NO_CREDENTIALS = "NO_CREDENTIALS"
    """No credential presented."""
    INSUFFICIENT_CREDENTIALS = "INSUFFICIENT_CREDENTIALS"
    """Valid credentials from fewer distinct trusted evaluators than the policy requires."""
    CREDENTIAL_MALFORMED = "CREDENTIAL_MALFORMED"
    """A credential is not a well-formed competence JWT."""
    CREDENTIAL_BAD_SIGNATURE = "CREDENTIAL_BAD_SIGNATURE"
    """A credential's signature does not verify under the named evaluator's key (forged, tampered)."""
    CREDENTIAL_UNTRUSTED_EVALUATOR = "CREDENTIAL_UNTRUSTED_EVALUATOR"
    """A credential comes from an evaluator the gate does not trust (or is self-signed)."""
    CREDENTIAL_EXPIRED = "CREDENTIAL_EXPIRED"
    """A credential is past its expiry."""
    CREDENTIAL_NOT_YET_VALID = "CREDENTIAL_NOT_YET_VALID"
    """A credential is not valid yet."""
    CREDENTIAL_REVOKED = "CREDENTIAL_REVOKED"
    """A credential's id is on the gate's revocation list."""
    CREDENTIAL_SUBJECT_MISMATCH = "CREDENTIAL_SUBJECT_MISMATCH"
    """A credential is about another agent (a replayed credential)."""
    CREDENTIAL_WRONG_BATTERY = "CREDENTIAL_WRONG_BATTERY"
    """A credential certifies another battery than the one the gate requires."""
    CREDENTIAL_SCORE_LOW = "CREDENTIAL_SCORE_LOW"
    """The credential score is below the (possibly raised) threshold."""
    RATE_LIMITED = "RATE_LIMITED"
    """Too many applications by this identity within the window."""
    ALREADY_ADMITTED = "ALREADY_ADMITTED"
    """The agent is admitted already."""
    EXAM_PENDING = "EXAM_PENDING"
    """The agent has an open exam; answer it (or let it expire) first."""
    NO_EXAM = "NO_EXAM"
    """No open exam to answer."""
    EXAM_MISMATCH = "EXAM_MISMATCH"
    """The answer names another exam than the open one."""
    EXAM_EXPIRED = "EXAM_EXPIRED"
    """The exam's answer deadline has passed."""
    BAD_PROOF = "BAD_PROOF"
    """The answer's signature does not verify under the applicant's key (no proof of possession)."""
    NOT_ADMITTED = "NOT_ADMITTED"
    """Recertification asked by an agent that is not admitted."""
    SUSPENDED = "SUSPENDED"
    """The agent is suspended."""
    REVOKED = "REVOKED"
    """The agent's admission is revoked (only an upheld appeal reinstates it)."""
    APPEAL_NOT_ALLOWED = "APPEAL_NOT_ALLOWED"
    """No sanction to appeal, this sanction was appealed already, or its appeal window closed."""
    APPEAL_PENDING = "APPEAL_PENDING"
    """An appeal of this sanction is under review."""


class DecisionReason(StrEnum):
    """Why a decision went the way it did (``effects["reasons"]`` and event ``reason``)."""

    CREDENTIALS_ACCEPTED = "CREDENTIALS_ACCEPTED"
    """Identity and credentials passed: an exam is opened."""
    EXAM_PASSED = "EXAM_PASSED"
    """The exam score reached the (possibly raised) threshold: admitted, on probation."""
    EXAM_FAILED = "EXAM_FAILED"
    """The exam score is below the threshold: refused (the agent may apply again)."""
    RECERTIFIED = "RECERTIFIED"
    """Fresh credentials passed: the admission is extended."""
    STRIKES_SUSPENSION = "STRIKES_SUSPENSION"
    """Strikes reached the suspension threshold."""
    STRIKES_REVOCATION = "STRIKES_REVOCATION"
    """Strikes reached the revocation threshold."""
    PROBATION_VIOLATION = "PROBATION_VIOLATION"
    """Strikes during probation reached the probation threshold: revoked."""
    SUSPENSION_ENDED = "SUSPENSION_ENDED"
    """The suspension period is over: reinstated."""
    APPEAL_UPHELD = "APPEAL_UPHELD"
    """Without the weak-evidence strikes the sanction's threshold is not reached: reinstated."""
    APPEAL_DENIED = "APPEAL_DENIED"
    """Enough strong-evidence strikes remain: the sanction stands."""
    ADMISSION_LAPSED = "ADMISSION_LAPSED"
    """Not recertified in time: the admission lapses (the agent may apply again)."""


CREDENTIAL_REASON: Mapping[CredentialRejectReason, GateReason] = {
    CredentialRejectReason.MALFORMED: GateReason.CREDENTIAL_MALFORMED,
    CredentialRejectReason.BAD_SIGNATURE: GateReason.CREDENTIAL_BAD_SIGNATURE,
    CredentialRejectReason.UNTRUSTED_EVALUATOR: GateReason.CREDENTIAL_UNTRUSTED_EVALUATOR,
    CredentialRejectReason.EXPIRED: GateReason.CREDENTIAL_EXPIRED,
    CredentialRejectReason.NOT_YET_VALID: GateReason.CREDENTIAL_NOT_YET_VALID,
    CredentialRejectReason.REVOKED: GateReason.CREDENTIAL_REVOKED,
    CredentialRejectReason.SUBJECT_MISMATCH: GateReason.CREDENTIAL_SUBJECT_MISMATCH,
}
"""The gate's code for each reason the credential verifier gives."""

MERIT_REFUSALS = frozenset({
    GateReason.BAD_IDENTITY, GateReason.IDENTITY_MISMATCH, GateReason.NO_CREDENTIALS,
    GateReason.INSUFFICIENT_CREDENTIALS, GateReason.CREDENTIAL_WRONG_BATTERY,
    GateReason.CREDENTIAL_SCORE_LOW, *CREDENTIAL_REASON.values(),
})
"""Refusals on the merits (who the applicant is and what it presents): these are admission
decisions, counted under ``decision.refused``. Other rejections (rate limit, bad payload...) are not."""

DECISION_CODES = frozenset(GateReason) | frozenset(DecisionReason)
"""Every code a decision may be explained with."""

REASON_STATUS: Mapping[str, int] = {
    # malformed requests
    CommonReason.INVALID_PAYLOAD: 422, CommonReason.UNKNOWN_KIND: 422, GateReason.BAD_IDENTITY: 422,
    GateReason.NO_CREDENTIALS: 422, GateReason.CREDENTIAL_MALFORMED: 422,
    # refused on the merits, or not the caller's to do
    GateReason.IDENTITY_MISMATCH: 403, GateReason.INSUFFICIENT_CREDENTIALS: 403,
    GateReason.CREDENTIAL_BAD_SIGNATURE: 403, GateReason.CREDENTIAL_UNTRUSTED_EVALUATOR: 403,
    GateReason.CREDENTIAL_EXPIRED: 403, GateReason.CREDENTIAL_NOT_YET_VALID: 403,
    GateReason.CREDENTIAL_REVOKED: 403, GateReason.CREDENTIAL_SUBJECT_MISMATCH: 403,
    GateReason.CREDENTIAL_WRONG_BATTERY: 403, GateReason.CREDENTIAL_SCORE_LOW: 403,
    GateReason.BAD_PROOF: 403,
    # not a rejection (grading is accepted), but the answer route refuses a failed exam with it
    DecisionReason.EXAM_FAILED: 403,
    # the path names no open exam of the caller's
    GateReason.NO_EXAM: 404, GateReason.EXAM_MISMATCH: 404,
    # the caller's state does not allow it now
    GateReason.ALREADY_ADMITTED: 409, GateReason.EXAM_PENDING: 409, GateReason.EXAM_EXPIRED: 409,
    GateReason.NOT_ADMITTED: 409, GateReason.SUSPENDED: 409, GateReason.REVOKED: 409,
    GateReason.APPEAL_NOT_ALLOWED: 409, GateReason.APPEAL_PENDING: 409,
    # the gate's per-identity application limit
    GateReason.RATE_LIMITED: 429,
}
"""HTTP status of each code (``AgentGate.reason_status``; the keys are StrEnum members, equal to
and hashing as their strings, so ``REASON_STATUS["RATE_LIMITED"]`` works)."""
