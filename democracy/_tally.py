"""The public entry points: :func:`tally` and :func:`referendum`.

``tally`` validates the arguments (raising :class:`InputError` naming the bad
one), validates each ballot (rejecting bad ones with a reason, never raising),
aggregates identical ballots, runs the rule and breaks any tie as recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from fractions import Fraction
from numbers import Rational
from typing import Any

import numpy as np
import numpy.typing as npt

from flagship.mechanisms._errors import InputError, Problem

from . import _rules  # noqa: F401  (importing registers the rules)
from ._ballots import (
    ARRAY_REASONS,
    BallotReason,
    BallotType,
    ballot_indices,
    check_candidates,
)
from ._profiles import ApprovalProfile, RankedProfile, YesNoProfile, profile_from_rank_array
from ._registry import RuleInfo, get_rule
from ._result import RejectedBallot, TallyResult, TieBreak, TieBreakPolicy

__all__ = ["referendum", "tally"]

_REFERENDUM_OPTIONS = ("electorate", "quorum", "supermajority", "inclusive")


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(Problem("seed", f"must be a non-negative integer, got {seed!r}"))
    return int(seed)


def _check_policy(policy: object) -> TieBreakPolicy:
    if isinstance(policy, TieBreakPolicy):
        return policy
    try:
        return TieBreakPolicy(policy if isinstance(policy, str) else repr(policy))
    except ValueError:
        known = ", ".join(p.value for p in TieBreakPolicy)
        raise InputError(
            Problem("tie_break", f"unknown tie-break policy {policy!r}; expected one of {known}")
        ) from None


def _ballot_iterable(ballots: object) -> Iterable[object]:
    if isinstance(ballots, str | bytes | Mapping) or not isinstance(ballots, Iterable):
        raise InputError(Problem("ballots", "must be an iterable of ballots or a numpy array"))
    return ballots


def _ranked_profile(ballots: object, names: tuple[str, ...]) -> tuple[RankedProfile, list[RejectedBallot]]:
    rejected: list[RejectedBallot] = []
    if isinstance(ballots, np.ndarray):
        if ballots.ndim != 2 or not np.issubdtype(ballots.dtype, np.integer):
            raise InputError(
                Problem("ballots", "a ranked ballot array must be 2-D (voters x positions) of integers")
            )
        profile, bad, codes = profile_from_rank_array(names, np.ascontiguousarray(ballots, dtype=np.int64))
        rejected = [
            RejectedBallot(i, ARRAY_REASONS[c - 1]) for i, c in zip(bad.tolist(), codes.tolist(), strict=True)
        ]
        return profile, rejected
    index = {name: i for i, name in enumerate(names)}
    valid: list[list[int]] = []
    for position, ballot in enumerate(_ballot_iterable(ballots)):
        checked = ballot_indices(ballot, index, BallotType.RANKED)
        if isinstance(checked, BallotReason):
            rejected.append(RejectedBallot(position, checked))
        else:
            valid.append(checked)
    width = max((len(row) for row in valid), default=1)
    rows = np.full((len(valid), width), -1, dtype=np.int64)
    for r, row in enumerate(valid):
        rows[r, : len(row)] = row
    return RankedProfile.from_rows(names, rows), rejected


def _approval_profile(
    ballots: object, names: tuple[str, ...]
) -> tuple[ApprovalProfile, list[RejectedBallot]]:
    m = len(names)
    rejected: list[RejectedBallot] = []
    if isinstance(ballots, np.ndarray):
        if ballots.ndim != 2 or ballots.dtype != np.bool_ or ballots.shape[1] != m:
            raise InputError(
                Problem("ballots", f"an approval ballot array must be 2-D boolean, voters x {m}")
            )
        empty = ~ballots.any(axis=1)
        rejected = [RejectedBallot(int(i), BallotReason.EMPTY) for i in np.flatnonzero(empty)]
        return ApprovalProfile.from_valid_rows(names, ballots[~empty]), rejected
    index = {name: i for i, name in enumerate(names)}
    valid: list[list[int]] = []
    for position, ballot in enumerate(_ballot_iterable(ballots)):
        checked = ballot_indices(ballot, index, BallotType.APPROVAL)
        if isinstance(checked, BallotReason):
            rejected.append(RejectedBallot(position, checked))
        else:
            valid.append(checked)
    rows: npt.NDArray[np.bool_] = np.zeros((len(valid), m), dtype=bool)
    for r, row in enumerate(valid):
        rows[r, row] = True
    return ApprovalProfile.from_valid_rows(names, rows), rejected


def _fraction(name: str, value: object, *, upper_open: bool) -> Fraction:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | Rational)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        raise InputError(Problem(name, f"must be a number in [0, 1], got {value!r}"))
    # Floats are read as the nearest fraction with a small denominator so that
    # 2/3 given as 0.666... means two thirds exactly.
    fraction = Fraction(value).limit_denominator(1_000_000) if isinstance(value, float) else Fraction(value)
    if fraction < 0 or fraction > 1 or (upper_open and fraction == 1):
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise InputError(Problem(name, f"must be in {bound}, got {value!r}"))
    return fraction


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise InputError(Problem(name, f"must be a non-negative integer, got {value!r}"))
    return int(value)


def _yes_no_profile(
    yes: object,
    no: object,
    abstain: object,
    *,
    electorate: object = None,
    quorum: object = 0,
    supermajority: object = Fraction(1, 2),
    inclusive: object = False,
) -> YesNoProfile:
    counts = (_count("yes", yes), _count("no", no), _count("abstain", abstain))
    size = None if electorate is None else _count("electorate", electorate)
    if size is not None and size < sum(counts):
        raise InputError(Problem("electorate", f"{size} is smaller than the {sum(counts)} ballots cast"))
    quorum_fraction = _fraction("quorum", quorum, upper_open=False)
    if quorum_fraction > 0 and size is None:
        raise InputError(Problem("electorate", "is required when a quorum is set"))
    if not isinstance(inclusive, bool):
        raise InputError(Problem("inclusive", f"must be a bool, got {inclusive!r}"))
    return YesNoProfile(
        *counts,
        electorate=size,
        quorum=quorum_fraction,
        supermajority=_fraction("supermajority", supermajority, upper_open=True),
        inclusive=inclusive,
    )


def _yes_no_ballots(
    ballots: object, options: Mapping[str, object]
) -> tuple[YesNoProfile, list[RejectedBallot]]:
    counts = {"yes": 0, "no": 0, "abstain": 0}
    rejected: list[RejectedBallot] = []
    if isinstance(ballots, np.ndarray):
        raise InputError(Problem("ballots", "yes/no ballots must be an iterable of strings"))
    for position, ballot in enumerate(_ballot_iterable(ballots)):
        if not isinstance(ballot, str):
            rejected.append(RejectedBallot(position, BallotReason.MALFORMED))
        elif ballot not in counts:
            rejected.append(RejectedBallot(position, BallotReason.UNKNOWN_CHOICE))
        else:
            counts[ballot] += 1
    profile = _yes_no_profile(counts["yes"], counts["no"], counts["abstain"], **options)
    return profile, rejected


def _finish(
    info: RuleInfo[Any],
    profile: RankedProfile | ApprovalProfile | YesNoProfile,
    names: tuple[str, ...],
    rejected: list[RejectedBallot],
    seed: int,
    policy: TieBreakPolicy,
) -> TallyResult:
    outcome = info.compute(profile)
    winners = [names[i] for i in sorted(outcome.winners)]
    if len(winners) == 1:
        winner, drawn = winners[0], False
    elif policy is TieBreakPolicy.LEXICOGRAPHIC:
        winner, drawn = winners[0], True
    else:
        rng = np.random.default_rng(np.random.SeedSequence(seed))
        winner, drawn = winners[int(rng.integers(len(winners)))], True
    return TallyResult(
        rule=info.name,
        title=info.title,
        ballot_type=info.ballot_type,
        candidates=names,
        winners=winners,
        winner=winner,
        tie_break=TieBreak(policy, seed, tuple(winners), drawn),
        counted=profile.n_voters,
        rejected=tuple(rejected),
        details=outcome.details,
    )


def tally(
    rule: str | RuleInfo[Any],
    ballots: object,
    candidates: object,
    seed: int = 0,
    *,
    tie_break: TieBreakPolicy | str = TieBreakPolicy.RANDOM,
    options: Mapping[str, object] | None = None,
) -> TallyResult:
    """Count ``ballots`` over ``candidates`` with ``rule`` and return a :class:`TallyResult`.

    ``rule``: a registered rule name (``plurality``, ``approval``, ``borda``,
    ``irv``, ``schulze``, ``ranked_pairs``, ``copeland``, ``minimax``,
    ``referendum``) or its :class:`RuleInfo`.  ``ballots`` depends on the rule's
    ballot type: ranked ballots are sequences of names, most preferred first,
    possibly truncated, or an integer numpy array voters x positions of candidate
    indices with ``-1`` blanks at the end; approval ballots are sets of names (or a
    boolean voters x candidates array); yes/no ballots are ``"yes"``, ``"no"`` or
    ``"abstain"`` with ``candidates == ("yes", "no")``.

    Bad ballots are not counted and never raise: they are listed in
    ``result.rejected`` with their index and :class:`BallotReason`.  Co-winners
    are in ``result.winners``; ``result.winner`` is chosen by ``tie_break``
    (``"random"``, seeded with ``seed``; or ``"lexicographic"``) and recorded in
    ``result.tie_break``; a single co-winner means no draw.

    ``options`` is only for the referendum: ``electorate`` (int), ``quorum`` and
    ``supermajority`` (fractions, see :func:`referendum`) and ``inclusive``.

    Raises :class:`UnknownNameError` for an unknown rule and :class:`InputError`
    (naming the argument) for an empty or duplicated candidate list, a bad seed,
    tie-break policy, options, or a ballots argument of the wrong shape.
    """
    info = get_rule(rule)
    names = check_candidates(candidates)
    seed = _check_seed(seed)
    policy = _check_policy(tie_break)
    if options is not None and not isinstance(options, Mapping):
        raise InputError(Problem("options", f"must be a mapping, got {options!r}"))
    given = dict(options or {})
    if info.ballot_type is BallotType.YES_NO:
        unknown = sorted(set(given) - set(_REFERENDUM_OPTIONS))
        if unknown:
            raise InputError(
                Problem("options", f"unknown option(s) {', '.join(unknown)} for rule {info.name!r}")
            )
        if names != ("yes", "no"):
            raise InputError(Problem("candidates", f"rule {info.name!r} needs candidates ('yes', 'no')"))
        yes_no, rejected = _yes_no_ballots(ballots, given)
        return _finish(info, yes_no, names, rejected, seed, policy)
    if given:
        raise InputError(Problem("options", f"rule {info.name!r} takes no options"))
    if info.ballot_type is BallotType.APPROVAL:
        approval, rejected = _approval_profile(ballots, names)
        return _finish(info, approval, names, rejected, seed, policy)
    ranked, rejected = _ranked_profile(ballots, names)
    return _finish(info, ranked, names, rejected, seed, policy)


def referendum(
    yes: int,
    no: int,
    abstain: int = 0,
    *,
    electorate: int | None = None,
    quorum: Fraction | float = 0,
    supermajority: Fraction | float = Fraction(1, 2),
    inclusive: bool = False,
) -> TallyResult:
    """Decide a yes/no referendum from its counts.

    The proposal passes (``winner == "yes"``) when both hold:

    * quorum: ``yes + no + abstain >= quorum * electorate`` (abstentions count
      towards turnout; a quorum above 0 needs ``electorate``);
    * threshold: ``yes > supermajority * (yes + no)``, or ``>=`` with
      ``inclusive=True`` (so ``supermajority=Fraction(2, 3), inclusive=True`` is
      "at least two thirds"); with no yes or no ballots it fails.

    Otherwise the status quo ``"no"`` wins; an even split fails under the default
    simple majority.  Fractions are exact; a float is read as the nearest
    fraction with denominator at most 10**6.  Bad counts or thresholds raise
    :class:`InputError` naming the argument.
    """
    profile = _yes_no_profile(
        yes,
        no,
        abstain,
        electorate=electorate,
        quorum=quorum,
        supermajority=supermajority,
        inclusive=inclusive,
    )
    return _finish(get_rule("referendum"), profile, ("yes", "no"), [], 0, TieBreakPolicy.RANDOM)
