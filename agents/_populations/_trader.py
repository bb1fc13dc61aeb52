"""The market conduct of admitted simulated agents: genuine limit orders, or spoofs."""

from __future__ import annotations

import numpy as np

from flagship.mechanisms import Action, Outcome, PopulationContext, Submit

from ._agent import ADMITTED, SimulatedAgent
from ._params import AgentParams, DefectorParams

__all__ = ["Trader"]


class Trader:
    """The market conduct of admitted agents: genuine limit orders, or spoofs.

    Kept apart from admission on purpose: it only knows the market's ``limit`` and
    ``cancel`` actions with payload ``{"order_id", "side", "price", "qty"}``. A spoof is
    cancelled by a timer (``ctx.call_later``) ``spoof_cancel_after`` seconds after it rests.
    """

    __slots__ = ("_accepted", "_block_probability", "_ctx", "_max_open_orders", "_order_qty", "_params",
                 "_reference_price", "_rejected", "_reprice_probability", "_submit", "spoofs")

    def __init__(self, ctx: PopulationContext, params: AgentParams, submit: Submit) -> None:
        self._ctx = ctx
        self._params = params
        # Params read at every order, kept plain: a pydantic model's attribute read costs several
        # times a plain one (its class defines __getattr__, so CPython does not specialise the
        # read); the params are frozen, so the copies cannot go stale.
        self._block_probability = params.block_probability
        self._order_qty = params.order_qty
        self._reference_price = params.reference_price
        self._reprice_probability = params.reprice_probability
        self._max_open_orders = params.max_open_orders
        self._submit = submit
        self.spoofs = 0
        # Counted on every order: the recorder's per-action handles, bound once (with a series
        # sampler, a C call; a name-keyed count is a Python call).
        self._accepted = ctx.recorder.counter("orders_accepted")
        self._rejected = ctx.recorder.counter("orders_rejected")

    def _order_id(self, agent: SimulatedAgent) -> str:
        agent.orders += 1
        return f"{self._ctx.name}-{agent.index}-{agent.orders}"

    def genuine_order(self, agent: SimulatedAgent, rng: np.random.Generator, reprice: bool = True) -> None:
        """A limit order near the reference price; cancel the oldest beyond the cap.

        Small (``order_qty`` lots, 1-3 ticks away) or, with ``block_probability``, a block
        (``block_qty`` lots, ``block_distance`` ticks away). With ``reprice_probability`` it is
        cancelled after an exponential delay (mean ``reprice_after``) and replaced by a small
        order that is not repriced again. Every draw comes from ``rng``; a zero probability
        draws nothing.
        """
        params = self._params
        side = "buy" if rng.random() < 0.5 else "sell"
        block_probability = self._block_probability
        if block_probability > 0 and rng.random() < block_probability:
            qty = int(rng.integers(params.block_qty[0], params.block_qty[1] + 1))
            distance = int(rng.integers(params.block_distance[0], params.block_distance[1] + 1))
        else:
            qty, distance = self._order_qty, int(rng.integers(1, 4))
        reference = self._reference_price
        price = reference - distance if side == "buy" else reference + distance
        order_id = self._order_id(agent)
        outcome = self._limit(agent, order_id, side, price if price > 1 else 1, qty)  # max(1, price), cheaper
        if outcome.accepted:
            agent.open_orders.append(order_id)
            reprice_probability = self._reprice_probability
            if reprice and reprice_probability > 0 and rng.random() < reprice_probability:
                delay = float(rng.exponential(params.reprice_after))
                self._ctx.call_later(delay, self._reprice, agent, order_id, rng)
        if len(agent.open_orders) > self._max_open_orders:
            self._cancel(agent, agent.open_orders.pop(0))

    def _reprice(self, agent: SimulatedAgent, order_id: str, rng: np.random.Generator) -> None:
        """Cancel ``order_id`` if still open and, if the agent still trades, place a fresh small order."""
        if order_id not in agent.open_orders:
            return  # already cancelled beyond the cap
        agent.open_orders.remove(order_id)
        self._cancel(agent, order_id)
        if agent.status == ADMITTED:
            self.genuine_order(agent, rng, reprice=False)

    def spoof(self, agent: SimulatedAgent) -> None:
        """A large buy order well below the price, cancelled ``spoof_cancel_after`` seconds later."""
        params = self._params
        if not isinstance(params, DefectorParams):  # pragma: no cover - only defectors spoof
            return
        order_id = self._order_id(agent)
        price = max(1, params.reference_price - params.spoof_offset)
        if self._limit(agent, order_id, "buy", price, params.spoof_qty).accepted:
            self.spoofs += 1
            self._ctx.call_later(params.spoof_cancel_after, self._cancel, agent, order_id)

    def _limit(self, agent: SimulatedAgent, order_id: str, side: str, price: int, qty: int) -> Outcome:
        outcome = self._submit(Action(self._ctx.now, agent.actor, "limit",
                                      {"order_id": order_id, "side": side, "price": price, "qty": qty}))
        (self._accepted if outcome.accepted else self._rejected)()
        return outcome

    def _cancel(self, agent: SimulatedAgent, order_id: str) -> None:
        self._submit(Action(self._ctx.now, agent.actor, "cancel", {"order_id": order_id}))

