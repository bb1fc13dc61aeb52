"""Traders on a ``value_market``: the shared machinery (``_base``) and the five populations
(``_traders``, whose docstring says how every trader acts, learns its fills and anchors prices)."""

from ._base import TraderParams
from ._traders import (
    ManipulatorParams,
    Manipulators,
    MarketMakerParams,
    MarketMakers,
    NoiseParams,
    NoiseTraders,
    ValueParams,
    ValueTraders,
    ZIParams,
    ZITraders,
)

__all__ = [
    "ManipulatorParams",
    "Manipulators",
    "MarketMakerParams",
    "MarketMakers",
    "NoiseParams",
    "NoiseTraders",
    "TraderParams",
    "ValueParams",
    "ValueTraders",
    "ZIParams",
    "ZITraders",
]
