"""Traders on a ``value_market``: zero-intelligence, market makers, value-motivated, noise, manipulators.

Every population here acts on the market named as its scenario ``mechanism``; its participants
are actors ``<population>-<n>``, and each draws from the population's own seeded streams. At
start each population publishes one :class:`~flagship.mechanisms.events.TraderProfile` per participant
(its group, whether it manipulates, induced values): simulation ground truth the market uses for
its measures only. Participants learn their fills from the market's ``TradeExecuted`` events,
like a trader's drop copy: a fill at a resting order's price is matched to the participant's own
live order at that price (the book is uncrossed, so the price tells the side). They anchor
prices on the middle of the touch the market reported with their population's last accepted
order (``bid`` / ``ask`` effects), else the last trade price, else ``reference_price``, and send
nothing while the market is halted.

Every order carries the population's attestation params (``values``, ``externality``,
``attestor``), so any model can play a value-aligned or a norm-breaching ("brown") trader.
"""

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
