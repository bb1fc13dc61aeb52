"""The flagship scorecard: what a pilot must show, checked against a stored sweep.

A criteria file (TOML) lists criteria on measures, each named ``area.name``
(``ux.sell_through``; unique across the sweep's mechanisms and populations) or
``scope.name`` (``posted_price.sell_through``)::

    title = "Posted-price pilot: ready?"
    confidence = 0.95         # interval level (default 0.95)
    resamples = 2000          # bootstrap resamples (default 2000)
    seed = 0                  # bootstrap seed (default 0)

    [[criteria]]              # a threshold on a measure's mean
    measure = "ux.sell_through"
    op = ">="                 # >=, <=, > or <
    threshold = 0.6
    arm = "discount"          # optional: judge this arm only (default: every arm must pass)
    cells = "every"           # every (default): each cell must pass; pooled: all cells together
    description = "most of the stock sells"

    [[criteria]]              # a required effect of treatment over control (paired by cell, seed)
    measure = "legitimacy.buyer_surplus_per_sale"
    effect = { treatment = "discount", control = "list_price", min = 5.0 }

An effect is the paired improvement of treatment over control in the measure's
declared better direction (treatment - control when higher is better, control -
treatment when lower is better); it must be at least ``min`` (a negative ``min``
states a non-inferiority margin).

Each criterion is judged on one or more parts (arm x cell, or arm pooled over
cells): a part passes when its whole bootstrap interval clears the threshold and
fails when the interval lies entirely on the wrong side. A criterion passes when
all its parts pass, fails when any part fails, and is inconclusive otherwise.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flagship.mechanisms._errors import InputError, Problem
from flagship.telemetry._bootstrap import Interval, Op, Verdict, bootstrap_mean, further_replications, judge
from flagship.telemetry._store_protocol import RunStore, StoredRun, StoredSweep

__all__ = [
    "AREAS",
    "CriteriaFile",
    "Criterion",
    "CriterionResult",
    "Evaluation",
    "MeasureInfo",
    "PartResult",
    "SweepData",
    "cell_label",
    "evaluate",
    "load_criteria",
    "parse_criteria",
]

AREAS = ("legitimacy", "ux", "robustness")


# -- the criteria file --------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Effect(_Strict):
    """``effect = {treatment, control, min}``: treatment must improve on control by at least min."""

    treatment: str = Field(min_length=1)
    control: str = Field(min_length=1)
    min: float = Field(default=0.0, allow_inf_nan=False,
                       description="minimum improvement in the measure's better direction")

    @model_validator(mode="after")
    def _different_arms(self) -> Effect:
        if self.treatment == self.control:
            raise ValueError("treatment and control must be different arms")
        return self


class Criterion(_Strict):
    """One ``[[criteria]]`` entry: a threshold on a measure, or a required effect."""

    measure: str = Field(min_length=3, description="area.name or scope.name")
    name: str = ""
    description: str = ""
    op: Op | None = None
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    arm: str | None = None
    effect: Effect | None = None
    cells: Literal["every", "pooled"] = "every"

    @model_validator(mode="after")
    def _one_kind(self) -> Criterion:
        if self.effect is not None:
            if self.op is not None or self.threshold is not None:
                raise ValueError("give either op and threshold, or effect, not both")
            if self.arm is not None:
                raise ValueError("arm does not apply to an effect (it names treatment and control)")
        elif self.op is None or self.threshold is None:
            raise ValueError("give op and threshold (a threshold criterion) or effect")
        return self


class CriteriaFile(_Strict):
    """A criteria file: title, interval settings and the criteria."""

    title: str = "Flagship scorecard"
    description: str = ""
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    resamples: int = Field(default=2000, ge=100, le=100_000)
    seed: int = Field(default=0, ge=0)
    criteria: list[Criterion] = Field(min_length=1)


def _problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required field is missing"
        elif "input" in error and not isinstance(error["input"], dict):
            message = f"{message}, got {error['input']!r}"
        problems.append(Problem(path, message))
    return problems


def parse_criteria(data: Mapping[str, Any], *, source: str = "") -> CriteriaFile:
    """Validate criteria data; every problem names ``source`` and the field path."""
    try:
        return CriteriaFile.model_validate(dict(data))
    except ValidationError as exc:
        raise InputError(_problems(exc), source=source) from None


def load_criteria(path: str | Path) -> CriteriaFile:
    """Read and validate a criteria TOML file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError([Problem("", "no such file")], source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem("", f"cannot read: {exc}")], source=source) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError([Problem("", f"invalid TOML: {exc}")], source=source) from None
    return parse_criteria(data, source=source)


# -- a sweep's data -----------------------------------------------------------------------


