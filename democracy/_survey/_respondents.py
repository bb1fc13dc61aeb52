"""Simulated survey respondents (population ``survey_respondents``): an explicit response model.

The population answers on behalf of every participant a survey invites (whatever population
they belong to), so its ``count`` is unused (set 0) and its arrival process is ``none``.

**Response model.** For respondent *i* answering survey *s*, each construct *c* has a latent
attitude (standard-normal units)::

    eta[i, c] = baseline[c] + outcome[c] * o[i, s] + voice[c] * v[i, s] + procedure[c] * p[s]
                + disposition_sd * theta[i] + construct_sd * u[i, s, c]

where ``o`` is +1/2 for a winner, -1/2 for a loser and 0 with no stake (so ``outcome[c]`` is the
winner-loser difference on the latent scale), ``v`` is 1 if the respondent had a voice
(deliberated, or was heard on appeal), ``p`` is 1 if the decision came from the procedure (not
by default), ``theta[i]`` ~ N(0, 1) is the person's general disposition towards institutions
(drawn once per participant; it is what makes items of one construct, and constructs, correlate)
and ``u`` ~ N(0, 1) is construct-specific noise. Each item answer adds item noise
``item_sd * e`` (e ~ N(0, 1)); a reverse-coded item takes ``-eta``. A K-point Likert answer is
``round((K + 1) / 2 + y * (K - 1) / 4)`` clipped to the scale (y = +-2 reaches the ends); a yes/no
answer is ``y > 0``. Each item is left missing with probability ``skip_rate`` and answered
"don't know" (where offered) with probability ``dont_know_rate``; free-text items are left empty.

**Participation.** An invited participant responds with probability ``response_rate`` (plus
``loser_response_shift`` for losers: non-response that differs by side), after an exponential
delay of mean ``time_to_respond`` seconds; one past the window still tries (and is refused).

**Settings.** ``null = true``: nothing matters (every outcome, voice and procedure effect and the
loser response shift are zero): the winner-loser gap is then zero in expectation, which a test
checks. The defaults are not tuned to flatter a mechanism: the outcome effects follow the
direction and rough size of the winner-loser gaps in Anderson et al. (2005), Losers' Consent (a
substantial gap, largest on acceptance), and voice effects are modest, smaller than the outcome
effect (field studies find voice matters less than Tyler's laboratory results suggest: see
docs/legitimacy.md). Traits come from the population's ``traits`` stream, answers from
``answers`` and participation from ``participation``.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, model_validator

from flagship.democracy._survey._events import SurveyOpened
from flagship.democracy._survey._instruments import CONSTRUCTS, DONT_KNOW, SCALES, Item, instrument
from flagship.mechanisms import Action, ContractError, Population, PopulationContext, register

__all__ = ["DEFAULT_OUTCOME", "DEFAULT_PROCEDURE", "DEFAULT_VOICE", "RespondentParams", "SurveyRespondents"]

DEFAULT_OUTCOME: Mapping[str, float] = {"procedural_justice": 0.3, "decision_acceptance": 0.6,
                                        "institutional_trust": 0.4}
DEFAULT_VOICE: Mapping[str, float] = {"procedural_justice": 0.3, "decision_acceptance": 0.1,
                                      "institutional_trust": 0.1}
DEFAULT_PROCEDURE: Mapping[str, float] = {"procedural_justice": 0.2, "decision_acceptance": 0.2,
                                          "institutional_trust": 0.1}
_GROUP_SIGN = {"winner": 0.5, "loser": -0.5, "no_stake": 0.0}


def _per_construct(default: Mapping[str, float]) -> Any:
    return Field(default_factory=lambda: dict(default),
                 description="construct -> latent shift (standard-normal units; a construct not named "
                             "keeps its default); see the module doc")


class RespondentParams(BaseModel):
    """The response model's parameters (see the module doc for the model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    null: bool = Field(default=False, description="nothing matters: every effect and the loser response "
                                                  "shift are zero (overrides them)")
    baseline: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(CONSTRUCTS, 0.0),
                                       description="construct -> latent mean (0: the scale midpoint)")
    outcome: dict[str, float] = _per_construct(DEFAULT_OUTCOME)
    voice: dict[str, float] = _per_construct(DEFAULT_VOICE)
    procedure: dict[str, float] = _per_construct(DEFAULT_PROCEDURE)
    disposition_sd: NonNegativeFloat = Field(default=0.7, description="weight of the person's disposition")
    construct_sd: NonNegativeFloat = Field(default=0.5, description="construct-specific noise SD")
    item_sd: NonNegativeFloat = Field(default=0.6, description="item noise SD")
    response_rate: float = Field(default=0.6, ge=0, le=1,
                                 description="chance an invited participant responds")
    loser_response_shift: float = Field(default=-0.1, ge=-1, le=1,
                                        description="added to response_rate for losers")
    skip_rate: float = Field(default=0.02, ge=0, le=1, description="chance an item is left unanswered")
    dont_know_rate: float = Field(default=0.03, ge=0, le=1,
                                  description="chance of 'dont_know' on an item that offers it")
    time_to_respond: PositiveFloat = Field(default=900.0, description="mean seconds to respond (exponential)")
    instruments: list[str] = Field(
        default_factory=lambda: ["procedural_justice", "decision_acceptance", "institutional_trust"],
        description="the instruments whose items the respondents know how to answer (those of the survey)")

    @model_validator(mode="after")
    def _check(self) -> RespondentParams:
        for label in ("baseline", "outcome", "voice", "procedure"):
            for key in getattr(self, label):
                if key not in CONSTRUCTS:
                    raise ValueError(f"{label}.{key}: expected a construct ({', '.join(CONSTRUCTS)})")
        return self


