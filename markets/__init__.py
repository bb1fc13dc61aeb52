"""Markets: a pure-Python limit order book and the value-aligned market built on it.

>>> from flagship.markets import OrderBook
>>> book = OrderBook()
>>> book.limit("a1", "sell", 101, 5, owner="alice")
[]
>>> [(f.maker_id, f.price, f.qty) for f in book.limit("b1", "buy", 102, 3, owner="bob")]
[('a1', 101, 3)]
>>> book.best_bid(), book.best_ask()
(None, 101)

See :class:`OrderBook` for the matching rules and :class:`BookReason` for every rejection.
The sandbox mechanism is :class:`ValueMarket` (``value_market``) with its norm policies
(:class:`Policy`) and trader populations; importing this package registers them. A new market
policy is a :class:`MarketPolicy` subclass registered with :func:`register_policy`
(see docs/markets.md).

The book runs compiled (mypyc) where the install could build it, else as pure Python;
:data:`ENGINE` says which (``"compiled"`` or ``"pure"``), and ``FLAGSHIP_PURE_PYTHON=1`` forces
the pure engine.
"""

# First: with FLAGSHIP_PURE_PYTHON set it must load the pure book before any module imports it.
from ._engine import ENGINE

# isort: split
from . import _policies  # noqa: F401  registers the built-in policies
from ._book import OrderBook
from ._config import MarketConfig
from ._mechanism import ValueMarket
from ._policy import FillFacts, MarketPolicy, Rejection, register_policy
from ._populations import (
    InducedParams,
    ManipulatorParams,
    Manipulators,
    MarketMakerParams,
    MarketMakers,
    NoiseParams,
    NoiseTraders,
    TraderParams,
    ValueParams,
    ValueTraders,
    ZICTraders,
    ZIParams,
    ZIPParams,
    ZIPTraders,
    ZITraders,
    ZIUTraders,
)
from ._reasons import BookReason, MarketReason, OrderRejected
from ._records import (
    MAX_PRICE,
    Depth,
    Fill,
    OrderId,
    OrderView,
    SelfTradeEvent,
    Side,
    STPMode,
    TimeInForce,
)
from ._surveillance import SurveillanceConfig
from ._values import Attestation, NormBook, Policy, Redistribution

__all__ = [
    "ENGINE",
    "MAX_PRICE",
    "Attestation",
    "BookReason",
    "Depth",
    "Fill",
    "FillFacts",
    "InducedParams",
    "ManipulatorParams",
    "Manipulators",
    "MarketConfig",
    "MarketMakerParams",
    "MarketMakers",
    "MarketPolicy",
    "MarketReason",
    "NoiseParams",
    "NoiseTraders",
    "NormBook",
    "OrderBook",
    "OrderId",
    "OrderRejected",
    "OrderView",
    "Policy",
    "Redistribution",
    "Rejection",
    "STPMode",
    "SelfTradeEvent",
    "Side",
    "SurveillanceConfig",
    "TimeInForce",
    "TraderParams",
    "ValueMarket",
    "ValueParams",
    "ValueTraders",
    "ZICTraders",
    "ZIPParams",
    "ZIPTraders",
    "ZIParams",
    "ZITraders",
    "ZIUTraders",
    "register_policy",
]
