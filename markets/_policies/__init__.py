"""The market's policies: one module per policy, behind the :class:`MarketPolicy` hooks, and their registry.

Adding a policy is one new module defining a :class:`MarketPolicy` subclass (from
:mod:`flagship.markets._policy`) decorated with :func:`register_policy`, plus ONE line here
importing it (a plug-in outside this package
imports its own module instead). Its ``name`` is then valid in ``MarketConfig.policies``.

Modules (each registers itself on import):

* ``halts``: holds on trading from decisions, halt events and shocks (always on);
* ``admission``: ``admission = "agents_only"``;
* ``screen``, ``value_priority``, ``externality_fee`` (with the pool's redistribution),
  ``disclosure``: the norm policies a scenario lists in ``policies``;
* ``cancel_on_trade``: a trade cancels every outstanding order (listed in ``policies``);
* ``circuit_breaker``: ``circuit_breaker_move``;
* ``surveillance``: ``surveillance.enabled``.
"""

from .._policy import FillFacts, MarketPolicy, Rejection, listed_policies, policy_classes, register_policy

# The registration lines: one per built-in policy module.
from .admission import AgentsOnlyAdmission
from .cancel_on_trade import CancelOnTrade
from .circuit_breaker import CircuitBreaker
from .disclosure import Disclosure
from .externality_fee import ExternalityFee
from .halts import Halts
from .screen import Screen
from .surveillance import MarketSurveillance
from .value_priority import ValuePriority

__all__ = [
    "AgentsOnlyAdmission",
    "CancelOnTrade",
    "CircuitBreaker",
    "Disclosure",
    "ExternalityFee",
    "FillFacts",
    "Halts",
    "MarketPolicy",
    "MarketSurveillance",
    "Rejection",
    "Screen",
    "ValuePriority",
    "listed_policies",
    "policy_classes",
    "register_policy",
]
