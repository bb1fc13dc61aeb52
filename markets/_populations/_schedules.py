"""Induced-value schedules: per-unit redemption values and costs, their competitive equilibrium, and
the five reference markets of the Gode-Sunder experiment (``examples/gode_sunder.toml``).

A schedule gives each buyer a list of unit values and each seller a list of unit costs, traded in
order (a trader's second unit only after its first): the market's demand and supply are the step
functions of all values sorted down and all costs sorted up. The competitive equilibrium is where
they meet: the quantity of units whose value exceeds their cost when matched in that order, the
maximum total surplus, and the band of prices that clear the market.

The five markets are *analogues* of Gode and Sunder's (1993) markets 1-5, not transcriptions:
the paper draws its supply and demand schedules only as figures (Figures 1-5) and prints no unit
values, and no public source we found transcribes them (docs/markets.md, "Reference experiment",
says what is known and what is not). Each analogue has six buyers and six sellers (as the paper's
machine markets) with evenly stepped units, and was calibrated to the two things the paper does
print for each market: when every unit trades (what unconstrained traders do when given time), the
schedule's efficiency is within 4 points of the paper's ZI-U efficiency (all units trading is the
only way ZI-U loses surplus in a market where every trader's units are traded in order), and its
extramarginal units lie far enough from the equilibrium that ZI-C reaches 97% or more at about
60 shouts per trader and period (the step sizes were searched for on 6 seeds, then fixed).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GS_MARKETS", "Equilibrium", "Schedule", "equilibrium"]


@dataclass(frozen=True)
class Equilibrium:
    """The competitive equilibrium of a schedule: units traded, maximum surplus, clearing prices."""

    quantity: int
    surplus: int
    price_low: float
    price_high: float

    @property
    def price(self) -> float:
        """The middle of the clearing band: the reference price of Smith's alpha."""
        return (self.price_low + self.price_high) / 2


def equilibrium(values: list[int], costs: list[int]) -> Equilibrium:
    """The competitive equilibrium of unit ``values`` (demand) and ``costs`` (supply).

    ``quantity`` is the number of units traded when the highest values meet the lowest costs
    while value > cost; the clearing band is every price at which demand equals that quantity
    and supply too: at least the last traded cost and the first untraded value, at most the last
    traded value and the first untraded cost.
    """
    demand, supply = sorted(values, reverse=True), sorted(costs)
    quantity = 0
    while quantity < min(len(demand), len(supply)) and demand[quantity] > supply[quantity]:
        quantity += 1
    surplus = sum(demand[i] - supply[i] for i in range(quantity))
    if quantity == 0:
        low = float(supply[0]) if supply else 0.0
        high = float(demand[0]) if demand else low
        return Equilibrium(0, 0, min(low, high), max(low, high))
    low = max([supply[quantity - 1], *demand[quantity:quantity + 1]])
    high = min([demand[quantity - 1], *supply[quantity:quantity + 1]])
    return Equilibrium(quantity, surplus, float(low), float(high))


@dataclass(frozen=True)
class Schedule:
    """Unit values per buyer and unit costs per seller, in the order each trader trades them."""

    values: tuple[tuple[int, ...], ...]
    costs: tuple[tuple[int, ...], ...]

    def equilibrium(self) -> Equilibrium:
        return equilibrium([v for units in self.values for v in units],
                           [c for units in self.costs for c in units])


def _steps(first: int, trader_step: int, unit_step: int, units: int, traders: int = 6,
           down: bool = True) -> tuple[tuple[int, ...], ...]:
    """Evenly stepped units: trader ``t``'s unit ``u`` is ``first -/+ t*trader_step -/+ u*unit_step``."""
    sign = -1 if down else 1
    return tuple(tuple(first + sign * (t * trader_step + u * unit_step) for u in range(units))
                 for t in range(traders))


# Our analogues of Gode and Sunder's markets 1-5 (see the module docstring; values in ticks,
# within the paper's 1..200 range). `_steps(first, per trader, per unit, units)`; in the comments the
# equilibrium (units traded, price band, surplus) and the efficiency when every unit trades.
GS_MARKETS: dict[int, Schedule] = {
    # 1: 3 units each; 14 units at 71..73, surplus 782; all units: 0.898 (paper's ZI-U 0.900).
    1: Schedule(_steps(155, 9, 33, 3), _steps(38, 7, 5, 3, down=False)),
    # 2: 4 units each; 18 units at 132, surplus 765; all units: 0.894 (paper 0.900).
    2: Schedule(_steps(170, 2, 13, 4), _steps(87, 3, 15, 4, down=False)),
    # 3: 3 units each, a steep supply; 13 units at 101..102, surplus 832; all units: 0.768 (paper 0.767).
    3: Schedule(_steps(158, 8, 24, 3), _steps(16, 9, 40, 3, down=False)),
    # 4: 4 units each, deep extramarginal tails; 14 units at 88..92, surplus 1195; all units: 0.492
    # (paper 0.488).
    4: Schedule(_steps(186, 7, 42, 4), _steps(16, 8, 30, 4, down=False)),
    # 5: 6 units each; 26 units at 132..133, surplus 1880; all units: 0.862 (paper 0.860).
    5: Schedule(_steps(162, 4, 5, 6), _steps(22, 2, 27, 6, down=False)),
}
