"""The gate's exam: opening one for an accepted application, checking and grading the answer.

Lifecycle of one exam: :meth:`Examiner.open` draws its questions and a random challenge
from the gate's own seeded stream (only once an application is accepted, so rejected
actions draw nothing); the applicant answers one option per question and signs
:func:`exam_signing_input` with its key; :meth:`Examiner.check` refuses an answer that does
not fit the open exam; :meth:`Examiner.grade` scores it against the threshold in force.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from flagship.agents._config import MAX_TEXT, GateConfig
from flagship.agents._exam import Question, draw_exam, grade
from flagship.agents._identity import b64url_encode
from flagship.agents._reasons import GateReason
from flagship.agents._records import AgentRecord, AgentStatus, ExamRecord
from flagship.agents._thresholds import Thresholds
from flagship.mechanisms import CommonReason, Outcome, canonical_bytes

__all__ = ["EXAM_SIGNATURE_DOMAIN", "Examiner", "exam_signing_input"]

EXAM_SIGNATURE_DOMAIN = "flagship-agent-gate/exam-answers/v1"
"""Domain tag of the signed answer message, so the signature means nothing elsewhere."""


def exam_signing_input(gate: str, exam_id: str, challenge: str, answers: Mapping[str, str]) -> bytes:
    """The bytes an applicant signs with its key to answer exam ``exam_id`` of gate ``gate``.

    Canonical JSON of the domain tag, the gate's name, the exam id, the gate's
    random challenge and the answers: the signature proves possession of the key
    and binds these answers to this one exam, so it can be neither replayed nor
    moved to other answers.
    """
    return canonical_bytes({"domain": EXAM_SIGNATURE_DOMAIN, "gate": gate, "exam_id": exam_id,
                            "challenge": challenge, "answers": dict(answers)})


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_TEXT else None


def _answers_problem(questions: Sequence[Question], answers: Mapping[Any, Any]) -> str:
    """'' if ``answers`` gives exactly one valid option per question, else what is wrong."""
    expected = {q.question_id for q in questions}
    if set(answers) != expected:
        return f"answers: expected exactly the questions {sorted(expected)}"
    for question in questions:
        chosen = answers[question.question_id]
        if not isinstance(chosen, str) or question.scenario.option(chosen) is None:
            return f"answers.{question.question_id}: expected one of its options"
    return ""


class Examiner:
    """Opens, checks and grades the gate's exams; numbers them (``exam-1``, ``exam-2``...)."""

    __slots__ = ("_config", "_rng", "_thresholds", "exam_seq")

    def __init__(self, config: GateConfig, rng: np.random.Generator, thresholds: Thresholds) -> None:
        self._config = config
        self._rng = rng
        self._thresholds = thresholds
        self.exam_seq = 0
        """Exams opened so far (in the snapshot: the next exam's id depends on it)."""

    def open(self, now: float, credential_score: float) -> ExamRecord:
        """A new exam for an accepted application, due ``exam_ttl`` from ``now``."""
        self.exam_seq += 1
        config = self._config
        challenge = b64url_encode(self._rng.bytes(16))
        questions = draw_exam(self._rng, config.exam_questions, config.exam_scenarios)
        return ExamRecord(f"exam-{self.exam_seq}", challenge, questions, now + config.exam_ttl,
                          credential_score)

    @staticmethod
    def check(payload: Mapping[str, Any], agent: AgentRecord | None,
              now: float) -> tuple[ExamRecord, Mapping[str, Any], str] | Outcome:
        """The open exam, the answers and their signature; or why the answer is refused.

        Checks the payload's shape, that an exam is open, that it is the one named, that
        it has not expired and that the answers fit its questions (not the signature).
        """
        exam_id = _text(payload.get("exam_id"))
        answers = payload.get("answers")
        signature = payload.get("signature")
        if exam_id is None or not isinstance(answers, Mapping) or not isinstance(signature, str):
            return Outcome.reject(CommonReason.INVALID_PAYLOAD,
                                  "expected exam_id (text), answers (object) and signature (text)")
        if agent is None or agent.status is not AgentStatus.EXAMINING or agent.exam is None:
            return Outcome.reject(GateReason.NO_EXAM)
        exam = agent.exam
        if exam_id != exam.exam_id:
            return Outcome.reject(GateReason.EXAM_MISMATCH, f"the open exam is {exam.exam_id}")
        if now >= exam.deadline:
            return Outcome.reject(GateReason.EXAM_EXPIRED, f"answers were due by {exam.deadline}")
        problem = _answers_problem(exam.questions, answers)
        if problem:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, problem)
        return exam, answers, signature

    def grade(self, exam: ExamRecord, answers: Mapping[str, str]) -> tuple[float, float]:
        """The exam score and the threshold in force it must reach."""
        return grade(exam.questions, answers), self._thresholds.exam()
