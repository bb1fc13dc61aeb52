"""Ballot types, per-ballot validation and the rejection reasons.

One ballot is checked at a time by :func:`validate_ballot` (the emergency-vote
mechanism calls it per ballot as ballots arrive); whole integer arrays of ranked
ballots are checked row-wise, vectorised, by :func:`validate_rank_array`.
Neither raises for a bad ballot: a bad ballot is a *rejected* ballot with a
:class:`BallotReason`, never an exception.  Exceptions are kept for bad
arguments (a candidate list that is empty or has duplicate names).
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from flagship.mechanisms._errors import InputError, Problem

__all__ = [
    "ARRAY_REASONS",
    "YES_NO_CHOICES",
    "BallotReason",
    "BallotType",
    "check_candidates",
    "validate_ballot",
    "validate_rank_array",
]

#: The valid yes/no ballots.  An abstention is a valid, counted ballot: it counts
#: towards a referendum's turnout (its quorum) but not towards its yes share.
YES_NO_CHOICES: tuple[str, str, str] = ("yes", "no", "abstain")


class BallotType(StrEnum):
    """What a ballot looks like for a rule.

    ``ranked``: a sequence of candidate names, most preferred first, possibly
    truncated (or a row of an integer array of candidate indices, ``-1`` blanks
    at the end).  ``approval``: a set of approved candidate names (or a row of a
    boolean voters x candidates array).  ``yes_no``: one of ``"yes"``, ``"no"``,
    ``"abstain"``.
    """

    RANKED = "ranked"
    APPROVAL = "approval"
    YES_NO = "yes_no"


class BallotReason(StrEnum):
    """Why a ballot was rejected (a closed set: callers may match on it exhaustively).

    When a ballot has several defects the first in this order is reported:
    ``malformed``, ``index_out_of_range``, ``blank_before_ranked``, ``empty``,
    ``unknown_candidate``, ``duplicate_candidate``, ``unknown_choice``.
    """

    #: Not a ballot of the rule's type at all: a string where a sequence of names was
    #: expected, a non-string entry, a number, a nested list, ...
    MALFORMED = "malformed"
    #: Array ballots only: an entry below -1 or not below the number of candidates.
    INDEX_OUT_OF_RANGE = "index_out_of_range"
    #: Array ballots only: a blank (-1) followed by a ranked entry.
    BLANK_BEFORE_RANKED = "blank_before_ranked"
    #: No candidate ranked or approved.
    EMPTY = "empty"
    #: A name that is not one of the candidates.
    UNKNOWN_CANDIDATE = "unknown_candidate"
    #: The same candidate ranked (or listed) twice.
    DUPLICATE_CANDIDATE = "duplicate_candidate"
    #: A yes/no ballot that is not one of ``yes``, ``no``, ``abstain``.
    UNKNOWN_CHOICE = "unknown_choice"


# Row codes used by the vectorised array validation: 0 means valid, code c > 0
# means ARRAY_REASONS[c - 1].  The order of the checks in validate_rank_array
# gives the precedence documented above.
ARRAY_REASONS: tuple[BallotReason, ...] = (
    BallotReason.INDEX_OUT_OF_RANGE,
    BallotReason.BLANK_BEFORE_RANKED,
    BallotReason.EMPTY,
    BallotReason.DUPLICATE_CANDIDATE,
)


def array_reason(code: int) -> BallotReason | None:
    """The :class:`BallotReason` for a row code returned by :func:`validate_rank_array`."""
    return ARRAY_REASONS[code - 1] if code else None


def check_candidates(candidates: object) -> tuple[str, ...]:
    """Return ``candidates`` as a tuple of names, or raise :class:`InputError` naming it.

    Candidates must be a non-empty sequence (not a string) of distinct strings.
    """
    if isinstance(candidates, str | bytes) or not isinstance(candidates, Sequence):
        raise InputError(Problem("candidates", "must be a sequence of candidate names"))
    names = tuple(candidates)
    if not names:
        raise InputError(Problem("candidates", "must name at least one candidate"))
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if not isinstance(name, str):
            raise InputError(Problem(f"candidates[{position}]", f"must be a string, got {name!r}"))
        if name in seen:
            raise InputError(
                Problem(
                    "candidates",
                    f"duplicate candidate name {name!r} at positions {seen[name]} and {position}",
                )
            )
        seen[name] = position
    return names


def _names(ballot: object, *, allow_set: bool) -> list[str] | None:
    """The ballot's entries as a list of names, or None when it is malformed."""
    if isinstance(ballot, str | bytes | np.ndarray):
        return None
    entries: list[object]
    if isinstance(ballot, Sequence) or (allow_set and isinstance(ballot, Set)):
        entries = list(ballot)
    else:
        return None
    if not all(isinstance(entry, str) for entry in entries):
        return None
    return [entry for entry in entries if isinstance(entry, str)]


