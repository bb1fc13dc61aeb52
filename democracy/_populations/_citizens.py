"""The ``citizens`` population: sincere voters with informed preferences who deliberate when convened.

Three independent streams feed the opinions: ``preferences`` (the informed rankings, what
fidelity is scored against), ``opinions`` (informedness and the uninformed start) and
``materials`` (each member's takeaway from the deliberation materials). Where deliberation
leads is :func:`~flagship.democracy._deliberation.deliberation_targets` of the informed view
and the takeaway, linked only by ``materials_quality``: no ranking is moved toward what it is
scored against unless the scenario says the materials do that.

Measures (see :mod:`flagship.democracy._populations` for how they are computed): panel
fidelity (the counterfactual decision of all registered citizens voting informed), agreement
with the Condorcet winner of all registered citizens' informed rankings, the decision flip
rate (redrawn panels deciding otherwise) and the share of the citizens' ballots rejected.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import numpy as np

from flagship.democracy._cultures import impartial_culture, spatial
from flagship.democracy._decision_rule import condorcet_winner
from flagship.democracy._deliberation import (
    deliberate,
    deliberation_targets,
    initial_opinions,
    position_scores,
    rankings_of,
)
from flagship.democracy._leximin import select_panel
from flagship.democracy._populations._electorate import (
    Electorate,
    FloatArray,
    IntArray,
    VoteView,
    decide_complete,
    mallows_around,
    permutation,
    row_margins,
)
from flagship.democracy._populations._params import CitizensParams
from flagship.mechanisms import SHARE, Area, Measure, PopulationContext, register
from flagship.mechanisms.events import BallotClosed, DecisionTaken

__all__ = ["Citizens"]


@register
class Citizens(Electorate):
    """Sincere citizens: informed preferences, a noisy uninformed start, deliberation when convened."""

    name = "citizens"
    Params = CitizensParams
    measures = (
        Measure(
            "panel_fidelity",
            Area.LEGITIMACY,
            "ratio",
            True,
            "share of counted decisions equal to what all these registered citizens would decide "
            "voting their informed rankings",
            bounds=SHARE,
        ),
        Measure(
            "electorate_condorcet_agreement",
            Area.LEGITIMACY,
            "ratio",
            True,
            "share of counted decisions equal to the Condorcet winner of all these registered citizens' "
            "informed rankings, among decisions where that winner exists (can fail under any rule: the "
            "panel's ballots are not the electorate's informed views, and thresholds strike)",
            bounds=SHARE,
        ),
        Measure(
            "decision_flip_rate",
            Area.ROBUSTNESS,
            "ratio",
            False,
            "share of panels redrawn from these citizens (same sortition, deliberation, full sincere "
            "turnout) deciding otherwise than the published decision",
            bounds=SHARE,
        ),
        Measure(
            "honest_ballot_rejection_rate",
            Area.UX,
            "ratio",
            False,
            "these citizens' ballots rejected (late, not convened...) / their ballots submitted",
            bounds=SHARE,
        ),
    )

    def __init__(self, params: CitizensParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self.params: CitizensParams = params
        self._preferences_rng = ctx.stream("preferences")
        self._opinion_rng = ctx.stream("opinions")
        self._redraw_rng = ctx.stream("redraw")
        self._materials_rng = ctx.stream("materials")
        empty = np.zeros((0, 0))
        self._informed_rankings: IntArray = np.zeros((0, 0), dtype=np.int64)
        self._informed: FloatArray = empty
        self._target: FloatArray = empty
        self._current: FloatArray = empty
        self._kappa: FloatArray = np.zeros(0)
        self._before: dict[str, tuple[FloatArray, FloatArray]] = {}
        self._fidelity: list[float] = []
        self._condorcet_agreement: list[float] = []
        self._flips: list[float] = []

    def _prepare(self, candidates: tuple[str, ...]) -> None:
        params, n, m = self.params, self.ctx.count, len(candidates)
        rng = self._preferences_rng
        if params.preferences == "impartial":
            rankings = impartial_culture(rng, n, m)
        elif params.preferences == "spatial":
            rankings = spatial(rng, n, m, params.dimensions)
        else:
            rankings = mallows_around(rng, self._references(candidates), params.phi)
        self._informed_rankings = rankings
        self._informed = position_scores(rankings, m)
        low, high = params.informedness
        self._kappa = self._opinion_rng.uniform(low, high, n)
        prior = None
        if params.prior:
            order = np.array([permutation(params.prior, candidates, "citizens.prior")], dtype=np.int64)
            prior = position_scores(order, m)[0]
        self._current = initial_opinions(self._informed, self._kappa, prior, params.noise, self._opinion_rng)
        self._target = deliberation_targets(
            self._informed, position_scores(self._takeaways(candidates), m), params.materials_quality
        )

    def _takeaways(self, candidates: tuple[str, ...]) -> IntArray:
        """Each member's takeaway from the materials: from the ``materials`` stream only."""
        params, n, m = self.params, self.ctx.count, len(candidates)
        if not params.materials:
            return impartial_culture(self._materials_rng, n, m)
        slant = permutation(params.materials, candidates, "citizens.materials")
        references = np.array([slant] * n, dtype=np.int64).reshape(n, m)
        return mallows_around(self._materials_rng, references, params.materials_phi)

    def _references(self, candidates: tuple[str, ...]) -> IntArray:
        params = self.params
        default = permutation(params.reference or list(candidates), candidates, "citizens.reference")
        by_value = {
            key: {
                value: permutation(ref, candidates, f"citizens.stratum_references.{key}.{value}")
                for value, ref in values.items()
            }
            for key, values in params.stratum_references.items()
        }
        rows = []
        for strata in self._strata:
            chosen = default
            for key, refs in by_value.items():
                value = strata.get(key)
                if value is not None and value in refs:
                    chosen = refs[value]
                    break
            rows.append(chosen)
        return np.array(rows, dtype=np.int64).reshape(self.ctx.count, len(candidates))

    def _convened(self, view: VoteView) -> None:
        event = view.event
        window = event.ballot_opens - event.time
        view.rounds = int(window // self.params.round_seconds) if window > 0 else 0
        if self.params.redraws and event.mode == "panel":
            self._before[event.vote_id] = (self._current.copy(), self._kappa.copy())
        if view.rounds and view.convened and self.params.deliberation_rate > 0:
            # A process of several rounds (not a timer per round): one timeout per round, in order.
            self.ctx.env.process(self._deliberation(view))

    def _deliberation(self, view: VoteView) -> Generator[Any, Any, None]:
        panel = np.array(view.convened, dtype=np.int64)
        params = self.params
        for _ in range(view.rounds):
            yield self.ctx.env.timeout(params.round_seconds)
            u, k = deliberate(
                self._current[panel],
                self._target[panel],
                self._kappa[panel],
                params.deliberation_rate,
                params.deliberation_model,
            )
            self._current[panel] = u
            self._kappa[panel] = k
            agree = rankings_of(u)[:, 0] == self._informed_rankings[panel, 0]
            self.ctx.recorder.gauge("panel_informed_top_agreement", float(agree.mean()))

    def _cast(self, member: int, vote_id: str) -> None:
        candidates = self._candidates or ()  # set at the first convening, before any ballot opens
        ranking = [candidates[int(c)] for c in rankings_of(self._current[member : member + 1])[0]]
        self._submit_ballot(member, vote_id, ranking)

    def _counted(self, view: VoteView, event: BallotClosed) -> None:
        if event.winner is None:  # no decision by a count: nothing to redraw against
            self._before.pop(event.vote_id, None)

    def _decided(self, view: VoteView, event: DecisionTaken, procedure: Mapping[str, Any]) -> None:
        candidates = view.event.candidates
        seed, tie_break = int(procedure.get("tally_seed", 0)), str(procedure.get("tie_break", "random"))
        registered = np.flatnonzero(self._registered)
        if registered.size:
            rows = self._informed_rankings[registered]
            decided = decide_complete(view, rows, seed, tie_break)
            self._fidelity.append(1.0 if decided == event.measure else 0.0)
            winner = condorcet_winner(row_margins(rows))
            if winner is not None:
                self._condorcet_agreement.append(1.0 if candidates[winner] == event.measure else 0.0)
        before = self._before.pop(view.event.vote_id, None)
        size = len(view.convened)
        if before is None or not size or not registered.size:
            return
        current, kappa = before
        strata_keys = view.event.strata
        cells = [tuple(self._strata[i].get(key, "") for key in strata_keys) for i in registered]
        params = self.params
        # The vote's selection algorithm, on proportional quotas: the vote's own quotas count the
        # whole panel, these citizens hold only part of it.
        selection = str(procedure.get("selection", "stratified"))
        flips = 0
        for _ in range(params.redraws):
            draw = select_panel(selection, cells, size, self._redraw_rng, strata_keys)
            panel = registered[np.array(draw.members, dtype=np.int64)]
            u, _k = deliberate(
                current[panel],
                self._target[panel],
                kappa[panel],
                params.deliberation_rate,
                params.deliberation_model,
                view.rounds,
            )
            if decide_complete(view, rankings_of(u), seed, tie_break) != event.measure:
                flips += 1
        self._flips.append(flips / params.redraws)

    def finish(self) -> None:
        record = self.ctx.recorder.measure
        record("panel_fidelity", _mean(self._fidelity))
        record("electorate_condorcet_agreement", _mean(self._condorcet_agreement))
        record("decision_flip_rate", _mean(self._flips))
        tried = self._ballots_tried
        record("honest_ballot_rejection_rate", self._ballots_rejected / tried if tried else None)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
