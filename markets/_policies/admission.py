"""``admission = "agents_only"``: only actors a gate admitted (and exempt populations) trade.

The gate's ``AgentAdmitted`` / ``AgentReinstated`` admit an actor; ``AgentSuspended`` /
``AgentRevoked`` bar it again and cancel its resting orders. Participants ``<population>-<n>``
of ``admission_exempt_populations`` trade without admission. New orders and modifies of an
actor not admitted are rejected with ``NOT_ADMITTED``; cancels are always allowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from flagship.mechanisms.events import AgentAdmitted, AgentReinstated, AgentRevoked, AgentSuspended

from .._policy import MarketPolicy, Rejection, register_policy
from .._reasons import MarketReason
from .._values import Attestation

if TYPE_CHECKING:
    from .._config import MarketConfig
    from .._mechanism import ValueMarket

__all__ = ["AgentsOnlyAdmission"]


@register_policy
class AgentsOnlyAdmission(MarketPolicy):
    """The agents-only gate on who may place and modify orders."""

    market: ValueMarket
    config: MarketConfig

    name = "agents_only_admission"
    listed = False
    rank = 10
    idle_state: ClassVar[dict[str, Any]] = {"admitted": []}

    @classmethod
    def enabled(cls, config: MarketConfig) -> bool:
        return config.admission == "agents_only"

    def __init__(self, market: ValueMarket) -> None:
        super().__init__(market)
        self._admitted: set[str] = set()
        exempt = self.config.admission_exempt_populations
        self._exempt_prefixes = tuple(f"{population}-" for population in exempt)
        self._exempt: set[str] = set()  # a cache: derived from the config alone

    def start(self) -> None:
        subscribe = self.market.ctx.subscribe
        subscribe(AgentAdmitted, self._on_allowed)
        subscribe(AgentReinstated, self._on_allowed)
        subscribe(AgentSuspended, self._on_denied)
        subscribe(AgentRevoked, self._on_denied)

    def _exempt_by_id(self, actor: str) -> bool:
        """A participant of an exempt population not yet in ``_exempt``, found by its id (then
        added there). Admitted means: in ``_admitted`` or ``_exempt``, or this."""
        for prefix in self._exempt_prefixes:
            if actor.startswith(prefix) and actor[len(prefix):].isdigit():
                self._exempt.add(actor)
                return True
        return False

    def admit(self, actor: str, att: Attestation, is_buy: bool, price: int, qty: int,
              market: bool) -> Rejection | None:
        # the two set lookups first, without a call: every order of an agents-only market asks
        if actor in self._admitted or actor in self._exempt or self._exempt_by_id(actor):
            return None
        return MarketReason.NOT_ADMITTED, f"{actor} is not admitted to this market"

    def admit_modify(self, actor: str, qty: int | None, price: int | None) -> Rejection | None:
        if actor in self._admitted or actor in self._exempt or self._exempt_by_id(actor):  # as in admit
            return None
        return MarketReason.NOT_ADMITTED, f"{actor} is not admitted to this market"

    def _on_allowed(self, event: AgentAdmitted | AgentReinstated) -> None:
        self._admitted.add(event.actor)

    def _on_denied(self, event: AgentSuspended | AgentRevoked) -> None:
        """A suspended or revoked agent may not trade: its resting orders are cancelled."""
        actor = event.actor
        self._admitted.discard(actor)
        self.market.desk.remove_of(actor)
        self.market.flush()

    def snapshot(self) -> dict[str, Any]:
        return {"admitted": sorted(self._admitted)}
