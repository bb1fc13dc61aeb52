"""problem+json: every error the live server sends is an RFC 9457 problem with a reason code.

Bodies are ``{type, title, status, detail, reason, errors: [{path, message}]}``. Routes signal
errors by raising :class:`~flagship.mechanisms.AuthError` (its status and reason),
:class:`~flagship.mechanisms.ActionRejected` (the status the mechanism declares),
:class:`~flagship.mechanisms.InputError` (422, one ``errors`` item per problem;
:class:`~flagship.mechanisms.UnknownNameError` is 404) or ``fastapi.HTTPException(status,
detail)`` where ``detail`` is a string or a mapping ``{"reason", "detail", "errors"}``.
Request validation errors are 422 naming each field; unknown routes 404, wrong methods 405.
Only a store outage gives a 5xx for a well-formed request (503 with ``Retry-After``:
``STORE_UNAVAILABLE``, no effect, or ``OUTCOME_UNKNOWN``, the answer to a commit was lost),
besides bugs (500).

Lifecycle: the app factory calls :func:`install_problem_handlers` once; the middlewares
answer their own refusals with :func:`problem_response` directly (they run before a route).
"""

from __future__ import annotations

import http
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from flagship.mechanisms import (
    ActionRejected,
    AuthError,
    CommitOutcomeUnknownError,
    InputError,
    MechanismFailedError,
    Problem,
    ShuttingDownError,
    StoreUnavailableError,
    TrialEndedError,
    UnknownNameError,
)

__all__ = ["PROBLEM_JSON", "ProblemDoc", "ProblemItem", "install_problem_handlers", "problem_response"]

_log = logging.getLogger("flagship.live")

PROBLEM_JSON = "application/problem+json"

_REASON_BY_STATUS = {
    400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE", 409: "CONFLICT", 413: "BODY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE", 422: "INVALID_REQUEST", 429: "RATE_LIMITED",
    500: "INTERNAL_ERROR", 503: "UNAVAILABLE",
}
#: What a reason code looks like; anything else (a route that put free text in its reason) is counted
#: as OTHER, so the metric's reason label stays a bounded set.
_BOUNDED_REASON = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_MAX_MESSAGE = 300  # characters of a validation message (pydantic echoes inputs, which may be huge)


class ProblemItem(BaseModel):
    """One thing wrong with a request: a dotted field path and what was expected."""

    path: str
    message: str


class ProblemDoc(BaseModel):
    """An RFC 9457 problem detail with Flagship's machine-readable ``reason`` code."""

    model_config = ConfigDict(title="Problem")

    type: str = Field(description="URI naming the problem type (urn:flagship:reason:<REASON>)")
    title: str = Field(description="the HTTP status phrase")
    status: int
    detail: str = ""
    reason: str = Field(description="a code from a closed set, stable across versions")
    errors: list[ProblemItem] = Field(default_factory=list)


def problem_response(status: int, reason: str, detail: str = "", *,
                     errors: Iterable[Problem] = (), headers: Mapping[str, str] | None = None
                     ) -> Response:
    """A problem+json response."""
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {
        "type": f"urn:flagship:reason:{reason}",
        "title": title,
        "status": status,
        "detail": detail,
        "reason": reason,
        "errors": [{"path": p.path, "message": p.message} for p in errors],
    }
    return Response(orjson.dumps(body), status_code=status, headers=dict(headers or {}),
                    media_type=PROBLEM_JSON)


def _validation_problems(errors: Sequence[Any]) -> list[Problem]:
    problems = []
    for error in errors:
        loc = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "missing":
            message = "required field is missing"
        elif error.get("type") == "extra_forbidden":
            message = "unknown field"
        if "input" in error and error.get("type") not in ("missing", "extra_forbidden"):
            shown = repr(error["input"])
            message = f"{message}, got {shown if len(shown) <= 80 else shown[:77] + '...'}"
        problems.append(Problem(loc, message[:_MAX_MESSAGE]))
    return problems


