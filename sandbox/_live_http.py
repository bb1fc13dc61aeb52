"""The live server's HTTP conventions: problem+json errors, request limits, idempotency, OpenAPI.

Everything here is mechanism-agnostic; wings' routes get it for free:

* **Errors** are ``application/problem+json`` (RFC 9457) bodies ``{type, title, status,
  detail, reason, errors: [{path, message}]}``. Routes signal errors by raising
  :class:`~flagship.mechanisms.AuthError` (its status and reason), :class:`~flagship.mechanisms.InputError`
  (422, one ``errors`` item per problem; :class:`~flagship.mechanisms.UnknownNameError` is 404) or
  ``fastapi.HTTPException(status, detail)`` where ``detail`` is a string or a mapping
  ``{"reason", "detail", "errors"}``. Request validation errors are 422 naming each
  field; unknown routes 404, wrong methods 405. Only a store outage gives a 5xx for a
  well-formed request (503 with ``Retry-After``), besides bugs (500).
* **Limits** (:class:`LiveMiddleware`): body size (413), strict JSON (no NaN; 400) of
  bounded depth (400), per-identity token-bucket rate limits (429 + ``Retry-After``).
* **Idempotency**: every POST or PATCH to a route carries ``Idempotency-Key``. The first request
  with a key runs; a retry with the same key and body gets the stored outcome (the
  route runs again but ``gateway.submit`` returns the committed outcome instead of
  acting twice, marked ``Idempotent-Replayed: true``); the same key with another body
  is 422; a duplicate while the first is still running is 409. Keys are scoped by the
  caller's identity.
"""

from __future__ import annotations

import contextvars
import hashlib
import http
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flagship.mechanisms import (
    ActionRejected,
    Authenticator,
    AuthError,
    InputError,
    MechanismFailedError,
    Outcome,
    Principal,
    Problem,
    ShuttingDownError,
    StoreUnavailableError,
    TrialEndedError,
    UnknownNameError,
    canonical_bytes,
    canonical_json,
)
from flagship.telemetry._prometheus import LiveMetrics

__all__ = [
    "PRINCIPAL_SCOPE_KEY",
    "PROBLEM_JSON",
    "IdempotencyContext",
    "IdempotencyIndex",
    "IdempotencyRecord",
    "Limits",
    "LiveHttpContext",
    "LiveMiddleware",
    "ProblemDoc",
    "current_idempotency",
    "install_openapi",
    "install_problem_handlers",
    "json_depth",
    "problem_response",
]

_log = logging.getLogger("flagship.live")

PROBLEM_JSON = "application/problem+json"
PRINCIPAL_SCOPE_KEY = "flagship.principal"
"""ASGI scope key where the middleware leaves the authenticated :class:`Principal` (or ``None``)."""

EXEMPT_ENDPOINTS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
                              "/docs/oauth2-redirect", "/redoc"})
"""Endpoints that are never rate limited (probes and scrapes must get through)."""

_REASON_BY_STATUS = {
    400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE", 409: "CONFLICT", 413: "BODY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE", 422: "INVALID_REQUEST", 429: "RATE_LIMITED",
    500: "INTERNAL_ERROR", 503: "UNAVAILABLE",
}
_MAX_MESSAGE = 300  # characters of a validation message (pydantic echoes inputs, which may be huge)


# -- problem+json ---------------------------------------------------------------------------------


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


