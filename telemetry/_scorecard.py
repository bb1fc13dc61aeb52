"""The flagship scorecard: a stored sweep judged against a criteria file, with controlled error.

The criteria file's format is in :mod:`flagship.telemetry._criteria`; the sweep's data in
:mod:`flagship.telemetry._sweep_data`; the intervals and tests in
:mod:`flagship.telemetry._inference`.

Each criterion is judged on one or more *parts* (arm x cell, or arm pooled over cells; an
effect is one part per cell, or pooled). Every part is a test of its threshold, and the
scorecard's parts form one family: their two-sided p-values are corrected together
(:mod:`flagship.telemetry._multiplicity`, Holm by default), which gives each part its
*adjusted level* alpha_i. A part's interval is printed at confidence 1 - alpha_i, and

- **pass**: the interval clears the threshold, i.e. the one-sided test of "does not meet"
  is rejected at alpha_i / 2;
- **fail**: the interval lies wholly on the wrong side, i.e. "meets" is rejected;
- **inconclusive**: neither is rejected.

A criterion passes when all its parts pass, fails when any part fails, and is
inconclusive otherwise. Because every part's decision is corrected across the whole
family, a wrong verdict on any criterion (a false pass or a false fail) happens with
probability at most alpha = 1 - confidence under Holm.

For an inconclusive part, "more replications" is a power-based *estimate*
(:func:`~flagship.telemetry._inference.power_replications`): the replications at which
the part's test at alpha_i would have 80% power against the observed distance from the
threshold, given the observed standard deviation, capped at 10,000.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flagship.mechanisms._errors import InputError, Problem
from flagship.telemetry._audit import audit_stored
from flagship.telemetry._bootstrap import Verdict
from flagship.telemetry._criteria import (
    Contrast,
    CriteriaFile,
    Criterion,
    Effect,
    criteria_sha256,
    load_criteria,
    parse_criteria,
)
from flagship.telemetry._inference import Inference, Interval
from flagship.telemetry._multiplicity import Correction, adjusted_levels
from flagship.telemetry._parts import (
    AuditFinding,
    CriterionResult,
    PartResult,
    PartSample,
    combine,
    criterion_parts,
    criterion_result,
    judge_parts,
)
from flagship.telemetry._sweep_data import AREAS, MeasureInfo, SweepData

__all__ = [
    "AREAS",
    "AuditFinding",
    "Contrast",
    "CriteriaFile",
    "Criterion",
    "CriterionResult",
    "Effect",
    "Evaluation",
    "MeasureInfo",
    "PartResult",
    "PartSample",
    "SweepData",
    "cell_label",
    "criteria_sha256",
    "criterion_parts",
    "criterion_result",
    "evaluate",
    "judge_parts",
    "load_criteria",
    "parse_criteria",
]


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
    correction: Correction = "holm"
    audit: dict[int, AuditFinding] = field(default_factory=dict)  # criterion index -> finding
    registration: dict[str, Any] | None = None  # the preregistration check (see the CLI)
    sequential: dict[str, Any] | None = None  # the stages of a sequential evaluation, if it was one

    @property
    def alpha(self) -> float:
        return 1 - self.confidence

    @property
    def verdict(self) -> Verdict | None:
        """FAIL when any criterion fails; PASS when every one passes and none is flagged by the audit
        (vacuous, or not failing under its contrast); else INCONCLUSIVE (None: no criteria)."""
        if not self.criteria:
            return None
        combined = combine([c.verdict for c in self.criteria])
        if combined is Verdict.PASS and any(f.blocks_pass for f in self.audit.values()):
            return Verdict.INCONCLUSIVE
        return combined

    @property
    def counts(self) -> dict[str, int]:
        counts = {v.value: sum(c.verdict is v for c in self.criteria) for v in Verdict}
        counts["flagged"] = sum(f.blocks_pass for f in self.audit.values())
        return counts

    def to_dict(self) -> dict[str, Any]:
        data = self.data
        return {
            "sweep": data.sweep.id, "scenario": data.sweep.scenario, "kind": data.sweep.kind,
            "title": self.title, "confidence": self.confidence, "correction": self.correction,
            "resamples": self.resamples, "seed": self.seed, "arms": data.arms, "cells": data.cells,
            "replications": data.replications,
            "runs": {"completed": sum(r.status == "completed" for r in data.runs),
                     "failed": sum(r.status != "completed" for r in data.runs)},
            "verdict": self.verdict.value if self.verdict else None,
            "counts": self.counts if self.criteria else {},
            "criteria": [{**c.to_dict(), "audit": self.audit[c.index].to_dict()
                          if c.index in self.audit else None} for c in self.criteria],
            "registration": self.registration, "sequential": self.sequential,
            "measures": {
                key: {"scope": m.scope, "name": m.name, "area": m.area, "unit": m.unit,
                      "higher_is_better": m.higher_is_better, "constant": data.is_constant(key),
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


def evaluate(data: SweepData, criteria: CriteriaFile | None = None, *, source: str = "",
             confidence: float | None = None, resamples: int | None = None,
             seed: int | None = None, correction: Correction | None = None) -> Evaluation:
    """Estimate every measure per arm (pooled and per cell), paired differences, and the scorecard.

    Interval settings and the correction come from the criteria file unless given. Criteria
    that name an unknown measure or arm raise :class:`InputError` naming ``source`` and the
    field. The audit's stored-data part (vacuous measures, arm contrasts) is filled in; a
    ``set`` contrast needs runs (:func:`flagship.telemetry._audit.run_set_contrasts`).
    """
    confidence = confidence if confidence is not None else (criteria.confidence if criteria else 0.95)
    resamples = resamples if resamples is not None else (criteria.resamples if criteria else 2000)
    seed = seed if seed is not None else (criteria.seed if criteria else 0)
    correction = correction or (criteria.correction if criteria else "holm")
    inference = Inference(confidence, seed=seed, resamples=resamples)
    pooled: dict[str, dict[str, Interval]] = {}
    by_cell: dict[str, dict[str, dict[str, Interval]]] = {}
    differences: dict[str, dict[str, Interval]] = {}
    control = data.arms[0] if data.arms else ""
    for key in data.measures:
        proportion = data.is_proportion(key)
        bounds = data.measures[key].value_range()
        pooled[key] = {arm: inference.interval(data.samples(key, arm).values(), stream=f"{key}/{arm}",
                                               proportion=proportion, bounds=bounds)
                       for arm in data.arms}
        by_cell[key] = {arm: {c["key"]: inference.interval(data.samples(key, arm, c["key"]).values(),
                                                           stream=f"{key}/{arm}/{c['key']}",
                                                           proportion=proportion, bounds=bounds)
                              for c in data.cells}
                        for arm in data.arms}
        differences[key] = {f"{arm} - {control}": inference.interval(
            data.paired(key, arm, control), stream=f"{key}/{arm}-{control}", paired=True,
            bounds=data.measures[key].difference_range())
            for arm in data.arms[1:]}
    results = _judge_all(data, criteria, source, inference, correction) if criteria else []
    evaluation = Evaluation(data, criteria.title if criteria else "Sweep measures", confidence, resamples,
                            seed, pooled, by_cell, differences, results, correction)
    if criteria:
        evaluation.audit = audit_stored(data, results, inference)
    return evaluation


def _resolve(data: SweepData, criteria: CriteriaFile,
             source: str) -> list[tuple[int, Criterion, MeasureInfo]]:
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
        if criterion.contrast is not None and criterion.contrast.arm is not None:
            named.append(criterion.contrast.arm)
            fields.append("contrast.arm")
        for arm, field_name in zip(named, fields, strict=False):
            if arm not in data.arms:
                problems.append(Problem(f"{where}.{field_name}", f"unknown arm {arm!r}; the sweep has: "
                                                                 f"{', '.join(data.arms) or 'none'}"))
        resolved.append((index, criterion, measure))
    if problems:
        raise InputError(problems, source=source)
    return resolved


def _judge_all(data: SweepData, criteria: CriteriaFile, source: str, inference: Inference,
               correction: Correction) -> list[CriterionResult]:
    resolved = _resolve(data, criteria, source)
    planned = [(index, criterion, measure, *criterion_parts(data, index, criterion, measure))
               for index, criterion, measure in resolved]
    p_values = [inference.test(s.values, threshold, stream=s.stream, paired=s.paired,
                               proportion=s.proportion).two_sided
                for *_, threshold, samples in planned for s in samples]
    levels = iter(adjusted_levels(p_values, 1 - inference.confidence, correction))
    results = []
    for index, criterion, measure, label, target, op, threshold, samples in planned:
        parts: list[PartResult] = []
        for sample in samples:
            parts.extend(judge_parts(inference, [sample], threshold, op, next(levels)))
        results.append(criterion_result(data, index, criterion, measure, label, target, op, threshold,
                                          parts))
    return results
