"""The order desk of a ``value_market``: the action path from a payload to the engine and the ledger.

It checks a ``limit`` / ``market`` / ``cancel`` / ``modify`` payload, runs the enabled policies'
hooks at their fixed places (see :mod:`flagship.markets._policies`), hands the request to the
matching engine (:class:`~flagship.markets.OrderBook`) and books what it did: the per-actor
order records and the ledger. Lifecycle: built by the market with its book, ledger and the
tuples of enabled policy hooks (empty when no policy overrides a hook, so the hot path pays
nothing for policies that are off); then one call per action.

A rejected action changes nothing but measure statistics: every check runs before the first
state change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from flagship.mechanisms import EMPTY, Action, CommonReason, ContractError, Event, Outcome
from flagship.mechanisms.events import TradeExecuted

from ._book import OrderBook
from ._ledger import Ledger
from ._orders import (
    BAD_ID,
    CANCEL_KEYS,
    LIMIT_KEYS,
    MARKET_KEYS,
    MAX_ID,
    MODIFY_KEYS,
    TIFS,
    ClientId,
    RestingOrder,
    client_id,
    integer,
)
from ._policy import FillFacts, MarketPolicy, bound
from ._reasons import FROM_BOOK, MarketReason, OrderRejected
from ._records import Fill, OrderView
from ._values import NO_ATTESTATION, Attestation, NormBook, parse_attestation

if TYPE_CHECKING:
    from flagship.mechanisms import Context

    from ._config import MarketConfig

__all__ = ["OrderDesk"]


class OrderDesk:
    """Order records, the action path and the queries on orders and fills of one market."""

    def __init__(self, config: MarketConfig, ctx: Context, ledger: Ledger, norms: NormBook,
                 policies: list[MarketPolicy], pending: list[Event]) -> None:
        self.ctx = ctx
        self.ledger = ledger
        self.norms = norms
        self.pending = pending  # events to publish once the current change is complete
        self._vocabulary = frozenset(config.vocabulary)
        self._attestors = frozenset(config.trusted_attestors)
        self._max_externality = config.max_externality
        self._attestations: dict[tuple[Any, ...], Attestation] = {}  # a cache derived from the config
        # -- the enabled policies' hooks, in rank order (empty tuples: nothing to call) --
        self._admits = bound(policies, "admit")
        self._admit_modifies = bound(policies, "admit_modify")
        self._flags = bound(policies, "flag")
        self._fill_hooks = bound(policies, "on_fill")
        self._accepted_hooks = bound(policies, "on_accepted")
        self._cancel_hooks = bound(policies, "on_cancel")
        priorities = bound(policies, "priority")
        fees = bound(policies, "fee_per_lot")
        self._priority: Callable[[Attestation], int] | None = priorities[0] if priorities else None
        self._fee: Callable[[Attestation], int] | None = fees[0] if fees else None
        # -- state (in the snapshot) --
        self.book = OrderBook(config.tick_size, price_band=config.price_band, stp=config.stp.value)
        self.orders: dict[int, RestingOrder] = {}  # market-assigned id -> record of a resting order
        self.ids: dict[tuple[str, ClientId], int] = {}  # (actor, client id) -> market id (derived)
        # actor -> the ids of its resting orders, oldest first (derived: for the cap, and so that
        # an actor's orders are found without scanning every order; ids only grow, so oldest first
        # is also the order of ``orders``)
        self.resting_of: dict[str, dict[int, None]] = {}
        self._max_resting = config.max_resting_orders
        self.next_id = 1
        self._client_of: list[ClientId] = [""]  # market id -> the participant's id (derived; 0 unused)
        self._stp_seen = 0

    # -- actions ----------------------------------------------------------------------------

    def reject(self, reason: StrEnum | str, detail: str = "") -> Outcome:
        # Every reason is from the closed set by construction (the conformance check's
        # "reasons" verifies it), so it is not a measure.
        self.ctx.recorder.count(f"rejected.{reason}")
        return Outcome(False, reason, EMPTY, detail)

    def order(self, action: Action, market: bool) -> Outcome:
        """A ``limit`` (``market`` False) or ``market`` order."""
        payload = action.payload
        # A dict first: the common case skips the abstract-class check (a measurable share per order).
        if type(payload) is not dict and not isinstance(payload, Mapping):
            return self.reject(CommonReason.INVALID_PAYLOAD, "payload: expected an object")
        if not (MARKET_KEYS if market else LIMIT_KEYS).issuperset(payload):
            allowed = MARKET_KEYS if market else LIMIT_KEYS
            return self.reject(CommonReason.INVALID_PAYLOAD,
                               f"unknown fields {sorted(map(str, set(payload) - allowed))}")
        client = payload.get("order_id")
        if type(client) is not int or not -MAX_ID <= client < MAX_ID:
            client = client_id(client)
            if client is None:
                return self.reject(MarketReason.INVALID_ID, BAD_ID)
        side = payload.get("side")
        if side == "buy":
            is_buy = True
        elif side == "sell":
            is_buy = False
        else:
            return self.reject(MarketReason.INVALID_SIDE, "side: expected 'buy' or 'sell'")
        qty = payload.get("qty")
        if type(qty) is not int:
            qty = integer(qty)
        if qty is None or qty < 1:
            return self.reject(MarketReason.INVALID_QTY, "qty: expected an integer >= 1")
        price = 0
        tif: Any = "GTC"
        post_only: Any = False
        if not market:
            raw_price = payload.get("price")
            number = raw_price if type(raw_price) is int else integer(raw_price)
            if number is None or number < 1:
                return self.reject(MarketReason.INVALID_PRICE, "price: expected an integer >= 1 (ticks)")
            price = number
            tif = payload.get("tif", "GTC")
            if type(tif) is str:
                tif = TIFS.get(tif, tif)
            post_only = payload.get("post_only", False)
        att = NO_ATTESTATION
        if "values" in payload or "externality" in payload or "attestor" in payload:
            parsed = parse_attestation(payload, self._vocabulary, self._max_externality, self._attestors,
                                       self._attestations)
            if isinstance(parsed, tuple):
                return self.reject(MarketReason[parsed[0]], parsed[1])
            att = parsed
        actor = action.actor
        for admit in self._admits:
            refused = admit(actor, att, is_buy, price, qty, market)
            if refused is not None:
                return self.reject(*refused)
        key = (actor, client)
        if key in self.ids:
            return self.reject(MarketReason.DUPLICATE_ID, f"order {client!r} is live")
        cap = self._max_resting
        if cap is not None and not market and len(self.resting_of.get(actor, ())) >= cap:
            return self.reject(MarketReason.TOO_MANY_RESTING_ORDERS,
                               f"{cap} orders of yours are resting; cancel one first")
        book = self.book
        oid = self.next_id
        far = False
        if not market:
            for flag in self._flags:
                far = flag(is_buy, price, qty) or far
        priority = self._priority
        try:
            if market:
                fills = book.market(oid, side, qty, actor)
            elif priority is not None and att is not NO_ATTESTATION:
                fills = book.limit(oid, side, price, qty, actor, tif=tif, post_only=post_only,
                                   priority=priority(att))
            else:
                # positional: the compiled engine parses keyword arguments on a slower path
                fills = book.limit(oid, side, price, qty, actor, tif, post_only)
        except OrderRejected as exc:
            return self.reject(FROM_BOOK[exc.reason], exc.detail)
        # Accepted: from here on the state changes.
        self.next_id = oid + 1
        self._client_of.append(client)
        now = action.time
        fee = self._fee(att) if self._fee is not None else 0
        ledger = self.ledger
        ledger.ordered += qty
        if fills:
            filled, fill_effects = self._settle(fills, actor, att, fee, now)
        else:
            filled, fill_effects = 0, []
        resting = qty - filled
        if len(book.stp_log) != self._stp_seen:
            self._after_stp()
            view = book.order(oid)
            resting = 0 if view is None else view.qty
        elif market or tif != "GTC":
            resting = 0
        if resting:
            self.orders[oid] = RestingOrder(actor, client, att, fee, qty, resting, filled, now, far)
            self.ids[key] = oid
            mine = self.resting_of.get(actor)
            if mine is None:
                self.resting_of[actor] = {oid: None}
            else:
                mine[oid] = None
        elif filled == qty:
            ledger.fill_time_n += 1  # filled on arrival: time to fill 0
        bid, ask = self.mark_spread(now)
        effects: dict[str, Any] = {"fills": fill_effects, "resting": resting, "bid": bid, "ask": ask}
        for accepted in self._accepted_hooks:
            accepted(effects)
        return Outcome(True, None, effects)

    def cancel(self, action: Action) -> Outcome:
        payload = action.payload
        if (type(payload) is not dict and not isinstance(payload, Mapping)) or \
                not CANCEL_KEYS.issuperset(payload):
            return self.reject(CommonReason.INVALID_PAYLOAD, "expected {order_id}")
        client = client_id(payload.get("order_id"))
        if client is None:
            return self.reject(MarketReason.INVALID_ID, BAD_ID)
        actor = action.actor
        oid = self.ids.get((actor, client))
        if oid is None:
            return self.reject(MarketReason.UNKNOWN_ORDER, f"no live order {client!r} of {actor}")
        order = self.remove(oid)
        now = action.time
        self.mark_spread(now)
        for cancelled in self._cancel_hooks:
            cancelled(order, now)
        return Outcome(True, None, {"cancelled": order.remaining})

    def modify(self, action: Action) -> Outcome:
        payload = action.payload
        if (type(payload) is not dict and not isinstance(payload, Mapping)) or \
                not MODIFY_KEYS.issuperset(payload):
            return self.reject(CommonReason.INVALID_PAYLOAD, "expected {order_id, qty?, price?}")
        client = payload.get("order_id")
        if type(client) is not int or not -MAX_ID <= client < MAX_ID:
            client = client_id(client)
            if client is None:
                return self.reject(MarketReason.INVALID_ID, BAD_ID)
        raw_qty, raw_price = payload.get("qty"), payload.get("price")
        if raw_qty is None and raw_price is None:
            return self.reject(CommonReason.INVALID_PAYLOAD, "modify: give qty, price or both")
        qty = price = None
        if raw_price is not None:
            price = raw_price if type(raw_price) is int else integer(raw_price)
            if price is None or price < 1:
                return self.reject(MarketReason.INVALID_PRICE, "price: expected an integer >= 1 (ticks)")
        if raw_qty is not None:
            qty = integer(raw_qty)
            if qty is None or qty < 1:
                return self.reject(MarketReason.INVALID_QTY, "qty: expected an integer >= 1")
        actor = action.actor
        for admit in self._admit_modifies:
            refused = admit(actor, qty, price)
            if refused is not None:
                return self.reject(*refused)
        oid = self.ids.get((actor, client))
        if oid is None:
            return self.reject(MarketReason.UNKNOWN_ORDER, f"no live order {client!r} of {actor}")
        book = self.book
        try:
            fills = book.modify(oid, qty, price)  # positional, as in order()
        except OrderRejected as exc:
            return self.reject(FROM_BOOK[exc.reason], exc.detail)
        now = action.time
        order = self.orders[oid]
        ledger = self.ledger
        if qty is not None and qty > order.remaining:
            raised = qty - order.remaining
            order.qty += raised
            ledger.ordered += raised
        order.remaining = qty if qty is not None else order.remaining
        filled, fill_effects = (self._settle(fills, actor, order.att, order.fee, now) if fills else (0, []))
        order.filled += filled
        if len(book.stp_log) != self._stp_seen:
            self._after_stp()
            view = book.order(oid)
            resting = 0 if view is None else view.qty
        else:
            # Without self-trade prevention the book rests what was not filled, as order() counts
            # it too (asking the book for a view of the order cost a tenth of a modify).
            resting = order.remaining - filled
        if not resting:
            self._forget(oid, order)
            if order.filled >= order.qty:
                ledger.fill_time_n += 1
                ledger.fill_time_sum += now - order.placed
        else:
            order.remaining = resting
        bid, ask = self.mark_spread(now)
        effects: dict[str, Any] = {"fills": fill_effects, "resting": resting, "bid": bid, "ask": ask}
        for accepted in self._accepted_hooks:
            accepted(effects)
        return Outcome(True, None, effects)

    # -- trades -----------------------------------------------------------------------------

    def _settle(self, fills: list[Fill], taker: str, taker_att: Attestation, taker_fee: int,
                now: float) -> tuple[int, list[dict[str, Any]]]:
        """Book the fills of one request (the taker's): records, ledger, statistics, policies, events.

        Returns (lots the taker filled, the fills as effects).
        """
        orders = self.orders
        ledger = self.ledger
        cash = ledger.cash
        position = ledger.position
        times = ledger.times
        prices = ledger.prices
        classify = self.norms.classify
        pending = self.pending
        name = self.ctx.name
        induced = ledger.induced
        manipulators = ledger.manipulators
        hooks = self._fill_hooks
        taker_aligned, taker_breach = (classify(taker_att) if taker_att is not NO_ATTESTATION
                                       else (False, None))
        facts = FillFacts(taker, taker_att, taker_fee, taker_aligned, now) if hooks else None
        effects: list[dict[str, Any]] = []
        filled = 0
        for fill in fills:
            maker_id: Any = fill[1]  # always a market-assigned int
            price = fill[3]
            qty = fill[4]
            taker_buys = fill[5] == "buy"
            order = orders[maker_id]
            maker = order.actor
            order.filled += qty
            order.remaining -= qty
            if not order.remaining:
                self._forget(maker_id, order)
                ledger.fill_time_n += 1
                ledger.fill_time_sum += now - order.placed
            filled += qty
            ledger.filled += 2 * qty  # the maker's lots and the taker's
            ledger.traded += qty
            notional = price * qty
            buyer, seller = (taker, maker) if taker_buys else (maker, taker)
            cash[buyer] = cash.get(buyer, 0) - notional
            cash[seller] = cash.get(seller, 0) + notional
            position[buyer] = position.get(buyer, 0) + qty
            position[seller] = position.get(seller, 0) - qty
            maker_att = order.att
            if maker_att is not NO_ATTESTATION:
                maker_aligned, maker_breach = classify(maker_att)
                ledger.attested_sides += qty
            else:
                maker_aligned, maker_breach = False, None
            if taker_att is not NO_ATTESTATION:
                ledger.attested_sides += qty
            ledger.aligned_sides += qty * (maker_aligned + taker_aligned)
            if maker_breach is not None or taker_breach is not None:
                ledger.leakage += qty
            if manipulators and (maker in manipulators or taker in manipulators):
                ledger.manipulator_lots += qty
            if induced:
                ledger.consume(buyer, seller, qty)
            times.append(now)
            prices.append(price)
            effect: dict[str, Any] = {"maker": maker, "taker": taker, "price": price, "qty": qty}
            if facts is not None:
                facts.order = order
                facts.maker_aligned = maker_aligned
                facts.buyer = buyer
                facts.seller = seller
                facts.price = price
                facts.qty = qty
                facts.effect = effect
                for hook in hooks:
                    hook(facts)
            pending.append(TradeExecuted(market=name, maker=maker, taker=taker, price=price, qty=qty))
            effects.append(effect)
        self.ctx.recorder.count("lots_traded", filled)
        return filled, effects

    def _forget(self, oid: int, order: RestingOrder) -> None:
        del self.orders[oid]
        del self.ids[(order.actor, order.client_id)]
        mine = self.resting_of[order.actor]
        del mine[oid]
        if not mine:
            del self.resting_of[order.actor]  # bounded by the actors with resting orders

    def remove(self, oid: int) -> RestingOrder:
        """Cancel a resting order on the book and forget it; returns its record."""
        order = self.orders[oid]
        self.book.cancel(oid)
        self._forget(oid, order)
        return order

    def remove_where(self, breaks_rule: Callable[[RestingOrder], bool]) -> int:
        """Cancel every resting order ``breaks_rule`` picks (oldest first); returns how many."""
        picked = [oid for oid, order in self.orders.items() if breaks_rule(order)]
        for oid in picked:
            self.remove(oid)
        if picked:
            self.mark_spread(self.ctx.now)
        return len(picked)

    def remove_of(self, actor: str) -> int:
        """Cancel every resting order of ``actor`` (oldest first, as :meth:`remove_where` would);
        returns how many. Reads the actor's own orders only: a market that bars one actor after
        another (sanctioned agents) would otherwise scan every resting order each time, a cost
        that grows with the square of the participants."""
        picked = list(self.resting_of.get(actor, ()))
        for oid in picked:
            self.remove(oid)
        if picked:
            self.mark_spread(self.ctx.now)
        return len(picked)

    def _after_stp(self) -> None:
        """Self-trade prevention cancelled resting quantity: bring the records in line with the book."""
        book = self.book
        log = book.stp_log
        for event in log[self._stp_seen:]:
            if not event.maker_cancelled:
                continue
            maker_id = event.maker_id
            order = self.orders.get(maker_id) if type(maker_id) is int else None
            if order is None or type(maker_id) is not int:
                continue
            view = book.order(maker_id)
            if view is None:
                self._forget(maker_id, order)
            else:
                order.remaining = view.qty
        self._stp_seen = len(log)

    def mark_spread(self, now: float) -> tuple[int | None, int | None]:
        """Accumulate the time-weighted quoted spread up to ``now``, then note the current one.
        Returns the touch (best bid, best ask)."""
        ledger = self.ledger
        if now > ledger.spread_t:
            if ledger.spread_now is not None:
                ledger.spread_area += ledger.spread_now * (now - ledger.spread_t)
                ledger.spread_time += now - ledger.spread_t
            ledger.spread_t = now
        book = self.book
        bid, ask = book.best_bid(), book.best_ask()
        ledger.spread_now = ask - bid if bid is not None and ask is not None else None
        return bid, ask

    # -- queries ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "book": self.book.snapshot(),
            "orders": [[oid, *order.to_json()] for oid, order in sorted(self.orders.items())],
            "next_id": self.next_id,
        }

    def orders_of(self, actor: str) -> list[tuple[ClientId, OrderView, int, float]]:
        """``actor``'s live orders, oldest first: (their id, the book's view, lots filled, time placed)."""
        book, orders = self.book, self.orders
        live = []
        for oid in self.resting_of.get(actor, ()):
            view = book.order(oid)
            if view is not None:
                order = orders[oid]
                live.append((order.client_id, view, order.filled, order.placed))
        return live

    def fills_of(self, actor: str, limit: int) -> list[tuple[Fill, ClientId, bool]]:
        """``actor``'s most recent ``limit`` fills, oldest first: (fill, their order id, as maker?).

        Scans the tape from its end, so a participant with recent fills is answered fast.
        """
        found: list[tuple[Fill, ClientId, bool]] = []
        client_of = self._client_of
        tape = self.book.tape
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

    def live_order(self, actor: str, order_id: ClientId) -> dict[str, Any] | None:
        """``actor``'s live order ``order_id``: side, price, resting qty and attestation, or None."""
        oid = self.ids.get((actor, order_id))
        if oid is None:
            return None
        view = self.book.order(oid)
        order = self.orders[oid]
        if view is None:  # pragma: no cover - records and book move together
            raise ContractError(f"order {oid} has a record but is not on the book")
        return {"side": view.side, "price": view.price, "qty": view.qty, "priority": view.priority,
                **order.att.provenance()}
