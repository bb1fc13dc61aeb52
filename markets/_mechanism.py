"""The ``value_market`` mechanism: the order book engine plus the community's norm policies.

Lifecycle of an order (action kinds and payloads are plain dicts, checked by hand):

* ``limit`` ``{"order_id", "side", "price", "qty", "tif"?, "post_only"?, "values"?, "externality"?,
  "attestor"?}`` and ``market`` ``{"order_id", "side", "qty", "values"?, "externality"?,
  "attestor"?}``. Checks, in order: payload shape (``INVALID_PAYLOAD``, ``INVALID_ID``,
  ``INVALID_SIDE``, ``INVALID_PRICE``, ``INVALID_QTY``); the attestation
  (``UNKNOWN_VALUE_TAG``, ``UNTRUSTED_ATTESTOR``, ``INVALID_ATTESTATION``); admission
  (``NOT_ADMITTED``); the ``screen`` policy (``NORM_PROHIBITED``, ``EXTERNALITY_CAP``); a live
  order of this actor with this id (``DUPLICATE_ID``); then the engine (``HALTED``,
  ``OFF_TICK``, ``PRICE_BAND``, ``POST_ONLY_WOULD_CROSS``, ``FOK_UNFILLABLE``, ``SELF_TRADE``,
  ``INVALID_TIF``...). Accepted effects: ``fills`` (each ``maker``, ``taker``, ``price``,
  ``qty``, plus both sides' attestation provenance under ``disclosure``), ``resting`` (lots left
  on the book), ``bid`` and ``ask`` (the touch afterwards, None for an empty side: the public
  top of book) and, under ``externality_fee``, ``fee`` (ticks this action paid).
* ``cancel`` ``{"order_id"}`` (allowed while halted; effects ``cancelled``: lots taken off) and
  ``modify`` ``{"order_id", "qty"?, "price"?}`` (the engine's modify; effects as a limit's).

Order ids are scoped per actor: the book sees a market-assigned id, and an actor names only its
own orders. Naming another participant's order id therefore names nothing (``UNKNOWN_ORDER``,
which also says nothing about whether someone else uses that id): no participant can act for
another. The engine's owner of every order is the acting participant.

A rejected action changes nothing in the snapshot (book, orders, ledger, pool, norms, holds,
admissions, surveillance). Events are published after the action's state changes are
complete, so subscribers always see a consistent market. See docs/markets.md.
"""

from __future__ import annotations

import math
import numbers
import operator
from bisect import bisect_right
from collections import deque
from collections.abc import Generator, Mapping
from enum import StrEnum
from itertools import pairwise
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from flagship.mechanisms import (
    EMPTY,
    Action,
    Area,
    CommonReason,
    Context,
    ContractError,
    Event,
    Measure,
    Mechanism,
    Outcome,
    register,
)
from flagship.mechanisms.events import (
    AgentAdmitted,
    AgentReinstated,
    AgentRevoked,
    AgentSuspended,
    DecisionLapsed,
    DecisionTaken,
    IncidentRaised,
    ShockFired,
    TradeExecuted,
    TraderProfile,
    TradingHalted,
    TradingResumed,
    ViolationObserved,
)

from ._book import OrderBook
from ._http import routes
from ._reasons import BookReason, OrderRejected
from ._records import Fill, OrderView, STPMode
from ._surveillance import Finding, Surveillance, SurveillanceConfig
from ._values import (
    DEFAULT_ALIGNED,
    DEFAULT_PROHIBITED,
    DEFAULT_VOCABULARY,
    MAX_TEXT,
    NO_ATTESTATION,
    Attestation,
    NormBook,
    Policy,
    Redistribution,
    fee_per_lot,
    parse_attestation,
    split_pool,
)

__all__ = ["MarketConfig", "MarketReason", "TraderProfile", "ValueMarket"]

ClientId = int | str
_MAX_ID = 2**63  # client ids fit a signed 64-bit integer, like prices, so they export losslessly
_TIFS = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK"}  # literals: the engine's fast path checks identity
_LIMIT_KEYS = frozenset(
    {"order_id", "side", "price", "qty", "tif", "post_only", "values", "externality", "attestor"})
_MARKET_KEYS = frozenset({"order_id", "side", "qty", "values", "externality", "attestor"})
_CANCEL_KEYS = frozenset({"order_id"})
_MODIFY_KEYS = frozenset({"order_id", "qty", "price"})
LIQUIDITY_SHOCK = "liquidity_shock"
_BAD_ID = f"order_id: expected a string of 1..{MAX_TEXT} characters or a 64-bit int"


class MarketReason(StrEnum):
    """Why the market rejected an action: every engine reason (as its upper-case name) and the
    market's own. Together with :class:`~flagship.mechanisms.CommonReason` the closed set."""

    # -- the engine's (markets.BookReason), in its precedence order --
    INVALID_ID = "INVALID_ID"
    """``order_id`` is not a str (1..64 characters) or a 64-bit int (bools refused)."""
    INVALID_SIDE = "INVALID_SIDE"
    """``side`` is neither ``"buy"`` nor ``"sell"``."""
    INVALID_PRICE = "INVALID_PRICE"
    """``price`` is not an integer >= 1 (floats, NaN and bools refused)."""
    OFF_TICK = "OFF_TICK"
    """``price`` is not a multiple of the tick size."""
    INVALID_QTY = "INVALID_QTY"
    """``qty`` is not an integer >= 1."""
    INVALID_OWNER = "INVALID_OWNER"
    """The acting participant's id is not a non-empty string."""
    INVALID_TIF = "INVALID_TIF"
    """``tif`` is not GTC, IOC or FOK, ``post_only`` is not a bool, or a post-only order is not GTC."""
    INVALID_STP = "INVALID_STP"
    """(Engine) the self-trade prevention mode is unknown; the market always passes a valid one."""
    INVALID_PRIORITY = "INVALID_PRIORITY"
    """(Engine) the priority is not an int; the market always passes a valid one."""
    DUPLICATE_ID = "DUPLICATE_ID"
    """The actor already has a live order with this id."""
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    """The actor has no live order with this id (never placed, filled, cancelled, or another's)."""
    HALTED = "HALTED"
    """Trading is halted: new orders and modifies are refused (cancels are not)."""
    PRICE_BAND = "PRICE_BAND"
    """The limit price lies outside the market's price band."""
    POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
    """A post-only order would trade on arrival."""
    FOK_UNFILLABLE = "FOK_UNFILLABLE"
    """A fill-or-kill order cannot be filled completely now."""
    SELF_TRADE = "SELF_TRADE"
    """Self-trade prevention would cancel the order before it trades at all."""
    # -- the market's own --
    NOT_ADMITTED = "NOT_ADMITTED"
    """Agents-only market: the actor is not (or no longer) admitted by the gate."""
    NORM_PROHIBITED = "NORM_PROHIBITED"
    """``screen``: the order's attestation breaches a prohibited norm (the detail names it)."""
    EXTERNALITY_CAP = "EXTERNALITY_CAP"
    """``screen``: the attested externality exceeds ``externality_cap``."""
    UNKNOWN_VALUE_TAG = "UNKNOWN_VALUE_TAG"
    """A tag in ``values`` is not in the market's vocabulary."""
    UNTRUSTED_ATTESTOR = "UNTRUSTED_ATTESTOR"
    """The third-party ``attestor`` is not one of the market's ``trusted_attestors``."""
    INVALID_ATTESTATION = "INVALID_ATTESTATION"
    """``values``, ``externality`` or ``attestor`` has the wrong type or range (NaN, negative...)."""


