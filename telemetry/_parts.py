"""The parts a criterion is judged on, their results, and the audit's finding per criterion.

A criterion is judged on *parts*: one per arm and cell (or arm pooled over cells; an effect
is one part per cell, or pooled). :func:`criterion_parts` lists a criterion's parts in a
sweep; :func:`judge_parts` tests them at a level with :mod:`flagship.telemetry._inference`;
:func:`criterion_result` combines them (pass when all pass, fail when any fails). The
scorecard (:mod:`flagship.telemetry._scorecard`) and the audit (:mod:`flagship.telemetry._audit`)
both judge through these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flagship.mechanisms._errors import InputError, Problem
from flagship.telemetry._bootstrap import Op, Verdict, judge
from flagship.telemetry._criteria import Criterion
from flagship.telemetry._inference import Inference, Interval, power_replications
from flagship.telemetry._sweep_data import MeasureInfo, SweepData

__all__ = ["AuditFinding", "CriterionResult", "PartResult", "PartSample", "combine", "criterion_parts",
           "criterion_result", "judge_parts"]


@dataclass(frozen=True)
class PartSample:
    """What one part of a criterion is judged on: its values (differences for an effect)."""

    arm: str
    cell: str | None
    values: list[float]
    paired: bool
    proportion: bool
    stream: str
    bounds: tuple[float, float] | None = None


@dataclass(frozen=True)
class PartResult:
    """One judged part of a criterion: an arm (or an effect) in one cell, or pooled."""

    arm: str
    cell: str | None
    interval: Interval
    verdict: Verdict
    further: int | None
    p_value: float = 1.0
    level: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return {"arm": self.arm, "cell": self.cell, **self.interval.to_dict(),
                "p_value": self.p_value, "adjusted_level": self.level,
                "verdict": self.verdict.value, "further_replications": self.further,
                "further_is_estimate": True}


@dataclass(frozen=True)
class AuditFinding:
    """Can the criterion fail? ``vacuous``: its measure is constant or undefined; ``contrast``: its
    verdict where it should fail (None: no contrast named, or not run); ``witness``: without a
    contrast, a stored run (arm, seed) at or past the criterion's threshold ("" when none exists)."""

    vacuous: bool
    reason: str
    contrast: str | None = None
    contrast_verdict: Verdict | None = None
    contrast_estimate: str = ""
    witness: str = ""

    @property
    def status(self) -> str:
        """ok, vacuous, never fails (under its contrast), contrast not run, witness run (no contrast,
        but a run at or past the threshold), or never reaches threshold (no contrast, and no run)."""
        if self.vacuous:
            return "vacuous"
        if self.contrast is None:
            return "witness run" if self.witness else "never reaches threshold"
        if self.contrast_verdict is None:
            return "contrast not run"
        return "ok" if self.contrast_verdict is Verdict.FAIL else "never fails"

    @property
    def blocks_pass(self) -> bool:
        """Never counted as a pass: a vacuous criterion, one shown not to fail under its contrast, and
        one with no contrast whose threshold no stored run of any arm reaches (nothing shows it can
        fail)."""
        return self.status in ("vacuous", "never fails", "never reaches threshold")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "vacuous": self.vacuous, "reason": self.reason,
                "contrast": self.contrast,
                "contrast_verdict": self.contrast_verdict.value if self.contrast_verdict else None,
                "contrast_estimate": self.contrast_estimate, "witness": self.witness or None}


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


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    if any(v is Verdict.FAIL for v in verdicts):
        return Verdict.FAIL
    if verdicts and all(v is Verdict.PASS for v in verdicts):
        return Verdict.PASS
    return Verdict.INCONCLUSIVE


def _fmt(value: float) -> str:
    return f"{value:g}"


def criterion_parts(data: SweepData, index: int, criterion: Criterion,
                    measure: MeasureInfo) -> tuple[str, str, Op, float, list[PartSample]]:
    """(label, target, op, threshold, parts): what a criterion is judged on in ``data``."""
    cells: list[str | None] = ([c["key"] for c in data.cells] if criterion.cells == "every"
                               else [None])
    parts: list[PartSample] = []
    if criterion.effect is not None:
        effect = criterion.effect
        sign = 1.0 if measure.higher_is_better else -1.0
        arrow = "↑" if measure.higher_is_better else "↓"
        label = criterion.name or f"{measure.qualified}: {effect.treatment} vs {effect.control}"
        target = (f"improvement ({arrow} better) of {effect.treatment} over {effect.control} "
                  f">= {_fmt(effect.min)} {measure.unit}")
        for cell in cells:
            diffs = [sign * d for d in data.paired(measure.key, effect.treatment, effect.control, cell)]
            parts.append(PartSample(f"{effect.treatment} - {effect.control}", cell, diffs, True, False,
                                    f"criterion/{index}/{cell}", measure.difference_range()))
        return label, target, ">=", effect.min, parts
    if criterion.op is None or criterion.threshold is None:  # the model refuses this already
        raise InputError([Problem(f"criteria.{index}", "give op and threshold, or effect")])
    arms = [criterion.arm] if criterion.arm is not None else data.arms
    label = criterion.name or f"{measure.qualified} {criterion.op} {_fmt(criterion.threshold)}"
    target = f"{criterion.op} {_fmt(criterion.threshold)} {measure.unit}" + (
        f" (arm {criterion.arm})" if criterion.arm else "")
    proportion = data.is_proportion(measure.key)
    for arm in arms:
        for cell in cells:
            values = list(data.samples(measure.key, arm, cell).values())
            parts.append(PartSample(arm, cell, values, False, proportion, f"criterion/{index}/{arm}/{cell}",
                                    measure.value_range()))
    return label, target, criterion.op, criterion.threshold, parts


def judge_parts(inference: Inference, samples: Sequence[PartSample], threshold: float, op: Op,
                level: float) -> list[PartResult]:
    """Judge parts at one two-sided level: each interval at 1 - level, verdict, power estimate."""
    results = []
    for sample in samples:
        test = inference.test(sample.values, threshold, stream=sample.stream, paired=sample.paired,
                              proportion=sample.proportion)
        ci = inference.interval(sample.values, stream=sample.stream, paired=sample.paired,
                                proportion=sample.proportion, confidence=1 - level, bounds=sample.bounds)
        verdict = judge(ci, op, threshold)
        further = 0 if verdict is not Verdict.INCONCLUSIVE else power_replications(ci, threshold, level)
        results.append(PartResult(sample.arm, sample.cell, ci, verdict, further, test.two_sided, level))
    return results


def criterion_result(data: SweepData, index: int, criterion: Criterion, measure: MeasureInfo, label: str,
                      target: str, op: Op, threshold: float, parts: list[PartResult]) -> CriterionResult:
    verdict = combine([p.verdict for p in parts])
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
