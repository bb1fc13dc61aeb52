"""The trader's pages of the value market (``ValueMarket.pages``).

Signing in: the market's live traders are authenticated by the scenario's bearer tokens
(``[live.auth.bearer_token] tokens = {"<token>" = "<trader>"}``, as in
``tests/markets/test_market_http.py``; a signed AI agent of an agents-only market keeps
signing its own requests and has no browser). ``/pages/market/sign-in`` shows a form with one
password field; it is a GET form, because a POST needs the session's CSRF token and there is
no session yet, so the operator may also hand each trader a link
``/pages/market/sign-in?token=<token>``. Either way the token moves into the HttpOnly session
cookie (``site.sign_in``) and the browser is sent on to ``/pages/market`` at once, so the token
leaves the address bar; the server's access log drops query strings and every page is
``Referrer-Policy: no-referrer``, so it is never logged nor sent on.

``/pages/market`` shows:

* the book's top levels (asks above bids) and whether trading is halted; the shared static
  script reloads that section every few seconds, and a plain link reloads the page without
  JavaScript;
* the trader's live orders, each with a form to modify (new lots, new limit) and to cancel it,
  and their recent fills;
* a form to place a limit or market order, with the values attestation (tags, externality,
  attestor) when the market runs a norm policy (anything but ``baseline``).

Each form is ``gateway.act`` of the JSON route's action (``limit``/``market``, ``modify``,
``cancel``): the same log entry, the same reason codes and HTTP statuses. A rejection is shown
with its reason in words (:data:`REASON_SENTENCES`, translated by the catalogues), the market's
detail and the code. No ``from __future__ import annotations``: FastAPI reads the handlers'
annotations at runtime.
"""

import secrets
from typing import TYPE_CHECKING, Annotated, Any, cast

from pydantic import ValidationError

from flagship.mechanisms import ActionRejected, CommonReason, InputError, PageSet, PagesFactory, PageSite

from ._http import ORDER_ID_PATTERN, ModifyRequest, OrderRequest
from ._reasons import MarketReason

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["BOOK_LEVELS", "PAGES", "REASON_SENTENCES", "modify_request", "order_request"]

BOOK_LEVELS = 5
"""Price levels per side the page shows."""
_FILLS_SHOWN = 20


def N_(message: str) -> str:  # noqa: N802 - gettext's marker name, which pybabel extracts
    """Marks ``message`` for the catalogue; the template translates it when it renders."""
    return message


REASON_SENTENCES: dict[str, str] = {
    MarketReason.INVALID_ID: N_(
        "The order id must be 1 to 64 letters, digits, dots, dashes, tildes or underscores."),
    MarketReason.INVALID_SIDE: N_("Choose buy or sell."),
    MarketReason.INVALID_PRICE: N_("The price must be a whole number of ticks, at least 1."),
    MarketReason.OFF_TICK: N_("The price must be a multiple of the market's tick size."),
    MarketReason.INVALID_QTY: N_("The quantity must be a whole number of lots, at least 1."),
    MarketReason.INVALID_OWNER: N_("Your trader id is not valid in this market."),
    MarketReason.INVALID_TIF: N_(
        "This time in force does not fit the order (post-only orders are good till cancelled)."),
    MarketReason.INVALID_STP: N_("The market's self-trade rule refused the order."),
    MarketReason.INVALID_PRIORITY: N_("The market could not rank the order."),
    MarketReason.DUPLICATE_ID: N_("You already have a live order with this id; choose another id."),
    MarketReason.UNKNOWN_ORDER: N_(
        "You have no live order with this id: it was filled, cancelled or never placed."),
    MarketReason.HALTED: N_(
        "Trading is halted: new orders and changes are refused until it resumes (you can still cancel)."),
    MarketReason.PRICE_BAND: N_("The price is outside the market's price band."),
    MarketReason.POST_ONLY_WOULD_CROSS: N_("A post-only order must not trade at once, and this one would."),
    MarketReason.FOK_UNFILLABLE: N_(
        "A fill-or-kill order must fill completely at once, and this one cannot now."),
    MarketReason.SELF_TRADE: N_("The order would only trade with your own orders."),
    MarketReason.NOT_ADMITTED: N_("This market is for admitted agents only, and you are not admitted."),
    MarketReason.NORM_PROHIBITED: N_("The order's attestation names a value this market prohibits."),
    MarketReason.EXTERNALITY_CAP: N_("The attested externality is above what this market allows."),
    MarketReason.UNKNOWN_VALUE_TAG: N_("A value tag is not in this market's vocabulary."),
    MarketReason.UNTRUSTED_ATTESTOR: N_("The attestor is not one this market trusts."),
    MarketReason.INVALID_ATTESTATION: N_("The attestation is malformed (values, externality or attestor)."),
    MarketReason.TOO_MANY_RESTING_ORDERS: N_(
        "You have as many resting orders as this market allows; cancel one first."),
    CommonReason.INVALID_PAYLOAD: N_("The form is not complete or not valid; see the details."),
    CommonReason.UNKNOWN_KIND: N_("The market does not know this action."),
    CommonReason.NOT_PERMITTED: N_("You are not permitted to do this."),
}
"""Every reason the market may give (its closed set and the common one), as a sentence to a trader."""


