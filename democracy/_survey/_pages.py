"""The participant's page of the legitimacy survey (``LegitimacySurvey.pages``).

``/pages/surveys`` lists the surveys open to the signed-in participant (any principal the
trial's authenticators accept: a citizen's session from their invitation, say), each as a
plain HTML form: one radio group per Likert or yes/no item, a text area per text item,
"don't know" where the instrument allows it and "no answer" by default (an item may be
skipped). Answering is ``gateway.act(name, "respond", ...)``, the JSON route's action: the
same log entry and reason codes; the confirmation shows its log sequence number and hash.
No ``from __future__ import annotations``: FastAPI reads the handlers' annotations at runtime.
"""

from typing import TYPE_CHECKING, Annotated, Any, cast

from flagship.mechanisms import ActionRejected, InputError, PageSet, PagesFactory, PageSite, Problem

from ._http import ID_PATTERN, SurveyReader

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["PAGES", "survey_answers"]

_FIELD = "answer_"


def survey_answers(fields: dict[str, str], items: list[dict[str, Any]]) -> dict[str, Any]:
    """The answers a survey form submits, by item id (items left at "no answer" are left out)."""
    answers: dict[str, Any] = {}
    problems = []
    for item in items:
        raw = fields.get(f"{_FIELD}{item['id']}", "").strip()
        if not raw:
            continue
        if raw == "dont_know" and item["dont_know"]:
            answers[item["id"]] = "dont_know"
        elif item["scale"] == "text":
            answers[item["id"]] = raw
        elif item["scale"] == "yes_no" and raw in ("yes", "no"):
            answers[item["id"]] = raw == "yes"
        elif raw.isdigit():
            answers[item["id"]] = int(raw)  # the mechanism checks the scale (ANSWER_OFF_SCALE)
        else:
            problems.append(Problem(item["id"], "not one of the offered answers"))
    if problems:
        raise InputError(problems)
    return answers


def _routes(name: str, site: PageSite) -> "APIRouter":
    from fastapi import APIRouter, Path, Request  # noqa: PLC0415 - the server's deps
    from starlette.responses import Response  # noqa: PLC0415

    router = APIRouter(prefix="/pages/surveys")
    gateway = site.gateway

    def reader() -> SurveyReader:
        return cast(SurveyReader, gateway.mechanism(name))

    def items() -> list[dict[str, Any]]:
        return [dict(item.describe()) for item in reader().questionnaire.items.values()]

    def page(request: Request, actor: str, *, status: int = 200, **extra: Any) -> Response:
        context = {"surveys": reader().open_to(actor, gateway.now), "items": items(), "error": None,
                   "receipt": None, **extra}
        return cast(Response, site.render(request, "survey.html", context, status=status))

    @router.get("")
    async def surveys(request: Request) -> Response:
        principal = await gateway.principal(request)
        return page(request, principal.actor)

    @router.post("/{survey_id}/responses")
    async def respond(request: Request, survey_id: Annotated[str, Path(pattern=ID_PATTERN)]) -> Response:
        principal = await gateway.principal(request)
        form = await request.form()
        try:
            answers = survey_answers({k: str(v) for k, v in form.items()}, items())
        except InputError as bad:
            detail = "; ".join(str(problem) for problem in bad.problems)
            return page(request, principal.actor, status=422,
                        error={"reason": "INVALID_PAYLOAD", "detail": detail})
        try:
            await gateway.act(name, "respond", {"survey_id": survey_id, "answers": answers},
                              actor=principal.actor)
        except ActionRejected as refused:
            return page(request, principal.actor, status=refused.status,
                        error={"reason": refused.reason, "detail": refused.detail})
        entry = site.committed_entry(request)
        receipt = None if entry is None else {"seq": entry[0], "hash": entry[1]}
        return page(request, principal.actor, status=201, receipt=receipt)

    return router


routes: PagesFactory = _routes
PAGES = PageSet(package="flagship.democracy._survey", folder="pages", routes=routes,
                entry="/pages/surveys", label="Surveys")
"""``LegitimacySurvey.pages``."""
