"""Mechanism search: Optuna's TPE sampler over scenario fields, each trial a stored sweep cell.

A *tune* asks Optuna (:class:`optuna.samplers.TPESampler`, single- or multi-objective) for a
configuration of the searched dotted paths, runs it as a one-cell sweep through the sweep machinery
(:mod:`flagship.sandbox._sweep`) with K replications on every arm, judges the cell against a
criteria file (:func:`flagship.telemetry._scorecard.evaluate`: the constraints) and tells Optuna
the objectives' means (intervals from :mod:`flagship.telemetry._inference`) and one constraint
value per criterion (<= 0 when it passes).

- **Common random numbers.** Every trial runs the same K seeds (``SweepSpec(common_seeds=True)``:
  the seeds of the scenario's own empty cell), so two configurations differ by what they are and
  not by their draws; arms within a trial share them as in any sweep.
- **Resuming.** A trial's sweep id is a digest of its resolved configuration, so a configuration
  already run is found in the store and not run again. Trial *n* is sampled by a sampler seeded
  from (search seed, n) through numpy ``SeedSequence``, after being told trials 0..n-1, so the
  sequence of configurations is a function of the search seed and the stored results: rerunning
  a tune (or giving it more ``--trials``) replays the stored trials without running anything and
  goes on from there. The Optuna study is therefore kept in memory and rebuilt from the store;
  Optuna's own RDB storage cannot share the store's database, whose ``trials`` and
  ``alembic_version`` tables it would collide with.
- **Validation first.** Every searched path is planned at its bounds (or each of its values),
  every objective's and criterion's measure resolved against the scenario's declarations, before
  anything runs: bad input is an :class:`~flagship.mechanisms.InputError`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import StudyDirection
from optuna.trial import TrialState

from flagship.mechanisms import (
    InputError,
    Problem,
    ScenarioError,
    canonical_json,
    seed_sequence,
)
from flagship.sandbox._scenario import ResolvedScenario
from flagship.sandbox._sweep import (
    Axis,
    SweepPlan,
    SweepSpec,
    declared_measures,
    parse_axis,
    parse_range,
    plan_sweep,
    run_sweep,
    split_values,
)
from flagship.telemetry import RunStore
from flagship.telemetry._bootstrap import Verdict
from flagship.telemetry._criteria import CriteriaFile
from flagship.telemetry._inference import Inference, Interval
from flagship.telemetry._scorecard import Evaluation, evaluate
from flagship.telemetry._sweep_data import MeasureInfo, SweepData, resolve_measure

__all__ = ["Objective", "Param", "TrialResult", "Tune", "TuneOutcome", "declared_measures",
           "parse_objective", "parse_param", "run_tune"]

_UNBOUNDED = 1e12  # a constraint value for a criterion with no data: Optuna needs a finite number


@dataclass(frozen=True)
class Param:
    """A searched path: integers or floats in [low, high], or one of ``choices`` (any TOML values)."""

    path: str
    distribution: BaseDistribution
    choices: tuple[Any, ...] = ()

    def value(self, sampled: Any) -> Any:
        """The scenario value of Optuna's sampled parameter (a choice is sampled as its canonical JSON)."""
        if self.choices:
            return self.choices[[canonical_json(c) for c in self.choices].index(sampled)]
        return sampled

    def edges(self) -> tuple[Any, ...]:
        """The values validated before the search: the bounds, or every choice."""
        if self.choices:
            return self.choices
        low, high = self.distribution.low, self.distribution.high  # type: ignore[attr-defined]
        return (low, high)


def parse_param(text: str) -> Param:
    """``path=low:high`` (integers when both bounds are) or ``path=v1,v2,...`` (values read as TOML)."""
    _, sep, rest = text.partition("=")
    items = split_values(rest) if sep else []
    if len(items) == 1 and ":" in items[0] and items[0][:1] not in "\"'[{":
        r = parse_range(text, "--param")
        distribution: BaseDistribution = (IntDistribution(int(r.low), int(r.high)) if r.integer
                                          else FloatDistribution(r.low, r.high))
        return Param(r.path, distribution)
    axis = parse_axis(text, "--param")
    return Param(axis.path, CategoricalDistribution([canonical_json(v) for v in axis.values]), axis.values)


@dataclass(frozen=True)
class Objective:
    """A measure to maximise or minimise: its mean over the trial's seeds, in one arm or over all."""

    measure: MeasureInfo
    arm: str | None
    maximise: bool

    @property
    def label(self) -> str:
        arm = f"@{self.arm}" if self.arm else ""
        return f"{self.measure.qualified}{arm}:{'max' if self.maximise else 'min'}"


