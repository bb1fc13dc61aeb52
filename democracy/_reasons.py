"""Why the emergency vote refuses an action: the closed set of reason codes, and what each
means over HTTP (its status, and the detail said when the mechanism gives a bare code).

Statuses (``EmergencyVote.reason_status``): 404 for an id never taken (``UNKNOWN_VOTE``,
``UNKNOWN_DECISION``; the appeal route answers 409 for a decision that was taken but is no
longer in force), 403 for "not you" (``NOT_REGISTERED``, ``NOT_CONVENED``; ``NOT_PERMITTED``
is 403 by the contract's default), 422 for a malformed ballot (``BALLOT_*``;
``INVALID_PAYLOAD`` is 422 by default) and 409 for the rest, which are conflicts with the
vote's state (``SECOND_BALLOT``, ``BALLOT_CLOSED``, ``BALLOT_NOT_OPEN``,
``DUPLICATE_IDENTITY``, ``ALREADY_APPEALED``, ``ALREADY_REGISTERED``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from flagship.democracy._ballots import BallotReason

__all__ = ["BALLOT_REASON", "REASON_DETAIL", "REASON_STATUS", "VoteReason"]


class VoteReason(StrEnum):
    """Why the emergency vote rejected an action: a closed set, one code per cause."""

    ALREADY_REGISTERED = "ALREADY_REGISTERED"
    """The actor is registered already."""
    DUPLICATE_IDENTITY = "DUPLICATE_IDENTITY"
    """The person is registered under another actor id (a sybil identity)."""
    NOT_REGISTERED = "NOT_REGISTERED"
    """The actor is not a registered voter (not a member of the electorate)."""
    NOT_CONVENED = "NOT_CONVENED"
    """The actor is registered but not convened for this vote (not drawn, or registered later)."""
    UNKNOWN_VOTE = "UNKNOWN_VOTE"
    """No vote with this id was ever convened."""
    BALLOT_NOT_OPEN = "BALLOT_NOT_OPEN"
    """The ballot of this vote has not opened yet (deliberation is under way)."""
    BALLOT_CLOSED = "BALLOT_CLOSED"
    """The ballot of this vote has closed."""
    SECOND_BALLOT = "SECOND_BALLOT"
    """The actor has already cast a ballot in this vote."""
    BALLOT_MALFORMED = "BALLOT_MALFORMED"
    """The ballot (a ranking, or approvals) is not a list of candidate names."""
    BALLOT_EMPTY = "BALLOT_EMPTY"
    """The ballot ranks no candidate, or approves none."""
    BALLOT_UNKNOWN_CANDIDATE = "BALLOT_UNKNOWN_CANDIDATE"
    """The ballot names something that is not a candidate."""
    BALLOT_DUPLICATE_CANDIDATE = "BALLOT_DUPLICATE_CANDIDATE"
    """The ballot names a candidate twice."""
    UNKNOWN_DECISION = "UNKNOWN_DECISION"
    """The appealed decision is not the decision in force."""
    ALREADY_APPEALED = "ALREADY_APPEALED"
    """The actor has already signed an appeal of this decision."""


BALLOT_REASON: Mapping[BallotReason, VoteReason] = {
    BallotReason.EMPTY: VoteReason.BALLOT_EMPTY,
    BallotReason.UNKNOWN_CANDIDATE: VoteReason.BALLOT_UNKNOWN_CANDIDATE,
    BallotReason.DUPLICATE_CANDIDATE: VoteReason.BALLOT_DUPLICATE_CANDIDATE,
}
"""The vote's code for a ballot :func:`~flagship.democracy.validate_ballot` refuses; any other
BallotReason (array-only or yes/no codes) cannot fit a list of names: ``BALLOT_MALFORMED``."""

REASON_STATUS: Mapping[str, int] = {
    VoteReason.UNKNOWN_VOTE: 404,
    VoteReason.UNKNOWN_DECISION: 404,
    VoteReason.NOT_REGISTERED: 403,
    VoteReason.NOT_CONVENED: 403,
    VoteReason.BALLOT_MALFORMED: 422,
    VoteReason.BALLOT_EMPTY: 422,
    VoteReason.BALLOT_UNKNOWN_CANDIDATE: 422,
    VoteReason.BALLOT_DUPLICATE_CANDIDATE: 422,
}
"""HTTP status by reason code (see the module doc); every code not listed is a 409 conflict."""

REASON_DETAIL: Mapping[str, str] = {
    VoteReason.UNKNOWN_VOTE: "no vote with this id was ever convened",
    VoteReason.NOT_REGISTERED: "you are not a registered voter",
    VoteReason.NOT_CONVENED: "you are not convened for this vote (not drawn, or registered after it was "
    "convened)",
    VoteReason.SECOND_BALLOT: "you have already cast your ballot in this vote; it cannot be changed",
    VoteReason.ALREADY_APPEALED: "you have already signed this appeal",
    VoteReason.ALREADY_REGISTERED: "this voter is registered already",
}
"""Said over HTTP when the mechanism refuses with a bare code: a voter reading the problem learns
what to do. (Not in the outcome itself: stored outcomes, and so every digest, stay as they are.)"""