_FROM_BOOK: dict[BookReason, MarketReason] = {reason: MarketReason[reason.name] for reason in BookReason}


class MarketConfig(BaseModel):
    """A ``value_market``: the book's rules, the norm policies, admission and surveillance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tick_size: int = Field(default=1, ge=1, description="prices are multiples of this (ticks)")
    price_band: tuple[int, int] | None = Field(
        default=None, description="inclusive [lo, hi] of limit prices and market-order fills (none: any)")
    stp: STPMode = Field(default=STPMode.CANCEL_NEWEST,
                         description="self-trade prevention mode (an account meeting its own order)")
    policies: list[Policy] = Field(
        default_factory=list,
        description="norm policies in force: screen, externality_fee, value_priority, disclosure "
                    "(compose); [] or ['baseline'] is the control arm")
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
        if len(set(self.policies)) != len(self.policies):
            raise ValueError("policies: each policy at most once")
        if Policy.BASELINE in self.policies and len(self.policies) > 1:
            raise ValueError("policies: 'baseline' is the plain book and combines with no other policy")
        if self.price_band is not None:
            low, high = self.price_band
            if not 1 <= low <= high or low % self.tick_size or high % self.tick_size:
                raise ValueError("price_band: expected on-tick [lo, hi] with 1 <= lo <= hi")
        return self


class _Order:
    """The market's record of one resting order (the book holds its price and queue place)."""

    __slots__ = ("actor", "att", "client_id", "far", "fee", "filled", "placed", "qty", "remaining")

    def __init__(self, actor: str, client_id: ClientId, att: Attestation, fee: int, qty: int,
                 remaining: int, filled: int, placed: float, far: bool) -> None:
        self.actor = actor
        self.client_id = client_id
        self.att = att
        self.fee = fee  # ticks per lot under externality_fee
        self.qty = qty  # lots ordered (raised by a modify that raises the quantity)
        self.remaining = remaining  # lots resting
        self.filled = filled
        self.placed = placed
        self.far = far  # large and far from the touch when placed (surveillance)

    def to_json(self) -> list[Any]:
        return [self.actor, self.client_id, self.att.to_json(), self.fee, self.qty, self.remaining,
                self.filled, self.placed, self.far]


def _integer(value: object) -> int | None:
    """``value`` as an int if it is an integer other than a bool (numpy integers included)."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return operator.index(value)


def _client_id(value: object) -> ClientId | None:
    """A participant's order id: a str of 1..64 characters or a 64-bit int (bools refused)."""
    if type(value) is int:
        return value if -_MAX_ID <= value < _MAX_ID else None
    if type(value) is str:
        return value if 0 < len(value) <= MAX_TEXT else None
    number = _integer(value)
    if number is None or not -_MAX_ID <= number < _MAX_ID:
        return None
    return number


def _gini(values: list[float]) -> float | None:
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


def _clearing_price(values: list[int], costs: list[int]) -> float | None:
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


def _competitive_surplus(values: list[int], costs: list[int]) -> int:
    """Maximum total surplus of a market with these unit values and costs (supply meets demand)."""
    surplus = 0
    for value, cost in zip(sorted(values, reverse=True), sorted(costs), strict=False):
        if value <= cost:
            break
        surplus += value - cost
    return surplus


