"""The audit: can each criterion of a scorecard fail?

A criterion that cannot fail is no evidence. The audit reports, per criterion:

- **vacuous** when its measure is constant across every run, arm and cell of the sweep,
  or never defined: no arm or cell could be told apart, whatever the threshold says;
- under its **contrast** (``contrast = { arm = ... }`` or ``{ set = {...} }`` in the
  criteria file, where the criterion *should* fail): the verdict there, judged at the
  family level alpha without correction (one check per criterion). An arm contrast
  is judged on the stored sweep (a threshold criterion on that arm; an effect with
  that arm as its treatment); a ``set`` contrast is one extra sweep cell that the
  driver runs (``flagship evaluate --audit``) and hands to :func:`judge_contrast`;
- without a contrast, a **witness run**: the stored run that reaches furthest toward the
  criterion's failing side, at its threshold or past it, in any arm and cell (a threshold
  criterion: a run whose value is at or past the threshold; an effect: a seed on which some
  arm other than the control, against the control, improves by the minimum or less). A run
  on the threshold counts: the data reach the boundary, so the criterion is not decided by a
  threshold set far from anything observed. An effect whose minimum is above 0 is falsifiable
  by design: no effect at all fails it. No such run: **never reaches threshold**.

A vacuous criterion, one that does not fail under its contrast, and one with no contrast
whose threshold no run reaches never count as a pass: nothing shows that they could fail, so the
scorecard's verdict (``Evaluation.verdict`` in :mod:`flagship.telemetry._scorecard`) is
then at best inconclusive. A witness run is weaker evidence than a contrast (one run, not
a verdict), so a criteria file should name a contrast for each criterion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from flagship.telemetry._bootstrap import Verdict
from flagship.telemetry._criteria import Criterion, Effect
from flagship.telemetry._inference import Inference
from flagship.telemetry._parts import AuditFinding, CriterionResult, combine, criterion_parts, judge_parts
from flagship.telemetry._sweep_data import MeasureInfo, SweepData

__all__ = ["audit_stored", "failing_witness", "judge_contrast", "vacuity", "with_contrast_run"]


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


_ROUNDING = 1e-9
"""Relative slack within which a value counts as on the threshold: two equal shares may differ by
1e-17 after subtraction."""


def _past(value: float, op: str, threshold: float) -> float | None:
    """How far ``value`` lies at or past ``op threshold`` toward failing (None: short of it)."""
    toward_failing = threshold - value if op in (">=", ">") else value - threshold
    if toward_failing >= -_ROUNDING * max(1.0, abs(threshold)):
        return max(toward_failing, 0.0)
    return None


def failing_witness(data: SweepData, criterion: Criterion, measure: MeasureInfo) -> str:
    """The stored run furthest at or past the criterion's threshold in any arm and cell ("" if none).

    Ties go to the earlier arm in design order, then the earlier (cell, seed), so the witness
    is the same in every process.
    """
    best: tuple[float, str] | None = None
    if criterion.effect is not None:
        effect = criterion.effect
        if effect.min > 0:  # an effect test: no effect at all (the control against itself) fails it
            return f"no effect ({effect.control} against itself): improvement 0, below {_fmt(effect.min)}"
        sign = 1.0 if measure.higher_is_better else -1.0
        for arm in data.arms:
            if arm == effect.control:
                continue
            treated = data.samples(measure.key, arm)
            control = data.samples(measure.key, effect.control)
            for key in sorted(treated.keys() & control.keys()):
                improvement = sign * (treated[key] - control[key])
                past = _past(improvement, ">=", effect.min)
                if past is not None and (best is None or past > best[0]):
                    cell = f", cell {key[0]}" if len(data.cells) > 1 else ""
                    best = (past, f"{arm} - {effect.control}{cell}, seed {key[1]}: improvement "
                                  f"{_fmt(improvement)}, at or below {_fmt(effect.min)}")
        return best[1] if best else ""
    if criterion.op is None or criterion.threshold is None:
        return ""
    for arm in data.arms:
        samples = data.samples(measure.key, arm)
        for key in sorted(samples):
            past = _past(samples[key], criterion.op, criterion.threshold)
            if past is not None and (best is None or past > best[0]):
                cell = f", cell {key[0]}" if len(data.cells) > 1 else ""
                best = (past, f"{arm}{cell}, seed {key[1]}: {_fmt(samples[key])}, at or past "
                              f"{criterion.op} {_fmt(criterion.threshold)}")
    return best[1] if best else ""


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
        if contrast is None and not vacuous:
            finding = AuditFinding(vacuous, reason, witness=failing_witness(data, result.criterion,
                                                                            result.measure))
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
