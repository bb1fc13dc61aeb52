"""Voter populations of the emergency vote: citizens, a strategic coalition, sybils.

Lifecycle of every voter population (arrival process ``none``: it reacts to the
vote's events instead of arriving on its own):

1. ``start()``: draws each member's strata (the ``strata`` stream) and, at
   ``register_at``, registers every member with the target mechanism:
   ``register {"person": <identity key>, "strata": {...}}``.
2. ``VoteConvened`` from its mechanism: notes which of its members are convened and
   the vote's rule, candidates and timetable; preferences are drawn at the first
   convening, when the candidates become known. Citizens deliberate during the
   window (see :mod:`flagship.democracy._deliberation`).
3. ``BallotOpened``: each convened member votes with probability ``turnout``, at the
   opening plus an exponential delay of mean ``time_to_vote`` seconds; members
   whose delay runs past the close still try (late ballots, rejected).
4. ``BallotClosed`` / ``DecisionTaken``: the population scores the outcome against
   the ground truth only it knows (informed or sincere preferences) and records
   its measures at ``finish()``.

Ground truth stays in the populations, so the mechanism decides only on what
voters submit. Choices documented here because the measures depend on them:

* **Panel fidelity** (``citizens``): the citizens compute the counterfactual
  decision of *all their registered members* voting their informed rankings
  (same rule, thresholds, status quo and tie-break seed, via
  :func:`flagship.democracy._procedure.decide`) and compare it with each ``DecisionTaken``
  decided by a count (fallback decisions are not scored).
* **Decision flip rate** (``citizens``): for each decision of a panel vote, the
  citizens redraw ``redraws`` panels from their registered members with the same
  stratified sortition (their own ``redraw`` stream), the size being the number of
  their members on the actual panel; each redrawn panel deliberates as the actual
  one did (same model, rate and number of rounds, from the opinions held at the
  convening), all vote sincerely, and the share of redrawn decisions differing
  from the published one is the flip rate.
* **Strategic success** (``strategic_coalition``): from the anonymous cast-vote
  record in ``BallotClosed`` the coalition recounts with its own counted ballots
  replaced by its sincere ranking; a success is a decided measure it sincerely
  prefers to that counterfactual.
* **Sybils** (``sybils``): ``operators`` persons each run several actor ids; the
  first id of each operator registers genuinely, the others reuse its person key.
  Every id tries to vote (convened or not), twice with ``double_vote``; surplus
  ballots are those from duplicate ids and second tries.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, model_validator

from flagship.democracy._cultures import impartial_culture, spatial
from flagship.democracy._deliberation import (
    DeliberationModel,
    deliberate,
    initial_opinions,
    position_scores,
    rankings_of,
)
from flagship.democracy._procedure import PROCEDURE_KEY, decide
from flagship.democracy._sortition import stratified_draw
from flagship.mechanisms import (
    Action,
    Area,
    ContractError,
    Measure,
    Outcome,
    Population,
    PopulationContext,
    register,
)
from flagship.mechanisms.events import BallotClosed, BallotOpened, DecisionTaken, VoteConvened

__all__ = [
    "Citizens",
    "CitizensParams",
    "CoalitionParams",
    "StrategicCoalition",
    "SybilParams",
    "Sybils",
    "VoterParams",
    "mallows_around",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _default_strata() -> dict[str, dict[str, float]]:
    return {
        "region": {"north": 0.3, "south": 0.3, "east": 0.2, "west": 0.2},
        "age_band": {"18-34": 0.3, "35-54": 0.35, "55+": 0.35},
    }


class VoterParams(BaseModel):
    """What every voter population takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strata: dict[str, dict[str, PositiveFloat]] = Field(
        default_factory=_default_strata,
        description="stratum key -> {value: weight}; each member draws each key independently (the keys "
        "must be the mechanism's strata)",
    )
    turnout: float = Field(default=0.85, ge=0, le=1, description="chance a convened member votes")
    time_to_vote: PositiveFloat = Field(
        default=600.0, description="mean seconds from the ballot opening to casting (exponential)"
    )
    register_at: NonNegativeFloat = Field(default=0.0, description="sim time the members register")

    @model_validator(mode="after")
    def _check_strata(self) -> VoterParams:
        for key, values in self.strata.items():
            if not key.isidentifier() or not values:
                raise ValueError(f"strata.{key}: expected an identifier key with at least one value")
        return self