@dataclass(frozen=True)
class MeasureInfo:
    """A measure as declared: ``key`` is ``scope.name``; ``qualified`` is ``area.name``."""

    key: str
    scope: str
    name: str
    area: str
    unit: str
    higher_is_better: bool

    @property
    def qualified(self) -> str:
        return f"{self.area}.{self.name}"


ValueKey = tuple[str, str, int]  # (cell, arm, seed)


@dataclass
class SweepData:
    """A stored sweep's design and every completed run's measures, ready for statistics."""

    sweep: StoredSweep
    arms: list[str]
    cells: list[dict[str, Any]]  # {"key", "assignment"} in design order
    measures: dict[str, MeasureInfo]
    values: dict[str, dict[ValueKey, float | None]]
    runs: list[StoredRun] = field(repr=False)
    series: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @classmethod
    def load(cls, store: RunStore, sweep_id: str, *, with_series: bool = False) -> SweepData:
        """Read a sweep (or a ``flagship run`` batch) by id or unique id prefix."""
        sweep = store.sweep(sweep_id)
        runs = store.runs(sweep_id=sweep.id)
        rows = store.sweep_measures(sweep.id)
        arms = [str(a) for a in sweep.spec.get("arms", [])]
        for run in runs:
            if run.arm not in arms:
                arms.append(run.arm)
        cells = [{"key": c["key"], "assignment": c.get("assignment", {})}
                 for c in sweep.spec.get("cells", [])]
        known = {c["key"] for c in cells}
        for run in sorted(runs, key=lambda r: r.cell):
            if run.cell not in known:
                known.add(run.cell)
                cells.append({"key": run.cell, "assignment": {}})
        infos: dict[str, MeasureInfo] = {}
        values: dict[str, dict[ValueKey, float | None]] = {}
        for row in rows:
            key = f"{row['scope']}.{row['name']}"
            if key not in infos:
                infos[key] = MeasureInfo(key, row["scope"], row["name"], row["area"], row["unit"],
                                         bool(row["higher_is_better"]))
            values.setdefault(key, {})[(row["cell"], row["arm"], int(row["seed"]))] = row["value"]
        order = {area: i for i, area in enumerate(AREAS)}
        infos = dict(sorted(infos.items(), key=lambda kv: (order.get(kv[1].area, len(order)), kv[0])))
        series = store.sweep_series(sweep.id) if with_series else []
        return cls(sweep, arms, cells, infos, values, runs, series)

    @property
    def replications(self) -> int:
        """Replications per cell and arm (the design's, else the most stored for one)."""
        declared = self.sweep.spec.get("replications")
        if isinstance(declared, int):
            return declared
        counts: dict[tuple[str, str], int] = {}
        for run in self.runs:
            counts[(run.cell, run.arm)] = counts.get((run.cell, run.arm), 0) + 1
        return max(counts.values(), default=0)

    def resolve_measure(self, name: str, *, where: str = "measure") -> MeasureInfo:
        """The measure called ``scope.name`` or ``area.name`` (unique across scopes)."""
        if name in self.measures:
            return self.measures[name]
        area, _, short = name.partition(".")
        candidates = [m for m in self.measures.values() if m.area == area and m.name == short]
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            listed = ", ".join(sorted(m.key for m in candidates))
            raise InputError([Problem(where, f"{name!r} is ambiguous; name one of: {listed}")])
        known = ", ".join(f"{m.qualified} ({m.key})" for m in self.measures.values()) or "none"
        raise InputError([Problem(where, f"unknown measure {name!r}; known: {known}")])

    def samples(self, measure: str, arm: str, cell: str | None = None) -> dict[tuple[str, int], float]:
        """(cell, seed) -> defined value of ``measure`` in ``arm`` (one cell, or all)."""
        return {(c, s): float(v) for (c, a, s), v in self.values.get(measure, {}).items()
                if a == arm and (cell is None or c == cell) and v is not None and math.isfinite(v)}

    def paired(self, measure: str, treatment: str, control: str,
               cell: str | None = None) -> list[float]:
        """treatment - control, matched by (cell, seed) where both are defined, in key order."""
        t = self.samples(measure, treatment, cell)
        c = self.samples(measure, control, cell)
        return [t[k] - c[k] for k in sorted(t.keys() & c.keys())]


# -- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PartResult:
    """One judged part of a criterion: an arm (or an effect) in one cell, or pooled."""

    arm: str
    cell: str | None
    interval: Interval
    verdict: Verdict
    further: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"arm": self.arm, "cell": self.cell, **self.interval.to_dict(),
                "verdict": self.verdict.value, "further_replications": self.further}


