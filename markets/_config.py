"""The configuration of a ``value_market`` (``[mechanisms.value_market]``) and its validation.

``policies`` names norm policies from the registry (:func:`~flagship.markets.register_policy`):
the built-in ``screen``, ``externality_fee``, ``value_priority`` and ``disclosure``, or any policy a
plug-in module registered before the config is validated; ``baseline`` (or ``[]``) is the control arm.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from ._policy import listed_policies
from ._records import STPMode
from ._surveillance import SurveillanceConfig
from ._values import DEFAULT_ALIGNED, DEFAULT_PROHIBITED, DEFAULT_VOCABULARY, MAX_TEXT, Policy, Redistribution

__all__ = ["MarketConfig"]


class MarketConfig(BaseModel):
    """A ``value_market``: the book's rules, the norm policies, admission and surveillance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tick_size: int = Field(default=1, ge=1, description="prices are multiples of this (ticks)")
    price_band: tuple[int, int] | None = Field(
        default=None, description="inclusive [lo, hi] of limit prices and market-order fills (none: any)")
    stp: STPMode = Field(default=STPMode.CANCEL_NEWEST,
                         description="self-trade prevention mode (an account meeting its own order)")
    policies: list[str] = Field(
        default_factory=list,
        description="norm policies in force: screen, externality_fee, value_priority, disclosure, or any "
                    "registered market policy (compose); [] or ['baseline'] is the control arm")
    vocabulary: list[str] = Field(default_factory=lambda: list(DEFAULT_VOCABULARY),
                                  description="every tag an order's 'values' may carry")
    aligned: list[str] = Field(default_factory=lambda: list(DEFAULT_ALIGNED),
                               description="tags naming values the community holds")
    prohibited: list[str] = Field(default_factory=lambda: list(DEFAULT_PROHIBITED),
                                  description="tags naming norms the community prohibits breaching")
    trusted_attestors: list[str] = Field(
        default_factory=list, description="third-party attestors recognised ([]: any name is recorded)")
    priority_requires_attestor: bool = Field(
        default=False, description="value_priority ranks only third-party attested alignment first")
    max_resting_orders: int | None = Field(
        default=None, ge=1, description="limit orders refused (TOO_MANY_RESTING_ORDERS) while the actor has "
                                        "this many resting; None: no cap")
    externality_cap: float | None = Field(
        default=None, ge=0, description="screen: reject orders attesting more externality per lot")
    max_externality: PositiveFloat = Field(
        default=1e6, description="largest externality (ticks per lot) an attestation may state")
    fee_rate: float = Field(
        default=1.0, ge=0, description="externality_fee: fee ticks per lot per tick of attested externality")
    redistribution: Redistribution = Field(
        default=Redistribution.EQUAL,
        description="how the fee pool is paid out: retain, equal, aligned_volume")
    redistribution_interval: PositiveFloat = Field(default=60.0, description="seconds between payouts")
    admission: Literal["open", "agents_only"] = Field(
        default="open", description="agents_only: only actors admitted by a gate (and exempt ones) trade")
    admission_exempt_populations: list[str] = Field(
        default_factory=list,
        description="populations whose participants (<population>-<n>) trade without admission")
    halt_on: list[str] = Field(default_factory=lambda: ["halt_trading"],
                               description="regulator decision measures that halt trading until they lapse")
    restrict_on: list[str] = Field(
        default_factory=lambda: ["restrict_norm"],
        description="regulator decision measures that prohibit params.norm / params.norms until they lapse")
    halt_shocks: list[str] = Field(default_factory=lambda: ["halt_trading"],
                                   description="scenario shock kinds that halt trading")
    halt_shock_seconds: PositiveFloat = Field(
        default=60.0, description="seconds a halt shock lasts (its payload 'duration' overrides)")
    circuit_breaker_move: float | None = Field(
        default=None, gt=0, lt=1,
        description="halt when the trade price moves this fraction from its level a window ago (none: off)")
    circuit_breaker_window: PositiveFloat = Field(default=60.0, description="seconds of the breaker's window")
    circuit_breaker_halt: PositiveFloat = Field(default=30.0, description="seconds a breaker halt lasts")
    volatility_interval: PositiveFloat = Field(
        default=10.0, description="seconds between the price samples of price_volatility")
    recovery_band: float = Field(
        default=0.02, gt=0, lt=1,
        description="a price within this fraction of its pre-shock level has recovered")
    surveillance: SurveillanceConfig = Field(default_factory=SurveillanceConfig)

    @model_validator(mode="after")
    def _check(self) -> MarketConfig:
        names = self.vocabulary
        if len(set(names)) != len(names) or not all(0 < len(name) <= MAX_TEXT for name in names):
            raise ValueError(f"vocabulary: expected distinct tags of 1..{MAX_TEXT} characters")
        vocabulary = set(names)
        for field in ("aligned", "prohibited"):
            unknown = sorted(set(getattr(self, field)) - vocabulary)
            if unknown:
                raise ValueError(f"{field}: tags not in the vocabulary: {unknown}")
        both = sorted(set(self.aligned) & set(self.prohibited))
        if both:
            raise ValueError(f"aligned and prohibited share tags: {both}")
        unknown_policies = [name for name in self.policies
                            if name != Policy.BASELINE and name not in listed_policies()]
        if unknown_policies:
            raise ValueError(f"policies: unknown {unknown_policies}; registered: "
                             f"{sorted([Policy.BASELINE.value, *listed_policies()])}")
        if len(set(self.policies)) != len(self.policies):
            raise ValueError("policies: each policy at most once")
        if Policy.BASELINE in self.policies and len(self.policies) > 1:
            raise ValueError("policies: 'baseline' is the plain book and combines with no other policy")
        if self.price_band is not None:
            low, high = self.price_band
            if not 1 <= low <= high or low % self.tick_size or high % self.tick_size:
                raise ValueError("price_band: expected on-tick [lo, hi] with 1 <= lo <= hi")
        return self
