"""``disclosure``: every fill carries the provenance of both sides' attestations.

Each fill in an outcome's effects gets ``maker_attestation`` and ``taker_attestation``
(``values``, ``externality``, ``attested_by``), and the market keeps a disclosed tape of them
(``ValueMarket.disclosed_tape()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._policy import FillFacts, MarketPolicy, register_policy

if TYPE_CHECKING:
    from .._config import MarketConfig
    from .._mechanism import ValueMarket

__all__ = ["Disclosure"]


@register_policy
class Disclosure(MarketPolicy):
    """Attestation provenance on every fill, and the disclosed tape."""

    market: ValueMarket
    config: MarketConfig

    name = "disclosure"
    rank = 70

    def __init__(self, market: ValueMarket) -> None:
        super().__init__(market)
        self.tape: list[dict[str, Any]] = []

    def on_fill(self, fill: FillFacts) -> None:
        effect = fill.effect
        effect["maker_attestation"] = fill.order.att.provenance()
        effect["taker_attestation"] = fill.taker_att.provenance()
        self.tape.append({"time": fill.now, **effect})

    def disclosed_tape(self) -> list[dict[str, Any]]:
        return self.tape
