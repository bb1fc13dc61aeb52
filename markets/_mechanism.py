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

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

from flagship.mechanisms import (
    Action,
    CommonReason,
    Context,
    ContractError,
    Event,
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
from ._config import MarketConfig
from ._desk import OrderDesk
from ._http import routes
from ._ledger import Ledger
from ._measures import MEASURES
from ._orders import ClientId
from ._pages import PAGES
from ._policy import HaltControl, MarketPolicy, bound, policy_classes
from ._reasons import REASON_STATUS, MarketReason
from ._records import Fill, OrderView
from ._values import NormBook

__all__ = ["LIQUIDITY_SHOCK", "MarketConfig", "MarketReason", "TraderProfile", "ValueMarket"]

LIQUIDITY_SHOCK = "liquidity_shock"
# The order in which finish() has always recorded the measures (recorders keep insertion order).
_FINISH_ORDER = (
    "aligned_volume_share", "norm_leakage", "allocative_efficiency", "gains_gini",
    "fill_ratio", "time_to_fill_seconds", "quoted_spread_ticks", "honest_rejection_rate",
    "manipulator_profit", "price_volatility", "shock_drawdown", "shock_recovery_seconds", "halts",
    "halted_seconds", "halted_share", "manipulator_volume_share", "spoof_orders",
    "spoof_orders_per_open_second", "suspicious_cancels",
)


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

    The market only wires its parts: the order desk (:class:`~flagship.markets._desk.OrderDesk`:
    the action path and the engine), the ledger (:class:`~flagship.markets._ledger.Ledger`:
    accounts and measure statistics), the norms in force (:class:`~flagship.markets.NormBook`)
    and every registered policy its config enables (``_policies/``, built at init in rank
    order; each sees the market as ``policy.market``: ``config``, ``ctx``, ``desk``, ``ledger``,
    ``norms``, ``halts``, :meth:`emit` an event to publish once the current change is complete,
    :meth:`flush`). Lifecycle: ``__init__`` builds the parts; :meth:`start` subscribes and starts
    the policies; :meth:`handle` per action; :meth:`finish` records the measures once.
    """

    name = "value_market"
    Config = MarketConfig
    http = routes
    pages = PAGES
    reasons = MarketReason
    reason_status: ClassVar[Mapping[str, int]] = REASON_STATUS
    publishes = (TradeExecuted, TradingHalted, TradingResumed, ViolationObserved, IncidentRaised)
    subscribes = (TradingHalted, TradingResumed, DecisionTaken, DecisionLapsed, ShockFired,
                  AgentAdmitted, AgentReinstated, AgentSuspended, AgentRevoked, TraderProfile)
    measures = MEASURES

    def __init__(self, config: MarketConfig, ctx: Context) -> None:
        super().__init__(config, ctx)
        self.norms = NormBook(config.aligned, config.prohibited)
        self.ledger = Ledger()
        self._pending: list[Event] = []  # events to publish once the current change is complete
        self.emit: Callable[[Event], None] = self._pending.append
        """Queue an event to publish once the current change is complete (see :meth:`flush`)."""
        classes = policy_classes()
        self._idle_state: dict[str, Any] = {}
        for cls in classes:
            if not cls.enabled(config):
                self._idle_state.update(cls.idle_state)
        # The desk is built after the policies (it binds their hooks), and they reach it through
        # the market only once the run starts.
        self.policies: list[MarketPolicy] = [cls(self) for cls in classes if cls.enabled(config)]
        self.desk = OrderDesk(config, ctx, self.ledger, self.norms, self.policies, self._pending)
        # the halts policy is always on; the market drives it from events (see HaltControl)
        self.halts = cast("HaltControl", next(policy for policy in self.policies if policy.name == "halts"))
        self._on_restricted = bound(self.policies, "on_norms_restricted")
        self._place = self.desk.order
        self._cancel = self.desk.cancel
        self._modify = self.desk.modify
        self._reject = self.desk.reject

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        subscribe = self.ctx.subscribe
        # Subscription order is delivery order among subscribers: kept as it always was.
        subscribe(TradingHalted, self.halts.on_halted)
        subscribe(TradingResumed, self.halts.on_resumed)
        subscribe(DecisionTaken, self._on_decision)
        subscribe(DecisionLapsed, self._on_lapsed)
        subscribe(ShockFired, self._on_shock)
        subscribe(TraderProfile, self._on_profile)
        for policy in self.policies:
            policy.start()

    def handle(self, action: Action) -> Outcome:
        kind = action.kind
        actor = action.actor
        if type(actor) is not str or not actor:
            return self._reject(MarketReason.INVALID_OWNER, "the acting participant's id must be a string")
        if kind == "limit":
            outcome = self._place(action, False)
        elif kind == "cancel":
            outcome = self._cancel(action)
        elif kind == "modify":
            outcome = self._modify(action)
        elif kind == "market":
            outcome = self._place(action, True)
        else:
            outcome = self._reject(CommonReason.UNKNOWN_KIND, f"unknown kind {kind!r}")
        ledger = self.ledger
        if actor not in ledger.manipulators:
            ledger.honest_actions += 1
            if not outcome.accepted:
                ledger.honest_rejected += 1
        if self._pending:
            self.flush()
        return outcome

    def finish(self) -> None:
        now = self.ctx.now
        self.desk.mark_spread(now)
        config = self.config
        values: dict[str, float | None] = {}
        self.ledger.measures(values, now, config.tick_size, config.volatility_interval, config.recovery_band)
        for policy in self.policies:
            policy.finish(values)
        record = self.ctx.recorder.measure
        for name in _FINISH_ORDER:
            record(name, values.pop(name))
        for name, value in values.items():
            record(name, value)

    def snapshot(self) -> dict[str, Any]:
        state = self.desk.snapshot()
        state["norms"] = self.norms.to_json()
        state.update(self.ledger.snapshot())
        state.update(self._idle_state)
        for policy in self.policies:
            state.update(policy.snapshot())
        return state

    # -- queries (for tests, notebooks and the live pilot) -----------------------------------

    @property
    def book(self) -> OrderBook:
        """The engine (read it; never act on it directly, or the market's records go stale)."""
        return self.desk.book

    @property
    def pool(self) -> int:
        """Ticks in the community pool, not yet paid out."""
        return self.ledger.pool

    @property
    def halted(self) -> bool:
        """True while any hold (decision, event, shock, circuit breaker) halts trading."""
        return self.halts.halted

    @property
    def prohibited(self) -> frozenset[str]:
        """The norms prohibited now (declared plus binding regulator restrictions)."""
        return self.norms.prohibited

    def orders_of(self, actor: str) -> list[tuple[ClientId, OrderView, int, float]]:
        """``actor``'s live orders, oldest first: (their id, the book's view, lots filled, time placed)."""
        return self.desk.orders_of(actor)

    def fills_of(self, actor: str, limit: int) -> list[tuple[Fill, ClientId, bool]]:
        """``actor``'s most recent ``limit`` fills, oldest first: (fill, their order id, as maker?)."""
        return self.desk.fills_of(actor, limit)

    def accounts(self) -> dict[str, dict[str, int]]:
        """Per account: ``cash`` (ticks, fees and payouts included), ``position`` (lots),
        ``fees_paid`` and ``rebates`` (ticks)."""
        return self.ledger.accounts()

    def fee_totals(self) -> tuple[int, int]:
        """(ticks collected as fees, ticks paid out of the pool) since the start."""
        return self.ledger.fees_total, self.ledger.paid_total

    def disclosed_tape(self) -> list[dict[str, Any]]:
        """Under ``disclosure``: every fill with both sides' attestation provenance, oldest first."""
        return [entry for policy in self.policies for entry in policy.disclosed_tape()]

    def live_order(self, actor: str, order_id: ClientId) -> dict[str, Any] | None:
        """``actor``'s live order ``order_id``: side, price, resting qty and attestation, or None."""
        return self.desk.live_order(actor, order_id)

    def payout(self) -> dict[str, int]:
        """Pay the pool out by the declared rule now (the market does this every
        ``redistribution_interval`` under ``externality_fee``); returns what each account got."""
        return self.ledger.payout(self.config.redistribution)

    # -- events ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Publish what the last change produced (subscribers may cause more: publish those too)."""
        pending = self._pending
        publish = self.ctx.publish
        while pending:
            # Take the batch out first: a subscriber may act on the market and flush (re-entrantly)
            # what that action queued before this batch is done.
            batch = pending.copy()
            pending.clear()
            for event in batch:
                publish(event)

    def _on_decision(self, event: DecisionTaken) -> None:
        params = event.params
        target = params.get("market")
        if target is not None and target != self.ctx.name:
            return
        self.halts.on_decision(event)
        if event.measure in self.config.restrict_on:
            norms = params.get("norms", [params["norm"]] if "norm" in params else None)
            if not isinstance(norms, list | tuple) or not norms or not all(isinstance(n, str) for n in norms):
                raise ContractError(f"{event.source}: {event.measure} params must name 'norm' (a string) "
                                    f"or 'norms' (a list of strings), got {dict(params)!r}")
            if self.norms.restrict(event.decision_id, tuple(norms)):
                for restricted in self._on_restricted:
                    restricted()
        self.flush()

    def _on_lapsed(self, event: DecisionLapsed) -> None:
        self.halts.on_lapsed(event)
        self.norms.lift(event.decision_id)
        self.flush()

    def _on_shock(self, event: ShockFired) -> None:
        if event.kind == LIQUIDITY_SHOCK:
            self.ledger.shocks.append((self.ctx.now, len(self.ledger.prices)))
        else:
            self.halts.on_shock(event)

    def _on_profile(self, event: TraderProfile) -> None:
        if event.market == self.ctx.name:
            self.ledger.on_profile(event)