def install_problem_handlers(app: FastAPI, *, www_authenticate: Callable[[], str] = lambda: "",
                             count: Callable[[Request, str], None] = lambda _request, _reason: None) -> None:
    """Make every error the app can produce a problem+json response with a reason code.

    ``count(request, reason)`` is called for each such answer (the app counts them in
    ``flagship_http_problems_total``; the middlewares count their own refusals), except a mechanism's
    rejection of an action, which ``flagship_actions_total`` counts by its reason already.
    """

    def counted(request: Request, response: Response, reason: str) -> Response:
        count(request, reason if _BOUNDED_REASON.fullmatch(reason) else "OTHER")
        return response

    def unauthorized_headers(status: int) -> dict[str, str]:
        challenge = www_authenticate()
        return {"WWW-Authenticate": challenge} if status == 401 and challenge else {}

    async def on_validation(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        return counted(request, problem_response(422, "INVALID_REQUEST", "the request does not validate",
                                                 errors=_validation_problems(errors)), "INVALID_REQUEST")

    async def on_http(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for it only
            raise exc
        status = exc.status_code
        reason = _REASON_BY_STATUS.get(status, f"HTTP_{status}")
        detail: str = ""
        problems: list[Problem] = []
        if isinstance(exc.detail, Mapping):
            reason = str(exc.detail.get("reason") or reason)
            detail = str(exc.detail.get("detail") or "")
            for item in exc.detail.get("errors") or ():
                if isinstance(item, Mapping):
                    problems.append(Problem(str(item.get("path", "")), str(item.get("message", ""))))
        elif exc.detail and exc.detail != http.HTTPStatus(status).phrase:
            detail = str(exc.detail)
        headers = {**unauthorized_headers(status), **dict(exc.headers or {})}
        return counted(request, problem_response(status, reason, detail, errors=problems, headers=headers),
                       reason)

    async def on_auth(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, AuthError):  # pragma: no cover
            raise exc
        return counted(request, problem_response(exc.status, exc.reason, exc.detail,
                                                 headers=unauthorized_headers(exc.status)), exc.reason)

    async def on_rejected(_: Request, exc: Exception) -> Response:
        if not isinstance(exc, ActionRejected):  # pragma: no cover
            raise exc
        return problem_response(exc.status, exc.reason, exc.detail)

    async def on_input(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, InputError):  # pragma: no cover
            raise exc
        if isinstance(exc, UnknownNameError):
            return counted(request, problem_response(404, "NOT_FOUND", "; ".join(exc.lines()),
                                                     errors=exc.problems), "NOT_FOUND")
        return counted(request, problem_response(422, "INVALID_INPUT", "the request does not validate",
                                                 errors=exc.problems), "INVALID_INPUT")

    async def on_unavailable(request: Request, exc: Exception) -> Response:
        retry = exc.retry_after if isinstance(exc, StoreUnavailableError | CommitOutcomeUnknownError) else 1.0
        reason = "SHUTTING_DOWN" if isinstance(exc, ShuttingDownError) else \
            "OUTCOME_UNKNOWN" if isinstance(exc, CommitOutcomeUnknownError) else "STORE_UNAVAILABLE"
        return counted(request, problem_response(503, reason, str(exc),
                                                 headers={"Retry-After": str(max(1, math.ceil(retry)))}),
                       reason)

    async def on_ended(request: Request, exc: Exception) -> Response:
        return counted(request, problem_response(409, "TRIAL_ENDED", str(exc)), "TRIAL_ENDED")

    async def on_mechanism(request: Request, exc: Exception) -> Response:
        _log.error("mechanism failed: %s", exc)
        return counted(request, problem_response(500, "MECHANISM_ERROR", "the mechanism failed on this "
                                                                         "action; it had no effect"),
                       "MECHANISM_ERROR")

    async def on_bug(request: Request, exc: Exception) -> Response:
        _log.exception("unhandled error", exc_info=exc)
        return counted(request, problem_response(500, "INTERNAL_ERROR", "an internal error occurred"),
                       "INTERNAL_ERROR")

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(AuthError, on_auth)
    app.add_exception_handler(ActionRejected, on_rejected)
    app.add_exception_handler(InputError, on_input)
    app.add_exception_handler(StoreUnavailableError, on_unavailable)
    app.add_exception_handler(ShuttingDownError, on_unavailable)
    app.add_exception_handler(CommitOutcomeUnknownError, on_unavailable)
    app.add_exception_handler(TrialEndedError, on_ended)
    app.add_exception_handler(MechanismFailedError, on_mechanism)
    app.add_exception_handler(Exception, on_bug)
