"""Per-rule details of a tally: what is needed to explain (and audit) the outcome.

Each class renders itself as JSON-able data (``to_dict``) and as plain-English
sentences (``explain``); :class:`~flagship.democracy.TallyResult` wraps them with the
ballot counts and the tie-break.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "Details",
    "IrvRound",
    "PairwiseDetails",
    "ReferendumDetails",
    "RoundsDetails",
    "ScoreDetails",
]


def _join(names: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _listing(scores: dict[str, int]) -> str:
    return ", ".join(f"{name} {score}" for name, score in scores.items())


@dataclass(frozen=True, slots=True)
class ScoreDetails:
    """Scoring rules (plurality, Borda, approval): one score per candidate, highest wins."""

    label: str
    scores: dict[str, int]

    def to_dict(self) -> dict[str, object]:
        return {"kind": "scores", "label": self.label, "scores": dict(self.scores)}

    def explain(self, winners: Sequence[str]) -> str:
        ordered = dict(sorted(self.scores.items(), key=lambda item: -item[1]))
        best = max(self.scores.values())
        lead = (
            f"{winners[0]} has the most {self.label} ({best})"
            if len(winners) == 1
            else f"{_join(winners)} tie for the most {self.label} ({best})"
        )
        return f"{self.label.capitalize()}: {_listing(ordered)}. {lead}."


@dataclass(frozen=True, slots=True)
class IrvRound:
    """One instant-runoff round: continuing candidates' first-choice counts, then who goes."""

    number: int
    counts: dict[str, int]
    exhausted: int
    eliminated: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "round": self.number,
            "counts": dict(self.counts),
            "exhausted": self.exhausted,
            "eliminated": list(self.eliminated),
        }


