"""The measures of a ``value_market``: their declarations, and the computations of ``finish()`` (pure
functions of what the ledger kept)."""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import pairwise

from flagship.mechanisms import NON_NEGATIVE, SHARE, Area, Measure

__all__ = ["MEASURES", "clearing_price", "competitive_surplus", "gini", "shock_effects", "volatility"]


MEASURES: tuple[Measure, ...] = (
    Measure("aligned_volume_share", Area.LEGITIMACY, "ratio", True,
            "traded lots, counted once per side, whose order was aligned (an aligned tag, no "
            "prohibited one) / (2 x traded lots); undefined when no traded order attested values",
            bounds=SHARE),
    Measure("norm_leakage", Area.LEGITIMACY, "lots", False,
            "traded lots where either side's order breached a norm prohibited at the time of the "
            "trade; undefined when no traded order attested values"),
    Measure("allocative_efficiency", Area.LEGITIMACY, "ratio", True,
            "realized surplus (induced values of units consumed minus costs of units sold, "
            "units from or to participants without induced values at the equilibrium price) / "
            "competitive-equilibrium surplus of the induced values and costs"),
    Measure("gains_gini", Area.LEGITIMACY, "ratio", False,
            "Gini coefficient across participant groups of the mean gain per participant "
            "(surplus or marked-to-market profit net of fees; losses count as zero)", bounds=SHARE),
    Measure("fill_ratio", Area.UX, "ratio", True,
            "lots filled / lots ordered, over accepted limit and market orders", bounds=SHARE),
    Measure("time_to_fill_seconds", Area.UX, "seconds", False,
            "mean seconds from an order's acceptance to its last lot filled, over orders "
            "filled completely (immediate fills count 0)"),
    Measure("quoted_spread_ticks", Area.UX, "ticks", False,
            "time-weighted mean of best ask - best bid, in ticks, while both sides are quoted"),
    Measure("honest_rejection_rate", Area.UX, "ratio", False,
            "rejected / all actions of participants not profiled as manipulators", bounds=SHARE),
    Measure("halted_share", Area.UX, "ratio", False,
            "share of the run's time during which trading was halted (regulator decision, halt "
            "event or shock, circuit breaker): a cost, the price of spoof_orders_per_open_second",
            bounds=SHARE),
    Measure("halted_seconds", Area.UX, "seconds", False,
            "seconds trading was halted (a cost to every trader, as halted_share)"),
    Measure("halts", Area.UX, "count", False,
            "times trading was halted (regulator decision, halt event or shock, circuit breaker): "
            "a cost, as halted_share"),
    Measure("manipulator_profit", Area.ROBUSTNESS, "ticks", False,
            "profit of profiled manipulators' accounts: cash net of fees plus position marked at "
            "the last trade price"),
    Measure("manipulator_volume_share", Area.ROBUSTNESS, "ratio", False,
            "traded lots with a profiled manipulator on either side / traded lots", bounds=SHARE),
    Measure("price_volatility", Area.ROBUSTNESS, "ratio", False,
            "standard deviation of log returns of the last trade price sampled every "
            "volatility_interval seconds", bounds=NON_NEGATIVE),
    Measure("shock_drawdown", Area.ROBUSTNESS, "ratio", False,
            "largest |trade price - pre-shock price| / pre-shock price after a liquidity shock "
            "(worst over shocks)", bounds=NON_NEGATIVE),
    Measure("shock_recovery_seconds", Area.ROBUSTNESS, "seconds", False,
            "mean seconds from a liquidity shock to the first trade back within recovery_band of "
            "the pre-shock price after the drawdown's extreme (censored at the next shock or run end)"),
    Measure("spoof_orders", Area.ROBUSTNESS, "count", False,
            "profiled manipulators' accepted orders cancelled in the spoofing pattern surveillance "
            "looks for (large, far from the touch, cancelled quickly, barely filled); undefined "
            "without surveillance"),
    Measure("spoof_orders_per_open_second", Area.ROBUSTNESS, "orders/s", False,
            "spoof_orders / seconds the market was open (not halted) from the first of them to the "
            "run's end (the whole run when there is none): the exposure-normalised rate, which halts "
            "cannot lower by closing the market; undefined without surveillance"),
    Measure("suspicious_cancels", Area.ROBUSTNESS, "count", False,
            "accepted orders of any account cancelled in the spoofing pattern surveillance looks for, "
            "as it sees them (no ground truth: an honest block order that looks alike counts too); the "
            "spoofing a live trial, whose participants are not profiled, can watch; undefined without "
            "surveillance"),
)
"""The measures ``ValueMarket`` declares (docs/markets.md defines each)."""