@register
class ValueMarket(Mechanism[MarketConfig]):
    """A continuous limit order book whose orders carry value attestations, under norm policies.

    Publishes ``TradeExecuted`` (every fill), ``TradingHalted`` / ``TradingResumed`` (its own
    halt state), ``ViolationObserved`` (surveillance reports) and ``IncidentRaised`` (enough
    reports). Obeys ``TradingHalted`` / ``TradingResumed`` from anyone else naming this market,
    regulator ``DecisionTaken`` / ``DecisionLapsed`` (halts and norm restrictions), gate
    admissions (``AgentAdmitted`` ... ``AgentRevoked``) when agents-only, and ``ShockFired``
    (liquidity shocks are recorded for drawdown and recovery; halt shocks halt). Reads
    ``TraderProfile`` ground truth for measures only.
    """

    name = "value_market"
    Config = MarketConfig
    http = routes
    reasons = MarketReason
    publishes = (TradeExecuted, TradingHalted, TradingResumed, ViolationObserved, IncidentRaised)
    subscribes = (TradingHalted, TradingResumed, DecisionTaken, DecisionLapsed, ShockFired,
                  AgentAdmitted, AgentReinstated, AgentSuspended, AgentRevoked, TraderProfile)
    measures = (
        Measure("aligned_volume_share", Area.LEGITIMACY, "ratio", True,
                "traded lots, counted once per side, whose order was aligned (an aligned tag, no "
                "prohibited one) / (2 x traded lots)"),
        Measure("norm_leakage", Area.LEGITIMACY, "lots", False,
                "traded lots where either side's order breached a norm prohibited at the time of the trade"),
        Measure("allocative_efficiency", Area.LEGITIMACY, "ratio", True,
                "realized surplus (induced values of units consumed minus costs of units sold, "
                "units from or to participants without induced values at the equilibrium price) / "
                "competitive-equilibrium surplus of the induced values and costs"),
        Measure("gains_gini", Area.LEGITIMACY, "ratio", False,
                "Gini coefficient across participant groups of the mean gain per participant "
                "(surplus or marked-to-market profit net of fees; losses count as zero)"),
        Measure("rejections_with_reason", Area.LEGITIMACY, "ratio", True,
                "rejected actions carrying a reason code from the closed set / rejected actions"),
        Measure("fill_ratio", Area.UX, "ratio", True,
                "lots filled / lots ordered, over accepted limit and market orders"),
        Measure("time_to_fill_seconds", Area.UX, "seconds", False,
                "mean seconds from an order's acceptance to its last lot filled, over orders "
                "filled completely (immediate fills count 0)"),
        Measure("quoted_spread_ticks", Area.UX, "ticks", False,
                "time-weighted mean of best ask - best bid, in ticks, while both sides are quoted"),
        Measure("honest_rejection_rate", Area.UX, "ratio", False,
                "rejected / all actions of participants not profiled as manipulators"),
        Measure("halted_share", Area.UX, "ratio", False,
                "share of the run's time during which trading was halted (regulator decision, halt "
                "event or shock, circuit breaker)"),
        Measure("manipulator_profit", Area.ROBUSTNESS, "ticks", False,
                "profit of profiled manipulators' accounts: cash net of fees plus position marked at "
                "the last trade price"),
        Measure("manipulator_volume_share", Area.ROBUSTNESS, "ratio", False,
                "traded lots with a profiled manipulator on either side / traded lots"),
        Measure("price_volatility", Area.ROBUSTNESS, "ratio", False,
                "standard deviation of log returns of the last trade price sampled every "
                "volatility_interval seconds"),
        Measure("shock_drawdown", Area.ROBUSTNESS, "ratio", False,
                "largest |trade price - pre-shock price| / pre-shock price after a liquidity shock "
                "(worst over shocks)"),
        Measure("shock_recovery_seconds", Area.ROBUSTNESS, "seconds", False,
                "mean seconds from a liquidity shock to the first trade back within recovery_band of "
                "the pre-shock price after the drawdown's extreme (censored at the next shock or run end)"),
        Measure("halts", Area.ROBUSTNESS, "count", False,
                "times trading was halted (regulator decision, halt event or shock, circuit breaker)"),
    )

    def __init__(self, config: MarketConfig, ctx: Context) -> None:
        super().__init__(config, ctx)
        policies = set(config.policies)
        self._screen = Policy.SCREEN in policies
        self._fees = Policy.EXTERNALITY_FEE in policies
        self._ranked = Policy.VALUE_PRIORITY in policies
        self._disclose = Policy.DISCLOSURE in policies
        self._gated = config.admission == "agents_only"
        self._vocabulary = frozenset(config.vocabulary)
        self._attestors = frozenset(config.trusted_attestors)
        self._exempt_prefixes = tuple(f"{population}-" for population in config.admission_exempt_populations)
        self._codes = type(self).reason_codes()
        self._tick = config.tick_size
        self._spoof_qty = config.surveillance.spoof_min_qty if config.surveillance.enabled else None
        # -- state (in the snapshot) --
        self._book = OrderBook(config.tick_size, price_band=config.price_band, stp=config.stp.value)
        self._orders: dict[int, _Order] = {}  # market-assigned id -> record of a resting order
        self._ids: dict[tuple[str, ClientId], int] = {}  # (actor, client id) -> market id (derived)
        self._next_id = 1
        self._client_of: list[ClientId] = [""]  # market id -> the participant's id (derived; index 0 unused)
        self._norms = NormBook(config.aligned, config.prohibited)
        self._holds: dict[str, str] = {}  # why trading is halted: hold key -> reason
        self._admitted: set[str] = set()
        self._cash: dict[str, int] = {}
        self._position: dict[str, int] = {}
        self._fees_paid: dict[str, int] = {}
        self._rebates: dict[str, int] = {}
        self._pool = 0
        self._since: dict[str, list[int]] = {}  # actor -> [lots, aligned lots] since the last payout
        self._surveillance = Surveillance(config.surveillance, config.tick_size)
        self._breaker: deque[tuple[float, int]] = deque()
        self._breaker_seq = 0
        self._stp_seen = 0
        # -- caches (derived from the config) --
        self._attestations: dict[tuple[Any, ...], Attestation] = {}
        self._exempt: set[str] = set()
        # -- events to publish once the current change is complete --
        self._pending: list[Event] = []
        # -- statistics for measures only (may change on rejected actions) --
        self._rejections = 0
        self._explained = 0
        self._honest_actions = 0
        self._honest_rejected = 0
        self._ordered = 0
        self._filled = 0
        self._traded = 0
        self._aligned_sides = 0
        self._leakage = 0
        self._fill_time_sum = 0.0
        self._fill_time_n = 0
        self._spread_t = 0.0
        self._spread_now: int | None = None
        self._spread_area = 0.0
        self._spread_time = 0.0
        self._times: list[float] = []
        self._prices: list[int] = []
        self._shocks: list[tuple[float, int]] = []  # (time, trades before it)
        self._halts = 0
        self._halted_since: float | None = None
        self._halted_seconds = 0.0
        self._manipulator_lots = 0
        self._violations = 0
        self._fees_total = 0
        self._paid_total = 0
        self._disclosed: list[dict[str, Any]] = []
        # ground truth from TraderProfile events
        self._groups: dict[str, str] = {}
        self._manipulators: set[str] = set()
        self._induced: dict[str, list[Any]] = {}  # actor -> [is_buyer, value or cost, units left, period]
        # per period: [induced worth consumed, net units consumed] (an allotment is per period)
        self._period_surplus: dict[int, list[int]] = {}
        self._schedule: dict[int, tuple[list[int], list[int]]] = {}  # period -> (values, costs)
        self._induced_worth: dict[str, int] = {}  # value of units consumed - cost of units produced
        self._consumed: dict[str, int] = {}  # units bought (+) / sold (-) against induced values

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        subscribe = self.ctx.subscribe
        subscribe(TradingHalted, self._on_halted)
        subscribe(TradingResumed, self._on_resumed)
        subscribe(DecisionTaken, self._on_decision)
        subscribe(DecisionLapsed, self._on_lapsed)
        subscribe(ShockFired, self._on_shock)
        subscribe(TraderProfile, self._on_profile)
        if self._gated:
            subscribe(AgentAdmitted, self._on_allowed)
            subscribe(AgentReinstated, self._on_allowed)
            subscribe(AgentSuspended, self._on_denied)
            subscribe(AgentRevoked, self._on_denied)
        if self._fees and self.config.redistribution is not Redistribution.RETAIN:
            self.ctx.env.process(self._payouts(self.config.redistribution_interval))

    def handle(self, action: Action) -> Outcome:
        kind = action.kind
        actor = action.actor
        if type(actor) is not str or not actor:
            return self._reject(MarketReason.INVALID_OWNER, "the acting participant's id must be a string")
        if kind == "limit":
            outcome = self._order(action, False)
        elif kind == "cancel":
            outcome = self._cancel(action)
        elif kind == "modify":
            outcome = self._modify(action)
        elif kind == "market":
            outcome = self._order(action, True)
        else:
            outcome = self._reject(CommonReason.UNKNOWN_KIND, f"unknown kind {kind!r}")
        if actor not in self._manipulators:
            self._honest_actions += 1
            if not outcome.accepted:
                self._honest_rejected += 1
        if self._pending:
            self._flush()
        return outcome

    def finish(self) -> None:
        record = self.ctx.recorder.measure
        now = self.ctx.now
        self._mark_spread(now)
        traded = self._traded
        record("aligned_volume_share", self._aligned_sides / (2 * traded) if traded else None)
        record("norm_leakage", float(self._leakage))
        gains = self._gains()
        maximum = sum(_competitive_surplus(v, c) for v, c in self._schedule.values())
        record("allocative_efficiency", self._realized_surplus() / maximum if maximum > 0 else None)
        by_group: dict[str, list[float]] = {}
        for actor, gain in gains.items():
            by_group.setdefault(self._groups.get(actor, "other"), []).append(gain)
        record("gains_gini", _gini([max(0.0, sum(g) / len(g)) for g in by_group.values()]))
        record("rejections_with_reason", self._explained / self._rejections if self._rejections else None)
        record("fill_ratio", self._filled / self._ordered if self._ordered else None)
        record("time_to_fill_seconds", self._fill_time_sum / self._fill_time_n if self._fill_time_n else None)
        record("quoted_spread_ticks",
               self._spread_area / self._spread_time / self._tick if self._spread_time > 0 else None)
        record("honest_rejection_rate",
               self._honest_rejected / self._honest_actions if self._honest_actions else None)
        record("manipulator_profit",
               sum(gains.get(actor, 0.0) for actor in self._manipulators) if self._manipulators else None)
        record("price_volatility", self._volatility(now))
        drawdown, recovery = self._shock_effects(now)
        record("shock_drawdown", drawdown)
        record("shock_recovery_seconds", recovery)
        record("halts", float(self._halts))
        halted = self._halted_seconds + (now - self._halted_since if self._halted_since is not None else 0.0)
        record("halted_share", halted / now if now > 0 else None)
        record("manipulator_volume_share",
               self._manipulator_lots / traded if traded and self._manipulators else None)

    def snapshot(self) -> dict[str, Any]:
        return {
            "book": self._book.snapshot(),
            "orders": [[oid, *order.to_json()] for oid, order in sorted(self._orders.items())],
            "next_id": self._next_id,
            "norms": self._norms.to_json(),
            "holds": dict(sorted(self._holds.items())),
            "admitted": sorted(self._admitted),
            "cash": dict(sorted(self._cash.items())),
            "position": dict(sorted(self._position.items())),
            "fees_paid": dict(sorted(self._fees_paid.items())),
            "rebates": dict(sorted(self._rebates.items())),
            "pool": self._pool,
            "since": dict(sorted(self._since.items())),
            "surveillance": self._surveillance.to_json(),
            "breaker": [list(entry) for entry in self._breaker],
            "breaker_seq": self._breaker_seq,
        }

    # -- queries (for tests, notebooks and the live pilot) -----------------------------------

    @property
    def book(self) -> OrderBook:
        """The engine (read it; never act on it directly, or the market's records go stale)."""
        return self._book

    @property
    def pool(self) -> int:
        """Ticks in the community pool, not yet paid out."""
        return self._pool

    @property
    def halted(self) -> bool:
        """True while any hold (decision, event, shock, circuit breaker) halts trading."""
        return bool(self._holds)

    @property
    def prohibited(self) -> frozenset[str]:
        """The norms prohibited now (declared plus binding regulator restrictions)."""
        return self._norms.prohibited

    def orders_of(self, actor: str) -> list[tuple[ClientId, OrderView, int, float]]:
        """``actor``'s live orders, oldest first: (their id, the book's view, lots filled, time placed)."""
        book = self._book
        live = []
        for oid, order in self._orders.items():
            if order.actor == actor:
                view = book.order(oid)
                if view is not None:
                    live.append((order.client_id, view, order.filled, order.placed))
        return live

    def fills_of(self, actor: str, limit: int) -> list[tuple[Fill, ClientId, bool]]:
        """``actor``'s most recent ``limit`` fills, oldest first: (fill, their order id, as maker?).

        Scans the tape from its end, so a participant with recent fills is answered fast.
        """
        found: list[tuple[Fill, ClientId, bool]] = []
        client_of = self._client_of
        tape = self._book.tape
        for index in range(len(tape) - 1, -1, -1):
            if len(found) >= limit:
                break
            fill = tape[index]
            if fill.maker_owner == actor:
                found.append((fill, client_of[cast(int, fill.maker_id)], True))
            if fill.taker_owner == actor and len(found) < limit:  # a self-trade shows both sides
                found.append((fill, client_of[cast(int, fill.taker_id)], False))
        found.reverse()
        return found

    def accounts(self) -> dict[str, dict[str, int]]:
        """Per account: ``cash`` (ticks, fees and payouts included), ``position`` (lots),
        ``fees_paid`` and ``rebates`` (ticks)."""
        actors = sorted(set(self._cash) | set(self._position) | set(self._fees_paid) | set(self._rebates))
        return {actor: {"cash": self._cash.get(actor, 0), "position": self._position.get(actor, 0),
                        "fees_paid": self._fees_paid.get(actor, 0), "rebates": self._rebates.get(actor, 0)}
                for actor in actors}

    def fee_totals(self) -> tuple[int, int]:
        """(ticks collected as fees, ticks paid out of the pool) since the start."""
        return self._fees_total, self._paid_total

    def disclosed_tape(self) -> list[dict[str, Any]]:
        """Under ``disclosure``: every fill with both sides' attestation provenance, oldest first."""
        return list(self._disclosed)

    def live_order(self, actor: str, order_id: ClientId) -> dict[str, Any] | None:
        """``actor``'s live order ``order_id``: side, price, resting qty and attestation, or None."""
        oid = self._ids.get((actor, order_id))
        if oid is None:
            return None
        view = self._book.order(oid)
        order = self._orders[oid]
        if view is None:  # pragma: no cover - records and book move together
            raise ContractError(f"order {oid} has a record but is not on the book")
        return {"side": view.side, "price": view.price, "qty": view.qty, "priority": view.priority,
                **order.att.provenance()}

    # -- actions --------------------------------------------------------------------------

    def _reject(self, reason: StrEnum, detail: str = "") -> Outcome:
        self._rejections += 1
        if reason in self._codes:
            self._explained += 1
        self.ctx.recorder.count(f"rejected.{reason}")
        return Outcome(False, reason, EMPTY, detail)

    def _attestation(self, payload: Mapping[str, Any]) -> Attestation | Outcome:
        parsed = parse_attestation(payload, self._vocabulary, self.config.max_externality,
                                   self._attestors, self._attestations)
        if isinstance(parsed, tuple):
            return self._reject(MarketReason[parsed[0]], parsed[1])
        return parsed

    def _allowed(self, actor: str) -> bool:
        """Agents-only admission: admitted by the gate, or a participant of an exempt population."""
        if actor in self._admitted or actor in self._exempt:
            return True
        for prefix in self._exempt_prefixes:
            if actor.startswith(prefix) and actor[len(prefix):].isdigit():
                self._exempt.add(actor)  # a cache: derived from the config alone
                return True
        return False

    def _order(self, action: Action, market: bool) -> Outcome:
        payload = action.payload
        if not isinstance(payload, Mapping):
            return self._reject(CommonReason.INVALID_PAYLOAD, "payload: expected an object")
        if not (_MARKET_KEYS if market else _LIMIT_KEYS).issuperset(payload):
            allowed = _MARKET_KEYS if market else _LIMIT_KEYS
            return self._reject(CommonReason.INVALID_PAYLOAD,
                                f"unknown fields {sorted(map(str, set(payload) - allowed))}")
        client_id = payload.get("order_id")
        if type(client_id) is not int or not -_MAX_ID <= client_id < _MAX_ID:
            client_id = _client_id(client_id)
            if client_id is None:
                return self._reject(MarketReason.INVALID_ID, _BAD_ID)
        side = payload.get("side")
        if side == "buy":
            is_buy = True
        elif side == "sell":
            is_buy = False
        else:
            return self._reject(MarketReason.INVALID_SIDE, "side: expected 'buy' or 'sell'")
        qty = payload.get("qty")
        if type(qty) is not int:
            qty = _integer(qty)
        if qty is None or qty < 1:
            return self._reject(MarketReason.INVALID_QTY, "qty: expected an integer >= 1")
        price = 0
        tif: Any = "GTC"
        post_only: Any = False
        if not market:
            raw_price = payload.get("price")
            number = raw_price if type(raw_price) is int else _integer(raw_price)
            if number is None or number < 1:
                return self._reject(MarketReason.INVALID_PRICE, "price: expected an integer >= 1 (ticks)")
            price = number
            tif = payload.get("tif", "GTC")
            if type(tif) is str:
                tif = _TIFS.get(tif, tif)
            post_only = payload.get("post_only", False)
        att = NO_ATTESTATION
        if "values" in payload or "externality" in payload or "attestor" in payload:
            parsed = self._attestation(payload)
            if isinstance(parsed, Outcome):
                return parsed
            att = parsed
        actor = action.actor
        if self._gated and not self._allowed(actor):
            return self._reject(MarketReason.NOT_ADMITTED, f"{actor} is not admitted to this market")
        if self._screen and att is not NO_ATTESTATION:
            breach = self._norms.classify(att)[1]
            if breach is not None:
                return self._reject(MarketReason.NORM_PROHIBITED, f"norm {breach!r} is prohibited")
            cap = self.config.externality_cap
            if cap is not None and att.externality > cap:
                return self._reject(MarketReason.EXTERNALITY_CAP,
                                    f"externality {att.externality} exceeds the cap {cap}")
        key = (actor, client_id)
        if key in self._ids:
            return self._reject(MarketReason.DUPLICATE_ID, f"order {client_id!r} is live")
        book = self._book
        oid = self._next_id
        far = False
        spoof_qty = self._spoof_qty
        if spoof_qty is not None and qty >= spoof_qty and not market:
            far = self._surveillance.is_far(is_buy, price, book.best_bid(), book.best_ask())
        try:
            if market:
                fills = book.market(oid, side, qty, actor)
            elif self._ranked and att is not NO_ATTESTATION:
                priority = self._norms.priority(att, self.config.priority_requires_attestor)
                fills = book.limit(oid, side, price, qty, actor, tif=tif, post_only=post_only,
                                   priority=priority)
            else:
                fills = book.limit(oid, side, price, qty, actor, tif=tif, post_only=post_only)
        except OrderRejected as exc:
            return self._reject(_FROM_BOOK[exc.reason], exc.detail)
        # Accepted: from here on the state changes.
        self._next_id = oid + 1
        self._client_of.append(client_id)
        now = action.time
        fee = fee_per_lot(att, self.config.fee_rate) if self._fees else 0
        self._ordered += qty
        effects: dict[str, Any]
        if fills:
            filled, paid, fill_effects = self._settle(fills, actor, att, fee, now)
        else:
            filled, paid, fill_effects = 0, 0, []
        resting = qty - filled
        if len(book.stp_log) != self._stp_seen:
            self._after_stp()
            view = book.order(oid)
            resting = 0 if view is None else view.qty
        elif market or tif != "GTC":
            resting = 0
        if resting:
            self._orders[oid] = _Order(actor, client_id, att, fee, qty, resting, filled, now, far)
            self._ids[key] = oid
        elif filled == qty:
            self._fill_time_n += 1  # filled on arrival: time to fill 0
        bid, ask = self._mark_spread(now)
        effects = {"fills": fill_effects, "resting": resting, "bid": bid, "ask": ask}
        if self._fees:
            effects["fee"] = paid
        return Outcome(True, None, effects)

    def _cancel(self, action: Action) -> Outcome:
        payload = action.payload
        if not isinstance(payload, Mapping) or not _CANCEL_KEYS.issuperset(payload):
            return self._reject(CommonReason.INVALID_PAYLOAD, "expected {order_id}")
        client_id = _client_id(payload.get("order_id"))
        if client_id is None:
            return self._reject(MarketReason.INVALID_ID, _BAD_ID)
        actor = action.actor
        oid = self._ids.get((actor, client_id))
        if oid is None:
            return self._reject(MarketReason.UNKNOWN_ORDER, f"no live order {client_id!r} of {actor}")
        order = self._remove(oid)
        now = action.time
        self._mark_spread(now)
        if order.far:
            finding = self._surveillance.on_cancel(actor, client_id, order.qty, order.filled, True,
                                                   order.placed, now)
            if finding is not None:
                self._report(finding, now)
        return Outcome(True, None, {"cancelled": order.remaining})

    def _modify(self, action: Action) -> Outcome:
        payload = action.payload
        if not isinstance(payload, Mapping) or not _MODIFY_KEYS.issuperset(payload):
            return self._reject(CommonReason.INVALID_PAYLOAD, "expected {order_id, qty?, price?}")
        client_id = _client_id(payload.get("order_id"))
        if client_id is None:
            return self._reject(MarketReason.INVALID_ID, _BAD_ID)
        raw_qty, raw_price = payload.get("qty"), payload.get("price")
        if raw_qty is None and raw_price is None:
            return self._reject(CommonReason.INVALID_PAYLOAD, "modify: give qty, price or both")
        qty = price = None
        if raw_price is not None:
            price = _integer(raw_price)
            if price is None or price < 1:
                return self._reject(MarketReason.INVALID_PRICE, "price: expected an integer >= 1 (ticks)")
        if raw_qty is not None:
            qty = _integer(raw_qty)
            if qty is None or qty < 1:
                return self._reject(MarketReason.INVALID_QTY, "qty: expected an integer >= 1")
        actor = action.actor
        if self._gated and not self._allowed(actor):
            return self._reject(MarketReason.NOT_ADMITTED, f"{actor} is not admitted to this market")
        oid = self._ids.get((actor, client_id))
        if oid is None:
            return self._reject(MarketReason.UNKNOWN_ORDER, f"no live order {client_id!r} of {actor}")
        book = self._book
        try:
            fills = book.modify(oid, qty=qty, price=price)
        except OrderRejected as exc:
            return self._reject(_FROM_BOOK[exc.reason], exc.detail)
        now = action.time
        order = self._orders[oid]
        if qty is not None and qty > order.remaining:
            raised = qty - order.remaining
            order.qty += raised
            self._ordered += raised
        order.remaining = qty if qty is not None else order.remaining
        filled, paid, fill_effects = (self._settle(fills, actor, order.att, order.fee, now)
                                      if fills else (0, 0, []))
        order.filled += filled
        if len(book.stp_log) != self._stp_seen:
            self._after_stp()
        view = book.order(oid)
        if view is None:
            self._forget(oid, order)
            if order.filled >= order.qty:
                self._fill_time_n += 1
                self._fill_time_sum += now - order.placed
            resting = 0
        else:
            order.remaining = resting = view.qty
        bid, ask = self._mark_spread(now)
        effects: dict[str, Any] = {"fills": fill_effects, "resting": resting, "bid": bid, "ask": ask}
        if self._fees:
            effects["fee"] = paid
        return Outcome(True, None, effects)

    # -- trades ---------------------------------------------------------------------------

    def _settle(self, fills: list[Fill], taker: str, taker_att: Attestation, taker_fee: int,
                now: float) -> tuple[int, int, list[dict[str, Any]]]:
        """Book the fills of one request (the taker's): records, ledger, fees, statistics, events.

        Returns (lots the taker filled, fee ticks the taker paid, the fills as effects).
        """
        orders = self._orders
        cash = self._cash
        position = self._position
        classify = self._norms.classify
        pending = self._pending
        name = self.ctx.name
        fees = self._fees
        induced = self._induced
        surveillance = self._surveillance if self._spoof_qty is not None else None
        manipulators = self._manipulators
        taker_aligned, taker_breach = (classify(taker_att) if taker_att is not NO_ATTESTATION
                                       else (False, None))
        effects: list[dict[str, Any]] = []
        filled = 0
        paid = 0
        for fill in fills:
            maker_id: Any = fill[1]  # always a market-assigned int
            price = fill[3]
            qty = fill[4]
            taker_buys = fill[5] == "buy"
            order = orders[maker_id]
            maker = order.actor
            whole = qty == order.qty  # this one fill takes the whole order (a wash-trading sign)
            order.filled += qty
            order.remaining -= qty
            if not order.remaining:
                self._forget(maker_id, order)
                self._fill_time_n += 1
                self._fill_time_sum += now - order.placed
            filled += qty
            self._filled += 2 * qty  # the maker's lots and the taker's
            self._traded += qty
            notional = price * qty
            buyer, seller = (taker, maker) if taker_buys else (maker, taker)
            cash[buyer] = cash.get(buyer, 0) - notional
            cash[seller] = cash.get(seller, 0) + notional
            position[buyer] = position.get(buyer, 0) + qty
            position[seller] = position.get(seller, 0) - qty
            maker_att = order.att
            if maker_att is not NO_ATTESTATION:
                maker_aligned, maker_breach = classify(maker_att)
            else:
                maker_aligned, maker_breach = False, None
            self._aligned_sides += qty * (maker_aligned + taker_aligned)
            if maker_breach is not None or taker_breach is not None:
                self._leakage += qty
            if manipulators and (maker in manipulators or taker in manipulators):
                self._manipulator_lots += qty
            if fees:
                paid += self._charge(maker, taker, order.fee * qty, taker_fee * qty, qty,
                                     maker_aligned, taker_aligned)
            if induced:
                self._surplus(buyer, seller, qty)
            self._times.append(now)
            self._prices.append(price)
            if self.config.circuit_breaker_move is not None:
                self._check_breaker(now, price)
            if surveillance is not None:
                rested = now - order.placed
                for finding in surveillance.on_trade(buyer, seller, price, qty, now, rested, whole):
                    self._report(finding, now)
            pending.append(TradeExecuted(time=now, source=name, market=name, maker=maker, taker=taker,
                                         price=price, qty=qty))
            effect: dict[str, Any] = {"maker": maker, "taker": taker, "price": price, "qty": qty}
            if self._disclose:
                effect["maker_attestation"] = maker_att.provenance()
                effect["taker_attestation"] = taker_att.provenance()
                self._disclosed.append({"time": now, **effect})
            effects.append(effect)
        self.ctx.recorder.count("lots_traded", filled)
        return filled, paid, effects

    def _charge(self, maker: str, taker: str, maker_fee: int, taker_fee: int, qty: int,
                maker_aligned: bool, taker_aligned: bool) -> int:
        """Collect both sides' fees into the pool; note the lots for redistribution. Returns the
        taker's fee."""
        cash = self._cash
        for account, fee, aligned in ((maker, maker_fee, maker_aligned), (taker, taker_fee, taker_aligned)):
            if fee:
                cash[account] = cash.get(account, 0) - fee
                self._fees_paid[account] = self._fees_paid.get(account, 0) + fee
                self._pool += fee
                self._fees_total += fee
            since = self._since.get(account)
            if since is None:
                since = self._since[account] = [0, 0]
            since[0] += qty
            if aligned:
                since[1] += qty
        return taker_fee

    def _surplus(self, buyer: str, seller: str, qty: int) -> None:
        """Induced-value traders consume (buyers) or produce (sellers) units of their allotment."""
        unit = self._induced.get(buyer)
        if unit is not None and unit[0] and unit[2] > 0:
            used = min(qty, unit[2])
            unit[2] -= used
            self._induced_worth[buyer] = self._induced_worth.get(buyer, 0) + unit[1] * used
            self._consumed[buyer] = self._consumed.get(buyer, 0) + used
            period = self._period_surplus.setdefault(unit[3], [0, 0])
            period[0] += unit[1] * used
            period[1] += used
        unit = self._induced.get(seller)
        if unit is not None and not unit[0] and unit[2] > 0:
            used = min(qty, unit[2])
            unit[2] -= used
            self._induced_worth[seller] = self._induced_worth.get(seller, 0) - unit[1] * used
            self._consumed[seller] = self._consumed.get(seller, 0) - used
            period = self._period_surplus.setdefault(unit[3], [0, 0])
            period[0] -= unit[1] * used
            period[1] -= used

    def _forget(self, oid: int, order: _Order) -> None:
        del self._orders[oid]
        del self._ids[(order.actor, order.client_id)]

    def _remove(self, oid: int) -> _Order:
        """Cancel a resting order on the book and forget it; returns its record."""
        order = self._orders[oid]
        self._book.cancel(oid)
        self._forget(oid, order)
        return order

    def _after_stp(self) -> None:
        """Self-trade prevention cancelled resting quantity: bring the records in line with the book."""
        book = self._book
        log = book.stp_log
        for event in log[self._stp_seen:]:
            if not event.maker_cancelled:
                continue
            maker_id = event.maker_id
            order = self._orders.get(maker_id) if type(maker_id) is int else None
            if order is None or type(maker_id) is not int:
                continue
            view = book.order(maker_id)
            if view is None:
                self._forget(maker_id, order)
            else:
                order.remaining = view.qty
        self._stp_seen = len(log)

    # -- halts ----------------------------------------------------------------------------

    def _hold(self, key: str, reason: str) -> None:
        """Halt trading for ``reason`` until :meth:`_release` of ``key`` (holds stack)."""
        if key in self._holds:
            return
        if not self._holds:
            self._mark_spread(self.ctx.now)
            self._book.halt()
            self._halts += 1
            self._halted_since = self.ctx.now
            self._pending.append(TradingHalted(time=self.ctx.now, source=self.ctx.name,
                                               market=self.ctx.name, reason=reason))
        self._holds[key] = reason
        self.ctx.recorder.gauge("halted", 1.0)

    def _release(self, key: str) -> None:
        if self._holds.pop(key, None) is None or self._holds:
            return
        self._book.resume()
        if self._halted_since is not None:
            self._halted_seconds += self.ctx.now - self._halted_since
            self._halted_since = None
        self.ctx.recorder.gauge("halted", 0.0)
        self._pending.append(TradingResumed(time=self.ctx.now, source=self.ctx.name, market=self.ctx.name))

    def _check_breaker(self, now: float, price: int) -> None:
        """Trip the circuit breaker when the price moved too far from its level a window ago."""
        window = self._breaker
        window.append((now, price))
        horizon = now - self.config.circuit_breaker_window
        # Keep one trade at or before the horizon: the price a window ago.
        while len(window) > 1 and window[1][0] <= horizon:
            window.popleft()
        reference = window[0][1]
        move = self.config.circuit_breaker_move
        if move is not None and abs(price - reference) >= move * reference:
            window.clear()
            self._breaker_seq += 1
            key = f"breaker:{self._breaker_seq}"
            self._hold(key, "circuit_breaker")
            self.ctx.env.process(self._later(self.config.circuit_breaker_halt, key))

    def _later(self, delay: float, key: str) -> Generator[Any, Any, None]:
        yield self.ctx.env.timeout(delay)
        self._release(key)
        self._flush()

    # -- events ---------------------------------------------------------------------------

    def _flush(self) -> None:
        """Publish what the last change produced (subscribers may cause more: publish those too)."""
        publish = self.ctx.publish
        while self._pending:
            pending, self._pending = self._pending, []
            for event in pending:
                publish(event)

    def _report(self, finding: Finding, now: float) -> None:
        self._violations += 1
        self.ctx.recorder.count(f"violations.{finding.kind}")
        name = self.ctx.name
        self._pending.append(ViolationObserved(time=now, source=name, actor=finding.actor, kind=finding.kind,
                                               severity=finding.severity, evidence=finding.evidence))
        severity = self._surveillance.on_report(now)
        if severity is not None:
            self._pending.append(IncidentRaised(
                time=now, source=name, incident_id=f"{name}-incident-{self._surveillance.incidents}",
                kind="market_manipulation", severity=severity,
                details={"violations": self._violations, "latest": finding.kind}))

    def _on_halted(self, event: TradingHalted) -> None:
        if event.source != self.ctx.name and event.market == self.ctx.name:
            self._hold(f"event:{event.source}", f"{event.source}: {event.reason}")
            self._flush()

    def _on_resumed(self, event: TradingResumed) -> None:
        if event.source != self.ctx.name and event.market == self.ctx.name:
            self._release(f"event:{event.source}")
            self._flush()

    def _on_decision(self, event: DecisionTaken) -> None:
        params = event.params
        target = params.get("market")
        if target is not None and target != self.ctx.name:
            return
        if event.measure in self.config.halt_on:
            self._hold(f"decision:{event.decision_id}", f"decision {event.decision_id}: {event.measure}")
        if event.measure in self.config.restrict_on:
            norms = params.get("norms", [params["norm"]] if "norm" in params else None)
            if not isinstance(norms, list | tuple) or not norms or not all(isinstance(n, str) for n in norms):
                raise ContractError(f"{event.source}: {event.measure} params must name 'norm' (a string) "
                                    f"or 'norms' (a list of strings), got {dict(params)!r}")
            added = self._norms.restrict(event.decision_id, tuple(norms))
            if added and self._screen:
                self._screen_resting()
        self._flush()

    def _on_lapsed(self, event: DecisionLapsed) -> None:
        self._release(f"decision:{event.decision_id}")
        self._norms.lift(event.decision_id)
        self._flush()

    def _screen_resting(self) -> None:
        """Under ``screen``, cancel resting orders breaching a newly prohibited norm."""
        classify = self._norms.classify
        breaching = [oid for oid, order in self._orders.items()
                     if order.att is not NO_ATTESTATION and classify(order.att)[1] is not None]
        for oid in breaching:
            self._remove(oid)
        if breaching:
            self.ctx.recorder.count("screened_resting", len(breaching))
            self._mark_spread(self.ctx.now)

    def _on_shock(self, event: ShockFired) -> None:
        if event.kind == LIQUIDITY_SHOCK:
            self._shocks.append((self.ctx.now, len(self._prices)))
        elif event.kind in self.config.halt_shocks:
            duration = event.payload.get("duration", self.config.halt_shock_seconds)
            if isinstance(duration, bool) or not isinstance(duration, int | float) or not duration > 0:
                raise ContractError(f"shock {event.kind!r}: payload duration must be a positive number")
            key = f"shock:{event.kind}:{self.ctx.now}"
            self._hold(key, f"shock: {event.kind}")
            self.ctx.env.process(self._later(float(duration), key))
            self._flush()

    def _on_allowed(self, event: AgentAdmitted | AgentReinstated) -> None:
        self._admitted.add(event.actor)

    def _on_denied(self, event: AgentSuspended | AgentRevoked) -> None:
        """A suspended or revoked agent may not trade: its resting orders are cancelled."""
        self._admitted.discard(event.actor)
        theirs = [oid for oid, order in self._orders.items() if order.actor == event.actor]
        for oid in theirs:
            self._remove(oid)
        if theirs:
            self._mark_spread(self.ctx.now)
        self._flush()

    def _on_profile(self, event: TraderProfile) -> None:
        if event.market != self.ctx.name:
            return
        actor = event.actor
        self._groups[actor] = event.group
        if event.manipulator:
            self._manipulators.add(actor)
        if event.value is None and event.cost is None:
            return
        if (event.value is not None and event.cost is not None) or event.units < 0:
            raise ContractError(f"{event.source}: a TraderProfile gives a value or a cost (not both) "
                                f"and units >= 0")
        is_buyer = event.value is not None
        amount = event.value if event.value is not None else event.cost
        if amount is None:  # pragma: no cover - excluded above
            return
        self._induced[actor] = [is_buyer, amount, event.units, event.period]
        values, costs = self._schedule.setdefault(event.period, ([], []))
        (values if is_buyer else costs).extend([amount] * event.units)

    # -- redistribution -------------------------------------------------------------------

    def _payouts(self, interval: float) -> Generator[Any, Any, None]:
        while True:
            yield self.ctx.env.timeout(interval)
            self.payout()

    def payout(self) -> dict[str, int]:
        """Pay the pool out by the declared rule now (the market does this every
        ``redistribution_interval``); returns what each account got."""
        rule = self.config.redistribution
        index = 1 if rule is Redistribution.ALIGNED_VOLUME else 0
        shares = {account: lots[index] for account, lots in self._since.items()}
        paid = split_pool(self._pool, shares, rule)
        for account, amount in paid.items():
            self._cash[account] = self._cash.get(account, 0) + amount
            self._rebates[account] = self._rebates.get(account, 0) + amount
            self._pool -= amount
            self._paid_total += amount
        self._since.clear()
        return paid

    # -- measures -------------------------------------------------------------------------

    def _mark_spread(self, now: float) -> tuple[int | None, int | None]:
        """Accumulate the time-weighted quoted spread up to ``now``, then note the current one.
        Returns the touch (best bid, best ask)."""
        if now > self._spread_t:
            if self._spread_now is not None:
                self._spread_area += self._spread_now * (now - self._spread_t)
                self._spread_time += now - self._spread_t
            self._spread_t = now
        book = self._book
        bid, ask = book.best_bid(), book.best_ask()
        self._spread_now = ask - bid if bid is not None and ask is not None else None
        return bid, ask

    def _realized_surplus(self) -> float:
        """Induced worth of the units consumed, net of what they cost at the competitive price.

        Cash and fees are transfers and cancel out. Units that participants without induced
        values (makers, noise traders) put in or took out of the induced economy are valued
        at the competitive-equilibrium price, as if traded with an outside market there; at
        the last trade price instead, outside liquidity would create surplus from nothing and
        the ratio to the equilibrium surplus could pass 1.
        """
        realized = 0.0
        for period, (worth, consumed) in self._period_surplus.items():
            values, costs = self._schedule.get(period, ([], []))
            realized += worth - (_clearing_price(values, costs) or 0.0) * consumed
        return realized

    def _gains(self) -> dict[str, float]:
        """Each account's gain: cash (fees and payouts included) + induced worth of consumed units
        + the rest of its position marked at the last trade price."""
        last = self._prices[-1] if self._prices else 0
        actors = set(self._cash) | set(self._groups)
        return {actor: float(self._cash.get(actor, 0) + self._induced_worth.get(actor, 0)
                             + (self._position.get(actor, 0) - self._consumed.get(actor, 0)) * last)
                for actor in actors}

    def _price_at(self, t: float) -> int | None:
        index = bisect_right(self._times, t)
        return self._prices[index - 1] if index else None

    def _volatility(self, end: float) -> float | None:
        if not self._times:
            return None
        step = self.config.volatility_interval
        t = self._times[0]
        samples: list[int] = []
        while t <= end:
            price = self._price_at(t)
            if price is not None:
                samples.append(price)
            t += step
        returns = [math.log(b / a) for a, b in pairwise(samples)]
        if len(returns) < 2:
            return None
        mean = sum(returns) / len(returns)
        return math.sqrt(sum((r - mean) ** 2 for r in returns) / len(returns))

    def _shock_effects(self, end: float) -> tuple[float | None, float | None]:
        """(worst drawdown, mean recovery seconds) over the liquidity shocks with a pre-shock price."""
        drawdowns: list[float] = []
        recoveries: list[float] = []
        times, prices = self._times, self._prices
        band = self.config.recovery_band
        shocks = self._shocks
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