def parse_objective(text: str, measures: Mapping[str, MeasureInfo], arms: Sequence[str]) -> Objective:
    """``MEASURE[@ARM][:max|min]``; the direction defaults to the measure's declared better one."""
    name, colon, direction = text.rpartition(":")
    if not colon:
        name, direction = text, ""
    if direction not in ("", "max", "min") or not name:
        raise InputError([Problem("--objective", f"expected MEASURE[@ARM][:max|min], got {text!r}")])
    name, at, arm = name.partition("@")
    measure = resolve_measure(measures, name.strip(), where="--objective")
    if at and arm not in arms:
        raise InputError([Problem("--objective", f"unknown arm {arm!r}; the scenario has: "
                                                 f"{', '.join(a for a in arms if a) or 'none'}")])
    maximise = measure.higher_is_better if not direction else direction == "max"
    return Objective(measure, arm if at else None, maximise)


def check_criteria(criteria: CriteriaFile, measures: Mapping[str, MeasureInfo], arms: Sequence[str],
                   source: str) -> None:
    """Every criterion's measure and arms exist in the scenario (before anything runs)."""
    problems: list[Problem] = []
    for index, criterion in enumerate(criteria.criteria):
        try:
            resolve_measure(measures, criterion.measure, where=f"criteria.{index}.measure")
        except InputError as exc:
            problems.extend(exc.problems)
        named: dict[str, str | None] = {"arm": criterion.arm} if criterion.effect is None else {
            "effect.treatment": criterion.effect.treatment, "effect.control": criterion.effect.control}
        if criterion.contrast is not None:
            named["contrast.arm"] = criterion.contrast.arm
        problems += [Problem(f"criteria.{index}.{where}", f"unknown arm {arm!r}; the scenario has: "
                                                         f"{', '.join(a for a in arms if a) or 'none'}")
                     for where, arm in named.items() if arm is not None and arm not in arms]
    if problems:
        raise InputError(problems, source=source)


# -- the search ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tune:
    """A validated search: the scenario, what to search, what to optimise, what must pass."""

    base: ResolvedScenario
    params: tuple[Param, ...]
    objectives: tuple[Objective, ...]
    criteria: CriteriaFile
    criteria_source: str
    trials: int
    replications: int
    seed: int

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not self.params:
            problems.append(Problem("--param", "name at least one path=low:high or path=v1,v2,... to "
                                               "search (mechanisms declare no search space)"))
        paths = [p.path for p in self.params]
        problems += [Problem("--param", f"{path}: searched more than once")
                     for path in sorted({p for p in paths if paths.count(p) > 1})]
        if not self.objectives:
            problems.append(Problem("--objective", "name at least one MEASURE[:max|min]"))
        labels = [o.label for o in self.objectives]
        problems += [Problem("--objective", f"{label}: given more than once")
                     for label in sorted({x for x in labels if labels.count(x) > 1})]
        if problems:
            raise InputError(problems)
        for param in self.params:  # each bound (or value) alone, on every arm: unknown paths, bad values
            plan_sweep(self.base, SweepSpec(grids=(Axis(param.path, param.edges()),), replications=1))

    def plan(self, sampled: Mapping[str, Any]) -> SweepPlan:
        """The one-cell sweep of a sampled configuration, on the tune's common seeds."""
        grids = tuple(Axis(p.path, (p.value(sampled[p.path]),)) for p in self.params)
        return plan_sweep(self.base, SweepSpec(grids=grids, replications=self.replications,
                                               common_seeds=True))

    def sampler(self, number: int) -> optuna.samplers.BaseSampler:
        """Trial ``number``'s sampler, seeded from (search seed, number): a resumed search samples alike."""
        state = seed_sequence(self.seed, f"tune/sampler/{number}").generate_state(1, dtype="uint32")
        return optuna.samplers.TPESampler(seed=int(state[0]))


@dataclass
class TrialResult:
    """One trial: its configuration, its sweep, its objectives and its scorecard."""

    number: int
    assignment: dict[str, Any]
    sweep_id: str
    objectives: list[Interval] = field(default_factory=list)
    evaluation: Evaluation | None = field(default=None, repr=False)
    failed_runs: int = 0
    problem: str = ""

    @property
    def complete(self) -> bool:
        return self.evaluation is not None and all(i.n > 0 for i in self.objectives)

    @property
    def passes(self) -> bool:
        """Every criterion of the constraints passes (each part at its Holm-adjusted level)."""
        return self.evaluation is not None and not self.failed_runs and \
            all(c.verdict is Verdict.PASS for c in self.evaluation.criteria)

    def constraints(self) -> list[float]:
        """One value per criterion, <= 0 when it passes: how far its deciding interval misses."""
        values = []
        for result in self.evaluation.criteria if self.evaluation else ():
            head = result.headline
            miss = -result.margin(head) if head is not None else _UNBOUNDED
            miss = min(miss, _UNBOUNDED) if math.isfinite(miss) else _UNBOUNDED
            values.append(min(miss, 0.0) if result.verdict is Verdict.PASS else max(miss, 1e-9))
        return values


