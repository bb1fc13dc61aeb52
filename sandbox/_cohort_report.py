"""Per-cohort inference of a batch of runs: treatment minus control, paired by seed, per arm.

In a run that stages cohorts (:mod:`flagship.sandbox._cohorts`) the staged mechanism reports its
measures twice: under its own scope (control) and under ``<mechanism>_treatment``. Both cohorts
live through the same seed, the same population and the same shocks, so their difference is
paired by run, as the scorecard pairs arms by seed: :func:`cohort_contrasts` estimates, per arm
and measure, the mean of ``treatment - control`` over the runs where both are defined, with the
scorecard's interval rule (:class:`~flagship.telemetry._inference.Inference`, ``paired=True``:
a paired t-interval, or BCa for a skewed sample of enough runs), clipped to the range a
difference of the measure can take. ``flagship run`` prints it as a table after the measures.

Lifecycle: called once per ``flagship run`` of a scenario with ``[live.cohorts]``, on the
batch's results, after they completed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from flagship.mechanisms._measures import difference_range, unit_range
from flagship.sandbox._cohorts import treatment_name
from flagship.telemetry import RunResult
from flagship.telemetry._inference import Inference, Interval

__all__ = ["cohort_contrasts"]


def cohort_contrasts(results: Sequence[RunResult], mechanism: str, *, arm_label: str = "",
                     inference: Inference | None = None) -> dict[str, dict[str, Interval]]:
    """Measure name -> arm -> interval of ``treatment - control`` of the staged ``mechanism``,
    paired by run (runs without an arm are under ``arm_label``). Deterministic: differences are
    taken in (arm, seed, replication) order, BCa resamples from a stream named after the pair."""
    inference = inference or Inference()
    treatment = treatment_name(mechanism)
    paired: dict[str, dict[str, list[tuple[int, int, float]]]] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for result in results:
        if not result.ok or result.telemetry is None:
            continue
        values = result.measures()
        for m in result.telemetry.measures:
            if m.scope != mechanism:
                continue
            control, treated = values.get(f"{mechanism}.{m.name}"), values.get(f"{treatment}.{m.name}")
            if control is None or treated is None or not math.isfinite(control - treated):
                continue
            bounds = m.bounds if all(map(math.isfinite, m.bounds)) else unit_range(m.unit)
            ranges[m.name] = difference_range(bounds)
            paired.setdefault(m.name, {}).setdefault(result.arm or arm_label, []).append(
                (result.seed, result.replication, treated - control))
    return {name: {arm: inference.interval([d for *_, d in sorted(diffs)], stream=f"cohorts/{name}/{arm}",
                                           paired=True, bounds=ranges[name])
                   for arm, diffs in by_arm.items()}
            for name, by_arm in sorted(paired.items())}