@dataclass(frozen=True)
class CriterionResult:
    """A criterion's verdict, with the parts it was judged on."""

    index: int
    criterion: Criterion
    measure: MeasureInfo
    label: str
    target: str
    verdict: Verdict
    further: int | None
    parts: tuple[PartResult, ...]

    op: Op = ">="
    threshold: float = 0.0

    def margin(self, part: PartResult) -> float:
        """How far the part's interval clears the threshold (negative: on the wrong side)."""
        interval = part.interval
        if not (math.isfinite(interval.low) and math.isfinite(interval.high)):
            return -math.inf
        return interval.low - self.threshold if self.op in (">=", ">") else self.threshold - interval.high

    @property
    def headline(self) -> PartResult | None:
        """The deciding part: the worst failing one, else the least decided, else the tightest pass."""
        failing = [p for p in self.parts if p.verdict is Verdict.FAIL]
        if failing:
            return min(failing, key=self.margin)
        undecided = [p for p in self.parts if p.verdict is Verdict.INCONCLUSIVE]
        if undecided:
            return max(undecided, key=lambda p: math.inf if p.further is None else p.further)
        return min(self.parts, key=self.margin) if self.parts else None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "label": self.label, "measure": self.measure.key,
                "area": self.measure.area, "unit": self.measure.unit,
                "kind": "effect" if self.criterion.effect else "threshold", "target": self.target,
                "description": self.criterion.description, "cells": self.criterion.cells,
                "verdict": self.verdict.value, "further_replications": self.further,
                "parts": [p.to_dict() for p in self.parts]}


@dataclass
class Evaluation:
    """Estimates, paired differences and (with criteria) the scorecard of one sweep."""

    data: SweepData
    title: str
    confidence: float
    resamples: int
    seed: int
    pooled: dict[str, dict[str, Interval]]  # measure -> arm -> interval over every cell
    by_cell: dict[str, dict[str, dict[str, Interval]]]  # measure -> arm -> cell -> interval
    differences: dict[str, dict[str, Interval]]  # measure -> "arm - control" -> paired interval
    criteria: list[CriterionResult]

    @property
    def verdict(self) -> Verdict | None:
        """PASS when every criterion passes; FAIL when any fails; else INCONCLUSIVE (None: no criteria)."""
        if not self.criteria:
            return None
        return _combine([c.verdict for c in self.criteria])

    @property
    def counts(self) -> dict[str, int]:
        return {v.value: sum(c.verdict is v for c in self.criteria) for v in Verdict}

    def to_dict(self) -> dict[str, Any]:
        data = self.data
        return {
            "sweep": data.sweep.id, "scenario": data.sweep.scenario, "kind": data.sweep.kind,
            "title": self.title, "confidence": self.confidence, "resamples": self.resamples,
            "seed": self.seed, "arms": data.arms, "cells": data.cells,
            "replications": data.replications,
            "runs": {"completed": sum(r.status == "completed" for r in data.runs),
                     "failed": sum(r.status != "completed" for r in data.runs)},
            "verdict": self.verdict.value if self.verdict else None,
            "counts": self.counts if self.criteria else {},
            "criteria": [c.to_dict() for c in self.criteria],
            "measures": {
                key: {"scope": m.scope, "name": m.name, "area": m.area, "unit": m.unit,
                      "higher_is_better": m.higher_is_better,
                      "arms": {arm: i.to_dict() for arm, i in self.pooled[key].items()},
                      "differences": {d: i.to_dict() for d, i in self.differences[key].items()},
                      "cells": {arm: {cell: i.to_dict() for cell, i in cells.items()}
                                for arm, cells in self.by_cell[key].items()}}
                for key, m in data.measures.items()
            },
        }


def cell_label(assignment: Mapping[str, Any]) -> str:
    """``path=value, ...``: a cell as a person reads it (values as JSON)."""
    return ", ".join(f"{path}={json.dumps(value)}" for path, value in assignment.items())


def _combine(verdicts: Sequence[Verdict]) -> Verdict:
    if any(v is Verdict.FAIL for v in verdicts):
        return Verdict.FAIL
    if verdicts and all(v is Verdict.PASS for v in verdicts):
        return Verdict.PASS
    return Verdict.INCONCLUSIVE


def _fmt(value: float) -> str:
    return f"{value:g}"


