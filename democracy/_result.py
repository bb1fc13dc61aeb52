"""The result of a tally: winners, the recorded tie-break, ballot counts and details."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from ._ballots import BallotReason, BallotType
from ._details import Details

__all__ = ["RejectedBallot", "TallyResult", "TieBreak", "TieBreakPolicy"]


class TieBreakPolicy(StrEnum):
    """How a single winner is chosen among co-winners.

    ``random``: uniform draw from ``numpy.random.default_rng(SeedSequence(seed))``
    (reproducible from the recorded seed).  ``lexicographic``: the co-winner that
    comes first in the candidates' order.
    """

    RANDOM = "random"
    LEXICOGRAPHIC = "lexicographic"


@dataclass(frozen=True, slots=True)
class TieBreak:
    """The tie-break as applied: ``drawn`` is False when there was a single winner."""

    policy: TieBreakPolicy
    seed: int
    tied: tuple[str, ...]
    drawn: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy.value,
            "seed": self.seed,
            "tied": list(self.tied),
            "drawn": self.drawn,
        }


@dataclass(frozen=True, slots=True)
class RejectedBallot:
    """A ballot that was not counted: its index in the input and why."""

    index: int
    reason: BallotReason

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "reason": self.reason.value}


@dataclass(frozen=True)
class TallyResult:
    """Outcome of :func:`~flagship.democracy.tally`.

    ``winners``: every co-winner before tie-breaking, in candidates' order.
    ``winner``: the single winner after ``tie_break``.  ``counted``: ballots
    counted; ``rejected``: the others, each with its index and reason.
    ``details``: the scores, IRV rounds, margins or referendum figures that
    explain the outcome.
    """

    rule: str
    title: str
    ballot_type: BallotType
    candidates: tuple[str, ...]
    winners: list[str]
    winner: str
    tie_break: TieBreak
    counted: int
    rejected: tuple[RejectedBallot, ...]
    details: Details

    @property
    def n_rejected(self) -> int:
        return len(self.rejected)

    def rejected_by_reason(self) -> dict[str, int]:
        """Number of rejected ballots per reason, most frequent first."""
        counts = Counter(item.reason.value for item in self.rejected)
        return dict(counts.most_common())

    def explain(self) -> str:
        """One paragraph, in plain English, saying why the winner won."""
        ballots = "ballot" if self.counted == 1 else "ballots"
        opening = f"{self.title}: {self.counted} {ballots} counted"
        if self.rejected:
            reasons = ", ".join(f"{n} {why}" for why, n in self.rejected_by_reason().items())
            opening += f", {self.n_rejected} rejected ({reasons})"
        parts = [opening + ".", self.details.explain(self.winners)]
        if self.tie_break.drawn:
            how = (
                f"a random draw (seed {self.tie_break.seed})"
                if self.tie_break.policy is TieBreakPolicy.RANDOM
                else "candidate order"
            )
            parts.append(
                f"The tie among {', '.join(self.tie_break.tied)} is broken by {how}: "
                f"{self.winner} is the winner."
            )
        return " ".join(parts)

    def to_dict(self) -> dict[str, object]:
        """The result as JSON-able data (only dicts, lists, strings, numbers, bools, None)."""
        return {
            "rule": self.rule,
            "ballot_type": self.ballot_type.value,
            "candidates": list(self.candidates),
            "winners": list(self.winners),
            "winner": self.winner,
            "tie_break": self.tie_break.to_dict(),
            "counted": self.counted,
            "rejected": [item.to_dict() for item in self.rejected],
            "details": self.details.to_dict(),
        }
