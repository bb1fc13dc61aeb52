"""What ``flagship evaluate`` runs beyond the stored data: audit contrasts, sequential stages, the plan check.

- :func:`run_set_contrasts`: a criterion's ``contrast = { set = {...} }`` becomes one extra sweep
  cell (the stored sweep's scenario with the contrast applied, as many seeds as the sweep has),
  planned and run by the sweep machinery (:mod:`flagship.sandbox._sweep`) into the same store;
  the criterion is judged there and the audit finding completed.
- :func:`extend_sweep`: run the seeds a stored sweep (or ``flagship run`` batch) lacks to reach
  ``replications`` per cell and arm, under the sweep's own id, design and seeds (seeds extend as
  a prefix), so a sequential evaluation looks at one growing sweep.
- :func:`registration_check` (from :mod:`flagship.telemetry._registration`): whether the criteria
  were preregistered before the sweep's first run was stored.

Lifecycle: each function opens (and shuts down) its own executor; the caller owns the store.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flagship.mechanisms import InputError, Problem
from flagship.sandbox._executors import open_executor, window_for
from flagship.sandbox._runner import RunJob, jobs_for
from flagship.sandbox._scenario import ResolvedScenario, load_scenario
from flagship.sandbox._sweep import Axis, Range, SweepSpec, plan_sweep, run_sweep, store_results
from flagship.telemetry import RunStore, StoredSweep
from flagship.telemetry._audit import with_contrast_run
from flagship.telemetry._inference import Inference
from flagship.telemetry._registration import registration_check
from flagship.telemetry._scorecard import Evaluation
from flagship.telemetry._sweep_data import SweepData

__all__ = ["base_scenario", "extend_sweep", "registration_check", "run_set_contrasts"]


def base_scenario(sweep: StoredSweep) -> ResolvedScenario:
    """The stored sweep's scenario, read again from its file (refused if the file has changed)."""
    spec = sweep.spec
    path = spec.get("scenario_file")
    if not path:
        raise InputError([Problem("--sweep", f"sweep {sweep.id} does not record its scenario file")])
    overrides = [str(o) for o in spec.get("overrides", [])]
    resolved = load_scenario(str(path), overrides)
    recorded = spec.get("scenario_sha256")
    if recorded and recorded != resolved.source_sha256:
        raise InputError([Problem("--sweep", f"{path} has changed since sweep {sweep.id} ran "
                                             "(its SHA-256 differs): cannot extend or contrast it")])
    return resolved


def _spec(design: dict[str, Any], replications: int) -> SweepSpec:
    return SweepSpec(
        grids=tuple(Axis(a["path"], tuple(a["values"])) for a in design.get("grids", [])),
        zips=tuple(Axis(a["path"], tuple(a["values"])) for a in design.get("zips", [])),
        ranges=tuple(Range(r["path"], r["low"], r["high"], r["integer"]) for r in design.get("ranges", [])),
        samples=int(design.get("samples", 0)), sampler=design.get("sampler", "lhs"),
        replications=replications, common_seeds=bool(design.get("common_seeds", False)))


def _run(jobs: list[RunJob], store: RunStore, workers: int | None) -> tuple[int, int]:
    if not jobs:
        return 0, 0
    with open_executor("local", workers=workers, n_jobs=len(jobs)) as pool:
        return store_results(jobs, pool, store, window=window_for(pool))


def extend_sweep(store: RunStore, sweep: StoredSweep, replications: int, *,
                 workers: int | None = None) -> tuple[int, int]:
    """Run the missing seeds of ``sweep`` up to ``replications`` per cell and arm; (ran, failed)."""
    base = base_scenario(sweep)
    done = store.completed_keys(sweep.id)
    if sweep.kind == "sweep":
        plan = plan_sweep(base, _spec(sweep.spec.get("design", {}), replications))
        plan = dataclasses.replace(plan, sweep_id=sweep.id)  # the same sweep, grown: seeds extend as a prefix
        jobs = plan.jobs(skip=done)
    else:  # a `flagship run` batch: replication i has seed (batch seed) + i
        jobs = [job for job in jobs_for(base, seed=int(sweep.spec.get("seed", base.scenario.seed)),
                                        replications=replications, sweep_id=sweep.id)
                if ("", job.arm or "", job.seed) not in done]
    return _run(jobs, store, workers)


def run_set_contrasts(evaluation: Evaluation, store: RunStore, *, workers: int | None = None) -> list[str]:
    """Run every ``set`` contrast as an extra sweep cell and complete its audit finding; their sweep ids."""
    data = evaluation.data
    inference = Inference(evaluation.confidence, seed=evaluation.seed, resamples=evaluation.resamples)
    base: ResolvedScenario | None = None
    ids = []
    for result in evaluation.criteria:
        contrast = result.criterion.contrast
        if contrast is None or contrast.set is None:
            continue
        base = base or base_scenario(data.sweep)
        grids = tuple(Axis(path, (value,)) for path, value in contrast.set.items())
        plan = plan_sweep(base, SweepSpec(grids=grids, replications=max(2, data.replications)))
        with open_executor("local", workers=workers, n_jobs=plan.total) as pool:
            run_sweep(plan, store, pool, window=window_for(pool))
        contrast_data = SweepData.load(store, plan.sweep_id)
        evaluation.audit[result.index] = with_contrast_run(evaluation.audit[result.index], contrast_data,
                                                           result, inference)
        ids.append(plan.sweep_id)
    return ids