def ballot_indices(
    ballot: object, index: dict[str, int], ballot_type: BallotType
) -> list[int] | BallotReason:
    """Validate one ranked or approval ballot of names and map it to candidate indices.

    Returns the indices for a valid ballot, the :class:`BallotReason` otherwise.
    Shared by :func:`validate_ballot` and the tally so the two never disagree.
    """
    names = _names(ballot, allow_set=ballot_type is BallotType.APPROVAL)
    if names is None:
        return BallotReason.MALFORMED
    if not names:
        return BallotReason.EMPTY
    indices: list[int] = []
    for name in names:
        position = index.get(name)
        if position is None:
            return BallotReason.UNKNOWN_CANDIDATE
        indices.append(position)
    if len(set(indices)) != len(indices):
        return BallotReason.DUPLICATE_CANDIDATE
    return indices


def _check_yes_no(ballot: object) -> BallotReason | None:
    if not isinstance(ballot, str):
        return BallotReason.MALFORMED
    return None if ballot in YES_NO_CHOICES else BallotReason.UNKNOWN_CHOICE


def validate_ballot(
    ballot: object, candidates: Sequence[str], ballot_type: BallotType | str
) -> BallotReason | None:
    """Return why ``ballot`` would be rejected, or None when it would be counted.

    ``ranked`` ballots: a sequence (list or tuple, not a string) of candidate names,
    most preferred first, possibly truncated; a 1-D integer numpy array is read as
    one row of candidate indices with ``-1`` blanks at the end.  ``approval``
    ballots: a set (or a sequence without repeats) of candidate names.
    ``yes_no`` ballots: ``"yes"``, ``"no"`` or ``"abstain"`` (``candidates`` is
    then not consulted).  Raises :class:`InputError` only for bad *arguments*: an
    unknown ``ballot_type`` or an invalid ``candidates`` list.
    """
    kind = parse_ballot_type(ballot_type)
    names = check_candidates(candidates)
    if kind is BallotType.YES_NO:
        return _check_yes_no(ballot)
    if kind is BallotType.RANKED and isinstance(ballot, np.ndarray):
        if ballot.ndim != 1 or not np.issubdtype(ballot.dtype, np.integer):
            return BallotReason.MALFORMED
        codes = validate_rank_array(ballot.reshape(1, -1).astype(np.int64), len(names))
        return array_reason(int(codes[0]))
    checked = ballot_indices(ballot, {name: i for i, name in enumerate(names)}, kind)
    return checked if isinstance(checked, BallotReason) else None


def parse_ballot_type(ballot_type: BallotType | str) -> BallotType:
    """``ballot_type`` as a :class:`BallotType`, or :class:`InputError` naming the argument."""
    try:
        return BallotType(ballot_type)
    except ValueError:
        known = ", ".join(kind.value for kind in BallotType)
        raise InputError(
            Problem("ballot_type", f"unknown ballot type {ballot_type!r}; expected one of {known}")
        ) from None


def bit_dtype(n_candidates: int) -> type[np.signedinteger[Any]]:
    """The narrowest signed integer type holding a bitmask of ``n_candidates`` bits."""
    for dtype, bits in ((np.int8, 7), (np.int16, 15), (np.int32, 31)):
        if n_candidates <= bits:
            return dtype
    return np.int64


def validate_rank_array(
    rows: npt.NDArray[np.int64], n_candidates: int, *, in_range: bool = False
) -> npt.NDArray[np.int8]:
    """Row codes for an integer array of ranked ballots (0 = valid; see :func:`array_reason`).

    ``rows`` is voters x positions of candidate indices, ``-1`` for a blank.  All
    checks are vectorised.  Duplicates are found with a bitmask per row: a row is
    valid iff the population count of the OR of ``1 << entry`` equals its number of
    entries.  The masks come from a lookup table in the narrowest integer type
    (whose last slot, 0, is what a ``-1`` blank indexes), which moves far less
    memory than shifting int64s.  ``in_range=True`` promises that every entry is
    in ``[-1, m)`` and skips that check.
    """
    n, width = rows.shape
    codes = np.zeros(n, dtype=np.int8)
    if n == 0:
        return codes
    if width == 0:
        codes[:] = 3  # every row empty
        return codes
    safe = rows
    if not in_range and (int(rows.min()) < -1 or int(rows.max()) >= n_candidates):
        outside = (rows < -1) | (rows >= n_candidates)
        codes[outside.any(axis=1)] = 1
        safe = np.where(outside, -1, rows)
    blank = safe < 0
    has_blanks = bool(blank.any())
    if has_blanks:
        gap = (blank[:, :-1] & ~blank[:, 1:]).any(axis=1)
        np.putmask(codes, (codes == 0) & gap, 2)
        np.putmask(codes, (codes == 0) & blank.all(axis=1), 3)
    if n_candidates <= 62:
        table = np.zeros(n_candidates + 1, dtype=bit_dtype(n_candidates))
        table[:n_candidates] = np.left_shift(1, np.arange(n_candidates))
        union = np.bitwise_or.reduce(table[safe], axis=1)
        entries = width - blank.sum(axis=1) if has_blanks else width
        duplicate = np.bitwise_count(union) != entries
    else:
        ordered = np.sort(safe, axis=1)
        duplicate = ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).any(axis=1)
    np.putmask(codes, (codes == 0) & duplicate, 4)
    return codes
