"""The record the procedure's parts share: the vote under way, the counted votes, the decision in force.

Lifecycle of the record: the panel opens a vote (:class:`OpenVote`, ``Proceedings.open``);
the ballot box adds ballots to it and, at the count, closes it into a summary in
``Proceedings.closed`` (who was convened and who took part, never who cast what); the
decisions part takes a :class:`TakenDecision` (``Proceedings.in_force``) and notes it in the
summary. The public views here (:meth:`Proceedings.votes`, :meth:`~Proceedings.vote`,
:meth:`~Proceedings.participation`, :meth:`~Proceedings.decision_in_force`) are what the
mechanism's read-only queries, and so the live routes, return.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Convene", "OpenVote", "Proceedings", "TakenDecision", "quorum_needed"]

Convene = Callable[[str, str | None, list[tuple[str, float]], float], None]
"""Convene a vote now: ``convene(purpose, target decision id, incidents, severity)``; the
mechanism wires it to the panel and the deliberation window."""


def quorum_needed(quorum: float, convened: int) -> int:
    """Counted ballots that meet a ``quorum`` share of ``convened`` members (at least one)."""
    return max(1, math.ceil(quorum * convened - 1e-9))


@dataclass(slots=True)
class OpenVote:
    """A vote from its convening to its count; it alone knows who cast what, to refuse second ballots."""

    vote_id: str
    purpose: str
    target: str | None  # the decision a renewal or review is about
    incidents: list[tuple[str, float]]  # (incident id, time raised)
    severity: float
    convened_at: float
    members: tuple[str, ...]
    draw_seed: int | None
    tally_seed: int
    opens: float
    closes: float
    member_set: frozenset[str] = frozenset()
    ballots: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The vote in the mechanism's snapshot (with the ballots: the snapshot is never served)."""
        return {
            "vote_id": self.vote_id,
            "purpose": self.purpose,
            "target": self.target,
            "incidents": [list(i) for i in self.incidents],
            "severity": self.severity,
            "convened_at": self.convened_at,
            "members": list(self.members),
            "draw_seed": self.draw_seed,
            "tally_seed": self.tally_seed,
            "opens": self.opens,
            "closes": self.closes,
            "ballots": {a: list(r) for a, r in self.ballots.items()},
        }

    def public(self) -> dict[str, Any]:
        """The vote as :meth:`Proceedings.vote` describes an uncounted one: counts, never names."""
        return {"vote_id": self.vote_id, "purpose": self.purpose, "target": self.target,
                "incident_ids": [i for i, _ in self.incidents], "severity": self.severity,
                "convened_at": self.convened_at, "opens": self.opens, "closes": self.closes,
                "draw_seed": self.draw_seed, "convened": len(self.members),
                "ballots": len(self.ballots), "counted": False}


@dataclass(slots=True)
class TakenDecision:
    """A decision from its taking until it lapses or is superseded, with the appeal signed against it."""

    decision_id: str
    measure: str
    taken_at: float
    sunset: float | None
    vote_id: str
    renewals_left: int
    signatures: list[str] = field(default_factory=list)
    review_requested: bool = False

    def to_json(self) -> dict[str, Any]:
        """The decision in the mechanism's snapshot (with who signed the appeal)."""
        return {
            "decision_id": self.decision_id,
            "measure": self.measure,
            "taken_at": self.taken_at,
            "sunset": self.sunset,
            "vote_id": self.vote_id,
            "renewals_left": self.renewals_left,
            "signatures": list(self.signatures),
            "review_requested": self.review_requested,
        }


class Proceedings:
    """The votes and the decision in force, as the parts of the procedure leave them (see the module doc)."""

    def __init__(self, quorum: float) -> None:
        self.quorum = quorum
        # -- state (in the snapshot) --
        self.open: OpenVote | None = None
        self.closed: dict[str, dict[str, Any]] = {}  # vote id -> its summary
        self.in_force: TakenDecision | None = None
        # -- derived from the state, for readers (a replay rebuilds it; not in the snapshot) --
        self.explanations: dict[str, str] = {}  # vote id -> the tally's plain-English account

    def votes(self) -> list[dict[str, Any]]:
        """Every vote convened so far, oldest first, each as :meth:`vote` describes it."""
        found = [self._public(vote_id, record) for vote_id, record in self.closed.items()]
        if self.open is not None:
            found.append(self.open.public())
        return found

    def vote(self, vote_id: str) -> dict[str, Any] | None:
        """The public record of a vote, ``None`` if no vote has this id (keys: ``EmergencyVote.vote``)."""
        if self.open is not None and self.open.vote_id == vote_id:
            return self.open.public()
        record = self.closed.get(vote_id)
        return None if record is None else self._public(vote_id, record)

    def participation(self, actor: str) -> list[dict[str, Any]]:
        """For every vote, oldest first: ``{"vote_id", "convened", "cast"}`` for ``actor`` (never how)."""
        found = [{"vote_id": vote_id, "convened": actor in record["members"],
                  "cast": actor in record["voted"]} for vote_id, record in self.closed.items()]
        vote = self.open
        if vote is not None:
            found.append({"vote_id": vote.vote_id, "convened": actor in vote.member_set,
                          "cast": actor in vote.ballots})
        return found

    def decision_in_force(self) -> dict[str, Any] | None:
        """The decision in force: ``decision_id, measure, taken_at, sunset, vote_id, signatures``
        (how many signed an appeal, not who) and ``review_requested``; ``None`` if none binds."""
        d = self.in_force
        if d is None:
            return None
        return {"decision_id": d.decision_id, "measure": d.measure, "taken_at": d.taken_at,
                "sunset": d.sunset, "vote_id": d.vote_id, "signatures": len(d.signatures),
                "review_requested": d.review_requested}

    def _public(self, vote_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
        hidden = ("members", "voted", "counted")
        return {"vote_id": vote_id, **{k: v for k, v in record.items() if k not in hidden},
                "convened": len(record["members"]), "ballots": record["counted"], "counted": True,
                "quorum_needed": quorum_needed(self.quorum, len(record["members"])),
                "explanation": self.explanations.get(vote_id)}
