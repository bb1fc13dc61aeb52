"""What one request, one identity, one operator and one address may do: ``[live.limits]``, token buckets.

Lifecycle: the scenario's ``[live.limits]`` table is validated into :class:`Limits` when the
scenario is loaded; the app factory hands it to the body-limit and rate-limit middlewares,
which build one :class:`RateLimiter` for the server's life (in memory: a restart refills
every bucket).

Who pays for a request (:meth:`RateLimiter.wait`): an admitted caller pays its operator's
bucket (the ``Signature-Agent`` origin its signature covers, when it names one) and then its
own identity's. Everyone else (no credentials, or a key the gate has not admitted yet) pays
its client address's bucket, then one bucket shared by all such work on the server, then its
identity's. A fresh key is therefore no fresh burst: its address and the global bucket
remember what the previous keys spent. Every table is bounded (least recently used evicted),
so a flood of keys or addresses costs bounded memory; an evicted address comes back with a
full burst, which is why the global bucket exists.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

__all__ = ["EXEMPT_ENDPOINTS", "Caller", "Limits", "RateBuckets", "RateLimiter", "json_depth"]

EXEMPT_ENDPOINTS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
                              "/docs/oauth2-redirect", "/docs/assets", "/redoc"})
"""Endpoints that are never rate limited nor wait for a commit (probes and scrapes must get through;
reading the API docs and their assets is not acting)."""


class Limits(BaseModel):
    """``[live.limits]``: what one request and one identity may do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: PositiveInt = Field(default=65_536, description="largest request body (413 above)")
    max_json_depth: PositiveInt = Field(default=32, description="deepest JSON nesting (400 above)")
    rate_per_second: PositiveFloat = Field(default=50.0, description="sustained requests/s per identity")
    burst: PositiveInt = Field(default=100, description="requests an identity may send at once")
    operator_rate_per_second: PositiveFloat = Field(
        default=50.0, description="sustained requests/s shared by the admitted identities of one operator "
                                  "(their signatures' Signature-Agent origin)")
    operator_burst: PositiveInt = Field(
        default=100, description="requests one operator's admitted identities may send at once, together")
    address_rate_per_second: PositiveFloat = Field(
        default=50.0, description="sustained unauthenticated or not-yet-admitted requests/s per address")
    address_burst: PositiveInt = Field(
        default=100, description="unauthenticated or not-yet-admitted requests one address may send at once")
    unadmitted_rate_per_second: PositiveFloat = Field(
        default=200.0, description="sustained unauthenticated or not-yet-admitted requests/s, all addresses "
                                   "together")
    unadmitted_burst: PositiveInt = Field(
        default=400, description="unauthenticated or not-yet-admitted requests the server takes at once, all "
                                 "addresses together")
    max_tracked: PositiveInt = Field(
        default=100_000, description="entries each bucket table keeps (identities, operators, addresses); "
                                     "the least recently used goes first")


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


class RateBuckets:
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


@dataclass(frozen=True, slots=True)
class Caller:
    """Whom one request is charged to (what the authentication middleware learnt)."""

    identity: str
    """``actor:<id>`` for an authenticated caller, else ``ip:<address>``."""
    address: str
    """``ip:<address>`` of the client connection."""
    admitted: bool
    """An authenticated caller that the server admits (not a first application)."""
    operator: str | None = None
    """The operator an admitted caller's signature names, if any."""


class RateLimiter:
    """The server's token buckets: per identity, per operator, per address, and one for unadmitted work."""

    def __init__(self, limits: Limits) -> None:
        capacity = limits.max_tracked
        self.identities = RateBuckets(limits.rate_per_second, limits.burst, capacity)
        self.operators = RateBuckets(limits.operator_rate_per_second, limits.operator_burst, capacity)
        self.addresses = RateBuckets(limits.address_rate_per_second, limits.address_burst, capacity)
        self.unadmitted = RateBuckets(limits.unadmitted_rate_per_second, limits.unadmitted_burst, 1)

    def wait(self, caller: Caller, now: float) -> tuple[float, str]:
        """Spend one token from each bucket the caller pays, outermost first.

        Returns ``(0.0, "")`` when allowed, else the seconds until the refusing bucket has a
        token again and the reason code naming it. A refusal spends nothing further in.
        """
        charges: list[tuple[RateBuckets, str, str]] = []
        if caller.admitted:
            if caller.operator is not None:
                charges.append((self.operators, f"op:{caller.operator}", "OPERATOR_RATE_LIMITED"))
        else:
            charges.append((self.addresses, caller.address, "ADDRESS_RATE_LIMITED"))
            charges.append((self.unadmitted, "all", "UNADMITTED_RATE_LIMITED"))
        charges.append((self.identities, caller.identity, "RATE_LIMITED"))
        for buckets, key, reason in charges:
            wait = buckets.take(key, now)
            if wait > 0:
                return wait, reason
        return 0.0, ""
