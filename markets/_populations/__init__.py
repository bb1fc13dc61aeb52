"""Traders on a ``value_market``: the shared machinery (``_base``) and the five populations
(``_traders``, whose docstring says how every trader acts, learns its fills and anchors prices);
induced-value traders with unit schedules and trading periods (``_induced``: ``zi_c``, ``zi_u``;
``_zip``: ``zip``) and the reference schedules (``_schedules``)."""

from ._base import TraderParams
from ._induced import InducedParams, InducedTraders, ZICTraders, ZIUTraders
from ._schedules import GS_MARKETS, Equilibrium, Schedule, equilibrium
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
from ._zip import ZIPParams, ZIPTraders

__all__ = [
    "GS_MARKETS",
    "Equilibrium",
    "InducedParams",
    "InducedTraders",
    "ManipulatorParams",
    "Manipulators",
    "MarketMakerParams",
    "MarketMakers",
    "NoiseParams",
    "NoiseTraders",
    "Schedule",
    "TraderParams",
    "ValueParams",
    "ValueTraders",
    "ZICTraders",
    "ZIPParams",
    "ZIPTraders",
    "ZIParams",
    "ZITraders",
    "ZIUTraders",
    "equilibrium",
]
