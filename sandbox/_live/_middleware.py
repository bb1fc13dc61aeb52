"""The live server's request pipeline: single-purpose ASGI middlewares, run once routing has chosen a route.

Every request goes through, in order:

1. :class:`RequestMetricsMiddleware` (outermost, around the whole app): duration, status and
   body size per endpoint label, recorded when the response is done;
2. FastAPI's router, which chooses the route; then the route's :class:`RouteStack` (installed
   on every route's ``handle`` and on the router's not-found fallback by
   :func:`install_route_stacks`) records the chosen route's path template as the request's
   endpoint label (``"unmatched"`` when no route matched: a bounded label) in a
   :class:`LiveRequest` kept in ``scope["state"]``, and runs:
3. :class:`BodyLimitMiddleware`: body size (413), strict JSON (no NaN; 400) of bounded depth (400);
4. :class:`AuthenticationMiddleware`: the scenario's authenticators in order, the
   :class:`~flagship.mechanisms.Principal` (or ``None``) into the scope; refused credentials
   are 401 (after spending the caller's address bucket: guessing is rate limited too);
5. :class:`RateLimitMiddleware`: token buckets per identity, operator, address and for unadmitted
   work (429 + ``Retry-After``, see :mod:`flagship.sandbox._live._limits`);
6. :class:`IdempotencyMiddleware`: every POST, PATCH or DELETE to a route carries ``Idempotency-Key``.
   The first request with a key runs; a retry with the same key and body gets the stored
   outcome (the route runs again but ``gateway.submit`` returns the committed outcome
   instead of acting twice, marked ``Idempotent-Replayed: true``); the same key with another
   body is 422; a duplicate while the first is still running is 409. Keys are scoped by the
   caller's identity. A 2xx answer to a request that committed a log entry carries its signed
   receipt (``Flagship-Receipt``, see :mod:`flagship.telemetry._receipts`);
7. the route (FastAPI's own handling: 405 for a wrong method, validation, the endpoint).

Each refusal is a problem+json response counted by reason and endpoint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flagship.mechanisms import Authenticator, AuthError, Principal
from flagship.sandbox._live._gateway import PRINCIPAL_SCOPE_KEY
from flagship.sandbox._live._idempotency import (
    KEYED_METHODS,
    ActiveRequests,
    IdempotencyContext,
    IdempotencyRecord,
    parse_key,
    request_hash,
)
from flagship.sandbox._live._limits import EXEMPT_ENDPOINTS, Caller, Limits, RateLimiter, json_depth
from flagship.sandbox._live._problems import problem_response
from flagship.telemetry._prometheus import LiveMetrics

__all__ = [
    "REQUEST_STATE_KEY",
    "UNMATCHED",
    "AuthenticationMiddleware",
    "BodyLimitMiddleware",
    "IdempotencyMiddleware",
    "LiveRequest",
    "RateLimitMiddleware",
    "RequestMetricsMiddleware",
    "RouteStack",
    "install_route_stacks",
    "to_route",
]

REQUEST_STATE_KEY = "flagship.request"
"""Key of the :class:`LiveRequest` in ``scope["state"]``."""
UNMATCHED = "unmatched"
"""The endpoint label of a request no route matched (a bounded label, whatever the path)."""


@dataclass(slots=True)
class LiveRequest:
    """What the middlewares learn about one request, kept in its ASGI scope's ``state``."""

    endpoint: str
    """The path template of the route the router chose, or :data:`UNMATCHED`."""
    matched: bool
    """The route takes this method (a full match; otherwise the route answers 405)."""
    handle: ASGIApp
    """The chosen route's own handling (or the router's not-found answer)."""
    size: int = 0
    body: bytes = b""
    parsed: Any = None
    is_json: bool = False
    identity: str = ""
    """Whom the idempotency keys count: ``actor:<id>``, else ``ip:<address>``."""
    caller: Caller | None = None
    """Whom the rate limits charge (set by authentication)."""
    idempotency: IdempotencyContext | None = None


