"""The gateway: what wings' routes see of the live server, and the authenticators it is built with.

Lifecycle: the app factory builds one :class:`LiveGateway` per app and the scenario's
authenticators with it (:func:`load_authenticators`; each factory gets the gateway, so an
authenticator can read a mechanism or derive a secret), then hands the gateway to every
wing's ``Mechanism.http(name, gateway)``. Per request, a route depends on
:meth:`LiveGateway.principal` (the caller the authentication middleware left in the scope)
and calls :meth:`LiveGateway.act` / :meth:`LiveGateway.submit`, which normalise the payload
as the log stores it and queue it on the single writer under the request's idempotency key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

import orjson
from fastapi import Request

from flagship.mechanisms import (
    AUTHENTICATOR_GROUP,
    ActionRejected,
    Authenticator,
    AuthError,
    ContractError,
    InputError,
    Mechanism,
    Outcome,
    Principal,
    Problem,
    ScenarioError,
    UnknownNameError,
    canonical_bytes,
)
from flagship.sandbox._live._idempotency import ActiveRequests
from flagship.sandbox._live._scenario import LiveSpec
from flagship.sandbox._live._served import ServedTrial

__all__ = ["PRINCIPAL_SCOPE_KEY", "LiveGateway", "load_authenticators", "normalize_payload"]

PRINCIPAL_SCOPE_KEY = "flagship.principal"
"""ASGI scope key where the authentication middleware leaves the :class:`Principal` (or ``None``)."""


def _check_json(value: Any, path: str) -> None:
    """Refuse what canonical JSON would silently change (NaN, infinities) or cannot encode."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise InputError([Problem(where, "expected a finite number")])
        if isinstance(node, Mapping):
            stack.extend((child, f"{where}.{key}") for key, child in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((child, f"{where}.{i}") for i, child in enumerate(node))


def normalize_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as the log will store it: a live handler sees exactly what a replay sees."""
    if not isinstance(payload, Mapping):
        raise InputError([Problem("payload", "expected a mapping")])
    _check_json(payload, "payload")
    try:
        normalized = orjson.loads(canonical_bytes(payload))
    except TypeError as exc:
        raise InputError([Problem("payload", f"not JSON-serialisable: {exc}")]) from None
    if not isinstance(normalized, dict):  # pragma: no cover - a Mapping encodes as an object
        raise InputError([Problem("payload", "expected a mapping")])
    return normalized


class LiveGateway:
    """The server side of :class:`flagship.mechanisms.Gateway` for wings' routes."""

    def __init__(self, engine: ServedTrial, authenticators: Sequence[Authenticator] = (), *,
                 requests: ActiveRequests | None = None) -> None:
        self.engine = engine
        self.authenticators: Sequence[Authenticator] = authenticators
        self.requests = requests if requests is not None else ActiveRequests()
        """The keyed requests being served (the idempotency middleware binds them)."""
        # Wall clock, not the engine's: signatures carry unix seconds whatever the trial's clock.
        self._started_at = time.time()

    @property
    def started_at(self) -> float:
        """Wall-clock unix seconds when this gateway (the server's app) was built."""
        return self._started_at

    @property
    def now(self) -> float:
        """Current simulated time of the trial."""
        return self.engine.sim_time()

    async def submit(self, mechanism: str, kind: str, payload: Mapping[str, Any], *,
                     actor: str) -> Outcome:
        """Hand an action to the single writer; its outcome once committed.

        Under an ``Idempotency-Key`` whose action is already committed, returns the
        stored outcome without acting again.
        """
        if self.engine.host is not None and mechanism not in self.engine.host.mechanisms:
            raise UnknownNameError([Problem("mechanism", f"no mechanism {mechanism!r} in this trial")])
        if not isinstance(actor, str) or not actor:
            raise InputError([Problem("actor", "expected a non-empty string")])
        if not isinstance(kind, str) or not kind:
            raise InputError([Problem("kind", "expected a non-empty string")])
        normalized = normalize_payload(payload)
        context = self.requests.current()
        if context is None:
            return await self.engine.submit(mechanism, kind, normalized, actor)
        index = context.submits
        context.submits += 1
        stored = context.stored.get(index)
        if stored is not None:
            return stored
        return await self.engine.submit(mechanism, kind, normalized, actor, key=context.key_for(index),
                                        base_key=context.base_key, index=index,
                                        request_hash=context.request_hash)

    async def act(self, mechanism: str, kind: str, payload: Mapping[str, Any], *,
                  actor: str) -> Outcome:
        """:meth:`submit`; a rejected outcome is raised as ActionRejected with its declared status."""
        outcome = await self.submit(mechanism, kind, payload, actor=actor)
        if outcome.accepted:
            return outcome
        status = type(self.engine.mechanism(mechanism)).status_of(str(outcome.reason))
        raise ActionRejected(str(outcome.reason), outcome.detail, status=status)

    def mechanism(self, name: str) -> Mechanism[Any]:
        """Read-only access to a live mechanism (fetch it per request; never mutate it)."""
        return self.engine.mechanism(name)

    def secret(self, purpose: str) -> bytes:
        """32 bytes for ``purpose`` derived from the trial's checkpoint key (see Gateway.secret)."""
        if not isinstance(purpose, str) or not purpose:
            raise InputError([Problem("purpose", "expected a non-empty string")])
        return self.engine.key.derive(purpose)

    async def principal(self, request: Request) -> Principal:
        """The authenticated caller, or :class:`AuthError` (401) when nobody could be authenticated.

        A FastAPI dependency (``Depends(gateway.principal)``): the server's middleware has
        authenticated the request already and left the principal in its scope.
        """
        scope = request.scope
        if PRINCIPAL_SCOPE_KEY in scope:
            principal: Principal | None = scope[PRINCIPAL_SCOPE_KEY]
        else:  # the route runs without the middleware (a unit test of a router)
            principal = None
            body = await request.body()
            for authenticator in self.authenticators:
                principal = await authenticator.authenticate(request, body)
                if principal is not None:
                    break
        if principal is None:
            raise AuthError("UNAUTHENTICATED", "no credentials this server accepts were presented")
        return principal


def load_authenticators(spec: LiveSpec, gateway: LiveGateway) -> list[Authenticator]:
    """Build the scenario's authenticators from the ``flagship.authenticators`` entry points.

    Each entry point names a factory called as ``factory(gateway, options)`` where
    ``options`` is the scenario's ``[live.auth.<name>]`` table; it returns an object
    with a ``scheme`` and an ``async authenticate(request, body)``.
    """
    available = {ep.name: ep for ep in entry_points(group=AUTHENTICATOR_GROUP)}
    problems: list[Problem] = []
    built: list[Authenticator] = []
    for position, name in enumerate(spec.authenticators):
        ep = available.get(name)
        if ep is None:
            problems.append(Problem(f"live.authenticators.{position}",
                                    f"unknown authenticator {name!r}; known: "
                                    f"{', '.join(sorted(available)) or 'none'}"))
            continue
        try:
            factory = ep.load()
        except Exception as exc:
            raise ContractError(f"authenticator plug-in {name!r} ({ep.value}) failed to load: "
                                f"{exc}") from exc
        try:
            authenticator = factory(gateway, dict(spec.auth.get(name, {})))
        except InputError as exc:
            problems.extend(Problem(f"live.auth.{name}.{p.path}".rstrip("."), p.message)
                            for p in exc.problems)
            continue
        if not isinstance(getattr(authenticator, "scheme", None), str) or \
                not callable(getattr(authenticator, "authenticate", None)):
            raise ContractError(f"authenticator {name!r} ({ep.value}) returned {authenticator!r}, "
                                "which has no scheme or authenticate()")
        built.append(authenticator)
    for name in spec.auth:
        if name not in spec.authenticators:
            problems.append(Problem(f"live.auth.{name}", "options for an authenticator that "
                                                         "live.authenticators does not name"))
    if problems:
        raise ScenarioError(problems)
    return built