def likert(y: float, high: int) -> int:
    """A latent value on a 1..high Likert scale (see the module doc)."""
    return int(min(high, max(1, round((high + 1) / 2 + y * (high - 1) / 4))))


@register
class SurveyRespondents(Population[RespondentParams]):
    """Answers every survey invitation by the response model of the module doc."""

    name = "survey_respondents"
    Params = RespondentParams
    subscribes = (SurveyOpened,)

    def __init__(self, params: RespondentParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self._traits_rng = ctx.stream("traits")
        self._answers_rng = ctx.stream("answers")
        self._participation_rng = ctx.stream("participation")
        self._theta: dict[str, float] = {}
        items = [item for name in params.instruments for item in instrument(name).items]
        self._items: dict[str, Item] = {item.id: item for item in items}
        zero = params.null
        defaults = {"outcome": DEFAULT_OUTCOME, "voice": DEFAULT_VOICE, "procedure": DEFAULT_PROCEDURE}
        self._effects = {label: {c: 0.0 if zero else float(getattr(params, label).get(c, default[c]))
                                 for c in CONSTRUCTS} for label, default in defaults.items()}
        self._loser_shift = 0.0 if zero else params.loser_response_shift

    def start(self) -> None:
        if self.ctx.arrival.process != "none":
            raise ContractError(f"population {self.ctx.name!r}: respondents react to surveys; set arrival "
                                "process 'none'")
        self.ctx.subscribe(SurveyOpened, self._on_opened)

    def _trait(self, actor: str) -> float:
        theta = self._theta.get(actor)
        if theta is None:
            theta = self._theta[actor] = float(self._traits_rng.standard_normal())
        return theta

    def _on_opened(self, event: SurveyOpened) -> None:
        p = self.params
        unknown = [i for i in event.items if i not in self._items]
        if unknown:
            raise ContractError(f"population {self.ctx.name!r} cannot answer items {unknown}: add their "
                                "instruments to its params.instruments")
        for actor, group in event.groups.items():  # sorted by the survey: a deterministic order
            theta = self._trait(actor)
            rate = p.response_rate + (self._loser_shift if group == "loser" else 0.0)
            responds = bool(self._participation_rng.random() < rate)
            delay = float(self._participation_rng.exponential(p.time_to_respond))
            if not responds:
                continue
            answers = self._answers(event, actor, group, theta)
            action = Action(0.0, actor, "respond", {"survey_id": event.survey_id, "answers": answers})
            self.ctx.env.process(self._submit_after(delay, action))

    def _answers(self, event: SurveyOpened, actor: str, group: str, theta: float) -> dict[str, Any]:
        p, rng = self.params, self._answers_rng
        o, v, proc = _GROUP_SIGN.get(group, 0.0), float(actor in event.voice), float(event.procedural)
        eta = {c: p.baseline.get(c, 0.0) + self._effects["outcome"][c] * o + self._effects["voice"][c] * v
               + self._effects["procedure"][c] * proc + p.disposition_sd * theta
               + p.construct_sd * float(rng.standard_normal()) for c in CONSTRUCTS}
        answers: dict[str, Any] = {}
        for item_id in event.items:
            item = self._items[item_id]
            noise, skip, dont_know = float(rng.standard_normal()), float(rng.random()), float(rng.random())
            if item.construct is None or skip < p.skip_rate:
                continue
            if item.dont_know and dont_know < p.dont_know_rate:
                answers[item_id] = DONT_KNOW
                continue
            y = eta[item.construct] + p.item_sd * noise
            y = -y if item.reverse else y
            bounds = SCALES[item.scale]
            high = bounds[1] if bounds else 5
            answers[item_id] = bool(y > 0) if item.scale == "yes_no" else likert(y, high)
        if not answers:  # every item skipped: one answer, so the response is not empty
            first = self._items[next(i for i in event.items if self._items[i].construct is not None)]
            bounds = SCALES[first.scale]
            answers[first.id] = DONT_KNOW if first.dont_know else likert(0.0, bounds[1] if bounds else 5)
        return answers

    def _submit_after(self, delay: float, action: Action) -> Generator[Any, Any, None]:
        yield self.ctx.env.timeout(delay)
        action.time = float(self.ctx.env.now)
        self.ctx.submit(action)
