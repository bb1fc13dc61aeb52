"""The market policy contract: the fixed hooks ``ValueMarket`` calls, and the policy registry.

Lifecycle of a policy: the market builds one instance of every registered policy that is
:meth:`~MarketPolicy.enabled` by its config (``__init__``), calls :meth:`~MarketPolicy.start`
from its own ``start`` (subscribe, set timers), then the hooks below while it runs, then
:meth:`~MarketPolicy.finish` once. :meth:`~MarketPolicy.snapshot` may be called at any time.

A hook a policy does not override is never called: at init the market keeps, per hook, a
tuple of the bound hooks of the enabled policies that override it (in :attr:`~MarketPolicy.rank`
order), so an order under no policy pays for no policy. Hooks, in the order of an action:

* :meth:`~MarketPolicy.admit` a new limit or market order (after its payload and attestation
  are checked): return ``(reason, detail)`` to reject it, ``None`` to let it through;
  :meth:`~MarketPolicy.admit_modify` likewise for a modify.
* :meth:`~MarketPolicy.priority` (the engine's queue priority of an attested limit order) and
  :meth:`~MarketPolicy.fee_per_lot` (ticks per lot the order pays on each fill): the first
  enabled policy that overrides each decides.
* :meth:`~MarketPolicy.flag` a limit order for later review when it rests (surveillance).
* :meth:`~MarketPolicy.on_fill` after each fill is booked (before its ``TradeExecuted`` is
  queued): read :class:`FillFacts`, add keys to its ``effect``, emit events.
* :meth:`~MarketPolicy.on_accepted` with the accepted action's effects (add keys).
* :meth:`~MarketPolicy.on_cancel` after a participant cancelled one of its orders.
* :meth:`~MarketPolicy.on_norms_restricted` after a regulator decision prohibited new norms.

A rejecting hook must change nothing: a rejected action leaves the market's snapshot as it was.

This module sits below the market: it imports neither the mechanism nor its config, and the
mechanism finds the policies through the registry, never by importing them, so the package
has no import cycle. A policy narrows :attr:`MarketPolicy.market` and :attr:`MarketPolicy.config`
to ``ValueMarket`` and ``MarketConfig`` in its own module (policies sit above the market).

Registering a policy (:func:`register_policy`) makes its :attr:`~MarketPolicy.name` valid in
``MarketConfig.policies``; a policy switched on by other config fields (admission,
surveillance, the circuit breaker, halts) sets :attr:`~MarketPolicy.listed` to False and
overrides :meth:`~MarketPolicy.enabled`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, ClassVar, Protocol, TypeVar

from ._orders import RestingOrder
from ._values import NO_ATTESTATION, Attestation

__all__ = ["HOOKS", "FillFacts", "HaltControl", "MarketPolicy", "Rejection", "bound", "listed_policies",
           "policy_classes", "register_policy"]

Rejection = tuple[str, str]
"""``(reason code, detail)``: the reason must be one of the market's reason codes."""


_NO_ORDER = RestingOrder("", "", NO_ATTESTATION, 0, 0, 0, 0, 0.0, False)  # before the first fill


class FillFacts:
    """One fill as the policies see it. The market reuses one instance per request (its fields
    change from fill to fill), so a hook must not keep it."""

    __slots__ = ("buyer", "effect", "maker_aligned", "now", "order", "price", "qty", "seller", "taker",
                 "taker_aligned", "taker_att", "taker_fee")

    def __init__(self, taker: str, taker_att: Attestation, taker_fee: int, taker_aligned: bool,
                 now: float) -> None:
        self.taker = taker
        self.taker_att = taker_att
        self.taker_fee = taker_fee  # ticks per lot the taker pays
        self.taker_aligned = taker_aligned
        self.now = now
        self.order: RestingOrder = _NO_ORDER  # the maker's record (its actor, attestation, fee...)
        self.maker_aligned = False
        self.buyer = self.seller = ""
        self.price = self.qty = 0
        self.effect: dict[str, Any] = {}  # the fill as reported in the outcome's effects


