"""The deliberation window of a vote, and the timetable process that runs the vote to its count.

Deliberation runs during ``[t, t + D)`` after the convening at ``t`` (``D`` =
``deliberation_seconds``; ``D = 0`` is the control arm). The mechanism only keeps the
window: opinions live in the voter populations, which update their convened members'
rankings (the opinion model is :mod:`flagship.democracy._deliberation`). At ``t + D`` the
window hands the vote to the ballot box, which opens the ballot and counts it at the close.

The timetable is one SimPy process per vote that yields twice (to the opening, then to the
close), kept as a process rather than two ``ctx.call_at`` timers: with ``D = 0`` the ballot
opens while the process starts (no timeout), and the close's timeout is set at the opening;
two timers would add a zero-length timeout and set the close elsewhere, which changes the
order of events at equal times, and so stored digests.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from flagship.democracy._ballot_box import BallotBox
from flagship.democracy._proceedings import OpenVote
from flagship.mechanisms import Context

__all__ = ["DeliberationWindow"]


class DeliberationWindow:
    """Runs each convened vote through its deliberation window to the ballot box (see the module doc)."""

    def __init__(self, ctx: Context, ballot_box: BallotBox) -> None:
        self.ctx = ctx
        self._ballot_box = ballot_box

    def begin(self, vote: OpenVote) -> None:
        """Start ``vote``'s timetable: deliberation now, the ballot at ``vote.opens``, then the count."""
        self.ctx.env.process(self._timetable(vote))

    def _timetable(self, vote: OpenVote) -> Generator[Any, Any, None]:
        ctx = self.ctx
        if vote.opens > ctx.now:
            yield ctx.env.timeout(vote.opens - ctx.now)
        self._ballot_box.open(vote)
        yield from self._ballot_box.until_count(vote)
