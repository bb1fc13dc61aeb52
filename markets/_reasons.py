"""Why the order book refuses a request: the closed set of reason codes and the exception."""

from __future__ import annotations

from enum import StrEnum

from flagship.mechanisms._errors import OrderRejected

__all__ = ["BookReason", "OrderRejected"]


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

