"""``flagship evaluate --extend --max-replications N``: a sequential evaluation of one growing sweep.

The boundary (O'Brien-Fleming-type alpha spending, Lan-DeMets; Bonferroni over the judged
parts) is :mod:`flagship.telemetry._sequential`'s. Stages double the replications from those
stored up to N; at each look every part not yet decided is tested at the look's nominal level,
and a decided part keeps its first decision (that is what the boundary's error guarantee is
about). The evaluation stops at the first look where every criterion is decided, else at N.
The seeds are added to the same sweep (:func:`flagship.sandbox._evidence.extend_sweep`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flagship.sandbox._cli_app import err
from flagship.sandbox._evidence import extend_sweep
from flagship.telemetry import RunStore
from flagship.telemetry._audit import audit_stored
from flagship.telemetry._bootstrap import Verdict
from flagship.telemetry._criteria import CriteriaFile
from flagship.telemetry._inference import Inference
from flagship.telemetry._scorecard import Evaluation, PartResult, criterion_result, evaluate
from flagship.telemetry._sequential import plan_stages
from flagship.telemetry._sweep_data import SweepData

__all__ = ["evaluate_in_stages"]


def evaluate_in_stages(store: RunStore, data: SweepData, criteria: CriteriaFile, source: str,
                       max_replications: int, *, workers: int | None = None,
                       quiet: bool = False) -> Evaluation:
    """Look, extend, look again, until every criterion is decided or ``max_replications`` is reached."""
    probe = evaluate(data, criteria, source=source, correction="none")
    parts = sum(len(c.parts) for c in probe.criteria)
    plan = plan_stages(data.replications, max_replications, 1 - criteria.confidence, parts)
    decided: dict[tuple[int, int], tuple[int, PartResult]] = {}  # (criterion, part) -> (stage, result)
    evaluation = probe
    for stage, (replications, nominal) in enumerate(zip(plan.stages, plan.nominal, strict=True)):
        if replications > data.replications:
            ran, failed = extend_sweep(store, data.sweep, replications, workers=workers)
            if not quiet:
                err.print(f"stage {stage + 1}/{len(plan.stages)}: ran {ran} more runs ({failed} failed) "
                          f"to {replications} replications", highlight=False, markup=False)
            data = SweepData.load(store, data.sweep.id)
        looked = evaluate(data, criteria, source=source, confidence=1 - nominal, correction="none")
        evaluation = _freeze(looked, decided, stage)
        if all(c.verdict is not Verdict.INCONCLUSIVE for c in evaluation.criteria):
            break
    evaluation.confidence = criteria.confidence
    evaluation.correction = "none"
    # the looks tested at their nominal levels; the audit's contrasts are judged at the family alpha
    family = Inference(criteria.confidence, seed=criteria.seed, resamples=criteria.resamples)
    evaluation.audit = audit_stored(data, evaluation.criteria, family)
    evaluation.sequential = {
        "stages": list(plan.stages), "looks": stage + 1, "replications": data.replications,
        "max_replications": max_replications, "parts": parts,
        "nominal_levels": list(plan.nominal), "boundaries_z": list(plan.boundaries),
        "spending": "O'Brien-Fleming-type (Lan-DeMets), Bonferroni over the judged parts",
    }
    return evaluation


def _freeze(looked: Evaluation, decided: dict[tuple[int, int], tuple[int, PartResult]],
            stage: int) -> Evaluation:
    """Keep each part's first decision; record the new ones."""
    results = []
    for result in looked.criteria:
        parts = []
        for index, part in enumerate(result.parts):
            key = (result.index, index)
            if key in decided:
                parts.append(decided[key][1])
                continue
            if part.verdict is not Verdict.INCONCLUSIVE:
                decided[key] = (stage, part)
            parts.append(part)
        data: Any = looked.data
        results.append(criterion_result(data, result.index, result.criterion, result.measure, result.label,
                                         result.target, result.op, result.threshold, parts))
    return dataclasses.replace(looked, criteria=results)
