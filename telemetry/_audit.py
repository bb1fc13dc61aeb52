"""The audit: can each criterion of a scorecard fail?

A criterion that cannot fail is no evidence. The audit reports, per criterion:

- **vacuous** when its measure is constant across every run, arm and cell of the sweep,
  or never defined: no arm or cell could be told apart, whatever the threshold says;
- under its **contrast** (``contrast = { arm = ... }`` or ``{ set = {...} }`` in the
  criteria file, where the criterion *should* fail): the verdict there, judged at the
  family level alpha without correction (one check per criterion). An arm contrast
  is judged on the stored sweep (a threshold criterion on that arm; an effect with
  that arm as its treatment); a ``set`` contrast is one extra sweep cell that the
  driver runs (``flagship evaluate --audit``) and hands to :func:`judge_contrast`.

A vacuous criterion, or one that does not fail under its contrast, never counts as a
pass: the scorecard's verdict (``Evaluation.verdict`` in :mod:`flagship.telemetry._scorecard`)
is then at best inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from flagship.telemetry._bootstrap import Verdict
from flagship.telemetry._criteria import Criterion, Effect
from flagship.telemetry._inference import Inference
from flagship.telemetry._parts import AuditFinding, CriterionResult, combine, criterion_parts, judge_parts
from flagship.telemetry._sweep_data import SweepData

__all__ = ["audit_stored", "judge_contrast", "vacuity", "with_contrast_run"]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def vacuity(data: SweepData, measure: str) -> tuple[bool, str]:
    """(vacuous, why): the measure is constant across all runs and arms, or never defined."""
    values = data.defined_values(measure)
    runs = sum(run.status == "completed" for run in data.runs)
    if not values:
        return True, f"never defined in {runs} runs"
    if len(set(values)) == 1:
        return True, f"constant at {_fmt(values[0])} in all {len(values)} runs and arms"
    return False, f"varies ({_fmt(min(values))} to {_fmt(max(values))})"


def _under_arm(criterion: Criterion, arm: str) -> Criterion:
    if criterion.effect is not None:
        effect = Effect.model_construct(treatment=arm, control=criterion.effect.control,
                                        min=criterion.effect.min)
        return criterion.model_copy(update={"effect": effect})
    return criterion.model_copy(update={"arm": arm})


def judge_contrast(data: SweepData, result: CriterionResult, criterion: Criterion,
                   inference: Inference) -> tuple[Verdict, str]:
    """The criterion's verdict (and deciding estimate) in ``data`` at the family alpha, uncorrected."""
    _, _, op, threshold, samples = criterion_parts(data, result.index, criterion, result.measure)
    if criterion.effect is not None and criterion.effect.treatment == criterion.effect.control:
        samples = [s for s in samples if s.values]  # an arm against itself: every difference is 0
    parts = judge_parts(inference, samples, threshold, op, 1 - inference.confidence)
    verdict = combine([p.verdict for p in parts]) if parts else Verdict.INCONCLUSIVE
    deciding = min(parts, key=lambda p: (p.verdict is not Verdict.FAIL, -abs(p.interval.estimate)
                                         if math.isfinite(p.interval.estimate) else 0.0), default=None)
    if deciding is None or deciding.interval.n == 0:
        return verdict, "no data"
    ci = deciding.interval
    text = (f"{_fmt(ci.estimate)} [{_fmt(ci.low)}, {_fmt(ci.high)}] {ci.method}"
            if math.isfinite(ci.low) else f"{_fmt(ci.estimate)} (n={ci.n})")
    return verdict, text


def audit_stored(data: SweepData, results: Sequence[CriterionResult],
                 inference: Inference) -> dict[int, AuditFinding]:
    """Vacuity of every criterion and the verdict under each arm contrast (no runs needed)."""
    findings = {}
    for result in results:
        vacuous, reason = vacuity(data, result.measure.key)
        contrast = result.criterion.contrast
        finding = AuditFinding(vacuous, reason, contrast.describe() if contrast else None)
        if contrast is not None and contrast.arm is not None:
            verdict, estimate = judge_contrast(data, result, _under_arm(result.criterion, contrast.arm),
                                               inference)
            finding = AuditFinding(vacuous, reason, contrast.describe(), verdict, estimate)
        findings[result.index] = finding
    return findings


def with_contrast_run(finding: AuditFinding, data: SweepData, result: CriterionResult,
                      inference: Inference) -> AuditFinding:
    """``finding`` completed by the criterion judged in a ``set`` contrast's extra sweep ``data``."""
    verdict, estimate = judge_contrast(data, result, result.criterion, inference)
    return AuditFinding(finding.vacuous, finding.reason, finding.contrast, verdict, estimate)