def _whole(fields: dict[str, str], name: str, *, required: bool) -> int | None:
    raw = fields.get(name, "").strip()
    if not raw:
        if required:
            raise InputError(f"{name}: required")
        return None
    if not raw.isdigit():
        raise InputError(f"{name}: a whole number, at least 1")
    return int(raw)


def order_request(fields: dict[str, str], values: list[str]) -> OrderRequest:
    """The JSON route's :class:`OrderRequest` for a submitted order form (``values``: ticked tags).

    Blank optional fields are left out; a limit order is GTC unless ``tif`` says otherwise.
    Raises :class:`~flagship.mechanisms.InputError` (shown as ``INVALID_PAYLOAD``).
    """
    kind = fields.get("type", "limit")
    body: dict[str, Any] = {"order_id": fields.get("order_id", "").strip(), "side": fields.get("side", ""),
                            "type": kind, "qty": _whole(fields, "qty", required=True)}
    if kind == "limit":
        body["price"] = _whole(fields, "price", required=True)
        body["tif"] = fields.get("tif") or "GTC"
        body["post_only"] = fields.get("post_only") == "on"
    if values:
        body["values"] = values
    externality = fields.get("externality", "").strip()
    if externality:
        try:
            body["externality"] = float(externality)
        except ValueError:
            raise InputError("externality: a number of ticks per lot") from None
    if fields.get("attestor", "").strip():
        body["attestor"] = fields["attestor"].strip()
    try:
        return OrderRequest.model_validate(body)
    except ValidationError as bad:
        raise InputError("; ".join(f"{'.'.join(map(str, e['loc'])) or 'order'}: {e['msg']}"
                                   for e in bad.errors())) from None


def modify_request(fields: dict[str, str]) -> ModifyRequest:
    """The JSON route's :class:`ModifyRequest` for a modify form (blank: unchanged)."""
    body = {"qty": _whole(fields, "qty", required=False), "price": _whole(fields, "price", required=False)}
    try:
        return ModifyRequest.model_validate(body)
    except ValidationError as bad:
        raise InputError("; ".join(str(e["msg"]) for e in bad.errors())) from None


