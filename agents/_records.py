"""What the gate holds about each agent: its status, open exam, strikes and sanction in force.

Plain mutable records owned by :class:`~flagship.agents.AgentGate` and changed by its parts
(the examiner opens and closes exams, sanctions add strikes and sanctions, appeals decide
them). ``to_json`` is each record's part of the gate's snapshot; :meth:`AgentRecord.standing`
is what the agent itself may read about itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flagship.agents._exam import Question
from flagship.agents._reasons import DecisionReason

__all__ = ["SANCTIONED", "AgentRecord", "AgentStatus", "ExamRecord", "Sanction", "Strike"]


class AgentStatus(StrEnum):
    """Where an agent stands at the gate."""

    EXAMINING = "examining"
    REFUSED = "refused"
    ADMITTED = "admitted"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    LAPSED = "lapsed"


SANCTIONED = (AgentStatus.SUSPENDED, AgentStatus.REVOKED)
"""The statuses a sanction is in force in (and may be appealed in)."""

# The reason each status has by itself (see AgentRecord.standing): the only one for examining,
# refused and lapsed agents; a fallback for the others, whose reasons are recorded.
_STATUS_REASON: Mapping[AgentStatus, DecisionReason] = {
    AgentStatus.EXAMINING: DecisionReason.CREDENTIALS_ACCEPTED,
    AgentStatus.REFUSED: DecisionReason.EXAM_FAILED,
    AgentStatus.LAPSED: DecisionReason.ADMISSION_LAPSED,
    AgentStatus.ADMITTED: DecisionReason.EXAM_PASSED,
    AgentStatus.SUSPENDED: DecisionReason.STRIKES_SUSPENSION,
    AgentStatus.REVOKED: DecisionReason.STRIKES_REVOCATION,
}


@dataclass(slots=True)
class ExamRecord:
    """An open exam: what was asked, the challenge the signed answer binds, and its deadline."""

    exam_id: str
    challenge: str
    questions: list[Question]
    deadline: float
    credential_score: float

    def to_json(self) -> dict[str, Any]:
        return {"exam_id": self.exam_id, "challenge": self.challenge, "deadline": self.deadline,
                "credential_score": self.credential_score,
                "questions": [[q.question_id, q.scenario_id, q.variant] for q in self.questions]}


@dataclass(slots=True)
class Strike:
    """One observed violation on an agent's record."""

    time: float
    kind: str
    severity: float
    source: str


@dataclass(slots=True)
class Sanction:
    """A suspension or a revocation, and the state of its appeal."""

    sanction_id: int
    kind: str  # "suspension" | "revocation"
    reason: DecisionReason
    at: float
    threshold: int  # the strike count the rule that fired requires (judged again on appeal)
    until: float | None = None
    appealed_at: float | None = None
    appeal_outcome: str | None = None  # None while pending or not appealed


@dataclass(slots=True)
class AgentRecord:
    """Everything the gate holds about one agent (by its id), from its first accepted application on."""

    jwk_x: str
    status: AgentStatus
    applications: list[float] = field(default_factory=list)
    exam: ExamRecord | None = None
    admitted_at: float | None = None
    probation_until: float | None = None
    admitted_until: float | None = None
    strikes: list[Strike] = field(default_factory=list)
    sanction: Sanction | None = None
    # Why it is admitted (EXAM_PASSED, RECERTIFIED, SUSPENSION_ENDED, APPEAL_UPHELD): the other
    # statuses have one reason each, or their sanction's, but an admission has several origins.
    admitted_reason: DecisionReason | None = None
    # The last graded exam (score, threshold in force): what its operator's page shows.
    exam_result: tuple[float, float] | None = None
    # The SHA-256 of the operator token a live admission issued (never the token: see
    # flagship.agents._operator_tokens); None in simulations and before a live admission.
    operator_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        sanction = self.sanction
        return {
            "jwk_x": self.jwk_x, "status": str(self.status), "applications": list(self.applications),
            "admitted_reason": None if self.admitted_reason is None else str(self.admitted_reason),
            "exam": None if self.exam is None else self.exam.to_json(),
            "admitted_at": self.admitted_at, "probation_until": self.probation_until,
            "admitted_until": self.admitted_until,
            "strikes": [[s.time, s.kind, s.severity, s.source] for s in self.strikes],
            "sanction": None if sanction is None else {
                "id": sanction.sanction_id, "kind": sanction.kind, "reason": str(sanction.reason),
                "at": sanction.at, "threshold": sanction.threshold, "until": sanction.until,
                "appealed_at": sanction.appealed_at, "appeal_outcome": sanction.appeal_outcome},
            "exam_result": None if self.exam_result is None else list(self.exam_result),
            "operator_sha256": self.operator_sha256,
        }

    def standing(self, now: float, appeal_window: float) -> dict[str, Any]:
        """Where the agent stands, as JSON for the agent itself (see ``AgentGate.standing``)."""
        status = self.status
        sanction = self.sanction
        reasons: list[str]
        if sanction is not None and status in SANCTIONED:
            reasons = [str(sanction.reason)]
            if sanction.appeal_outcome == "denied":
                reasons.append(str(DecisionReason.APPEAL_DENIED))
        elif status is AgentStatus.ADMITTED:
            reasons = [str(self.admitted_reason or DecisionReason.EXAM_PASSED)]
        else:
            reasons = [str(_STATUS_REASON[status])]
        exam = self.exam if status is AgentStatus.EXAMINING else None
        return {
            "status": str(status),
            "reasons": reasons,
            "on_probation": status is AgentStatus.ADMITTED and self.probation_until is not None
            and now < self.probation_until,
            "admitted_at": self.admitted_at,
            "probation_until": self.probation_until,
            "admitted_until": self.admitted_until,
            "strikes": len(self.strikes),
            "exam": None if exam is None else {
                "exam_id": exam.exam_id, "challenge": exam.challenge, "answer_by": exam.deadline,
                "questions": [q.to_dict() for q in exam.questions]},
            "sanction": None if sanction is None or status not in SANCTIONED else {
                "sanction_id": sanction.sanction_id, "kind": sanction.kind, "reason": str(sanction.reason),
                "at": sanction.at, "until": sanction.until,
                "appeal": "none" if sanction.appealed_at is None else sanction.appeal_outcome or "pending",
                "appeal_by": sanction.at + appeal_window},
        }