class CitizensParams(VoterParams):
    """Sincere citizens with informed preferences and an opinion model for deliberation."""

    preferences: Literal["impartial", "mallows", "spatial"] = Field(
        default="mallows", description="model of the informed rankings"
    )
    reference: list[str] = Field(
        default_factory=list, description="Mallows reference ranking (empty: the candidates' order)"
    )
    phi: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Mallows dispersion: 1 is impartial culture, smaller is more concentrated",
    )
    dimensions: int = Field(default=2, ge=1, description="spatial model dimensions")
    stratum_references: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict,
        description="stratum key -> value -> Mallows reference of the members with that value (first "
        "matching key wins; others use `reference`): preferences that differ by stratum",
    )
    informedness: tuple[float, float] = Field(
        default=(0.3, 0.9), description="range of the initial weight of the informed view (uniform)"
    )
    prior: list[str] = Field(
        default_factory=list,
        description="the uninformed public's shared gut ranking after an incident (empty: none)",
    )
    noise: NonNegativeFloat = Field(default=0.2, description="sd of each voter's uninformed score noise")
    deliberation_rate: float = Field(
        default=0.1, ge=0, le=1, description="opinion update per deliberation round (0: control)"
    )
    deliberation_model: DeliberationModel = Field(
        default="learning",
        description="learning: toward one's informed view; peer: toward the better informed members' views",
    )
    round_seconds: PositiveFloat = Field(default=60.0, description="seconds per deliberation round")
    redraws: int = Field(default=20, ge=0, description="panels redrawn per decision for the flip rate")

    @model_validator(mode="after")
    def _check_range(self) -> CitizensParams:
        low, high = self.informedness
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"informedness: expected 0 <= low <= high <= 1, got {list(self.informedness)}")
        return self


class CoalitionParams(VoterParams):
    """A coalition sharing one sincere ranking that misreports to move the outcome its way."""

    turnout: float = Field(default=1.0, ge=0, le=1, description="chance a convened member votes")
    sincere: list[str] = Field(
        default_factory=list, description="the coalition's sincere ranking (empty: drawn at random)"
    )
    strategy: Literal["bury", "bullet", "sincere"] = Field(
        default="bury",
        description="bury: the threat ranked last; bullet: only the favourite; sincere: the control",
    )
    threat: str = Field(
        default="",
        description="candidate to bury (empty: the last count's plurality leader if not the "
        "favourite, else the sincere second choice)",
    )


class SybilParams(VoterParams):
    """Operators running several actor ids each, trying to vote more than once."""

    turnout: float = Field(default=1.0, ge=0, le=1, description="chance an id tries to vote")
    operators: int = Field(default=2, ge=1, description="persons behind the ids (round-robin)")
    push: list[str] = Field(
        default_factory=list, description="the ranking every id casts (empty: drawn at random)"
    )
    double_vote: bool = Field(default=True, description="each id also tries a second ballot")


def _permutation(names: Sequence[str], candidates: tuple[str, ...], what: str) -> list[int]:
    if sorted(names) != sorted(candidates):
        raise ContractError(
            f"{what}: expected a ranking of every candidate {list(candidates)}, got {list(names)}"
        )
    return [candidates.index(name) for name in names]


def mallows_around(rng: np.random.Generator, references: IntArray, phi: float) -> IntArray:
    """One Mallows ranking per row of ``references`` (repeated insertion around that row).

    The i-th reference candidate is inserted at position j <= i with weight
    ``phi ** (i - j)``; insertion positions are drawn for all rows at once.
    """
    n, m = references.shape
    positions = np.zeros((n, m), dtype=np.int64)
    for i in range(m):
        weights = phi ** (i - np.arange(i + 1, dtype=np.float64))
        positions[:, i] = rng.choice(i + 1, size=n, p=weights / weights.sum())
    rows = np.empty((n, m), dtype=np.int64)
    for v in range(n):
        ranking: list[int] = []
        for i in range(m):
            ranking.insert(int(positions[v, i]), int(references[v, i]))
        rows[v] = ranking
    return rows


