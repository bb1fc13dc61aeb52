"""Axiom checks for the voting rules, with witnesses.

Each axiom is an object with a ``name`` and ``check(rule, profile)`` returning a
:class:`Witness` (the profile or profiles and the outcomes that show a
violation) or None.  :func:`find_violation` searches seeded synthetic profiles
for one.  The axioms talk about co-winner sets, before any tie-break:

* ``condorcet_winner``: if a candidate beats every other one head to head, it is
  the only winner;
* ``condorcet_loser``: a candidate beaten head to head by every other one never
  wins;
* ``pareto``: if every voter ranks a above b, b does not win (approval: if every
  ballot approving b approves a, and some approves a but not b, b does not win);
* ``monotonicity``: raising a winner on some ballots (moving it up, the rest of
  each ballot unchanged; approval: adding it to ballots) keeps it a winner.

Head-to-head comparisons treat unranked candidates as tied below ranked ones,
as the tally does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from flagship.mechanisms._errors import InputError, Problem, UnknownNameError

from . import _cultures, _pairwise
from ._ballots import BallotReason, BallotType, ballot_indices, check_candidates
from ._profiles import ApprovalProfile, RankedProfile
from ._registry import RuleInfo, get_rule

__all__ = [
    "AXIOMS",
    "CONDORCET_LOSER",
    "CONDORCET_WINNER",
    "MONOTONICITY",
    "PARETO",
    "Axiom",
    "Profile",
    "Witness",
    "find_violation",
    "get_axiom",
]

Ballot = tuple[str, ...] | frozenset[str]


@dataclass(frozen=True)
class Profile:
    """Named ballots over candidates: rankings (tuples of names) or approval sets."""

    candidates: tuple[str, ...]
    ballots: tuple[Ballot, ...]
    ballot_type: BallotType = BallotType.RANKED
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = check_candidates(self.candidates)
        object.__setattr__(self, "candidates", names)
        object.__setattr__(self, "ballots", tuple(self.ballots))
        object.__setattr__(self, "ballot_type", BallotType(self.ballot_type))
        index = {name: i for i, name in enumerate(names)}
        object.__setattr__(self, "_index", index)
        if self.ballot_type is BallotType.YES_NO:
            raise InputError(Problem("ballot_type", "axioms are defined for ranked and approval ballots"))
        for position, ballot in enumerate(self.ballots):
            # Witness profiles must be exactly what the rule counted: no rejected ballots.
            checked = ballot_indices(ballot, index, self.ballot_type)
            if isinstance(checked, BallotReason):
                raise InputError(Problem(f"ballots[{position}]", f"invalid ballot: {checked.value}"))

    @classmethod
    def from_array(cls, candidates: Sequence[str], rows: npt.NDArray[Any]) -> Profile:
        """From an integer rankings array (-1 blanks) or a boolean approval array."""
        names = tuple(candidates)
        if rows.dtype == np.bool_:
            approvals = tuple(frozenset(names[c] for c in np.flatnonzero(row)) for row in rows)
            return cls(names, approvals, BallotType.APPROVAL)
        rankings = tuple(tuple(names[c] for c in row if c >= 0) for row in rows.tolist())
        return cls(names, rankings, BallotType.RANKED)

    def to_dict(self) -> dict[str, object]:
        return {
            "candidates": list(self.candidates),
            "ballot_type": self.ballot_type.value,
            "ballots": [
                sorted(b, key=self._index.__getitem__) if isinstance(b, frozenset) else list(b)
                for b in self.ballots
            ],
        }

    def ranked(self) -> RankedProfile:
        """The aggregated ranked profile (ballots are assumed valid)."""
        width = max((len(b) for b in self.ballots), default=1) or 1
        rows = np.full((len(self.ballots), width), -1, dtype=np.int64)
        for r, ballot in enumerate(self.ballots):
            rows[r, : len(ballot)] = [self._index[name] for name in ballot]
        return RankedProfile.from_rows(self.candidates, rows)

    def approval(self) -> ApprovalProfile:
        """The aggregated approval profile (ballots are assumed valid)."""
        rows = np.zeros((len(self.ballots), len(self.candidates)), dtype=bool)
        for r, ballot in enumerate(self.ballots):
            rows[r, [self._index[name] for name in ballot]] = True
        return ApprovalProfile.from_valid_rows(self.candidates, rows)


@dataclass(frozen=True)
class Witness:
    """A violation: the rule's winners on ``profile`` (and on ``modified``) and why."""

    axiom: str
    rule: str
    reason: str
    profile: Profile
    winners: tuple[str, ...]
    modified: Profile | None = None
    modified_winners: tuple[str, ...] | None = None

    def __str__(self) -> str:
        text = f"{self.rule} violates {self.axiom}: {self.reason}"
        return f"{text} (winners {list(self.winners)}" + (
            f", then {list(self.modified_winners)})" if self.modified_winners is not None else ")"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "axiom": self.axiom,
            "rule": self.rule,
            "reason": self.reason,
            "profile": self.profile.to_dict(),
            "winners": list(self.winners),
            "modified": None if self.modified is None else self.modified.to_dict(),
            "modified_winners": (None if self.modified_winners is None else list(self.modified_winners)),
        }


