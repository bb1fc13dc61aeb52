"""The legitimacy survey (mechanism ``legitimacy_survey``): asks the participants a decision affected.

Lifecycle (every step driven by bus events or actions, never by a special case of a driver):

1. ``start()``: subscribes to the decisions it follows (``follow``): a vote's ``VoteConvened``
   (its members, and whether they deliberated) and ``BallotClosed`` (the count, with each counted
   voter's first choice against the winner); a gate's ``AgentAdmitted``, ``AgentReinstated``
   (favourable) and ``AgentSuspended``, ``AgentRevoked`` (unfavourable).
2. **Opening**: at each followed decision it opens survey ``<name>-survey-<n>`` for the
   participants the decision affected (a vote: every convened member; a gate decision: its agent),
   each in a group (``winner``, ``loser``, ``no_stake``), and publishes ``SurveyOpened``. The window
   is ``[decision time, decision time + window_seconds)``, judged by each action's time.
3. ``respond`` actions: ``{"survey_id": str, "answers": {item_id: answer}}`` (answers as
   :mod:`~flagship.democracy._survey._instruments` describes); effects ``{"survey_id",
   "responses"}`` (responses to that survey so far). A refused response changes nothing; the
   codes are :class:`~flagship.democracy._survey._reasons.SurveyReason`.
4. ``finish()``: the measures of :mod:`~flagship.democracy._survey._scores` over every accepted
   response. :meth:`LegitimacySurvey.summary` gives the same within the run with intervals, and
   :meth:`LegitimacySurvey.response_records` the anonymised response table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flagship.democracy._survey._config import SurveyConfig
from flagship.democracy._survey._events import SurveyOpened
from flagship.democracy._survey._export import response_table
from flagship.democracy._survey._http import routes
from flagship.democracy._survey._instruments import Questionnaire, questionnaire
from flagship.democracy._survey._pages import PAGES
from flagship.democracy._survey._reasons import REASON_STATUS, SurveyReason
from flagship.democracy._survey._scores import MEASURES, Response, Scorer
from flagship.democracy._survey._state import Survey
from flagship.mechanisms import Action, CommonReason, Context, Mechanism, Outcome, RecordTable, register
from flagship.mechanisms.events import (
    AgentAdmitted,
    AgentReinstated,
    AgentRevoked,
    AgentSuspended,
    BallotClosed,
    VoteConvened,
)

__all__ = ["LegitimacySurvey"]

_MAX_ID = 256
_GATE_GROUP: Mapping[type, str] = {AgentAdmitted: "winner", AgentReinstated: "winner",
                                   AgentSuspended: "loser", AgentRevoked: "loser"}


@register
class LegitimacySurvey(Mechanism[SurveyConfig]):
    """Surveys the participants each followed decision affected; see the module doc for the lifecycle."""

    name = "legitimacy_survey"
    Config = SurveyConfig
    reasons = SurveyReason
    reason_status: ClassVar[Mapping[str, int]] = REASON_STATUS
    http = routes
    pages = PAGES
    publishes = (SurveyOpened,)
    subscribes = (VoteConvened, BallotClosed, AgentAdmitted, AgentReinstated, AgentSuspended, AgentRevoked)
    measures = MEASURES

    def __init__(self, config: SurveyConfig, ctx: Context) -> None:
        super().__init__(config, ctx)
        self.questionnaire: Questionnaire = questionnaire(config.instruments)
        self._scorer = Scorer(self.questionnaire, config.min_answered_share, config.confidence)
        self._item_ids = tuple(self.questionnaire.items)
        self._surveys: dict[str, Survey] = {}
        self._convened: dict[str, tuple[tuple[str, ...], bool]] = {}
        self._seq = 0
        # -- statistics for measures (the responses are kept in acceptance order) --
        self.responses: list[Response] = []
        self.response_times: list[float] = []
        self._submitted = 0
        self._rejected = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if "vote" in self.config.follow:
            self.ctx.subscribe(VoteConvened, self._on_convened)
            self.ctx.subscribe(BallotClosed, self._on_count)
        if "gate" in self.config.follow:
            for event_type in _GATE_GROUP:
                self.ctx.subscribe(event_type, self._on_gate)

    def _on_convened(self, event: VoteConvened) -> None:
        self._convened[event.vote_id] = (tuple(event.members), event.ballot_opens > event.time)

    def _on_count(self, event: BallotClosed) -> None:
        members, deliberated = self._convened.pop(event.vote_id, ((), False))
        won = event.first_choice_won
        groups = {m: ("no_stake" if m not in won else "winner" if won[m] else "loser") for m in members}
        voice = tuple(sorted(members)) if deliberated else ()
        self._open(f"{event.source}:{event.vote_id}", "vote", groups, voice, event.winner is not None)

    def _on_gate(self, event: AgentAdmitted | AgentReinstated | AgentSuspended | AgentRevoked) -> None:
        # A reinstatement after an appeal means the agent was heard: it had a voice.
        reason = getattr(event, "reason", "")
        voice = (event.actor,) if "appeal" in str(reason) else ()
        self._open(f"{event.source}:{event.topic}:{event.actor}", "gate",
                   {event.actor: _GATE_GROUP[type(event)]}, voice, True)

    def _open(self, subject: str, kind: str, groups: dict[str, str], voice: tuple[str, ...],
              procedural: bool) -> None:
        if not groups:
            return  # nobody was affected: nothing to ask
        self._seq += 1
        survey_id = f"{self.ctx.name}-survey-{self._seq}"
        now = self.ctx.now
        ordered = dict(sorted(groups.items()))
        self._surveys[survey_id] = Survey(survey_id, subject, kind, now, now + self.config.window_seconds,
                                          ordered, voice, procedural)
        self.ctx.publish(SurveyOpened(survey_id=survey_id, subject=subject, kind=kind,
                                      closes=now + self.config.window_seconds, groups=ordered, voice=voice,
                                      procedural=procedural, items=self._item_ids))

    def handle(self, action: Action) -> Outcome:
        if action.kind != "respond":
            return Outcome.reject(CommonReason.UNKNOWN_KIND, f"unknown kind {action.kind!r}")
        self._submitted += 1
        outcome = self._respond(action)
        if not outcome.accepted:
            self._rejected += 1
            self.ctx.recorder.count(f"rejected.{outcome.reason}")
        return outcome

    def _respond(self, action: Action) -> Outcome:
        payload = action.payload
        survey_id, answers = payload.get("survey_id"), payload.get("answers")
        if (not isinstance(survey_id, str) or not 0 < len(survey_id) <= _MAX_ID
                or not isinstance(answers, Mapping) or not all(isinstance(k, str) for k in answers)):
            return Outcome.reject(CommonReason.INVALID_PAYLOAD,
                                  "expected survey_id (text) and answers (an object of item id -> answer)")
        survey = self._surveys.get(survey_id)
        if survey is None:
            return Outcome.reject(SurveyReason.UNKNOWN_SURVEY, f"no survey {survey_id!r}")
        if action.actor not in survey.groups:
            return Outcome.reject(SurveyReason.NOT_AFFECTED, "the surveyed decision did not affect you")
        if action.time >= survey.closes:
            return Outcome.reject(SurveyReason.SURVEY_CLOSED, f"the survey closed at {survey.closes:g}")
        if action.actor in survey.responded:
            return Outcome.reject(SurveyReason.ALREADY_RESPONDED, "one response per participant")
        items = self.questionnaire.items
        for item_id, value in answers.items():
            item = items.get(item_id)
            if item is None:
                return Outcome.reject(SurveyReason.UNKNOWN_ITEM, f"no item {item_id!r} in this survey")
            problem = item.check(value)
            if problem is not None:
                return Outcome.reject(SurveyReason.ANSWER_OFF_SCALE, problem)
        if all(value is None for value in answers.values()):
            return Outcome.reject(SurveyReason.NO_ANSWERS, "the response answers no item")
        kept = {item_id: answers[item_id] for item_id in self._item_ids if answers.get(item_id) is not None}
        survey.responded.add(action.actor)
        self.responses.append(Response(survey_id, action.actor, survey.groups[action.actor], kept))
        self.response_times.append(action.time)
        return Outcome.accept({"survey_id": survey_id, "responses": len(survey.responded)})

    def _invited(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for survey in self._surveys.values():
            for group in survey.groups.values():
                counts[group] = counts.get(group, 0) + 1
        return counts

    def finish(self) -> None:
        values = self._scorer.measures(self.responses, self._invited(), self._submitted, self._rejected)
        for measure in MEASURES:
            self.ctx.recorder.measure(measure.name, values[measure.name])

    def snapshot(self) -> dict[str, Any]:
        return {"surveys": [s.to_json() for s in self._surveys.values()],
                "convened": {k: [list(m), d] for k, (m, d) in sorted(self._convened.items())},
                "seq": self._seq}

    # -- queries --------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Within-run estimates with intervals (see :meth:`Scorer.summary`)."""
        return self._scorer.summary(self.responses, self._invited())

    def open_to(self, actor: str, now: float) -> list[dict[str, Any]]:
        """Surveys ``actor`` may answer at ``now`` (open, affected, not yet answered), oldest first."""
        return [{"survey_id": s.survey_id, "subject": s.subject, "kind": s.kind, "closes": s.closes}
                for s in self._surveys.values()
                if actor in s.groups and now < s.closes and actor not in s.responded]

    def response_records(self) -> RecordTable | None:
        """The anonymised response table and its codebook (see :mod:`~._export`)."""
        return response_table(self.questionnaire, self._scorer, self.responses, self.response_times,
                              {s.survey_id: s for s in self._surveys.values()})
