"""Aggregated election data the rules work on: one profile class per ballot type.

Identical ranked ballots are counted once with a weight.  Each row is encoded
into one int64 key (``bit_length(m)`` bits per position, most significant
first, blank = digit 0) so aggregation is a 1-D ``np.unique``, far faster than
``np.unique(axis=0)``.  The distinct keys are then validated, and the rules read
them column by column (a shift and a mask), so a wide rows x positions int64
array is only materialised when someone asks for :attr:`RankedProfile.rankings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from ._ballots import bit_dtype, validate_rank_array

__all__ = ["ApprovalProfile", "RankedProfile", "YesNoProfile", "profile_from_rank_array"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _Codec:
    """Row <-> int64 key: position p is the digit ``row[p] + 1`` (0 for a blank)."""

    bits: int
    width: int

    @staticmethod
    def fitting(n_candidates: int, width: int) -> _Codec | None:
        """The codec for this many candidates and positions, or None if a key overflows."""
        bits = max(n_candidates.bit_length(), 1)  # digits 0 (blank) .. m
        return _Codec(bits, width) if width > 0 and bits * width <= 63 else None

    def shift(self, position: int) -> int:
        return self.bits * (self.width - 1 - position)

    def encode(self, rows: IntArray) -> IntArray:
        """Keys in the rows' lexicographic order.  A matrix product with the digit
        weights is several times faster than shifting column by column."""
        weights = np.left_shift(np.int64(1), self.bits * np.arange(self.width - 1, -1, -1, dtype=np.int64))
        # rows @ w + sum(w) == (rows + 1) @ w without materialising rows + 1.
        keys: IntArray = rows @ weights
        keys += weights.sum()
        return keys

    def digit(self, keys: IntArray, position: int) -> IntArray:
        """Raw digits at ``position`` (candidate index + 1, 0 for a blank)."""
        return (keys >> self.shift(position)) & ((1 << self.bits) - 1)


def _validate_keys(keys: IntArray, codec: _Codec, n_candidates: int, may_blank: bool) -> npt.NDArray[np.int8]:
    """Row codes (as ``validate_rank_array``) for keys whose digits are all in range.

    A row is valid when the bitmask of the candidates it names has as many bits as
    it has entries.  The masks come from lookup tables in the narrowest integer
    type: without blanks, one table covers several digits at once (16 key bits),
    so a 10-position key needs three lookups; with blanks, digit by digit, also
    counting entries and watching for a blank before an entry.
    """
    n = keys.size
    dtype = bit_dtype(n_candidates)
    digit_table = np.zeros(1 << codec.bits, dtype=dtype)  # digit 0 (blank) and > m: no bit
    digit_table[1 : n_candidates + 1] = np.left_shift(1, np.arange(n_candidates))
    union = cast(npt.NDArray[np.signedinteger[Any]], np.zeros(n, dtype=dtype))
    codes = np.zeros(n, dtype=np.int8)
    if not may_blank and n >= 4096:  # below that, building the table costs more
        per_chunk = max(1, 16 // codec.bits)
        values = np.arange(1 << (codec.bits * per_chunk), dtype=np.int64)
        chunk_table = np.zeros(values.size, dtype=dtype)
        for i in range(per_chunk):
            chunk_table |= digit_table[(values >> (codec.bits * i)) & ((1 << codec.bits) - 1)]
        for first in range(0, codec.width, per_chunk):
            digits = min(per_chunk, codec.width - first)
            shift = codec.shift(first + digits - 1)
            union |= chunk_table[(keys >> shift) & ((1 << (codec.bits * digits)) - 1)]
        np.putmask(codes, np.bitwise_count(union) != codec.width, 4)
        return codes
    entries = np.full(n, codec.width, dtype=np.int64)
    if may_blank:
        entries[:] = 0
        seen_blank = np.zeros(n, dtype=bool)
        gap = np.zeros(n, dtype=bool)
    for position in range(codec.width):
        digit = codec.digit(keys, position)
        union |= digit_table[digit]
        if may_blank:
            filled = digit != 0
            gap |= seen_blank & filled
            seen_blank |= ~filled
            entries += filled
    if may_blank:
        codes[gap] = 2
        np.putmask(codes, (codes == 0) & (entries == 0), 3)
    np.putmask(codes, (codes == 0) & (np.bitwise_count(union) != entries), 4)
    return codes


def profile_from_rank_array(
    candidates: tuple[str, ...], rows: IntArray
) -> tuple[RankedProfile, npt.NDArray[np.intp], npt.NDArray[np.int8]]:
    """Validate and aggregate an integer ballot array.

    Returns the profile of the valid rows plus the indices and row codes (see
    ``validate_rank_array``) of the rejected ones.  Only the range check and the
    encoding touch every row; the other checks run on the *distinct* keys, and the
    indices of bad rows are looked up by key only when there are any.
    """
    m = len(candidates)
    n, width = rows.shape
    codec = _Codec.fitting(m, width)
    if codec is None or n == 0:
        codes = validate_rank_array(rows, m)
        bad = np.flatnonzero(codes)
        valid = rows if bad.size == 0 else rows[codes == 0]
        return RankedProfile.from_rows(candidates, valid), bad, codes[bad]

    bad_parts: list[npt.NDArray[np.intp]] = []
    code_parts: list[npt.NDArray[np.int8]] = []
    kept: npt.NDArray[np.intp] | None = None
    low = int(rows.min())
    if low < -1 or int(rows.max()) >= m:
        out_of_range = ((rows < -1) | (rows >= m)).any(axis=1)
        bad_parts.append(np.flatnonzero(out_of_range))
        code_parts.append(np.ones(bad_parts[0].size, dtype=np.int8))  # index_out_of_range
        kept = np.flatnonzero(~out_of_range)
        rows = rows[kept]
        low = int(rows.min()) if rows.size else 0
    keys = codec.encode(rows)
    unique_keys, counts = np.unique(keys, return_counts=True)
    codes = _validate_keys(unique_keys, codec, m, may_blank=low < 0)
    if codes.any():
        ok = codes == 0
        bad_keys = unique_keys[~ok]  # sorted, as np.unique returns them
        bad_rows = np.flatnonzero(np.isin(keys, bad_keys))
        bad_parts.append(bad_rows if kept is None else kept[bad_rows])
        code_parts.append(codes[~ok][np.searchsorted(bad_keys, keys[bad_rows])])
        unique_keys, counts = unique_keys[ok], counts[ok]
    if bad_parts:
        bad = np.concatenate(bad_parts)
        order = np.argsort(bad, kind="stable")
        bad_indices, bad_codes = bad[order], np.concatenate(code_parts)[order]
    else:
        bad_indices, bad_codes = np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int8)
    weights = counts.astype(np.int64)
    return RankedProfile.from_keys(candidates, unique_keys, weights, codec), bad_indices, bad_codes


class RankedProfile:
    """Anonymous profile of rankings, possibly truncated, identical ones aggregated.

    Row r ranks ``rankings[r]`` (candidate indices, most preferred first, ``-1``
    blanks only at the end) and was cast by ``weights[r]`` voters; rows are
    distinct and in no particular order.  Unranked candidates are tied below every
    ranked one (pref_voting's ``ProfileWithTies`` with extended strict
    preference).  Build one with :meth:`from_rows`, or let ``tally`` do it.
    Derived data (positions, support, margins) is computed once, on first use.
    """

    def __init__(
        self,
        candidates: tuple[str, ...],
        weights: IntArray,
        *,
        rankings: IntArray | None = None,
        keys: tuple[IntArray, _Codec] | None = None,
    ) -> None:
        self.candidates = candidates
        self.n_candidates = len(candidates)
        self.weights = np.ascontiguousarray(weights, dtype=np.int64)
        self.n_voters = int(self.weights.sum())
        self.n_rows = int(self.weights.size)
        self._keys = keys
        if rankings is not None:
            self.rankings = rankings
            self.width = int(rankings.shape[1])
        elif keys is not None:
            # Positions past m are blank on every valid row.
            self.width = max(min(keys[1].width, self.n_candidates), 1)
        else:
            raise TypeError("RankedProfile needs rankings or keys")

    @classmethod
    def from_rows(
        cls, candidates: tuple[str, ...], rows: IntArray, weights: IntArray | None = None
    ) -> RankedProfile:
        """Aggregate *valid* rows (rows x positions, ``-1`` blanks at the end)."""
        m = len(candidates)
        rows = np.asarray(rows, dtype=np.int64)
        if weights is None:
            weights = np.ones(rows.shape[0], dtype=np.int64)
        if rows.shape[1] > m:
            rows = rows[:, :m]  # valid rows rank at most m candidates
        codec = _Codec.fitting(m, rows.shape[1])
        if codec is not None and rows.shape[0] > 0:
            keys = codec.encode(np.ascontiguousarray(rows))
            unique_keys, inverse = np.unique(keys, return_inverse=True)
            totals = np.bincount(inverse.ravel(), weights=weights, minlength=unique_keys.size)
            return cls.from_keys(candidates, unique_keys, np.rint(totals).astype(np.int64), codec)
        if rows.shape[0] == 0 or rows.shape[1] == 0:
            return cls(candidates, np.zeros(0, dtype=np.int64), rankings=np.full((0, 1), -1))
        unique_rows, inverse = np.unique(rows, axis=0, return_inverse=True)
        totals = np.bincount(inverse.ravel(), weights=weights, minlength=unique_rows.shape[0])
        return cls(
            candidates,
            np.rint(totals).astype(np.int64),
            rankings=np.ascontiguousarray(unique_rows, dtype=np.int64),
        )

    @classmethod
    def from_keys(
        cls, candidates: tuple[str, ...], keys: IntArray, weights: IntArray, codec: _Codec
    ) -> RankedProfile:
        """A profile over already validated, distinct keys (see :class:`_Codec`)."""
        return cls(candidates, weights, keys=(keys, codec))

    @cached_property
    def rankings(self) -> IntArray:
        """Distinct rows x positions (decoded from the keys on first use)."""
        return np.stack([self.column(p) for p in range(self.width)], axis=1)

    def column(self, position: int) -> IntArray:
        """Candidate at ``position`` on every row, ``-1`` where blank."""
        if "rankings" in self.__dict__ or self._keys is None:
            return self.rankings[:, position]
        keys, codec = self._keys
        values = codec.digit(keys, position)
        values -= 1
        return values

    def entries(self, rows: npt.NDArray[np.intp], positions: IntArray) -> IntArray:
        """Candidate at ``positions[i]`` on row ``rows[i]``; ``-1`` if blank or past the end."""
        inside = positions < self.width
        if "rankings" in self.__dict__ or self._keys is None:
            found = self.rankings[rows, np.minimum(positions, self.width - 1)]
        else:
            keys, codec = self._keys
            shifts = codec.bits * (codec.width - 1 - np.minimum(positions, self.width - 1))
            found = ((keys[rows] >> shifts) & ((1 << codec.bits) - 1)) - 1
        return np.where(inside, found, -1)

    @cached_property
    def has_blanks(self) -> bool:
        """True when some ballot is truncated (leaves at least one position blank)."""
        return self.n_rows > 0 and (
            self.width < self.n_candidates or int(self.column(self.width - 1).min()) < 0
        )

    @cached_property
    def strict(self) -> bool:
        """True when no ballot leaves two candidates tied (each ranks at least m-1)."""
        m = self.n_candidates
        if m <= 1 or self.n_rows == 0:
            return True
        if self.width < m - 1:
            return False
        # Blanks only trail, so a row ranks >= m-1 candidates iff position m-2 is filled.
        return int(self.column(m - 2).min()) >= 0

    @cached_property
    def _weight_order(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], IntArray]:
        """Rows sorted by weight (stably): the order, each run's start and its weight.

        Lets a weighted count of a boolean row mask be a segment sum of booleans
        (``np.add.reduceat``) and one small dot product, instead of converting the
        mask to floats for ``np.dot``, which is an order of magnitude slower.
        Counts below 2**16 sort as uint16, for which numpy uses a radix sort.
        """
        weights = self.weights
        key = weights.astype(np.uint16) if weights.size and int(weights.max()) < 1 << 16 else weights
        order = np.argsort(key, kind="stable")
        ordered = weights[order]
        if ordered.size == 0:
            return order, np.zeros(0, dtype=np.intp), ordered
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        return order, starts, ordered[starts]

    @cached_property
    def positions(self) -> npt.NDArray[np.int8] | npt.NDArray[np.int16]:
        """candidates x rows: each candidate's position on each row (``width`` if unranked)."""
        return self._positions(None)

    def _positions(self, order: npt.NDArray[np.intp] | None) -> npt.NDArray[np.int8] | npt.NDArray[np.int16]:
        """The position matrix with its rows taken in ``order`` (all, as stored, if None).

        Scattered column by column into a rows x candidates buffer (near-sequential
        writes), then transposed so each candidate's positions are contiguous.  From
        keys, the raw digit (candidate + 1) goes straight into the scatter index.
        """
        m, width, n_rows = self.n_candidates, self.width, self.n_rows
        dtype = np.int8 if width < 127 else np.int16
        offset = np.arange(n_rows, dtype=np.int64) * m
        flat = np.full(n_rows * m, width, dtype=dtype) if self.has_blanks else None
        if flat is None:
            flat = np.empty(n_rows * m, dtype=dtype)
        if self._keys is not None and "rankings" not in self.__dict__:
            keys, codec = self._keys
            if order is not None:
                keys = keys[order]
            offset -= 1  # digits are candidate index + 1
            for position in range(width):
                digits = codec.digit(keys, position)
                if self.has_blanks:
                    ranked = digits > 0
                    flat[(digits + offset)[ranked]] = position
                else:
                    flat[digits + offset] = position
        else:
            rankings = self.rankings if order is None else self.rankings[order]
            for position in range(width):
                column = rankings[:, position]
                if self.has_blanks:
                    ranked = column >= 0
                    flat[(column + offset)[ranked]] = position
                else:
                    flat[column + offset] = position
        return np.ascontiguousarray(flat.reshape(n_rows, m).T)

    @cached_property
    def support(self) -> IntArray:
        """``support[i, j]``: number of voters ranking candidate i strictly above j."""
        m = self.n_candidates
        support = np.zeros((m, m), dtype=np.int64)
        if self.n_rows == 0:
            return support
        if m * m * self.n_rows <= 1 << 20:
            # Small profiles: one broadcast comparison beats 2 * m * m numpy calls.
            pairs = self.positions[:, None, :] < self.positions[None, :, :]
            small: IntArray = pairs.astype(np.int64) @ self.weights
            return small
        order, starts, values = self._weight_order
        # Positions with rows already in weight order, so each weighted count below
        # is a segment sum.
        positions = self._positions(order)

        def count(mask: BoolArray) -> int:
            return int(np.add.reduceat(mask, starts, dtype=np.int64) @ values)

        for i in range(m):
            for j in range(i + 1, m):
                support[i, j] = count(positions[i] < positions[j])
                if self.strict:
                    support[j, i] = self.n_voters - support[i, j]
                else:
                    support[j, i] = count(positions[j] < positions[i])
        return support

    @cached_property
    def margins(self) -> IntArray:
        """``margins[i, j] = support[i, j] - support[j, i]`` (antisymmetric)."""
        support = self.support
        return support - support.T

    def first_choice_counts(self) -> IntArray:
        """Weighted number of ballots ranking each candidate first."""
        if self.n_rows == 0:
            return np.zeros(self.n_candidates, dtype=np.int64)
        return np.bincount(self.column(0), weights=self.weights, minlength=self.n_candidates).astype(np.int64)