@dataclass(frozen=True, slots=True)
class RoundsDetails:
    """Instant runoff: the rounds, and how the count ended.

    ``ended`` is ``"majority"`` (a candidate holds more than half the continuing
    ballots), ``"last_remaining"`` or ``"all_tied"`` (every continuing candidate
    has the same count; they are all co-winners).
    """

    rounds: tuple[IrvRound, ...]
    ended: str

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": "rounds",
            "ended": self.ended,
            "rounds": [round_.to_dict() for round_ in self.rounds],
        }

    def explain(self, winners: Sequence[str]) -> str:
        parts = []
        for round_ in self.rounds:
            text = f"Round {round_.number}: {_listing(round_.counts)}"
            if round_.exhausted:
                text += f" ({round_.exhausted} exhausted)"
            if round_.eliminated:
                verb = "is" if len(round_.eliminated) == 1 else "are"
                text += f"; {_join(round_.eliminated)} {verb} eliminated"
            parts.append(text + ".")
        if self.ended == "majority":
            parts.append(f"{winners[0]} holds a majority of the continuing ballots.")
        elif self.ended == "all_tied":
            parts.append(f"{_join(winners)} are tied with the same count.")
        else:
            parts.append(f"{winners[0]} is the last candidate remaining.")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class PairwiseDetails:
    """Margin-based rules (Schulze, ranked pairs, Copeland, minimax).

    ``margins[i][j]`` = voters ranking candidate i above j minus the reverse, in
    candidates' order.  ``scores``/``score_label`` are Copeland's wins minus losses
    or minimax's largest defeat margin (lower is better); ``strongest_paths`` is
    Schulze's matrix of strongest beat-path strengths (0: no beat path);
    ``locked`` is ranked pairs' locked majorities ``(winner, loser, margin)`` in
    one canonical order (equal margins by candidates' order).
    """

    method: str
    candidates: tuple[str, ...]
    margins: tuple[tuple[int, ...], ...]
    condorcet_winner: str | None
    scores: dict[str, int] | None = None
    score_label: str | None = None
    strongest_paths: tuple[tuple[int, ...], ...] | None = None
    locked: tuple[tuple[str, str, int], ...] | None = None

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "kind": "pairwise",
            "method": self.method,
            "margins": [list(row) for row in self.margins],
            "condorcet_winner": self.condorcet_winner,
        }
        if self.scores is not None:
            data["scores"] = dict(self.scores)
            data["score_label"] = self.score_label
        if self.strongest_paths is not None:
            data["strongest_paths"] = [list(row) for row in self.strongest_paths]
        if self.locked is not None:
            data["locked"] = [list(edge) for edge in self.locked]
        return data

    def _majorities(self) -> str:
        names = self.candidates
        beats = [
            f"{names[i]} beats {names[j]} by {self.margins[i][j]}"
            for i in range(len(names))
            for j in range(len(names))
            if self.margins[i][j] > 0
        ]
        return "; ".join(beats) if beats else "every pairwise contest is tied"

    def explain(self, winners: Sequence[str]) -> str:
        parts = [f"Head to head: {self._majorities()}."]
        if self.condorcet_winner is not None:
            parts.append(f"{self.condorcet_winner} beats every rival (Condorcet winner).")
        if self.scores is not None and self.score_label is not None:
            parts.append(f"{self.score_label.capitalize()}: {_listing(self.scores)}.")
        if self.locked is not None:
            locked = ", ".join(f"{a}>{b} ({margin})" for a, b, margin in self.locked)
            parts.append(f"Locked in by decreasing margin: {locked or 'nothing'}.")
        if self.strongest_paths is not None:
            parts.append(
                f"{_join(winners)} {'is' if len(winners) == 1 else 'are'} unbeaten by strongest beat paths."
            )
        verb = "wins" if len(winners) == 1 else "tie as co-winners"
        parts.append(f"{_join(winners)} {verb}.")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class ReferendumDetails:
    """A yes/no referendum: the counts, the thresholds and whether each was met."""

    yes: int
    no: int
    abstain: int
    electorate: int | None
    quorum: Fraction
    quorum_met: bool
    supermajority: Fraction
    inclusive: bool
    threshold_met: bool

    @property
    def passed(self) -> bool:
        return self.quorum_met and self.threshold_met

    @property
    def turnout(self) -> Fraction | None:
        """Share of the electorate that cast a ballot (abstentions included)."""
        if not self.electorate:
            return None
        return Fraction(self.yes + self.no + self.abstain, self.electorate)

    @property
    def yes_share(self) -> Fraction | None:
        """Share of yes among the yes and no ballots (abstentions excluded)."""
        decided = self.yes + self.no
        return Fraction(self.yes, decided) if decided else None

    def to_dict(self) -> dict[str, object]:
        turnout, share = self.turnout, self.yes_share
        return {
            "kind": "referendum",
            "yes": self.yes,
            "no": self.no,
            "abstain": self.abstain,
            "electorate": self.electorate,
            "turnout": None if turnout is None else float(turnout),
            "quorum": float(self.quorum),
            "quorum_met": self.quorum_met,
            "yes_share": None if share is None else float(share),
            "supermajority": float(self.supermajority),
            "inclusive": self.inclusive,
            "threshold_met": self.threshold_met,
            "passed": self.passed,
        }

    def explain(self, winners: Sequence[str]) -> str:
        parts = [f"{self.yes} yes, {self.no} no, {self.abstain} abstaining"]
        turnout = self.turnout
        if turnout is not None:
            parts[0] += f" out of an electorate of {self.electorate} (turnout {float(turnout):.1%})"
        parts[0] += "."
        if self.quorum > 0:
            met = "met" if self.quorum_met else "not met"
            parts.append(f"The quorum of {float(self.quorum):.1%} turnout is {met}.")
        share = self.yes_share
        relation = "at least" if self.inclusive else "more than"
        shown = "no yes/no ballots" if share is None else f"{float(share):.1%} yes"
        met = "met" if self.threshold_met else "not met"
        parts.append(
            f"Passing needs {relation} {float(self.supermajority):.1%} yes among yes and no "
            f"ballots: {shown}, {met}."
        )
        parts.append("The proposal passes." if self.passed else "The proposal fails.")
        return " ".join(parts)


Details = ScoreDetails | RoundsDetails | PairwiseDetails | ReferendumDetails
