"""The citizen's pages of the emergency vote (``EmergencyVote.pages``).

A registrar's invitation link, ``/pages/votes/invitation?token=<voter token>``, signs the
browser in (the token moves into an HttpOnly session cookie and the browser is sent on to
``/pages/votes``, so the token leaves the address bar at the first visit) and shows:

* the incident brief and the measures under decision, with the timetable (deliberation,
  ballot, count);
* the ballot in the vote's rule: choose one (plurality), approve any number of measures
  (approval, one checkbox per measure) or rank the measures (every other rule) with one
  position select per measure; all work with keyboard, touch and no JavaScript (the static
  script only adds move-up/move-down buttons to the ranking);
* after casting, a confirmation with the receipt: the ballot's log sequence number and
  entry hash (what ``flagship verify`` checks);
* once counted, the decision with its sunset and the plain-English explanation.

Casting is ``gateway.act(name, "ballot", ...)`` as in the JSON route: the same log entry,
the same reason codes (shown in words, with the same HTTP status). No ``from __future__
import annotations``: FastAPI reads the handlers' annotations at runtime.
"""

from typing import TYPE_CHECKING, Annotated, Any, cast

from flagship.mechanisms import ActionRejected, InputError, PageSet, PagesFactory, PageSite, Problem

from ._http import ID_PATTERN, VoteReader, _phase, explain
from ._reasons import REASON_DETAIL
from ._tokens import is_voter

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["PAGES", "ballot_approvals", "ballot_ranking"]

_RANK_PREFIX = "rank_"
_CHOICE = "choice"
_APPROVE_PREFIX = "approve_"
_CHECKED = "yes"


def ballot_approvals(fields: dict[str, str], candidates: list[str]) -> list[str]:
    """The approvals an approval ballot form submits: every measure whose ``approve_<measure>``
    checkbox is ticked (value ``yes``), in candidate order.

    An empty list is returned as is: the mechanism refuses it with ``BALLOT_EMPTY``, the same
    code the JSON route gets. A checkbox with another value raises
    :class:`~flagship.mechanisms.InputError` (shown to the citizen as ``INVALID_PAYLOAD``).
    """
    approved: list[str] = []
    for candidate in candidates:
        raw = fields.get(f"{_APPROVE_PREFIX}{candidate}")
        if raw is None:
            continue
        if raw != _CHECKED:
            raise InputError(Problem(f"{_APPROVE_PREFIX}{candidate}",
                                     f"the box approving {candidate} sends {_CHECKED!r}, not {raw!r}"))
        approved.append(candidate)
    return approved


def ballot_ranking(fields: dict[str, str], candidates: list[str], rule: str) -> list[str]:
    """The ranking a ballot form submits: the chosen measure, or measures by their position.

    Positions are ``rank_<measure>`` = ``"1"``..``"n"`` (or ``""``: not ranked); two
    measures at one position is an error, since a ballot is a strict order. Raises
    :class:`~flagship.mechanisms.InputError` (shown to the citizen as ``INVALID_PAYLOAD``).
    """
    if rule == "plurality":
        choice = fields.get(_CHOICE, "")
        if choice not in candidates:
            raise InputError("choose one of the measures")
        return [choice]
    placed: dict[int, str] = {}
    for candidate in candidates:
        raw = fields.get(f"{_RANK_PREFIX}{candidate}", "")
        if not raw:
            continue
        if not raw.isdigit() or not 1 <= int(raw) <= len(candidates):
            raise InputError(f"a position is a number from 1 to {len(candidates)}")
        if int(raw) in placed:
            raise InputError(f"{placed[int(raw)]} and {candidate} are both at position {raw}; "
                                  "give each measure its own position")
        placed[int(raw)] = candidate
    if not placed:
        raise InputError("rank at least one measure")
    return [placed[position] for position in sorted(placed)]


def _routes(name: str, site: PageSite) -> "APIRouter":
    from fastapi import APIRouter, Path, Query, Request  # noqa: PLC0415 - the server's deps
    from fastapi.responses import RedirectResponse  # noqa: PLC0415
    from starlette.responses import Response  # noqa: PLC0415

    router = APIRouter(prefix="/pages/votes")
    gateway = site.gateway

    def procedure() -> VoteReader:
        return cast(VoteReader, gateway.mechanism(name))

    async def citizen(request: Request) -> str:
        principal = await gateway.principal(request)
        if not is_voter(principal):
            raise ActionRejected("NOT_A_VOTER", "these pages are for voters (use your invitation link)",
                                 status=403)
        return str(principal.actor)

    def current(actor: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The latest vote the citizen was convened for, and their part in it."""
        vote = procedure()
        mine = [p for p in vote.participation(actor) if p["convened"]]
        if not mine:
            return None, None
        return vote.vote(mine[-1]["vote_id"]), mine[-1]

    def page(request: Request, actor: str, *, status: int = 200, **extra: Any) -> Response:
        vote = procedure()
        record, part = current(actor)
        context: dict[str, Any] = {"vote": record, "part": part, "config": vote.config,
                                   "phase": None, "explanation": None, "error": None, "receipt": None,
                                   "now": gateway.now, **extra}
        if record is not None:
            context["phase"] = _phase(record, gateway.now)
            if record["counted"]:
                context["explanation"] = explain(record, vote)
        return cast(Response, site.render(request, "citizen.html", context, status=status))

    @router.get("/invitation")
    async def invitation(token: Annotated[str, Query(max_length=512)] = "") -> Response:
        """Move the token from the link into the session cookie, then leave the token's URL."""
        response = RedirectResponse("/pages/votes", status_code=303)
        if token:
            site.sign_in(response, token)
        return response

    @router.get("")
    async def home(request: Request) -> Response:
        return page(request, await citizen(request))

    @router.post("/{vote_id}/ballot")
    async def cast_ballot(request: Request, vote_id: Annotated[str, Path(pattern=ID_PATTERN)]) -> Response:
        actor = await citizen(request)
        form = await request.form()
        fields = {key: str(value) for key, value in form.items()}
        config = procedure().config
        candidates = list(config.candidates)
        try:
            ballot = (ballot_approvals(fields, candidates) if config.ballot_field == "approvals"
                      else ballot_ranking(fields, candidates, config.rule))
        except InputError as bad:
            detail = "; ".join(problem.message for problem in bad.problems)
            return page(request, actor, status=422, error={"reason": "INVALID_PAYLOAD", "detail": detail})
        try:
            await gateway.act(name, "ballot", {"vote_id": vote_id, config.ballot_field: ballot}, actor=actor)
        except ActionRejected as refused:
            detail = refused.detail or REASON_DETAIL.get(refused.reason, "")
            return page(request, actor, status=refused.status,
                        error={"reason": refused.reason, "detail": detail})
        entry = site.committed_entry(request)
        receipt = None if entry is None else {"seq": entry[0], "hash": entry[1]}
        return page(request, actor, status=201, receipt=receipt)

    return router


routes: PagesFactory = _routes
PAGES = PageSet(package="flagship.democracy", folder="pages", routes=routes, entry="/pages/votes",
                label="Your vote", sign_in="/pages/votes/invitation")
"""``EmergencyVote.pages``."""
