"""The gate's admission desk: the ``apply``, ``answer`` and ``recertify`` actions.

Lifecycle of an admission: ``apply`` (identity, status, rate limit and credentials checked
by :class:`~flagship.agents._screening.Screening`; an exam opened by
:class:`~flagship.agents._examiner.Examiner`); ``answer`` (checked, proof of possession,
graded: admitted on probation with a recertification clock, or refused); ``recertify``
(fresh credentials extend the admission). Sanctions and their end are
:mod:`flagship.agents._sanctions`; this desk only sets the lapse timer of each admission.
Every method returns the action's outcome; a rejected one changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from flagship.agents._config import MAX_CREDENTIALS, GateConfig
from flagship.agents._examiner import Examiner, exam_signing_input
from flagship.agents._reasons import DecisionReason, GateReason
from flagship.agents._records import AgentRecord, AgentStatus
from flagship.agents._sanctions import Sanctions
from flagship.agents._screening import Screening, credential_tokens
from flagship.agents._tally import GateTally
from flagship.mechanisms import Action, CommonReason, Context, Outcome
from flagship.mechanisms.events import AgentAdmitted

__all__ = ["Admissions"]

_STATUS_BLOCKS_APPLY: Mapping[AgentStatus, GateReason] = {
    AgentStatus.ADMITTED: GateReason.ALREADY_ADMITTED,
    AgentStatus.SUSPENDED: GateReason.SUSPENDED,
    AgentStatus.REVOKED: GateReason.REVOKED,
}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CREDENTIALS_EXPECTED = f"credentials: expected a list of at most {MAX_CREDENTIALS} strings"


class Admissions:
    """Applications, exam answers and recertifications, over the agents' records."""

    __slots__ = ("_agents", "_config", "_ctx", "_examiner", "_sanctions", "_screening", "_tally")

    def __init__(self, config: GateConfig, ctx: Context, agents: dict[str, AgentRecord],
                 screening: Screening, examiner: Examiner, sanctions: Sanctions, tally: GateTally) -> None:
        self._config = config
        self._ctx = ctx
        self._agents = agents
        self._screening = screening
        self._examiner = examiner
        self._sanctions = sanctions
        self._tally = tally

    def apply(self, action: Action, agent: AgentRecord | None) -> Outcome:
        """The ``apply`` action: an exam opened for the applicant, or why not."""
        payload = action.payload
        jwk = payload.get("identity")
        tokens = credential_tokens(payload.get("credentials"))
        if not isinstance(jwk, Mapping):
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, "identity: expected a JWK object")
        if tokens is None:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, _CREDENTIALS_EXPECTED)
        actor = action.actor
        identity = self._screening.identity(jwk, actor)
        if isinstance(identity, Outcome):
            return identity
        now = action.time
        config = self._config
        if agent is not None:
            blocked = _STATUS_BLOCKS_APPLY.get(agent.status)
            if blocked is not None:
                return Outcome.reject(blocked)
            if agent.status is AgentStatus.EXAMINING and agent.exam is not None \
                    and now < agent.exam.deadline:
                return Outcome.reject(GateReason.EXAM_PENDING, f"answer {agent.exam.exam_id} first")
            window_start = now - config.application_window
            recent = sum(1 for t in agent.applications if t > window_start)
            if recent >= config.max_applications:
                return Outcome.reject(GateReason.RATE_LIMITED,
                                      f"{recent} applications in the last {config.application_window}s")
        checked = self._screening.credential_score(tokens, actor, now)
        if isinstance(checked, tuple):
            return Outcome.reject(checked[0], checked[1])
        # Accepted: every draw from the gate's streams happens only past this point.
        exam = self._examiner.open(now, checked)
        if agent is None:
            agent = self._agents[actor] = AgentRecord(jwk_x=identity.jwk()["x"], status=AgentStatus.EXAMINING)
            self._screening.remember(actor, identity)
        window_start = now - config.application_window
        agent.applications = [t for t in agent.applications if t > window_start] + [now]
        agent.status = AgentStatus.EXAMINING
        agent.exam = exam
        self._tally.applied(actor, now)
        self._tally.decided("credentials_accepted", (DecisionReason.CREDENTIALS_ACCEPTED,))
        return Outcome.accept({
            "status": str(AgentStatus.EXAMINING), "reasons": [str(DecisionReason.CREDENTIALS_ACCEPTED)],
            "exam_id": exam.exam_id, "challenge": exam.challenge, "answer_by": exam.deadline,
            "credential_score": checked, "questions": [q.to_dict() for q in exam.questions],
        })

    def answer(self, action: Action, agent: AgentRecord | None) -> Outcome:
        """The ``answer`` action: graded (admitted or refused), or why the answer is refused."""
        checked = self._examiner.check(action.payload, agent, action.time)
        if isinstance(checked, Outcome):
            return checked
        assert agent is not None  # an exam is open, so the agent is known (for the type checker)
        exam, answers, signature = checked
        operator = action.payload.get("operator_sha256")
        if operator is not None and not (isinstance(operator, str) and _HEX64.fullmatch(operator)):
            return Outcome.reject(CommonReason.INVALID_PAYLOAD,
                                  "operator_sha256: expected 64 lowercase hex digits (a token's SHA-256)")
        actor = action.actor
        message = exam_signing_input(self._ctx.name, exam.exam_id, exam.challenge, answers)
        if not self._screening.proves_possession(actor, agent, signature, message):
            return Outcome.reject(GateReason.BAD_PROOF, "signature does not verify under the identity")
        score, threshold = self._examiner.grade(exam, answers)
        agent.exam = None
        agent.exam_result = (score, threshold)
        if score < threshold:
            agent.status = AgentStatus.REFUSED
            self._tally.decided("refused", (DecisionReason.EXAM_FAILED,))
            return Outcome.accept({"decision": "refused", "reasons": [str(DecisionReason.EXAM_FAILED)],
                                   "exam_score": score, "exam_threshold": threshold})
        now = action.time
        agent.status = AgentStatus.ADMITTED
        agent.admitted_reason = DecisionReason.EXAM_PASSED
        agent.admitted_at = now
        if operator is not None:
            agent.operator_sha256 = operator
        agent.probation_until = now + self._config.probation
        agent.admitted_until = now + self._config.recertify_interval
        self._sanctions.schedule_lapse(actor, agent.admitted_until)
        self._tally.admitted(actor, now)
        self._tally.decided("admitted", (DecisionReason.EXAM_PASSED,))
        self._ctx.publish(AgentAdmitted(actor=actor, probation_until=agent.probation_until))
        return Outcome.accept({"decision": "admitted", "reasons": [str(DecisionReason.EXAM_PASSED)],
                               "exam_score": score, "exam_threshold": threshold,
                               "probation_until": agent.probation_until,
                               "admitted_until": agent.admitted_until})

    def recertify(self, action: Action, agent: AgentRecord | None) -> Outcome:
        """The ``recertify`` action: the admission extended, or why not."""
        tokens = credential_tokens(action.payload.get("credentials"))
        if tokens is None:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, _CREDENTIALS_EXPECTED)
        if agent is None or agent.status not in (AgentStatus.ADMITTED, AgentStatus.SUSPENDED):
            if agent is not None and agent.status is AgentStatus.REVOKED:
                return Outcome.reject(GateReason.REVOKED)
            return Outcome.reject(GateReason.NOT_ADMITTED)
        now = action.time
        checked = self._screening.credential_score(tokens, action.actor, now)
        if isinstance(checked, tuple):
            return Outcome.reject(checked[0], checked[1])
        agent.admitted_until = now + self._config.recertify_interval
        if agent.status is AgentStatus.ADMITTED:
            agent.admitted_reason = DecisionReason.RECERTIFIED
        self._sanctions.schedule_lapse(action.actor, agent.admitted_until)
        self._tally.decided("recertified", (DecisionReason.RECERTIFIED,))
        return Outcome.accept({"decision": "recertified", "reasons": [str(DecisionReason.RECERTIFIED)],
                               "credential_score": checked, "admitted_until": agent.admitted_until})