def _winners(info: RuleInfo[Any], profile: Profile) -> tuple[str, ...]:
    """Co-winners of ``info`` on ``profile``, in candidates' order (no tie-break)."""
    data = profile.approval() if profile.ballot_type is BallotType.APPROVAL else profile.ranked()
    outcome = info.compute(data)
    return tuple(profile.candidates[i] for i in sorted(outcome.winners))


class Axiom:
    """An axiom: ``check(rule, profile)`` returns a :class:`Witness` or None."""

    name: str = ""
    ballot_types: frozenset[BallotType] = frozenset({BallotType.RANKED})

    def check(self, rule: str | RuleInfo[Any], profile: Profile) -> Witness | None:
        """A witness that ``rule`` violates this axiom on ``profile``, or None."""
        info = get_rule(rule)
        self._require(info, profile)
        return self._check(info, profile)

    def applies_to(self, rule: str | RuleInfo[Any]) -> bool:
        """True when the axiom is defined for the rule's ballot type."""
        return get_rule(rule).ballot_type in self.ballot_types

    def _require(self, info: RuleInfo[Any], profile: Profile) -> None:
        if info.ballot_type not in self.ballot_types:
            raise InputError(
                Problem("rule", f"axiom {self.name!r} does not apply to {info.ballot_type} rules")
            )
        if profile.ballot_type is not info.ballot_type:
            raise InputError(Problem("profile", f"rule {info.name!r} needs {info.ballot_type} ballots"))

    def _check(self, info: RuleInfo[Any], profile: Profile) -> Witness | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Axiom {self.name}>"


class _CondorcetWinner(Axiom):
    name = "condorcet_winner"

    def _check(self, info: RuleInfo[Any], profile: Profile) -> Witness | None:
        winner = _pairwise.condorcet_winner(profile.ranked().margins)
        if winner is None:
            return None
        winners = _winners(info, profile)
        expected = profile.candidates[winner]
        if winners == (expected,):
            return None
        reason = f"{expected} is the Condorcet winner but the winners are {list(winners)}"
        return Witness(self.name, info.name, reason, profile, winners)


class _CondorcetLoser(Axiom):
    name = "condorcet_loser"

    def _check(self, info: RuleInfo[Any], profile: Profile) -> Witness | None:
        loser = _pairwise.condorcet_loser(profile.ranked().margins)
        if loser is None:
            return None
        winners = _winners(info, profile)
        name = profile.candidates[loser]
        if name not in winners:
            return None
        reason = f"{name} loses head to head to every rival but wins"
        return Witness(self.name, info.name, reason, profile, winners)


class _Pareto(Axiom):
    name = "pareto"
    ballot_types = frozenset({BallotType.RANKED, BallotType.APPROVAL})

    def _dominated(self, profile: Profile) -> dict[int, int]:
        """Dominated candidate -> a candidate dominating it."""
        m = len(profile.candidates)
        found: dict[int, int] = {}
        if not profile.ballots:
            return found
        if profile.ballot_type is BallotType.APPROVAL:
            approved = profile.approval()
            rows, weights = approved.approvals, approved.weights
            for a in range(m):
                for b in range(m):
                    covers = not np.any(rows[:, b] & ~rows[:, a])
                    if a != b and covers and np.any(rows[:, a] & ~rows[:, b] & (weights > 0)):
                        found.setdefault(b, a)
            return found
        ranked = profile.ranked()
        support = ranked.support
        for a in range(m):
            for b in range(m):
                if a != b and support[a, b] == ranked.n_voters:
                    found.setdefault(b, a)
        return found

    def _check(self, info: RuleInfo[Any], profile: Profile) -> Witness | None:
        dominated = self._dominated(profile)
        if not dominated:
            return None
        winners = _winners(info, profile)
        names = profile.candidates
        for b, a in sorted(dominated.items()):
            if names[b] in winners:
                reason = f"{names[b]} wins although every voter prefers {names[a]} to it"
                return Witness(self.name, info.name, reason, profile, winners)
        return None


def _raised(ballot: tuple[str, ...], name: str, to: int) -> tuple[str, ...]:
    rest = [other for other in ballot if other != name]
    rest.insert(to, name)
    return tuple(rest)