class MarketPolicy:
    """Base class of a market policy: every hook does nothing, and only overridden hooks are called."""

    name: ClassVar[str] = ""
    """Registry name: the name ``MarketConfig.policies`` lists (when :attr:`listed`)."""
    listed: ClassVar[bool] = True
    """Switched on by naming it in ``policies`` (else by :meth:`enabled` reading other fields)."""
    rank: ClassVar[int] = 100
    """Hooks of several policies run in ascending rank (built-ins: 10..60; new policies: 100)."""
    idle_state: ClassVar[Mapping[str, Any]] = {}
    """Snapshot keys (and their values) the market shows while the policy is off, so a market's
    state hash does not depend on which policies happen to be registered."""

    market: Any
    """The ``ValueMarket`` running this policy (a policy module narrows the annotation)."""
    config: Any
    """The market's ``MarketConfig`` (likewise)."""

    def __init__(self, market: Any) -> None:
        self.market = market
        self.config = market.config

    @classmethod
    def enabled(cls, config: Any) -> bool:
        """Whether a market with ``config`` runs this policy (default: ``policies`` names it)."""
        return cls.name in config.policies

    def start(self) -> None:
        """Subscribe to events, set timers (called from the market's ``start``)."""

    def admit(self, actor: str, att: Attestation, is_buy: bool, price: int, qty: int,
              market: bool) -> Rejection | None:
        """A new order (``price`` 0 for a market order): a rejection, or None to admit it."""
        return None

    def admit_modify(self, actor: str, qty: int | None, price: int | None) -> Rejection | None:
        """A modify of one of ``actor``'s orders: a rejection, or None to admit it."""
        return None

    def priority(self, att: Attestation) -> int:
        """The engine priority of an attested limit order (higher matches first at a price)."""
        return 0

    def fee_per_lot(self, att: Attestation) -> int:
        """Ticks per lot an order with ``att`` pays on each fill."""
        return 0

    def flag(self, is_buy: bool, price: int, qty: int) -> bool:
        """Whether a new limit order should be reviewed if cancelled (kept on its record)."""
        return False

    def on_fill(self, fill: FillFacts) -> None:
        """After a fill is booked on the ledger."""

    def on_accepted(self, effects: dict[str, Any]) -> None:
        """An order or modify was accepted with ``effects`` (add keys; do not remove any)."""

    def on_cancel(self, order: RestingOrder, now: float) -> None:
        """``order``'s actor cancelled it."""

    def on_norms_restricted(self) -> None:
        """A regulator decision prohibited norms that were allowed before."""

    def finish(self, values: MutableMapping[str, float | None]) -> None:
        """Contribute final values of the market's declared measures."""

    def snapshot(self) -> Mapping[str, Any]:
        """This policy's part of the market's snapshot (keys distinct from every other part)."""
        return {}

    def disclosed_tape(self) -> list[dict[str, Any]]:
        """Trades this policy discloses to participants (the disclosure policy's tape)."""
        return []


class HaltControl(Protocol):
    """The halts policy (always on), as the market drives it from events and its ``halted`` view."""

    @property
    def halted(self) -> bool:
        """True while any hold halts trading."""
        ...

    def halted_seconds(self, now: float) -> float:
        """Seconds trading has been halted up to ``now``."""
        ...

    def on_decision(self, event: Any) -> None: ...

    def on_lapsed(self, event: Any) -> None: ...

    def on_shock(self, event: Any) -> None: ...

    def on_halted(self, event: Any) -> None: ...

    def on_resumed(self, event: Any) -> None: ...

    def hold_for(self, seconds: float, key: str, reason: str) -> None:
        """Halt trading for ``seconds`` under hold ``key`` (the circuit breaker's use)."""
        ...


HOOKS = ("admit", "admit_modify", "priority", "fee_per_lot", "flag", "on_fill", "on_accepted", "on_cancel",
         "on_norms_restricted", "finish", "snapshot", "disclosed_tape")
"""Hooks the market binds only for policies that override them."""

_REGISTRY: dict[str, type[MarketPolicy]] = {}

P = TypeVar("P", bound=type[MarketPolicy])


def register_policy(cls: P) -> P:
    """Register a market policy class under its ``name`` (a class decorator; returns ``cls``).

    Re-registering the same class is harmless; another class under a taken name is an error.
    """
    name = cls.name
    if not name or not name.isidentifier():
        raise ValueError(f"{cls.__name__}: a market policy needs a name that is an identifier")
    existing = _REGISTRY.get(name)
    same_class = existing is not None and (existing.__module__, existing.__qualname__) == (
        cls.__module__, cls.__qualname__)  # a module run again (a notebook cell, a document)
    if existing is not None and not same_class:
        raise ValueError(f"market policy {name!r} is already registered by {existing!r}")
    _REGISTRY[name] = cls
    return cls


def policy_classes() -> list[type[MarketPolicy]]:
    """Every registered policy class, in rank order (then by name)."""
    return sorted(_REGISTRY.values(), key=lambda cls: (cls.rank, cls.name))


def listed_policies() -> list[str]:
    """Names ``MarketConfig.policies`` may list."""
    return sorted(name for name, cls in _REGISTRY.items() if cls.listed)


def overrides(policy: MarketPolicy, hook: str) -> bool:
    """Whether ``policy``'s class defines ``hook`` itself (rather than inheriting the no-op)."""
    return getattr(type(policy), hook) is not getattr(MarketPolicy, hook)


def bound(policies: list[MarketPolicy], hook: str) -> tuple[Callable[..., Any], ...]:
    """The bound ``hook`` of each policy that overrides it, in the policies' order."""
    return tuple(getattr(policy, hook) for policy in policies if overrides(policy, hook))