@dataclass
class TuneOutcome:
    """What one ``flagship tune`` invocation found."""

    tune: Tune
    trials: list[TrialResult]
    front: list[int]  # trial numbers on the Pareto front (of passing trials, else of all)
    front_feasible: bool
    best: TrialResult | None
    ran: int = 0
    skipped: int = 0


def _objective_interval(data: SweepData, objective: Objective, inference: Inference) -> Interval:
    """The mean over seeds of the objective (averaged over its arms on each seed) and its interval."""
    key = objective.measure.key
    arms = [objective.arm] if objective.arm is not None else data.arms
    by_seed: dict[tuple[str, int], list[float]] = {}
    for arm in arms:
        for cell_seed, value in data.samples(key, arm).items():
            by_seed.setdefault(cell_seed, []).append(value)
    values = [sum(v) / len(v) for _, v in sorted(by_seed.items())]
    # per-seed averages are independent across seeds (arms share a seed, seeds do not)
    proportion = len(arms) == 1 and data.is_proportion(key)
    return inference.interval(values, stream=f"tune/{objective.label}", proportion=proportion,
                              bounds=objective.measure.value_range())


def _judge(tune: Tune, number: int, plan: SweepPlan, store: RunStore) -> TrialResult:
    data = SweepData.load(store, plan.sweep_id)
    result = TrialResult(number, dict(plan.cells[0].assignment), plan.sweep_id)
    result.failed_runs = sum(r.status != "completed" for r in data.runs)
    if not any(r.status == "completed" for r in data.runs):
        result.problem = "no run completed"
        return result
    criteria = tune.criteria
    inference = Inference(criteria.confidence, seed=criteria.seed, resamples=criteria.resamples)
    result.evaluation = evaluate(data, criteria, source=tune.criteria_source)
    result.objectives = [_objective_interval(data, o, inference) for o in tune.objectives]
    return result


def run_tune(tune: Tune, store: RunStore, executor: Executor, *, window: int = 256,
             on_trial: Callable[[TrialResult], None] | None = None) -> TuneOutcome:
    """Run (or replay from the store) ``tune.trials`` trials; the caller owns ``executor``."""
    optuna.logging.set_verbosity(logging.WARNING)  # Optuna logs every trial at INFO; we report our own
    directions = [StudyDirection.MAXIMIZE if o.maximise else StudyDirection.MINIMIZE for o in tune.objectives]
    study = optuna.create_study(directions=directions, sampler=tune.sampler(0))
    distributions = {p.path: p.distribution for p in tune.params}
    results: list[TrialResult] = []
    ran = skipped = 0
    for number in range(tune.trials):
        study.sampler = tune.sampler(number)
        trial = study.ask(distributions)
        try:
            plan = tune.plan(trial.params)
        except ScenarioError as exc:  # each value was valid alone; this combination is not
            study.tell(trial, state=TrialState.FAIL)
            result = TrialResult(number, {p.path: p.value(trial.params[p.path]) for p in tune.params}, "",
                                 problem="; ".join(exc.lines()))
        else:
            outcome = run_sweep(plan, store, executor, window=window)
            ran, skipped = ran + outcome.ran, skipped + outcome.skipped
            result = _judge(tune, number, plan, store)
            for index, value in enumerate(result.constraints()):
                trial.set_constraint(f"criterion {index}", value)
            if result.complete:
                study.tell(trial, [i.estimate for i in result.objectives])
            else:
                study.tell(trial, state=TrialState.FAIL)
        results.append(result)
        if on_trial is not None:
            on_trial(result)
    front_feasible = any(r.passes for r in results)
    front = [t.number for t in study.best_trials] if front_feasible else _front(study)
    best = _best(tune, [results[n] for n in front]) if front_feasible else None
    return TuneOutcome(tune, results, sorted(front), front_feasible, best, ran, skipped)


def _front(study: optuna.Study) -> list[int]:
    """The Pareto front of every completed trial, feasible or not (what the search came closest with)."""
    unconstrained = optuna.create_study(directions=study.directions)
    unconstrained.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions,
                                                        values=t.values)
                              for t in study.get_trials(states=(TrialState.COMPLETE,))])
    numbers = {canonical_json([t.params, t.values]) for t in unconstrained.best_trials}
    return [t.number for t in study.get_trials(states=(TrialState.COMPLETE,))
            if canonical_json([t.params, t.values]) in numbers]


def _best(tune: Tune, front: Sequence[TrialResult]) -> TrialResult | None:
    """Of the passing trials on the front: the best first objective, then the earliest trial."""
    passing = [r for r in front if r.passes]
    if not passing:
        return None
    first = tune.objectives[0]
    sign = -1.0 if first.maximise else 1.0
    return min(passing, key=lambda r: (sign * r.objectives[0].estimate, r.number))