class _Monotonicity(Axiom):
    name = "monotonicity"
    ballot_types = frozenset({BallotType.RANKED, BallotType.APPROVAL})

    def _variants(self, profile: Profile, name: str) -> Iterator[tuple[Profile, str]]:
        """Profiles where ``name`` is raised on 1..all ballots of one kind, and how.

        Ranked: to the top, or up one place.  Approval: added to the ballot.
        """
        kinds: dict[Ballot, list[int]] = {}
        for index, ballot in enumerate(profile.ballots):
            kinds.setdefault(ballot, []).append(index)
        for ballot, indices in kinds.items():
            targets: list[tuple[Ballot, str]] = []
            if isinstance(ballot, frozenset):
                if name not in ballot:
                    targets.append((ballot | {name}, f"adding {name} to"))
            elif name in ballot and ballot.index(name) > 0:
                place = ballot.index(name)
                targets.append((_raised(ballot, name, 0), f"raising {name} to the top of"))
                if place > 1:
                    targets.append((_raised(ballot, name, place - 1), f"raising {name} one place on"))
            for replacement, how in targets:
                for count in range(1, len(indices) + 1):
                    ballots = list(profile.ballots)
                    for index in indices[:count]:
                        ballots[index] = replacement
                    shown = (
                        sorted(ballot, key=profile._index.__getitem__)
                        if isinstance(ballot, frozenset)
                        else list(ballot)
                    )
                    description = f"{how} {count} ballot(s) {shown}"
                    yield Profile(profile.candidates, tuple(ballots), profile.ballot_type), description

    def _check(self, info: RuleInfo[Any], profile: Profile) -> Witness | None:
        winners = _winners(info, profile)
        for name in winners:
            for modified, how in self._variants(profile, name):
                after = _winners(info, modified)
                if name not in after:
                    reason = f"{how} makes {name} lose"
                    return Witness(self.name, info.name, reason, profile, winners, modified, after)
        return None


CONDORCET_WINNER: Axiom = _CondorcetWinner()
CONDORCET_LOSER: Axiom = _CondorcetLoser()
PARETO: Axiom = _Pareto()
MONOTONICITY: Axiom = _Monotonicity()

#: Every axiom by name (the names match :class:`flagship.democracy.Property` values).
AXIOMS: Mapping[str, Axiom] = MappingProxyType(
    {axiom.name: axiom for axiom in (CONDORCET_WINNER, CONDORCET_LOSER, PARETO, MONOTONICITY)}
)


def get_axiom(axiom: str | Axiom) -> Axiom:
    """The axiom named ``axiom`` (an :class:`Axiom` is returned as is)."""
    if isinstance(axiom, Axiom):
        return axiom
    found = AXIOMS.get(str(axiom))
    if found is None:
        known = ", ".join(AXIOMS)
        raise UnknownNameError(Problem("axiom", f"unknown axiom {axiom!r}; known: {known}"))
    return found


def _size(name: str, value: int | tuple[int, int], minimum: int) -> tuple[int, int]:
    low, high = (value, value) if isinstance(value, int) else value
    if isinstance(low, bool) or not isinstance(low, int) or not isinstance(high, int):
        raise InputError(Problem(name, f"must be an int or a (low, high) pair, got {value!r}"))
    if low < minimum or high < low:
        raise InputError(Problem(name, f"must be at least {minimum} (low <= high), got {value!r}"))
    return low, high


def find_violation(
    rule: str | RuleInfo[Any],
    axiom: str | Axiom,
    *,
    n_profiles: int,
    n_candidates: int | tuple[int, int],
    n_voters: int | tuple[int, int],
    seed: int,
) -> Witness | None:
    """Search ``n_profiles`` seeded synthetic profiles for a violation; the first witness.

    ``n_candidates`` and ``n_voters`` are a size or an inclusive ``(low, high)``
    range drawn per profile.  Ranked profiles come from impartial culture,
    Mallows or a 2-D spatial model, picked at random per profile; approval
    profiles from independent approvals.  The same arguments give the same
    search and the same witness.
    """
    info = get_rule(rule)
    checker = get_axiom(axiom)
    if not checker.applies_to(info):
        raise InputError(Problem("axiom", f"{checker.name!r} does not apply to {info.ballot_type} rules"))
    if isinstance(n_profiles, bool) or not isinstance(n_profiles, int) or n_profiles < 0:
        raise InputError(Problem("n_profiles", f"must be a non-negative int, got {n_profiles!r}"))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(Problem("seed", f"must be a non-negative int, got {seed!r}"))
    low_m, high_m = _size("n_candidates", n_candidates, 1)
    low_n, high_n = _size("n_voters", n_voters, 1)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    for _ in range(n_profiles):
        m = int(rng.integers(low_m, high_m + 1))
        n = int(rng.integers(low_n, high_n + 1))
        names = tuple(chr(ord("a") + i) if m <= 26 else f"c{i}" for i in range(m))
        if info.ballot_type is BallotType.APPROVAL:
            profile = Profile.from_array(names, _cultures.approval_profile(rng, n, m))
        else:
            profile = Profile.from_array(names, _cultures.random_rankings(rng, n, m))
        witness = checker._check(info, profile)
        if witness is not None:
            return witness
    return None