def install_problem_handlers(app: FastAPI, *, www_authenticate: Callable[[], str] = lambda: "") -> None:
    """Make every error the app can produce a problem+json response with a reason code."""

    def unauthorized_headers(status: int) -> dict[str, str]:
        challenge = www_authenticate()
        return {"WWW-Authenticate": challenge} if status == 401 and challenge else {}

    async def on_validation(_: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        return problem_response(422, "INVALID_REQUEST", "the request does not validate",
                                errors=_validation_problems(errors))

    async def on_http(_: Request, exc: Exception) -> Response:
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
        return problem_response(status, reason, detail, errors=problems, headers=headers)

    async def on_auth(_: Request, exc: Exception) -> Response:
        if not isinstance(exc, AuthError):  # pragma: no cover
            raise exc
        return problem_response(exc.status, exc.reason, exc.detail,
                                headers=unauthorized_headers(exc.status))

    async def on_rejected(_: Request, exc: Exception) -> Response:
        if not isinstance(exc, ActionRejected):  # pragma: no cover
            raise exc
        return problem_response(exc.status, exc.reason, exc.detail)

    async def on_input(_: Request, exc: Exception) -> Response:
        if not isinstance(exc, InputError):  # pragma: no cover
            raise exc
        if isinstance(exc, UnknownNameError):
            return problem_response(404, "NOT_FOUND", "; ".join(exc.lines()), errors=exc.problems)
        return problem_response(422, "INVALID_INPUT", "the request does not validate",
                                errors=exc.problems)

    async def on_unavailable(_: Request, exc: Exception) -> Response:
        retry = exc.retry_after if isinstance(exc, StoreUnavailableError) else 1.0
        reason = "SHUTTING_DOWN" if isinstance(exc, ShuttingDownError) else "STORE_UNAVAILABLE"
        return problem_response(503, reason, str(exc),
                                headers={"Retry-After": str(max(1, math.ceil(retry)))})

    async def on_ended(_: Request, exc: Exception) -> Response:
        return problem_response(409, "TRIAL_ENDED", str(exc))

    async def on_mechanism(_: Request, exc: Exception) -> Response:
        _log.error("mechanism failed: %s", exc)
        return problem_response(500, "MECHANISM_ERROR", "the mechanism failed on this action; "
                                                        "it had no effect")

    async def on_bug(_: Request, exc: Exception) -> Response:
        _log.exception("unhandled error", exc_info=exc)
        return problem_response(500, "INTERNAL_ERROR", "an internal error occurred")

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(AuthError, on_auth)
    app.add_exception_handler(ActionRejected, on_rejected)
    app.add_exception_handler(InputError, on_input)
    app.add_exception_handler(StoreUnavailableError, on_unavailable)
    app.add_exception_handler(ShuttingDownError, on_unavailable)
    app.add_exception_handler(TrialEndedError, on_ended)
    app.add_exception_handler(MechanismFailedError, on_mechanism)
    app.add_exception_handler(Exception, on_bug)


# -- limits ----------------------------------------------------------------------------------


class Limits(BaseModel):
    """``[live.limits]``: what one request and one identity may do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: PositiveInt = Field(default=65_536, description="largest request body (413 above)")
    max_json_depth: PositiveInt = Field(default=32, description="deepest JSON nesting (400 above)")
    rate_per_second: PositiveFloat = Field(default=50.0, description="sustained requests/s per identity")
    burst: PositiveInt = Field(default=100, description="requests an identity may send at once")


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``[]`` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in node)
    return deepest


class _Buckets:
    """Token buckets per identity, least recently used evicted beyond ``capacity`` identities."""

    def __init__(self, rate: float, burst: int, capacity: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.capacity = capacity
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, identity: str, now: float) -> float:
        """Spend one token; returns 0 when allowed, else the seconds until a token is back."""
        tokens, last = self._buckets.pop(identity, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[identity] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[identity] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        while len(self._buckets) > self.capacity:
            self._buckets.popitem(last=False)
        return wait


# -- idempotency -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IdempotencyRecord:
    """What a key has done: the request it was first used with and its committed outcomes."""

    request_hash: str
    outcomes: dict[int, Outcome]


class IdempotencyIndex(Protocol):
    """Where committed idempotency records are found (the engine's in-memory index)."""

    def lookup(self, base_key: str) -> IdempotencyRecord | None:
        """The record of ``base_key`` if an action under it has been committed."""
        ...


@dataclass
class IdempotencyContext:
    """The idempotency key of the request being handled, seen by ``gateway.submit``.

    A route may submit more than one action per request: the n-th submit (from 0)
    is stored under :meth:`key_for` ``(n)``; ``stored`` holds those already committed.
    """

    identity: str
    key: str
    request_hash: str
    stored: Mapping[int, Outcome]
    submits: int = 0
    replayed: bool = False

    @property
    def base_key(self) -> str:
        """The stored key of the first submit: canonical JSON ``[identity, key]``."""
        return canonical_json([self.identity, self.key])

    def key_for(self, index: int) -> str:
        """The stored key of the ``index``-th submit of this request."""
        if index == 0:
            return self.base_key
        return canonical_json([self.identity, self.key, index])


_IDEMPOTENCY: contextvars.ContextVar[IdempotencyContext | None] = contextvars.ContextVar(
    "flagship_idempotency", default=None)


#: Methods whose effect must happen once: they carry an ``Idempotency-Key``.
KEYED_METHODS = frozenset({"POST", "PATCH"})


def current_idempotency() -> IdempotencyContext | None:
    """The idempotency context of the request this task is handling, if any."""
    return _IDEMPOTENCY.get()


def parse_stored_key(stored: str) -> tuple[str, int]:
    """(base key, submit index) of a key as stored in the log."""
    parts = orjson.loads(stored)
    if not isinstance(parts, list) or len(parts) not in (2, 3):
        raise ValueError(f"not an idempotency key: {stored!r}")
    index = int(parts[2]) if len(parts) == 3 else 0
    return canonical_json(parts[:2]), index


def _parse_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':  # an RFC 8941 sf-string, as the draft writes it
        value = value[1:-1]
    if not 1 <= len(value) <= 255 or any(not 0x21 <= ord(ch) <= 0x7E for ch in value):
        return None
    return value


def request_hash(method: str, path: str, query: str, body: bytes, parsed: Any, is_json: bool) -> str:
    """SHA-256 identifying a request's content: JSON bodies compare by value, others by bytes."""
    content: Any = parsed if is_json else body.hex()
    return hashlib.sha256(canonical_bytes([method, path, query, is_json, content])).hexdigest()


# -- the middleware ----------------------------------------------------------------------------


@dataclass
class LiveHttpContext:
    """What :class:`LiveMiddleware` needs from the server (built by the app factory)."""

    limits: Limits
    authenticators: Sequence[Authenticator]
    index: IdempotencyIndex
    metrics: LiveMetrics
    routes: Callable[[], Sequence[BaseRoute]]
    settled: Callable[[], Awaitable[None]] | None = None
    """Waits until no batch is applied but uncommitted; reads go through it first."""
    in_flight: set[str] = field(default_factory=set)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in {"", "application/json"} or media.endswith("+json")


async def _read_body(receive: Receive, cap: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False  # the client went away; the app will see the disconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class LiveMiddleware:
    """Limits, authentication, rate limits, idempotency and request metrics, before any route runs."""

    def __init__(self, app: ASGIApp, context: LiveHttpContext) -> None:
        self.app = app
        self.context = context
        self.buckets = _Buckets(context.limits.rate_per_second, context.limits.burst)

    def _match(self, scope: Scope) -> tuple[str, bool]:
        partial = ""
        for route in self.context.routes():
            match, _ = route.matches(scope)
            path = str(getattr(route, "path", ""))
            if match == Match.FULL:
                return path, True
            if match == Match.PARTIAL and not partial:
                partial = path
        return (partial or "unmatched"), False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        endpoint, matched = self._match(scope)
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        size = 0
        try:
            size = await self._handle(scope, receive, observed_send, endpoint, matched)
        finally:
            self.context.metrics.observe_request(endpoint, scope["method"], status,
                                                 time.perf_counter() - started, size)

    async def _problem(self, scope: Scope, receive: Receive, send: Send, status: int, reason: str,
                       detail: str, endpoint: str, headers: Mapping[str, str] | None = None) -> None:
        self.context.metrics.problem(endpoint, reason)
        await problem_response(status, reason, detail, headers=headers)(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, endpoint: str,
                      matched: bool) -> int:
        limits = self.context.limits
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limits.max_body_bytes):
            if declared.isdigit():
                await self._problem(scope, receive, send, 413, "BODY_TOO_LARGE",
                                    f"the body may have at most {limits.max_body_bytes} bytes", endpoint)
            else:
                await self._problem(scope, receive, send, 400, "BAD_REQUEST",
                                    "Content-Length is not a number", endpoint)
            return 0
        body, too_big = await _read_body(receive, limits.max_body_bytes)
        if too_big:
            await self._problem(scope, receive, send, 413, "BODY_TOO_LARGE",
                                f"the body may have at most {limits.max_body_bytes} bytes", endpoint)
            return 0
        content_type = headers.get("content-type", "")
        is_json = bool(body) and _is_json(content_type)
        parsed: Any = None
        if is_json:
            # Strict JSON (orjson refuses NaN and Infinity) so nothing non-finite reaches a payload.
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                await self._problem(scope, receive, send, 400, "INVALID_JSON",
                                    f"the body is not valid JSON: {str(exc)[:120]}", endpoint)
                return len(body)
            if json_depth(parsed) > limits.max_json_depth:
                await self._problem(scope, receive, send, 400, "JSON_TOO_DEEP",
                                    f"JSON may nest at most {limits.max_json_depth} levels", endpoint)
                return len(body)

        principal: Principal | None = None
        client = scope.get("client")
        address = f"ip:{client[0]}" if client else "ip:unknown"
        request = Request(scope, _replaying(body, receive))
        for authenticator in self.context.authenticators:
            try:
                principal = await authenticator.authenticate(request, body)
            except AuthError as exc:
                # Refused credentials spend the caller's address bucket: guessing is rate limited too.
                wait = self.buckets.take(address, time.monotonic())
                if wait > 0:
                    await self._limited(scope, receive, send, wait, endpoint)
                else:
                    headers_401 = {"WWW-Authenticate": authenticator.scheme} if exc.status == 401 else {}
                    await self._problem(scope, receive, send, exc.status, exc.reason, exc.detail,
                                        endpoint, headers_401)
                return len(body)
            if principal is not None:
                break
        scope[PRINCIPAL_SCOPE_KEY] = principal
        identity = f"actor:{principal.actor}" if principal is not None else address

        if endpoint not in EXEMPT_ENDPOINTS:
            wait = self.buckets.take(identity, time.monotonic())
            if wait > 0:
                await self._limited(scope, receive, send, wait, endpoint)
                return len(body)

        app_receive = _replaying(body, receive)
        if scope["method"] not in KEYED_METHODS or not matched:
            if matched and endpoint not in EXEMPT_ENDPOINTS and self.context.settled is not None:
                await self.context.settled()  # read committed state only
            await self.app(scope, app_receive, send)
            return len(body)

        key = _parse_key(headers.get("idempotency-key"))
        if key is None:
            reason = "IDEMPOTENCY_KEY_REQUIRED" if "idempotency-key" not in headers else \
                "IDEMPOTENCY_KEY_INVALID"
            await self._problem(scope, receive, send, 400, reason,
                                "every POST and PATCH needs an Idempotency-Key header: 1 to 255 visible "
                                "ASCII characters, unique per intended action", endpoint)
            return len(body)
        query = scope.get("query_string", b"").decode("latin-1")
        digest = request_hash(scope["method"], scope["path"], query, body, parsed, is_json)
        context = IdempotencyContext(identity, key, digest, {})
        base = context.base_key
        if base in self.context.in_flight:
            await self._problem(scope, receive, send, 409, "IDEMPOTENCY_KEY_IN_FLIGHT",
                                "a request with this Idempotency-Key is still being processed; "
                                "retry later", endpoint, {"Retry-After": "1"})
            return len(body)
        record = self.context.index.lookup(base)
        if record is not None:
            if record.request_hash != digest:
                await self._problem(scope, receive, send, 422, "IDEMPOTENCY_KEY_REUSED",
                                    "this Idempotency-Key was used with another request body", endpoint)
                return len(body)
            context.stored = record.outcomes
            context.replayed = True
            self.context.metrics.idempotent_replay(endpoint)
        self.context.in_flight.add(base)
        token = _IDEMPOTENCY.set(context)
        try:
            await self.app(scope, app_receive, _mark_replayed(send) if context.replayed else send)
        finally:
            _IDEMPOTENCY.reset(token)
            self.context.in_flight.discard(base)
        return len(body)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, wait: float,
                       endpoint: str) -> None:
        await self._problem(scope, receive, send, 429, "RATE_LIMITED",
                            "too many requests from this identity; slow down", endpoint,
                            {"Retry-After": str(max(1, math.ceil(wait)))})


def _mark_replayed(send: Send) -> Send:
    async def marked(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []),
                                              (b"idempotent-replayed", b"true")]}
        await send(message)

    return marked