def evaluate(data: SweepData, criteria: CriteriaFile | None = None, *, source: str = "",
             confidence: float | None = None, resamples: int | None = None,
             seed: int | None = None) -> Evaluation:
    """Estimate every measure per arm (pooled and per cell), paired differences, and the scorecard.

    Interval settings come from the criteria file unless given. Criteria that name an
    unknown measure or arm raise :class:`InputError` naming ``source`` and the field.
    """
    confidence = confidence if confidence is not None else (criteria.confidence if criteria else 0.95)
    resamples = resamples if resamples is not None else (criteria.resamples if criteria else 2000)
    seed = seed if seed is not None else (criteria.seed if criteria else 0)

    def interval(values: Sequence[float], stream: str) -> Interval:
        return bootstrap_mean(values, seed=seed, stream=stream, resamples=resamples,
                              confidence=confidence)

    pooled: dict[str, dict[str, Interval]] = {}
    by_cell: dict[str, dict[str, dict[str, Interval]]] = {}
    differences: dict[str, dict[str, Interval]] = {}
    control = data.arms[0] if data.arms else ""
    for key in data.measures:
        pooled[key] = {arm: interval(list(data.samples(key, arm).values()), f"{key}/{arm}")
                       for arm in data.arms}
        by_cell[key] = {arm: {c["key"]: interval(list(data.samples(key, arm, c["key"]).values()),
                                                 f"{key}/{arm}/{c['key']}")
                              for c in data.cells}
                        for arm in data.arms}
        differences[key] = {f"{arm} - {control}": interval(data.paired(key, arm, control),
                                                           f"{key}/{arm}-{control}")
                            for arm in data.arms[1:]}
    results = _judge_all(data, criteria, source, interval) if criteria else []
    return Evaluation(data, criteria.title if criteria else "Sweep measures", confidence, resamples,
                      seed, pooled, by_cell, differences, results)


def _judge_all(data: SweepData, criteria: CriteriaFile, source: str,
               interval: Any) -> list[CriterionResult]:
    problems: list[Problem] = []
    resolved: list[tuple[int, Criterion, MeasureInfo]] = []
    for index, criterion in enumerate(criteria.criteria):
        where = f"criteria.{index}"
        try:
            measure = data.resolve_measure(criterion.measure, where=f"{where}.measure")
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        named = ([criterion.arm] if criterion.arm is not None else []) if criterion.effect is None else \
            [criterion.effect.treatment, criterion.effect.control]
        fields = ["arm"] if criterion.effect is None else ["effect.treatment", "effect.control"]
        for arm, field_name in zip(named, fields, strict=False):
            if arm not in data.arms:
                problems.append(Problem(f"{where}.{field_name}", f"unknown arm {arm!r}; the sweep has: "
                                                                 f"{', '.join(data.arms) or 'none'}"))
        resolved.append((index, criterion, measure))
    if problems:
        raise InputError(problems, source=source)
    return [_judge(data, index, criterion, measure, interval) for index, criterion, measure in resolved]


def _judge(data: SweepData, index: int, criterion: Criterion, measure: MeasureInfo,
           interval: Any) -> CriterionResult:
    cells: list[str | None] = ([c["key"] for c in data.cells] if criterion.cells == "every"
                               else [None])
    parts: list[PartResult] = []
    if criterion.effect is not None:
        effect = criterion.effect
        sign = 1.0 if measure.higher_is_better else -1.0
        op: Op = ">="
        threshold = effect.min
        arrow = "↑" if measure.higher_is_better else "↓"
        label = criterion.name or f"{measure.qualified}: {effect.treatment} vs {effect.control}"
        target = (f"improvement ({arrow} better) of {effect.treatment} over {effect.control} "
                  f">= {_fmt(effect.min)} {measure.unit}")
        for cell in cells:
            diffs = [sign * d for d in data.paired(measure.key, effect.treatment, effect.control, cell)]
            ci = interval(diffs, f"criterion/{index}/{cell}")
            verdict = judge(ci, op, threshold)
            parts.append(PartResult(f"{effect.treatment} - {effect.control}", cell, ci, verdict,
                                    further_replications(ci, threshold, verdict)))
    else:
        if criterion.op is None or criterion.threshold is None:  # the model refuses this already
            raise InputError([Problem(f"criteria.{index}", "give op and threshold, or effect")])
        op, threshold = criterion.op, criterion.threshold
        arms = [criterion.arm] if criterion.arm is not None else data.arms
        label = criterion.name or f"{measure.qualified} {op} {_fmt(threshold)}"
        target = f"{op} {_fmt(threshold)} {measure.unit}" + (f" (arm {criterion.arm})" if criterion.arm
                                                               else "")
        for arm in arms:
            for cell in cells:
                values = list(data.samples(measure.key, arm, cell).values())
                ci = interval(values, f"criterion/{index}/{arm}/{cell}")
                verdict = judge(ci, op, threshold)
                parts.append(PartResult(arm, cell, ci, verdict,
                                        further_replications(ci, threshold, verdict)))
    verdict = _combine([p.verdict for p in parts])
    undecided = [p.further for p in parts if p.verdict is Verdict.INCONCLUSIVE]
    if verdict is not Verdict.INCONCLUSIVE:
        further: int | None = 0
    elif any(f is None for f in undecided):
        further = None
    else:
        further = max(f for f in undecided if f is not None)
        if criterion.cells == "pooled" and len(data.cells) > 1:
            # a pooled interval is over cells x replications: spread the extra runs over the cells
            further = math.ceil(further / len(data.cells))
    return CriterionResult(index, criterion, measure, label, target, verdict, further, tuple(parts), op,
                           threshold)
