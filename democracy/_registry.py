"""The voting-rule registry: rules are plain functions registered by a decorator.

In the spirit of pref_voting's ``@vm(name=...)``: the decorator records the
rule's name, the ballot type it reads and the axiomatic properties it claims
(which :mod:`flagship.democracy.axioms` can then check), and returns the function
unchanged so it stays directly callable on a profile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from flagship.mechanisms._errors import ContractError, Problem, UnknownNameError

from ._ballots import BallotType
from ._details import Details

__all__ = [
    "Property",
    "RuleInfo",
    "RuleOutcome",
    "get_rule",
    "rules",
    "voting_rule",
]

P = TypeVar("P")


class Property(StrEnum):
    """Axiomatic properties a rule may claim (checked on profiles of complete rankings)."""

    #: A Condorcet winner, when there is one, is the only winner.
    CONDORCET_WINNER = "condorcet_winner"
    #: A Condorcet loser, when there is one, is never a winner.
    CONDORCET_LOSER = "condorcet_loser"
    #: A candidate every voter ranks below some other candidate is never a winner.
    PARETO = "pareto"
    #: Raising a winner on some ballots, all else unchanged, keeps them a winner.
    MONOTONICITY = "monotonicity"


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What a rule function returns: co-winners (candidate indices, increasing) and details."""

    winners: tuple[int, ...]
    details: Details


@dataclass(frozen=True, slots=True)
class RuleInfo(Generic[P]):
    """A registered rule: its name, the ballots it reads, its claims, and the function."""

    name: str
    title: str
    ballot_type: BallotType
    properties: frozenset[Property]
    compute: Callable[[P], RuleOutcome]

    @property
    def summary(self) -> str:
        """First line of the rule function's docstring."""
        doc = (self.compute.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else self.title

    def claims(self, prop: Property | str) -> bool:
        """True when the rule claims ``prop``."""
        return Property(prop) in self.properties


_REGISTRY: dict[str, RuleInfo[Any]] = {}


def voting_rule(
    name: str,
    *,
    ballot_type: BallotType | str,
    title: str,
    properties: Iterable[Property | str] = (),
) -> Callable[[Callable[[P], RuleOutcome]], Callable[[P], RuleOutcome]]:
    """Register the decorated function as the voting rule ``name``.

    The function receives the aggregated profile for its ballot type
    (:class:`~flagship.democracy.RankedProfile`, :class:`~flagship.democracy.ApprovalProfile` or
    :class:`~flagship.democracy.YesNoProfile`) and returns a :class:`RuleOutcome`.
    Registering a name twice is a :class:`ContractError` (a programming error).
    """
    kind = BallotType(ballot_type)
    claimed = frozenset(Property(prop) for prop in properties)

    def register(func: Callable[[P], RuleOutcome]) -> Callable[[P], RuleOutcome]:
        if name in _REGISTRY:
            raise ContractError(f"voting rule {name!r} is already registered")
        _REGISTRY[name] = RuleInfo(name, title, kind, claimed, func)
        return func

    return register


def rules() -> Mapping[str, RuleInfo[Any]]:
    """All registered rules by name (a read-only view, in registration order)."""
    return MappingProxyType(_REGISTRY)


def get_rule(rule: str | RuleInfo[Any]) -> RuleInfo[Any]:
    """The registered rule named ``rule`` (a :class:`RuleInfo` is returned as is).

    Raises :class:`UnknownNameError` naming the ``rule`` argument otherwise.
    """
    if isinstance(rule, RuleInfo):
        return rule
    info = _REGISTRY.get(rule) if isinstance(rule, str) else None
    if info is None:
        known = ", ".join(_REGISTRY)
        raise UnknownNameError(Problem("rule", f"unknown voting rule {rule!r}; known: {known}"))
    return info