# -- OpenAPI ---------------------------------------------------------------------------------------


def install_openapi(app: FastAPI, *, security_schemes: Callable[[], Mapping[str, Any]]) -> None:
    """Document the server's conventions in ``/openapi.json``.

    Every POST gets the required ``Idempotency-Key`` header; every operation gets a
    ``default`` problem+json response and its 422 is documented as problem+json;
    the authenticators' security schemes (``security_scheme`` attribute) are listed.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        problem_schema = ProblemDoc.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in problem_schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas["Problem"] = problem_schema
        problem_content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for item in schema.get("paths", {}).values():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {"description": "The request does not validate",
                                        "content": problem_content}
                responses["default"] = {"description": "A problem (RFC 9457)",
                                        "content": problem_content}
                if method.upper() in KEYED_METHODS:
                    params = operation.setdefault("parameters", [])
                    params.append({
                        "name": "Idempotency-Key", "in": "header", "required": True,
                        "description": "unique per intended action; a retry with the same key and "
                                       "body returns the stored outcome",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                   "pattern": "^[!-~]+$"},
                    })
        schemes = dict(security_schemes())
        if schemes:
            components["securitySchemes"] = schemes
            schema["security"] = [{name: []} for name in schemes] + [{}]
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def is_coroutine_route(route: BaseRoute) -> bool:
    """Whether a route's endpoint is ``async def`` (sync endpoints run in a thread pool)."""
    import inspect  # noqa: PLC0415 - only needed while mounting

    endpoint = getattr(route, "endpoint", None)
    return endpoint is None or inspect.iscoroutinefunction(endpoint)

