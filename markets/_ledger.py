"""The market's ledger: accounts, fees and the pool, induced-value surplus, the price tape and the
statistics its measures are computed from.

Lifecycle: built with the market; the order desk books every fill on it (cash, positions and
statistics written inline, for speed; :meth:`~Ledger.consume` for induced values), the fee policy
books fees and the pool on it and the market pays the pool out (:meth:`~Ledger.payout`);
``TraderProfile`` events fill in the ground truth (:meth:`~Ledger.on_profile`);
:meth:`~Ledger.measures` computes the final values at ``finish()``.
Accounts, fees and the pool are state (in the snapshot); statistics are for measures only and
may change on rejected actions.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from flagship.mechanisms import ContractError
from flagship.mechanisms.events import TraderProfile

from ._measures import clearing_price, competitive_surplus, gini, shock_effects, volatility
from ._values import Redistribution, split_pool

__all__ = ["Ledger"]


class Ledger:
    """Accounts, fee pool and measure statistics of one market (attributes are read and written by
    the order desk's hot path directly)."""

    def __init__(self) -> None:
        # -- state (in the snapshot) --
        self.cash: dict[str, int] = {}
        self.position: dict[str, int] = {}
        self.fees_paid: dict[str, int] = {}
        self.rebates: dict[str, int] = {}
        self.pool = 0
        self.since: dict[str, list[int]] = {}  # actor -> [lots, aligned lots] since the last payout
        # -- statistics for measures only (may change on rejected actions) --
        self.fees_total = 0
        self.paid_total = 0
        self.honest_actions = 0
        self.honest_rejected = 0
        self.ordered = 0
        self.filled = 0
        self.traded = 0
        self.aligned_sides = 0
        self.attested_sides = 0  # traded lots, once per side, whose order carried an attestation
        self.leakage = 0
        self.fill_time_sum = 0.0
        self.fill_time_n = 0
        self.spread_t = 0.0
        self.spread_now: int | None = None
        self.spread_area = 0.0
        self.spread_time = 0.0
        self.times: list[float] = []
        self.prices: list[int] = []
        self.shocks: list[tuple[float, int]] = []  # (time, trades before it)
        self.manipulator_lots = 0
        # ground truth from TraderProfile events
        self.groups: dict[str, str] = {}
        self.manipulators: set[str] = set()
        self.induced: dict[str, list[Any]] = {}  # actor -> [is_buyer, value or cost, units left, period]
        # per period: [induced worth consumed, net units consumed] (an allotment is per period)
        self.period_surplus: dict[int, list[int]] = {}
        self.schedule: dict[int, tuple[list[int], list[int]]] = {}  # period -> (values, costs)
        self.induced_worth: dict[str, int] = {}  # value of units consumed - cost of units produced
        self.consumed: dict[str, int] = {}  # units bought (+) / sold (-) against induced values

    # -- accounts ---------------------------------------------------------------------------

    def payout(self, rule: Redistribution) -> dict[str, int]:
        """Pay the pool out by ``rule`` now; returns what each account got."""
        index = 1 if rule is Redistribution.ALIGNED_VOLUME else 0
        shares = {account: lots[index] for account, lots in self.since.items()}
        paid = split_pool(self.pool, shares, rule)
        for account, amount in paid.items():
            self.cash[account] = self.cash.get(account, 0) + amount
            self.rebates[account] = self.rebates.get(account, 0) + amount
            self.pool -= amount
            self.paid_total += amount
        self.since.clear()
        return paid

    def consume(self, buyer: str, seller: str, qty: int) -> None:
        """Induced-value traders consume (buyers) or produce (sellers) units of their allotment."""
        unit = self.induced.get(buyer)
        if unit is not None and unit[0] and unit[2] > 0:
            used = min(qty, unit[2])
            unit[2] -= used
            self.induced_worth[buyer] = self.induced_worth.get(buyer, 0) + unit[1] * used
            self.consumed[buyer] = self.consumed.get(buyer, 0) + used
            period = self.period_surplus.setdefault(unit[3], [0, 0])
            period[0] += unit[1] * used
            period[1] += used
        unit = self.induced.get(seller)
        if unit is not None and not unit[0] and unit[2] > 0:
            used = min(qty, unit[2])
            unit[2] -= used
            self.induced_worth[seller] = self.induced_worth.get(seller, 0) - unit[1] * used
            self.consumed[seller] = self.consumed.get(seller, 0) - used
            period = self.period_surplus.setdefault(unit[3], [0, 0])
            period[0] -= unit[1] * used
            period[1] -= used

    def accounts(self) -> dict[str, dict[str, int]]:
        """Per account: ``cash`` (ticks, fees and payouts included), ``position`` (lots),
        ``fees_paid`` and ``rebates`` (ticks)."""
        actors = sorted(set(self.cash) | set(self.position) | set(self.fees_paid) | set(self.rebates))
        return {actor: {"cash": self.cash.get(actor, 0), "position": self.position.get(actor, 0),
                        "fees_paid": self.fees_paid.get(actor, 0), "rebates": self.rebates.get(actor, 0)}
                for actor in actors}

    def snapshot(self) -> dict[str, Any]:
        return {
            "cash": dict(sorted(self.cash.items())),
            "position": dict(sorted(self.position.items())),
            "fees_paid": dict(sorted(self.fees_paid.items())),
            "rebates": dict(sorted(self.rebates.items())),
            "pool": self.pool,
            "since": dict(sorted(self.since.items())),
        }

    # -- ground truth -----------------------------------------------------------------------

    def on_profile(self, event: TraderProfile) -> None:
        """A participant's group, manipulator flag and induced value or cost (measures only)."""
        actor = event.actor
        self.groups[actor] = event.group
        if event.manipulator:
            self.manipulators.add(actor)
        if event.value is None and event.cost is None:
            return
        if (event.value is not None and event.cost is not None) or event.units < 0:
            raise ContractError(f"{event.source}: a TraderProfile gives a value or a cost (not both) "
                                f"and units >= 0")
        is_buyer = event.value is not None
        amount = event.value if event.value is not None else event.cost
        if amount is None:  # pragma: no cover - excluded above
            return
        self.induced[actor] = [is_buyer, amount, event.units, event.period]
        values, costs = self.schedule.setdefault(event.period, ([], []))
        (values if is_buyer else costs).extend([amount] * event.units)

    # -- measures ---------------------------------------------------------------------------

    def measures(self, values: MutableMapping[str, float | None], now: float, tick: int,
                 volatility_interval: float, recovery_band: float) -> None:
        """The final values of the measures computed from the ledger (``now``: the run's end)."""
        traded = self.traded
        attested = self.attested_sides > 0  # no attestation traded: alignment and leakage do not apply
        values["aligned_volume_share"] = self.aligned_sides / (2 * traded) if traded and attested else None
        values["norm_leakage"] = float(self.leakage) if attested else None
        gains = self.gains()
        maximum = sum(competitive_surplus(v, c) for v, c in self.schedule.values())
        values["allocative_efficiency"] = self.realized_surplus() / maximum if maximum > 0 else None
        by_group: dict[str, list[float]] = {}
        for actor, gain in gains.items():
            by_group.setdefault(self.groups.get(actor, "other"), []).append(gain)
        values["gains_gini"] = gini([max(0.0, sum(g) / len(g)) for g in by_group.values()])
        # filled by the surveillance policy when it is enabled
        values["spoof_orders"] = values["spoof_orders_per_open_second"] = values["suspicious_cancels"] = None
        values["fill_ratio"] = self.filled / self.ordered if self.ordered else None
        values["time_to_fill_seconds"] = (self.fill_time_sum / self.fill_time_n if self.fill_time_n
                                          else None)
        values["quoted_spread_ticks"] = (self.spread_area / self.spread_time / tick if self.spread_time > 0
                                         else None)
        values["honest_rejection_rate"] = (self.honest_rejected / self.honest_actions
                                           if self.honest_actions else None)
        values["manipulator_profit"] = (sum(gains.get(actor, 0.0) for actor in self.manipulators)
                                        if self.manipulators else None)
        values["price_volatility"] = volatility(self.times, self.prices, now, volatility_interval)
        drawdown, recovery = shock_effects(self.times, self.prices, self.shocks, now, recovery_band)
        values["shock_drawdown"] = drawdown
        values["shock_recovery_seconds"] = recovery
        values["manipulator_volume_share"] = (self.manipulator_lots / traded
                                              if traded and self.manipulators else None)

    def realized_surplus(self) -> float:
        """Induced worth of the units consumed, net of what they cost at the competitive price.

        Cash and fees are transfers and cancel out. Units that participants without induced
        values (makers, noise traders) put in or took out of the induced economy are valued
        at the competitive-equilibrium price, as if traded with an outside market there; at
        the last trade price instead, outside liquidity would create surplus from nothing and
        the ratio to the equilibrium surplus could pass 1.
        """
        realized = 0.0
        for period, (worth, consumed) in self.period_surplus.items():
            values, costs = self.schedule.get(period, ([], []))
            realized += worth - (clearing_price(values, costs) or 0.0) * consumed
        return realized

    def gains(self) -> dict[str, float]:
        """Each account's gain: cash (fees and payouts included) + induced worth of consumed units
        + the rest of its position marked at the last trade price."""
        last = self.prices[-1] if self.prices else 0
        actors = set(self.cash) | set(self.groups)
        return {actor: float(self.cash.get(actor, 0) + self.induced_worth.get(actor, 0)
                             + (self.position.get(actor, 0) - self.consumed.get(actor, 0)) * last)
                for actor in sorted(actors)}  # sorted: per-group float sums must not follow hash order
