"""Why the book or the market refuses a request: the closed sets of reason codes, their HTTP statuses.

:class:`BookReason` is the engine's (:class:`~flagship.markets.OrderBook`); :class:`MarketReason` is the
``value_market`` mechanism's (every engine reason under its upper-case name, plus the market's own);
:data:`REASON_STATUS` is ``ValueMarket.reason_status``: the HTTP status of a rejection in the live pilot.
"""

from __future__ import annotations

from enum import StrEnum

from flagship.mechanisms._errors import OrderRejected

__all__ = ["FROM_BOOK", "REASON_STATUS", "BookReason", "MarketReason", "OrderRejected"]


class BookReason(StrEnum):
    """Every reason :class:`~flagship.markets.OrderBook` may give for refusing a request.

    The set is closed: the book raises :class:`OrderRejected` with one of these and
    nothing else.  A rejected request changes nothing in the book (not even its
    sequence counters).  When several reasons apply, the first in this list wins:
    malformed arguments first, then the book's state, then what matching would do.
    """

    INVALID_ID = "invalid_id"
    """The order id is not an int or a str (bools are refused)."""
    INVALID_SIDE = "invalid_side"
    """The side is neither ``"buy"`` nor ``"sell"``."""
    INVALID_PRICE = "invalid_price"
    """The price is not an integer (floats, even ``5.0``, bools and NaN are refused) or lies
    outside ``1 .. MAX_PRICE``."""
    OFF_TICK = "off_tick"
    """The price is not a multiple of the book's tick size."""
    INVALID_QTY = "invalid_qty"
    """The quantity is not an integer >= 1."""
    INVALID_OWNER = "invalid_owner"
    """The owner is not a str."""
    INVALID_TIF = "invalid_tif"
    """The time in force is not GTC, IOC or FOK, ``post_only`` is not a bool, or a post-only
    order is not GTC."""
    INVALID_STP = "invalid_stp"
    """The self-trade prevention mode is not one of :class:`~flagship.markets.STPMode`."""
    INVALID_PRIORITY = "invalid_priority"
    """The priority is not an integer (bools refused)."""
    DUPLICATE_ID = "duplicate_id"
    """A live (resting) order already has this id."""
    UNKNOWN_ORDER = "unknown_order"
    """``modify`` names an id that is not live: never seen, filled or cancelled."""
    HALTED = "halted"
    """Trading is halted: new orders and modifies are refused (cancels are not)."""
    PRICE_BAND = "price_band"
    """The limit price lies outside the book's price band."""
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"
    """A post-only order (or a repriced post-only order) would trade on arrival."""
    FOK_UNFILLABLE = "fok_unfillable"
    """A fill-or-kill order cannot be filled completely right now."""
    SELF_TRADE = "self_trade"
    """Self-trade prevention in ``cancel_newest`` mode would cancel the incoming order before it
    trades at all; refusing it is then the same as accepting it and changes nothing."""


class MarketReason(StrEnum):
    """Why the market rejected an action: every engine reason (as its upper-case name) and the
    market's own. Together with :class:`~flagship.mechanisms.CommonReason` the closed set."""

    # -- the engine's (markets.BookReason), in its precedence order --
    INVALID_ID = "INVALID_ID"
    """``order_id`` is not a str (1..64 characters) or a 64-bit int (bools refused)."""
    INVALID_SIDE = "INVALID_SIDE"
    """``side`` is neither ``"buy"`` nor ``"sell"``."""
    INVALID_PRICE = "INVALID_PRICE"
    """``price`` is not an integer >= 1 (floats, NaN and bools refused)."""
    OFF_TICK = "OFF_TICK"
    """``price`` is not a multiple of the tick size."""
    INVALID_QTY = "INVALID_QTY"
    """``qty`` is not an integer >= 1."""
    INVALID_OWNER = "INVALID_OWNER"
    """The acting participant's id is not a non-empty string."""
    INVALID_TIF = "INVALID_TIF"
    """``tif`` is not GTC, IOC or FOK, ``post_only`` is not a bool, or a post-only order is not GTC."""
    INVALID_STP = "INVALID_STP"
    """(Engine) the self-trade prevention mode is unknown; the market always passes a valid one."""
    INVALID_PRIORITY = "INVALID_PRIORITY"
    """(Engine) the priority is not an int; the market always passes a valid one."""
    DUPLICATE_ID = "DUPLICATE_ID"
    """The actor already has a live order with this id."""
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    """The actor has no live order with this id (never placed, filled, cancelled, or another's)."""
    HALTED = "HALTED"
    """Trading is halted: new orders and modifies are refused (cancels are not)."""
    PRICE_BAND = "PRICE_BAND"
    """The limit price lies outside the market's price band."""
    POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
    """A post-only order would trade on arrival."""
    FOK_UNFILLABLE = "FOK_UNFILLABLE"
    """A fill-or-kill order cannot be filled completely now."""
    SELF_TRADE = "SELF_TRADE"
    """Self-trade prevention would cancel the order before it trades at all."""
    # -- the market's own --
    NOT_ADMITTED = "NOT_ADMITTED"
    """Agents-only market: the actor is not (or no longer) admitted by the gate."""
    NORM_PROHIBITED = "NORM_PROHIBITED"
    """``screen``: the order's attestation breaches a prohibited norm (the detail names it)."""
    EXTERNALITY_CAP = "EXTERNALITY_CAP"
    """``screen``: the attested externality exceeds ``externality_cap``."""
    UNKNOWN_VALUE_TAG = "UNKNOWN_VALUE_TAG"
    """A tag in ``values`` is not in the market's vocabulary."""
    UNTRUSTED_ATTESTOR = "UNTRUSTED_ATTESTOR"
    """The third-party ``attestor`` is not one of the market's ``trusted_attestors``."""
    INVALID_ATTESTATION = "INVALID_ATTESTATION"
    """``values``, ``externality`` or ``attestor`` has the wrong type or range (NaN, negative...)."""
    TOO_MANY_RESTING_ORDERS = "TOO_MANY_RESTING_ORDERS"
    """A limit order while the actor already has ``max_resting_orders`` resting (cancel one first)."""


FROM_BOOK: dict[BookReason, MarketReason] = {reason: MarketReason[reason.name] for reason in BookReason}
"""The market's code for each engine reason."""

REASON_STATUS: dict[str, int] = {
    MarketReason.UNKNOWN_ORDER: 404,
    MarketReason.NOT_ADMITTED: 403,
    MarketReason.TOO_MANY_RESTING_ORDERS: 429,
    # The request was malformed, rather than refused in the market's current state.
    **dict.fromkeys((MarketReason.INVALID_ID, MarketReason.INVALID_SIDE, MarketReason.INVALID_PRICE,
                     MarketReason.INVALID_QTY, MarketReason.INVALID_TIF, MarketReason.INVALID_ATTESTATION,
                     MarketReason.UNKNOWN_VALUE_TAG, MarketReason.UNTRUSTED_ATTESTOR), 422),
}
"""HTTP status of each market reason the live pilot does not answer with the default 409
(``INVALID_PAYLOAD`` and ``UNKNOWN_KIND`` are 422 by the contract)."""