def gini(values: list[float]) -> float | None:
    """Gini coefficient of non-negative values (None: fewer than two, or all zero)."""
    if len(values) < 2:
        return None
    total = sum(values)
    if total <= 0:
        return None
    ordered = sorted(values)
    n = len(ordered)
    weighted = sum((2 * (i + 1) - n - 1) * x for i, x in enumerate(ordered))
    return weighted / (n * total)


def clearing_price(values: list[int], costs: list[int]) -> float | None:
    """A competitive-equilibrium price of these unit values and costs (the middle of the range).

    At it no buyer values a unit less than she pays and no seller sells below cost, so
    units valued at it add no surplus; ``None`` only for an empty schedule.
    """
    demand, supply = sorted(values, reverse=True), sorted(costs)
    traded = 0
    while traded < min(len(demand), len(supply)) and demand[traded] > supply[traded]:
        traded += 1
    if traded == 0:  # no efficient trade: any price between the sides, or the one side's best
        if not demand or not supply:
            return float(demand[0]) if demand else float(supply[0]) if supply else None
        return (demand[0] + supply[0]) / 2
    low = max([supply[traded - 1], *demand[traded:traded + 1]])
    high = min([demand[traded - 1], *supply[traded:traded + 1]])
    return (low + high) / 2


def competitive_surplus(values: list[int], costs: list[int]) -> int:
    """Maximum total surplus of a market with these unit values and costs (supply meets demand)."""
    surplus = 0
    for value, cost in zip(sorted(values, reverse=True), sorted(costs), strict=False):
        if value <= cost:
            break
        surplus += value - cost
    return surplus


def price_at(times: list[float], prices: list[int], t: float) -> int | None:
    """The last trade price at time ``t`` (None before the first trade)."""
    index = bisect_right(times, t)
    return prices[index - 1] if index else None


def volatility(times: list[float], prices: list[int], end: float, step: float) -> float | None:
    """Standard deviation of log returns of the last trade price sampled every ``step`` seconds."""
    if not times:
        return None
    t = times[0]
    samples: list[int] = []
    while t <= end:
        price = price_at(times, prices, t)
        if price is not None:
            samples.append(price)
        t += step
    returns = [math.log(b / a) for a, b in pairwise(samples)]
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    return math.sqrt(sum((r - mean) ** 2 for r in returns) / len(returns))


def shock_effects(times: list[float], prices: list[int], shocks: list[tuple[float, int]], end: float,
                  band: float) -> tuple[float | None, float | None]:
    """(worst drawdown, mean recovery seconds) over the liquidity shocks with a pre-shock price.

    ``shocks`` holds (time, trades before it); ``band`` is the recovery band (a fraction).
    """
    drawdowns: list[float] = []
    recoveries: list[float] = []
    for index, (shock, start) in enumerate(shocks):
        if start == 0:
            continue  # no trade before the shock: no level to fall from
        level = prices[start - 1]
        stop_time, stop = shocks[index + 1] if index + 1 < len(shocks) else (end, len(prices))
        deviations = [abs(prices[i] - level) / level for i in range(start, stop)]
        if not deviations:
            drawdowns.append(0.0)
            recoveries.append(stop_time - shock)  # no trade at all after it: censored
            continue
        worst = max(deviations)
        drawdowns.append(worst)
        if worst <= band:
            recoveries.append(0.0)
            continue
        trough = start + deviations.index(worst)
        back = next((times[i] for i in range(trough, stop) if deviations[i - start] <= band), None)
        recoveries.append((back if back is not None else stop_time) - shock)
    return (max(drawdowns) if drawdowns else None,
            sum(recoveries) / len(recoveries) if recoveries else None)