@dataclass(slots=True)
class _VoteView:
    """What a population keeps of one vote."""

    event: VoteConvened
    convened: list[int]  # own member indices convened
    rounds: int = 0


def _names(rows: IntArray, candidates: tuple[str, ...]) -> list[list[str]]:
    return [[candidates[int(c)] for c in row] for row in rows]


class _Electorate(Population[Any]):
    """Registration, event plumbing and ballot timing shared by the voter populations."""

    Params: ClassVar[type[BaseModel]] = VoterParams
    subscribes = (VoteConvened, BallotOpened, BallotClosed, DecisionTaken)

    def __init__(self, params: VoterParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self.voter_params = params
        self._strata_rng = ctx.stream("strata")
        self._turnout_rng = ctx.stream("turnout")
        self._actors = [ctx.actor(i) for i in range(ctx.count)]
        self._index = {actor: i for i, actor in enumerate(self._actors)}
        self._strata: list[dict[str, str]] = []
        self._registered = np.zeros(ctx.count, dtype=bool)
        self._candidates: tuple[str, ...] | None = None
        self._votes: dict[str, _VoteView] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self.ctx.arrival.process != "none":
            raise ContractError(
                f"population {self.ctx.name!r}: voters react to the vote's events; set arrival process 'none'"
            )
        if not self.ctx.mechanism:
            raise ContractError(f"population {self.ctx.name!r} needs the emergency vote as its mechanism")
        self._strata = self._draw_strata()
        self.ctx.subscribe(VoteConvened, self._on_convened)
        self.ctx.subscribe(BallotOpened, self._on_opened)
        self.ctx.subscribe(BallotClosed, self._on_closed)
        self.ctx.subscribe(DecisionTaken, self._on_decision)
        self.ctx.env.process(self._register_all())

    def _draw_strata(self) -> list[dict[str, str]]:
        return self._strata_for(self.ctx.count)

    def _strata_for(self, n: int) -> list[dict[str, str]]:
        columns: dict[str, list[str]] = {}
        for key, weights in self.voter_params.strata.items():
            values = list(weights)
            p = np.array([weights[v] for v in values], dtype=np.float64)
            drawn = self._strata_rng.choice(len(values), size=n, p=p / p.sum())
            columns[key] = [values[int(i)] for i in drawn]
        return [{key: column[i] for key, column in columns.items()} for i in range(n)]

    def _person(self, member: int) -> str:
        return f"{self.ctx.name}-person-{member}"

    def _register_all(self) -> Generator[Any, Any, None]:
        if self.voter_params.register_at > 0:
            yield self.ctx.env.timeout(self.voter_params.register_at)
        now = self.ctx.now
        for member, actor in enumerate(self._actors):
            outcome = self.ctx.submit(
                Action(
                    now,
                    actor,
                    "register",
                    {"person": self._person(member), "strata": dict(self._strata[member])},
                )
            )
            self._registered[member] = outcome.accepted
            self.ctx.recorder.count("registered" if outcome.accepted else "registration_rejected")

    # -- events ---------------------------------------------------------------------------

    def _mine(self, source: str) -> bool:
        return source == self.ctx.mechanism

    def _on_convened(self, event: VoteConvened) -> None:
        if not self._mine(event.source):
            return
        if self._candidates is None:
            self._candidates = tuple(event.candidates)
            self._prepare(self._candidates)
        elif tuple(event.candidates) != self._candidates:
            raise ContractError(f"{event.source}: the candidates changed between votes")
        index = self._index
        view = _VoteView(event, [index[a] for a in event.members if a in index])
        self._votes[event.vote_id] = view
        self._convened(view)

    def _on_opened(self, event: BallotOpened) -> None:
        view = self._votes.get(event.vote_id)
        if view is None or not self._mine(event.source):
            return
        voters = self._ballot_voters(view)
        rng = self._turnout_rng
        # Both draws for every voter, always: the stream advances the same whatever turns out.
        goes = rng.random(len(voters)) < self.voter_params.turnout
        delays = rng.exponential(self.voter_params.time_to_vote, len(voters))
        schedule = sorted((float(delays[k]), member) for k, member in enumerate(voters) if goes[k])
        if schedule:
            self.ctx.env.process(self._cast_all(event.vote_id, schedule))

    def _cast_all(self, vote_id: str, schedule: list[tuple[float, int]]) -> Generator[Any, Any, None]:
        start = self.ctx.now
        for delay, member in schedule:
            wait = start + delay - self.ctx.now
            if wait > 0:
                yield self.ctx.env.timeout(wait)
            self._cast(member, vote_id)

    def _submit_ballot(self, member: int, vote_id: str, ranking: list[str]) -> Outcome:
        outcome = self.ctx.submit(
            Action(self.ctx.now, self._actors[member], "ballot", {"vote_id": vote_id, "ranking": ranking})
        )
        self.ctx.recorder.count("ballots_accepted" if outcome.accepted else f"ballots_{outcome.reason}")
        return outcome

    def _on_closed(self, event: BallotClosed) -> None:
        view = self._votes.get(event.vote_id)
        if view is not None and self._mine(event.source):
            self._counted(view, event)

    def _on_decision(self, event: DecisionTaken) -> None:
        if not self._mine(event.source):
            return
        procedure = event.params.get(PROCEDURE_KEY)
        if not isinstance(procedure, Mapping) or procedure.get("fallback"):
            return  # not decided by a count: nothing to compare with
        view = self._votes.get(str(procedure.get("vote_id")))
        if view is not None:
            self._decided(view, event, procedure)

    # -- what differs between populations ---------------------------------------------------

    def _prepare(self, candidates: tuple[str, ...]) -> None:
        """Draw preferences once the candidates are known."""

    def _convened(self, view: _VoteView) -> None:
        """A vote was convened (``view.convened``: own members on it)."""

    def _ballot_voters(self, view: _VoteView) -> list[int]:
        return view.convened

    def _cast(self, member: int, vote_id: str) -> None:
        raise NotImplementedError

    def _counted(self, view: _VoteView, event: BallotClosed) -> None:
        """The vote was counted."""

    def _decided(self, view: _VoteView, event: DecisionTaken, procedure: Mapping[str, Any]) -> None:
        """The vote decided ``event.measure`` by a count."""


def _decide_with(view: _VoteView, rankings: Sequence[Sequence[str]], seed: int, tie_break: str) -> str | None:
    event = view.event
    decision = decide(
        event.rule,
        rankings,
        event.candidates,
        seed=seed,
        tie_break=tie_break,
        status_quo=event.status_quo,
        thresholds=event.thresholds,
    )
    return None if decision is None else decision.measure


@register
class Citizens(_Electorate):
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
        ),
        Measure(
            "decision_flip_rate",
            Area.ROBUSTNESS,
            "ratio",
            False,
            "share of panels redrawn from these citizens (same sortition, deliberation, full sincere "
            "turnout) deciding otherwise than the published decision",
        ),
    )

    def __init__(self, params: CitizensParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self.params: CitizensParams = params
        self._preferences_rng = ctx.stream("preferences")
        self._opinion_rng = ctx.stream("opinions")
        self._redraw_rng = ctx.stream("redraw")
        empty = np.zeros((0, 0))
        self._informed_rankings: IntArray = np.zeros((0, 0), dtype=np.int64)
        self._informed: FloatArray = empty
        self._current: FloatArray = empty
        self._kappa: FloatArray = np.zeros(0)
        self._before: dict[str, tuple[FloatArray, FloatArray]] = {}
        self._fidelity: list[float] = []
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
            order = np.array([_permutation(params.prior, candidates, "citizens.prior")], dtype=np.int64)
            prior = position_scores(order, m)[0]
        self._current = initial_opinions(self._informed, self._kappa, prior, params.noise, self._opinion_rng)

    def _references(self, candidates: tuple[str, ...]) -> IntArray:
        params = self.params
        default = _permutation(params.reference or list(candidates), candidates, "citizens.reference")
        by_value = {
            key: {
                value: _permutation(ref, candidates, f"citizens.stratum_references.{key}.{value}")
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

    def _convened(self, view: _VoteView) -> None:
        event = view.event
        window = event.ballot_opens - event.time
        view.rounds = int(window // self.params.round_seconds) if window > 0 else 0
        if self.params.redraws and event.mode == "panel":
            self._before[event.vote_id] = (self._current.copy(), self._kappa.copy())
        if view.rounds and view.convened and self.params.deliberation_rate > 0:
            self.ctx.env.process(self._deliberation(view))

    def _deliberation(self, view: _VoteView) -> Generator[Any, Any, None]:
        panel = np.array(view.convened, dtype=np.int64)
        params = self.params
        for _ in range(view.rounds):
            yield self.ctx.env.timeout(params.round_seconds)
            u, k = deliberate(
                self._current[panel],
                self._informed[panel],
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

    def _counted(self, view: _VoteView, event: BallotClosed) -> None:
        if event.winner is None:  # no decision by a count: nothing to redraw against
            self._before.pop(event.vote_id, None)

    def _decided(self, view: _VoteView, event: DecisionTaken, procedure: Mapping[str, Any]) -> None:
        candidates = view.event.candidates
        seed, tie_break = int(procedure.get("tally_seed", 0)), str(procedure.get("tie_break", "random"))
        registered = np.flatnonzero(self._registered)
        if registered.size:
            informed = _names(self._informed_rankings[registered], candidates)
            self._fidelity.append(
                1.0 if _decide_with(view, informed, seed, tie_break) == event.measure else 0.0
            )
        before = self._before.pop(view.event.vote_id, None)
        size = len(view.convened)
        if before is None or not size or not registered.size:
            return
        current, kappa = before
        strata_keys = view.event.strata
        cells = [tuple(self._strata[i].get(key, "") for key in strata_keys) for i in registered]
        params = self.params
        flips = 0
        for _ in range(params.redraws):
            draw = stratified_draw(cells, size, self._redraw_rng)
            panel = registered[np.array(draw.members, dtype=np.int64)]
            u, _k = deliberate(
                current[panel],
                self._informed[panel],
                kappa[panel],
                params.deliberation_rate,
                params.deliberation_model,
                view.rounds,
            )
            if _decide_with(view, _names(rankings_of(u), candidates), seed, tie_break) != event.measure:
                flips += 1
        self._flips.append(flips / params.redraws)

    def finish(self) -> None:
        record = self.ctx.recorder.measure
        record("panel_fidelity", sum(self._fidelity) / len(self._fidelity) if self._fidelity else None)
        record("decision_flip_rate", sum(self._flips) / len(self._flips) if self._flips else None)


@register
class StrategicCoalition(_Electorate):
    """A coalition with one sincere ranking that misreports (buries its main threat) to win."""

    name = "strategic_coalition"
    Params = CoalitionParams
    measures = (
        Measure(
            "strategic_success_rate",
            Area.ROBUSTNESS,
            "ratio",
            False,
            "share of counted votes with coalition ballots whose decision the coalition sincerely "
            "prefers to the decision had its ballots been sincere",
        ),
    )

    def __init__(self, params: CoalitionParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self.params: CoalitionParams = params
        self._preferences_rng = ctx.stream("preferences")
        self._sincere: list[str] = []
        self._leader: str | None = None  # plurality leader of the last count
        self._cast_by_vote: dict[str, list[tuple[str, ...]]] = {}
        self._outcomes: list[float] = []

    def _prepare(self, candidates: tuple[str, ...]) -> None:
        if self.params.sincere:
            _permutation(self.params.sincere, candidates, "strategic_coalition.sincere")
            self._sincere = list(self.params.sincere)
        else:
            self._sincere = [candidates[int(i)] for i in self._preferences_rng.permutation(len(candidates))]
        threat = self.params.threat
        if threat and threat not in candidates:
            raise ContractError(f"strategic_coalition.threat: {threat!r} is not a candidate")

    def misreport(self) -> list[str]:
        """The ballot the coalition casts now."""
        sincere = self._sincere
        favourite = sincere[0]
        strategy = self.params.strategy
        if strategy == "sincere":
            return list(sincere)
        if strategy == "bullet":
            return [favourite]
        threat = (
            self.params.threat
            or (self._leader if self._leader not in (None, favourite) else None)
            or sincere[1]
        )
        if threat == favourite:
            return list(sincere)
        return [c for c in sincere if c != threat] + [threat]

    def _cast(self, member: int, vote_id: str) -> None:
        ranking = self.misreport()
        if self._submit_ballot(member, vote_id, ranking).accepted:
            self._cast_by_vote.setdefault(vote_id, []).append(tuple(ranking))

    def _counted(self, view: _VoteView, event: BallotClosed) -> None:
        cast = self._cast_by_vote.pop(event.vote_id, [])
        if event.record:
            firsts = [ranking[0] for ranking in event.record]
            order = view.event.candidates
            self._leader = max(order, key=lambda c: (firsts.count(c), -order.index(c)))
        if not cast or event.winner is None:
            return
        record = list(event.record)
        for ranking in cast:  # the record is anonymous: remove one copy of each of ours
            record.remove(ranking)
        record.extend(tuple(self._sincere) for _ in cast)
        sincere_outcome = _decide_with(view, record, event.tally_seed, view.event.tie_break)
        if sincere_outcome is None:
            return
        better = self._sincere.index(event.winner) < self._sincere.index(sincere_outcome)
        self._outcomes.append(1.0 if better else 0.0)

    def finish(self) -> None:
        self.ctx.recorder.measure(
            "strategic_success_rate", sum(self._outcomes) / len(self._outcomes) if self._outcomes else None
        )


@register
class Sybils(_Electorate):
    """Operators behind several actor ids: duplicate registrations and surplus ballots."""

    name = "sybils"
    Params = SybilParams
    measures = (
        Measure(
            "sybil_ballots_counted",
            Area.ROBUSTNESS,
            "count",
            False,
            "surplus ballots (from duplicate ids, or second tries) the mechanism accepted",
        ),
        Measure(
            "sybil_ballots_blocked_share",
            Area.ROBUSTNESS,
            "ratio",
            True,
            "surplus ballots rejected / surplus ballots tried",
        ),
    )

    def __init__(self, params: SybilParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self.params: SybilParams = params
        self._preferences_rng = ctx.stream("preferences")
        self._push: list[str] = []
        self._surplus_tried = 0
        self._surplus_counted = 0

    def _operator(self, member: int) -> int:
        return member % self.params.operators

    def _draw_strata(self) -> list[dict[str, str]]:
        # Every id of an operator claims the operator's strata: one person, one set of strata.
        per_operator = self._strata_for(min(self.params.operators, self.ctx.count))
        return [per_operator[self._operator(i)] for i in range(self.ctx.count)]

    def _person(self, member: int) -> str:
        return f"{self.ctx.name}-person-{self._operator(member)}"

    def _prepare(self, candidates: tuple[str, ...]) -> None:
        if self.params.push:
            _permutation(self.params.push, candidates, "sybils.push")
            self._push = list(self.params.push)
        else:
            self._push = [candidates[int(i)] for i in self._preferences_rng.permutation(len(candidates))]

    def _ballot_voters(self, view: _VoteView) -> list[int]:
        return list(range(self.ctx.count))  # every id tries, convened or not: that is the attack

    def _cast(self, member: int, vote_id: str) -> None:
        duplicate = member >= self.params.operators
        for attempt in range(2 if self.params.double_vote else 1):
            outcome = self._submit_ballot(member, vote_id, list(self._push))
            if duplicate or attempt > 0:
                self._surplus_tried += 1
                self._surplus_counted += 1 if outcome.accepted else 0

    def finish(self) -> None:
        record = self.ctx.recorder.measure
        record("sybil_ballots_counted", float(self._surplus_counted))
        tried = self._surplus_tried
        record("sybil_ballots_blocked_share", (tried - self._surplus_counted) / tried if tried else None)
