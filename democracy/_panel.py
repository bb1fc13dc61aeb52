"""Convening a vote: the citizens' panel drawn by stratified sortition, or the whole electorate.

Lifecycle of one convening, at the trigger time ``t``: a vote id is numbered; in
``panel`` mode ``panel_size`` members are drawn from the registered voters by ``selection`` on
``strata`` (stratified sortition, :mod:`flagship.democracy._sortition`, or LEXIMIN,
:mod:`flagship.democracy._leximin`) with a draw seed taken from
the mechanism's ``sortition`` stream (anyone can re-run the draw from the recorded seed and
the registry); in ``electorate`` mode every registered voter is convened. The vote's
tie-break seed is taken from the ``tie_break`` stream, its timetable fixed (ballot opens at
``t + deliberation_seconds``, closes ``ballot_seconds`` later), it becomes the open vote,
and ``VoteConvened`` publishes the members, the draw seed and the timetable.
"""

from __future__ import annotations

import numpy as np

from flagship.democracy._config import EmergencyVoteConfig
from flagship.democracy._leximin import select_panel, selection_probabilities
from flagship.democracy._proceedings import OpenVote, Proceedings
from flagship.democracy._sortition import total_variation
from flagship.democracy._voters import VoterRoll
from flagship.mechanisms import Context
from flagship.mechanisms.events import VoteConvened

__all__ = ["SEED_BOUND", "Panel"]

SEED_BOUND = 2**31
"""Draw and tally seeds are below it: they fit every integer column and JSON reader."""


class Panel:
    """Convenes votes (see the module doc) and keeps how representative each convening was."""

    def __init__(
        self, config: EmergencyVoteConfig, ctx: Context, roll: VoterRoll, proceedings: Proceedings
    ) -> None:
        self.config = config
        self.ctx = ctx
        self._roll = roll
        self._proceedings = proceedings
        self._candidates = tuple(config.candidates)
        self._sortition = ctx.stream("sortition")
        self._tie_breaks = ctx.stream("tie_break")
        self.vote_seq = 0  # state (in the snapshot)
        self.tvds: list[float] = []  # for the representativeness measure only
        self.min_selection_ratios: list[float] = []  # for the selection-fairness measure only

    def convene(
        self, purpose: str, target: str | None, incidents: list[tuple[str, float]], severity: float
    ) -> OpenVote:
        """Open a vote now (``purpose``: incident, renewal or review of decision ``target``)."""
        config = self.config
        ctx = self.ctx
        now = ctx.now
        self.vote_seq += 1
        vote_id = f"{ctx.name}-vote-{self.vote_seq}"
        voters = self._roll.voters
        actors = list(voters)
        cells = [voters[a].cell for a in actors]
        draw_seed: int | None = None
        if config.convening == "panel":
            # A seed per draw, itself drawn from the mechanism's stream: anyone can re-run the
            # draw from the recorded seed and the registry (select_panel(selection, cells, size, rng,
            # strata, panel_quotas)).
            draw_seed = int(self._sortition.integers(SEED_BOUND))
            draw = select_panel(
                config.selection,
                cells,
                config.panel_size,
                np.random.default_rng(draw_seed),
                config.strata,
                config.panel_quotas,
            )
            members = tuple(actors[i] for i in draw.members)
            self._record_fairness(cells, len(members))
            ctx.recorder.gauge("panel_size", len(members))
        else:
            members = tuple(actors)
        tally_seed = int(self._tie_breaks.integers(SEED_BOUND))
        opens = now + config.deliberation_seconds
        vote = OpenVote(
            vote_id,
            purpose,
            target,
            list(incidents),
            severity,
            now,
            members,
            draw_seed,
            tally_seed,
            opens,
            opens + config.ballot_seconds,
            frozenset(members),
        )
        self._proceedings.open = vote
        tvd = total_variation([voters[a].cell for a in members], cells)
        if tvd is not None:
            self.tvds.append(tvd)
        ctx.recorder.count(f"convened.{purpose}")
        ctx.publish(
            VoteConvened(
                vote_id=vote_id,
                purpose=purpose,
                incident_ids=tuple(i for i, _ in incidents),
                severity=severity,
                candidates=self._candidates,
                rule=config.rule,
                tie_break=config.tie_break,
                mode=config.convening,
                members=members,
                strata=tuple(config.strata),
                draw_seed=draw_seed,
                ballot_opens=opens,
                ballot_closes=vote.closes,
                quorum=config.quorum,
                status_quo=config.status_quo,
                thresholds=dict(config.thresholds),
            )
        )
        return vote

    def _record_fairness(self, cells: list[tuple[str, ...]], size: int) -> None:
        """The least-selected registered voter's probability over the uniform ``size / n``."""
        config = self.config
        if not size:
            return
        probabilities = selection_probabilities(
            config.selection, cells, size, config.strata, config.panel_quotas
        )
        self.min_selection_ratios.append(min(probabilities) * len(cells) / size)