def _routes(name: str, site: PageSite) -> "APIRouter":
    from fastapi import APIRouter, Path, Query, Request  # noqa: PLC0415 - the server's deps
    from fastapi.responses import RedirectResponse  # noqa: PLC0415
    from starlette.responses import Response  # noqa: PLC0415

    router = APIRouter(prefix="/pages/market")
    gateway = site.gateway
    OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN)]  # noqa: N806 - a type alias

    async def trader(request: Request) -> str:
        return str((await gateway.principal(request)).actor)

    def page(request: Request, actor: str, *, status: int = 200, **extra: Any) -> Response:
        market: Any = gateway.mechanism(name)
        depth = market.book.depth(BOOK_LEVELS)
        fills = []
        for fill, client_id, as_maker in market.fills_of(actor, _FILLS_SHOWN):
            side = fill.taker_side if not as_maker else ("sell" if fill.taker_side == "buy" else "buy")
            fills.append({"seq": fill.seq, "order_id": str(client_id), "side": side, "price": fill.price,
                          "qty": fill.qty, "maker": as_maker})
        config = market.config
        context: dict[str, Any] = {
            "trader": actor, "now": gateway.now, "halted": bool(market.halted),
            "asks": list(reversed(depth.asks)), "bids": list(depth.bids), "fills": fills,
            "orders": [{"order_id": str(client_id), "side": view.side, "price": view.price,
                        "resting": view.qty, "filled": filled, "placed": placed_at}
                       for client_id, view, filled, placed_at in market.orders_of(actor)],
            "attest": bool(config.policies) and list(config.policies) != ["baseline"],
            "vocabulary": list(config.vocabulary),
            "tick": config.tick_size, "error": None,
            # a fresh id per rendered form (ids are the trader's own; this only spares typing one)
            "suggested_id": f"o-{secrets.token_hex(3)}", "done": None, **extra}
        return cast(Response, site.render(request, "trader.html", context, status=status))

    def refused(request: Request, actor: str, reason: str, detail: str, status: int) -> Response:
        sentence = REASON_SENTENCES.get(reason, "")
        return page(request, actor, status=status,
                    error={"reason": reason, "sentence": sentence, "detail": detail})

    async def form_of(request: Request) -> tuple[dict[str, str], list[str]]:
        form = await request.form()
        fields = {key: str(value) for key, value in form.items()}
        return fields, [str(tag) for tag in form.getlist("values")]

    @router.get("/sign-in")
    async def sign_in(request: Request, token: Annotated[str, Query(max_length=512)] = "") -> Response:
        """The token form; with a token, move it into the session cookie and leave its URL."""
        if not token:
            return cast(Response, site.render(request, "trader_sign_in.html", {}))
        response = RedirectResponse("/pages/market", status_code=303)
        site.sign_in(response, token)
        return response

    @router.get("")
    async def home(request: Request) -> Response:
        return page(request, await trader(request))

    @router.post("/orders")
    async def place(request: Request) -> Response:
        actor = await trader(request)
        fields, values = await form_of(request)
        try:
            body = order_request(fields, values)
        except InputError as bad:
            detail = "; ".join(problem.message for problem in bad.problems)
            return refused(request, actor, CommonReason.INVALID_PAYLOAD, detail, 422)
        try:
            outcome = await gateway.act(name, body.type, body.payload(), actor=actor)
        except ActionRejected as no:
            return refused(request, actor, no.reason, no.detail, no.status)
        effects = outcome.effects
        return page(request, actor, status=201, done={
            "what": "placed", "order_id": body.order_id, "resting": int(effects.get("resting", 0)),
            "filled": sum(int(fill["qty"]) for fill in effects.get("fills", ()))})

    @router.post("/orders/{order_id}/modify")
    async def modify(request: Request, order_id: OrderId) -> Response:
        actor = await trader(request)
        fields, _ = await form_of(request)
        try:
            body = modify_request(fields)
        except InputError as bad:
            detail = "; ".join(problem.message for problem in bad.problems)
            return refused(request, actor, CommonReason.INVALID_PAYLOAD, detail, 422)
        try:
            payload = {"order_id": order_id, **body.model_dump(exclude_none=True)}
            outcome = await gateway.act(name, "modify", payload, actor=actor)
        except ActionRejected as no:
            return refused(request, actor, no.reason, no.detail, no.status)
        effects = outcome.effects
        return page(request, actor, done={
            "what": "modified", "order_id": order_id, "resting": int(effects.get("resting", 0)),
            "filled": sum(int(fill["qty"]) for fill in effects.get("fills", ()))})

    @router.post("/orders/{order_id}/cancel")
    async def cancel(request: Request, order_id: OrderId) -> Response:
        actor = await trader(request)
        try:
            outcome = await gateway.act(name, "cancel", {"order_id": order_id}, actor=actor)
        except ActionRejected as no:
            return refused(request, actor, no.reason, no.detail, no.status)
        return page(request, actor, done={"what": "cancelled", "order_id": order_id,
                                          "resting": 0, "filled": 0,
                                          "cancelled": int(outcome.effects.get("cancelled", 0))})

    return router


routes: PagesFactory = _routes
PAGES = PageSet(package="flagship.markets", folder="pages", routes=routes, entry="/pages/market",
                label="Your trading", sign_in="/pages/market/sign-in")
"""``ValueMarket.pages``."""