def live_request(scope: Scope) -> LiveRequest:
    """The request's :class:`LiveRequest` (its route stack put it there)."""
    request: LiveRequest = scope["state"][REQUEST_STATE_KEY]
    return request


async def refuse(scope: Scope, receive: Receive, send: Send, metrics: LiveMetrics, status: int,
                 reason: str, detail: str, headers: Mapping[str, str] | None = None) -> None:
    """Answer a problem+json refusal and count it under the request's endpoint."""
    metrics.problem(live_request(scope).endpoint, reason)
    await problem_response(status, reason, detail, headers=headers)(scope, receive, send)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the already-read ``body`` once, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# -- around the whole app ------------------------------------------------------------------------


class RequestMetricsMiddleware:
    """Counts every HTTP request by endpoint label, method and status, with its duration and body size."""

    def __init__(self, app: ASGIApp, metrics: LiveMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            # Read after routing: the route stack left the chosen route's label. A request that
            # never reached one (a trailing-slash redirect) counts as unmatched.
            request = scope.get("state", {}).get(REQUEST_STATE_KEY)
            endpoint, size = (request.endpoint, request.size) if request is not None else (UNMATCHED, 0)
            self.metrics.observe_request(endpoint, scope["method"], status,
                                         time.perf_counter() - started, size)


# -- after routing -------------------------------------------------------------------------------


class RouteStack:
    """A route's ``handle`` behind the request pipeline: labels the request, then runs the pipeline.

    Installed on ``handle`` rather than on the route's app (as Starlette's per-route
    ``middleware`` is) because the router calls ``handle`` for a wrong method too, and
    such a request is limited, authenticated and counted like any other before its 405.
    The pipeline is one chain of middlewares shared by every route; its innermost app,
    :func:`to_route`, calls the handle this stack wraps.
    """

    def __init__(self, handle: ASGIApp, endpoint: str, methods: Iterable[str] | None,
                 pipeline: ASGIApp) -> None:
        self.handle = handle
        self.endpoint = endpoint
        self.methods = None if methods is None else frozenset(methods)
        self.pipeline = pipeline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.handle(scope, receive, send)
            return
        matched = self.methods is None or scope["method"] in self.methods
        scope.setdefault("state", {})[REQUEST_STATE_KEY] = LiveRequest(self.endpoint, matched, self.handle)
        await self.pipeline(scope, receive, send)


async def to_route(scope: Scope, receive: Receive, send: Send) -> None:
    """The pipeline's innermost app: the route the router chose (FastAPI's own handling from here)."""
    await live_request(scope).handle(scope, receive, send)


def install_route_stacks(router: Router, routes: Iterable[BaseRoute], pipeline: ASGIApp) -> None:
    """Put ``pipeline`` between the router's choice and each of ``routes`` (and its not-found answer).

    ``routes`` are the route objects the router hands requests to (a wing's routes stay
    its own objects when its router is included).
    """
    for route in routes:
        if isinstance(route, Route):  # an endpoint route (APIRoute is one)
            route.handle = RouteStack(route.handle, route.path, route.methods, pipeline)  # type: ignore[method-assign]
        elif isinstance(route, Mount):  # the only mounts are static files: read-only, so GET and HEAD
            route.handle = RouteStack(route.handle, route.path, ("GET", "HEAD"), pipeline)  # type: ignore[method-assign]
    router.default = RouteStack(router.default, UNMATCHED, (), pipeline)


class BodyLimitMiddleware:
    """Reads the body (413 beyond the limit) and parses JSON strictly (400 if invalid or too deep)."""

    def __init__(self, app: ASGIApp, limits: Limits, metrics: LiveMetrics) -> None:
        self.app = app
        self.limits = limits
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits = self.limits
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limits.max_body_bytes):
            if declared.isdigit():
                await refuse(scope, receive, send, self.metrics, 413, "BODY_TOO_LARGE",
                             f"the body may have at most {limits.max_body_bytes} bytes")
            else:
                await refuse(scope, receive, send, self.metrics, 400, "BAD_REQUEST",
                             "Content-Length is not a number")
            return
        body, too_big = await self._read(receive, limits.max_body_bytes)
        if too_big:
            await refuse(scope, receive, send, self.metrics, 413, "BODY_TOO_LARGE",
                         f"the body may have at most {limits.max_body_bytes} bytes")
            return
        request = live_request(scope)
        request.body = body
        request.size = len(body)
        if body and _is_json(headers.get("content-type", "")):
            # Strict JSON (orjson refuses NaN and Infinity) so nothing non-finite reaches a payload.
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                await refuse(scope, receive, send, self.metrics, 400, "INVALID_JSON",
                             f"the body is not valid JSON: {str(exc)[:120]}")
                return
            if json_depth(parsed) > limits.max_json_depth:
                await refuse(scope, receive, send, self.metrics, 400, "JSON_TOO_DEEP",
                             f"JSON may nest at most {limits.max_json_depth} levels")
                return
            request.parsed = parsed
            request.is_json = True
        await self.app(scope, replaying(body, receive), send)

    @staticmethod
    async def _read(receive: Receive, cap: int) -> tuple[bytes, bool]:
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


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in {"", "application/json"} or media.endswith("+json")


