"""Live routes of the posted-price shop, and a bearer-token authenticator for tests.

This is how any mechanism, built in or third-party, goes live: set ``Mechanism.http``
to a factory ``(name, gateway) -> fastapi.APIRouter``. Routes are ``async def``,
get the caller as a dependency (``Depends(gateway.principal)``), act with ``await
gateway.act(...)`` (which returns the accepted outcome once the action is committed, or
raises ``ActionRejected``, which the server answers as problem+json with the status the
mechanism declares) and read state with ``gateway.mechanism(name)``. They import only the
contract and FastAPI; the server adds idempotency, limits, problem+json errors and
metrics around them.

FastAPI is imported inside the factory so that the plug-in still imports (for
sandbox runs) where the live server's dependencies are not installed. No ``from
__future__ import annotations`` here: FastAPI reads the handlers' annotations, which
name classes local to the factory.
"""

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from flagship.mechanisms import AuthError, Gateway, InputError, Principal, Problem

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["BearerTokens", "routes"]


def routes(name: str, gateway: Gateway) -> "APIRouter":
    """``POST /v1/shop/purchases`` (buy one unit) and ``GET /v1/shop`` (price and stock)."""
    from fastapi import APIRouter, Depends
    from pydantic import BaseModel, ConfigDict, Field

    class PurchaseRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")

        offer: int = Field(gt=0, le=10**12, description="what the buyer offers for one unit (ticks)")

    class Purchase(BaseModel):
        accepted: bool
        buyer: str
        price: int = Field(description="the price paid")

    class Shop(BaseModel):
        price: int
        stock: int
        sold: int

    router = APIRouter(prefix="/v1/shop", tags=["shop"])

    @router.post("/purchases", status_code=201, response_model=Purchase,
                 summary="Buy one unit at the posted price")
    async def purchase(body: PurchaseRequest,
                       principal: Annotated[Principal, Depends(gateway.principal)]) -> Purchase:
        # A rejection (SOLD_OUT, BELOW_PRICE) is raised: 409 with the mechanism's reason code.
        outcome = await gateway.act(name, "buy", {"offer": body.offer}, actor=principal.actor)
        return Purchase(accepted=True, buyer=principal.actor, price=int(outcome.effects["price"]))

    @router.get("", response_model=Shop, summary="The posted price and what is left")
    async def shop() -> Shop:
        mechanism: Any = gateway.mechanism(name)
        return Shop(price=mechanism.config.price, stock=mechanism.stock, sold=mechanism.sold)

    return router


class BearerTokens:
    """``Authorization: Bearer <token>`` against a fixed token -> actor table (for tests and demos).

    Options (the scenario's ``[live.auth.bearer_token]``): ``tokens = {token = "actor"}``.
    """

    scheme = "bearer"
    security_scheme: Mapping[str, Any] = {"type": "http", "scheme": "bearer"}

    def __init__(self, gateway: Gateway, options: Mapping[str, Any]) -> None:
        tokens = options.get("tokens", {})
        unknown = sorted(set(options) - {"tokens"})
        if unknown:
            raise InputError([Problem(key, "unknown option") for key in unknown])
        if not isinstance(tokens, Mapping) or not all(
                isinstance(k, str) and k and isinstance(v, str) and v for k, v in tokens.items()):
            raise InputError([Problem("tokens", "expected a table of token = \"actor\" strings")])
        self._tokens = dict(tokens)

    async def authenticate(self, request: Any, body: bytes) -> Principal | None:
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None  # another scheme: another authenticator's business
        for known, actor in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.strip().encode()):
                return Principal(actor, self.scheme)
        raise AuthError("INVALID_TOKEN", "the bearer token is not known")
