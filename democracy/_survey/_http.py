"""Live-pilot HTTP routes of the ``legitimacy_survey`` mechanism (``LegitimacySurvey.http``).

* ``GET /v1/surveys/me``: the surveys open to the caller (affected by the decision, window open,
  not yet answered), each with its questionnaire.
* ``POST /v1/surveys/{survey_id}/responses``: answer one (201); the respondent is the caller, never
  a field of the body.

Any principal the trial's authenticators accept may call (a voter's token, an agent's signature):
whether the decision affected them is the mechanism's to say (``NOT_AFFECTED``). A response is an
ordinary action through ``gateway.act``: committed to the trial log, hash-chained, replayed.
Refusals are problem+json with the reason codes of :mod:`~flagship.democracy._survey._reasons`.

No ``from __future__ import annotations``: FastAPI reads the handlers' annotations at runtime.
"""

from typing import TYPE_CHECKING, Annotated, Any, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from flagship.mechanisms import Gateway, Principal, RoutesFactory

if TYPE_CHECKING:
    from fastapi import APIRouter

    from flagship.democracy._survey._instruments import Questionnaire

__all__ = ["ItemView", "OpenSurvey", "ResponseAccepted", "ResponseRequest", "SurveyList", "routes"]

ID_PATTERN = r"^[A-Za-z0-9._~-]{1,256}$"
Answer = StrictInt | StrictBool | StrictStr | None


class SurveyReader(Protocol):
    """What the routes read of the survey mechanism."""

    @property
    def questionnaire(self) -> "Questionnaire": ...

    def open_to(self, actor: str, now: float) -> list[dict[str, Any]]: ...


class ItemView(BaseModel):
    id: str
    text: str
    scale: str = Field(description="likert5, likert7, yes_no or text")
    low: int | None = Field(description="lowest answer (yes/no: false)")
    high: int | None = Field(description="highest answer (yes/no: true)")
    dont_know: bool = Field(description="the answer 'dont_know' is accepted")


class OpenSurvey(BaseModel):
    survey_id: str
    decision: str = Field(description="the decision this survey is about")
    kind: str = Field(description="vote or gate")
    closes: float = Field(description="sim time the window closes (a response then or later is refused)")
    items: list[ItemView] = Field(description="answer any of them; leave out or send null to skip one")


class SurveyList(BaseModel):
    time: float = Field(description="the trial's sim time")
    surveys: list[OpenSurvey] = Field(description="open to you, oldest first")


class ResponseRequest(BaseModel):
    """Answers by item id: an integer on a Likert scale, true/false, text, 'dont_know', or null."""

    model_config = ConfigDict(extra="forbid", strict=True)

    answers: dict[Annotated[str, Field(min_length=1, max_length=256)], Answer] = Field(max_length=256)


class ResponseAccepted(BaseModel):
    survey_id: str
    responses: int = Field(description="responses to this survey so far, yours included")


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "NOT_AFFECTED: the surveyed decision did not affect you"},
    404: {"description": "UNKNOWN_SURVEY or UNKNOWN_ITEM"},
    409: {"description": "SURVEY_CLOSED or ALREADY_RESPONDED"},
    422: {"description": "ANSWER_OFF_SCALE, NO_ANSWERS or a malformed body (each field named)"},
}


def _routes(name: str, gateway: Gateway) -> "APIRouter":
    """The survey's routes for mechanism ``name`` of a live trial (see the module docstring)."""
    from fastapi import APIRouter, Depends, Path  # noqa: PLC0415 - the server's deps

    router = APIRouter(prefix="/v1/surveys", tags=["surveys"])
    Caller = Annotated[Principal, Depends(gateway.principal)]  # noqa: N806 - a type, named as one

    def survey() -> SurveyReader:
        return cast(SurveyReader, gateway.mechanism(name))

    @router.get("/me", response_model=SurveyList, summary="The surveys open to you")
    async def mine(caller: Caller) -> SurveyList:
        reader, now = survey(), gateway.now
        items = [ItemView(**{k: v for k, v in item.describe().items() if k in ItemView.model_fields})
                 for item in reader.questionnaire.items.values()]
        found = [OpenSurvey(survey_id=s["survey_id"], decision=s["subject"], kind=s["kind"],
                            closes=s["closes"], items=items) for s in reader.open_to(caller.actor, now)]
        return SurveyList(time=now, surveys=found)

    @router.post("/{survey_id}/responses", status_code=201, response_model=ResponseAccepted,
                 summary="Answer a survey", responses={c: _PROBLEMS[c] for c in (403, 404, 409, 422)})
    async def respond(
        body: ResponseRequest, caller: Caller,
        survey_id: Annotated[str, Path(pattern=ID_PATTERN, description="e.g. legitimacy_survey-survey-1")],
    ) -> ResponseAccepted:
        outcome = await gateway.act(name, "respond", {"survey_id": survey_id, "answers": dict(body.answers)},
                                    actor=caller.actor)
        return ResponseAccepted(survey_id=survey_id, responses=int(outcome.effects.get("responses", 0)))

    return router


routes: RoutesFactory = _routes
"""``LegitimacySurvey.http``: typed as the factory protocol, so a class attribute does not bind it."""