class AuthenticationMiddleware:
    """Asks the authenticators in order; leaves the principal (or ``None``) in the scope.

    Each authenticator gets the request and its body bytes (read once, by the body limit).
    A refusal (:class:`~flagship.mechanisms.AuthError`) is charged like unauthenticated work
    (the address's and the global unadmitted bucket), so guessing credentials is rate limited
    too: 429 when a bucket is empty, else the refusal.
    """

    def __init__(self, app: ASGIApp, authenticators: Sequence[Authenticator], limiter: RateLimiter,
                 metrics: LiveMetrics) -> None:
        self.app = app
        self.authenticators = authenticators
        self.limiter = limiter
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = live_request(scope)
        client = scope.get("client")
        address = f"ip:{client[0]}" if client else "ip:unknown"
        principal: Principal | None = None
        if self.authenticators:
            http_request = Request(scope, replaying(request.body, receive))
            for authenticator in self.authenticators:
                try:
                    principal = await authenticator.authenticate(http_request, request.body)
                except AuthError as exc:
                    wait, reason = self.limiter.wait(Caller(address, address, False), time.monotonic())
                    if wait > 0:
                        await rate_limited(scope, receive, send, self.metrics, wait, reason)
                    else:
                        challenge = {"WWW-Authenticate": authenticator.scheme} if exc.status == 401 else {}
                        await refuse(scope, receive, send, self.metrics, exc.status, exc.reason, exc.detail,
                                     challenge)
                    return
                if principal is not None:
                    break
        scope[PRINCIPAL_SCOPE_KEY] = principal
        request.identity = f"actor:{principal.actor}" if principal is not None else address
        request.caller = Caller(request.identity, address, principal is not None and principal.admitted,
                                principal.operator if principal is not None else None)
        await self.app(scope, receive, send)


_RATE_LIMITED_WHO = {
    "RATE_LIMITED": "this identity",
    "OPERATOR_RATE_LIMITED": "this operator's identities",
    "ADDRESS_RATE_LIMITED": "this address's unauthenticated or not yet admitted callers",
    "UNADMITTED_RATE_LIMITED": "unauthenticated or not yet admitted callers (all addresses)",
}


async def rate_limited(scope: Scope, receive: Receive, send: Send, metrics: LiveMetrics,
                       wait: float, reason: str = "RATE_LIMITED") -> None:
    """Answer 429 with the seconds until the refusing bucket has a token again."""
    await refuse(scope, receive, send, metrics, 429, reason,
                 f"too many requests from {_RATE_LIMITED_WHO.get(reason, 'this caller')}; slow down",
                 {"Retry-After": str(max(1, math.ceil(wait)))})


