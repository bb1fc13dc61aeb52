"""The market's record of a resting order, and the checks of an order's fields in a payload.

Order ids are scoped per actor: a participant names its orders with its own ids (a str of
1..64 characters or a 64-bit int), and the book sees a market-assigned int id.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any

from ._values import MAX_TEXT, Attestation

__all__ = ["BAD_ID", "CANCEL_KEYS", "LIMIT_KEYS", "MARKET_KEYS", "MAX_ID", "MODIFY_KEYS", "TIFS", "ClientId",
           "RestingOrder", "client_id", "integer"]

ClientId = int | str
MAX_ID = 2**63  # client ids fit a signed 64-bit integer, like prices, so they export losslessly
TIFS = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK"}  # literals: the engine's fast path checks identity
LIMIT_KEYS = frozenset(
    {"order_id", "side", "price", "qty", "tif", "post_only", "values", "externality", "attestor"})
MARKET_KEYS = frozenset({"order_id", "side", "qty", "values", "externality", "attestor"})
CANCEL_KEYS = frozenset({"order_id"})
MODIFY_KEYS = frozenset({"order_id", "qty", "price"})
BAD_ID = f"order_id: expected a string of 1..{MAX_TEXT} characters or a 64-bit int"


class RestingOrder:
    """The market's record of one resting order (the book holds its price and queue place)."""

    __slots__ = ("actor", "att", "client_id", "far", "fee", "filled", "placed", "qty", "remaining")

    def __init__(self, actor: str, client_id: ClientId, att: Attestation, fee: int, qty: int,
                 remaining: int, filled: int, placed: float, far: bool) -> None:
        self.actor = actor
        self.client_id = client_id
        self.att = att
        self.fee = fee  # ticks per lot (a fee policy's)
        self.qty = qty  # lots ordered (raised by a modify that raises the quantity)
        self.remaining = remaining  # lots resting
        self.filled = filled
        self.placed = placed
        self.far = far  # flagged by a policy when placed (surveillance: large and far from the touch)

    def to_json(self) -> list[Any]:
        return [self.actor, self.client_id, self.att.to_json(), self.fee, self.qty, self.remaining,
                self.filled, self.placed, self.far]


def integer(value: object) -> int | None:
    """``value`` as an int if it is an integer other than a bool (numpy integers included)."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return operator.index(value)


def client_id(value: object) -> ClientId | None:
    """A participant's order id: a str of 1..64 characters or a 64-bit int (bools refused)."""
    if type(value) is int:
        return value if -MAX_ID <= value < MAX_ID else None
    if type(value) is str:
        return value if 0 < len(value) <= MAX_TEXT else None
    number = integer(value)
    if number is None or not -MAX_ID <= number < MAX_ID:
        return None
    return number