class ApprovalProfile:
    """Anonymous profile of approval ballots: distinct rows x candidates booleans, weighted."""

    def __init__(self, candidates: tuple[str, ...], approvals: BoolArray, weights: IntArray) -> None:
        self.candidates = candidates
        self.n_candidates = len(candidates)
        self.approvals = approvals
        self.weights = weights
        self.n_voters = int(weights.sum())

    @classmethod
    def from_valid_rows(cls, candidates: tuple[str, ...], rows: BoolArray) -> ApprovalProfile:
        """Aggregate validated boolean rows (voters x candidates)."""
        m = len(candidates)
        if rows.shape[0] == 0:
            return cls(candidates, rows.reshape(0, m), np.zeros(0, dtype=np.int64))
        if m <= 62:
            keys = rows.astype(np.int64) @ (np.int64(1) << np.arange(m, dtype=np.int64))
            unique_keys, counts = np.unique(keys, return_counts=True)
            approvals = ((unique_keys[:, None] >> np.arange(m, dtype=np.int64)) & 1).astype(bool)
            return cls(candidates, approvals, counts.astype(np.int64))
        unique_rows, counts = np.unique(rows, axis=0, return_counts=True)
        return cls(candidates, unique_rows.astype(bool), counts.astype(np.int64))

    def scores(self) -> IntArray:
        """Weighted number of approvals of each candidate."""
        if self.approvals.shape[0] == 0:
            return np.zeros(self.n_candidates, dtype=np.int64)
        return (self.weights @ self.approvals.astype(np.int64)).astype(np.int64)


@dataclass(frozen=True, slots=True)
class YesNoProfile:
    """Counted yes/no ballots plus the referendum's thresholds (see ``referendum``)."""

    yes: int
    no: int
    abstain: int
    electorate: int | None
    quorum: Fraction
    supermajority: Fraction
    inclusive: bool

    @property
    def candidates(self) -> tuple[str, ...]:
        return ("yes", "no")

    @property
    def n_voters(self) -> int:
        return self.yes + self.no + self.abstain