class RateLimitMiddleware:
    """One token per request from each bucket its caller pays (probes and scrapes are exempt)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, metrics: LiveMetrics) -> None:
        self.app = app
        self.limiter = limiter
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = live_request(scope)
        if request.endpoint not in EXEMPT_ENDPOINTS:
            client = scope.get("client")
            address = f"ip:{client[0]}" if client else "ip:unknown"
            caller = request.caller or Caller(request.identity or address, address, False)
            wait, reason = self.limiter.wait(caller, time.monotonic())
            if wait > 0:
                await rate_limited(scope, receive, send, self.metrics, wait, reason)
                return
        await self.app(scope, receive, send)


class IdempotencyMiddleware:
    """POST, PATCH and DELETE to a route: a valid key, not in flight, not reused with another body.

    The request's :class:`IdempotencyContext` goes into its :class:`LiveRequest` and is
    bound to the serving task in ``requests`` while the route runs, for ``gateway.submit``.
    A 2xx answer to a request that committed a log entry (first time or replayed) carries
    ``receipt(base key)`` in the ``Flagship-Receipt`` header: signed when the answer starts,
    which is after the commit (a route's outcome exists only once committed).
    """

    def __init__(self, app: ASGIApp, lookup: Callable[[str], Awaitable[IdempotencyRecord | None]],
                 requests: ActiveRequests, metrics: LiveMetrics,
                 receipt: Callable[[str], str | None] = lambda _: None) -> None:
        self.app = app
        self.lookup = lookup
        self.requests = requests
        self.metrics = metrics
        self.receipt = receipt
        self.in_flight: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = live_request(scope)
        if scope["method"] not in KEYED_METHODS or not request.matched:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = parse_key(headers.get("idempotency-key"))
        if key is None:
            reason = "IDEMPOTENCY_KEY_REQUIRED" if "idempotency-key" not in headers else \
                "IDEMPOTENCY_KEY_INVALID"
            await refuse(scope, receive, send, self.metrics, 400, reason,
                         "every POST, PATCH and DELETE needs an Idempotency-Key header: 1 to 255 visible "
                         "ASCII characters, unique per intended action")
            return
        query = scope.get("query_string", b"").decode("latin-1")
        digest = request_hash(scope["method"], scope["path"], query, request.body, request.parsed,
                              request.is_json)
        context = IdempotencyContext(request.identity, key, digest, {})
        base = context.base_key
        if base in self.in_flight:
            await refuse(scope, receive, send, self.metrics, 409, "IDEMPOTENCY_KEY_IN_FLIGHT",
                         "a request with this Idempotency-Key is still being processed; retry later",
                         {"Retry-After": "1"})
            return
        record = await self.lookup(base)
        if record is not None:
            if record.request_hash != digest:
                await refuse(scope, receive, send, self.metrics, 422, "IDEMPOTENCY_KEY_REUSED",
                             "this Idempotency-Key was used with another request body")
                return
            context.stored = record.outcomes
            context.replayed = True
            self.metrics.idempotent_replay(request.endpoint)
        request.idempotency = context
        self.in_flight.add(base)
        task = self.requests.bind(context)
        try:
            await self.app(scope, receive, self._marked(send, base, context.replayed))
        finally:
            self.requests.release(task)
            self.in_flight.discard(base)

    def _marked(self, send: Send, base: str, replayed: bool) -> Send:
        """``send`` adding the receipt to a 2xx answer, and ``Idempotent-Replayed`` to a replay's."""
        receipt = self.receipt

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra: list[tuple[bytes, bytes]] = []
                if replayed:
                    extra.append((b"idempotent-replayed", b"true"))
                if 200 <= int(message["status"]) < 300:
                    signed = receipt(base)
                    if signed is not None:
                        extra.append((b"flagship-receipt", signed.encode("ascii")))
                if extra:
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return marked

