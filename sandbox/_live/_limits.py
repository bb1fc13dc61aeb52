"""What one request and one identity may do: ``[live.limits]``, JSON depth, per-identity token buckets.

Lifecycle: the scenario's ``[live.limits]`` table is validated into :class:`Limits` when the
scenario is loaded; the app factory hands it to the body-limit and rate-limit middlewares,
which build one :class:`RateBuckets` for the server's life (in memory: a restart refills
every bucket).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

__all__ = ["EXEMPT_ENDPOINTS", "Limits", "RateBuckets", "json_depth"]

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
