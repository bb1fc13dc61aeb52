"""``flagship run`` and ``validate``: one scenario at a time.

Registered on :data:`flagship.sandbox._cli_app.app` at import. The runner, the store and
the scorecard are imported when a command runs (see :mod:`flagship.sandbox._cli_app`).
"""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.table import Table

from flagship.sandbox._cli_app import (
    NO_ARM,
    DbOpt,
    ScenarioArg,
    SetOpt,
    err,
    out,
    progress,
)

if TYPE_CHECKING:

    from flagship.sandbox._runner import Batch
    from flagship.telemetry import Estimate, RunResult
    from flagship.telemetry._scorecard import Evaluation

if TYPE_CHECKING:
    from flagship.mechanisms import InputError

__all__ = ["register", "run", "validate"]


def run(
    scenario: ScenarioArg,
    seed: Annotated[int | None, typer.Option(help="seed of the first replication", min=0)] = None,
    replications: Annotated[int | None, typer.Option(help="replications per arm", min=1)] = None,
    db: DbOpt = None,
    set_: SetOpt = None,
    workers: Annotated[int | None, typer.Option(help="worker processes (default: all cores)",
                                                min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print measures as JSON on stdout")] = False,
    criteria: Annotated[str | None, typer.Option(
        "--criteria", help="criteria file (TOML): also print the scorecard of this batch (as `flagship "
                           "evaluate` does; the exit code stays 0 when the runs completed)")] = None,
    correction: Annotated[str | None, typer.Option(
        "--correction", help="with --criteria: holm (default), bh or none (see `flagship evaluate`)")] = None,
) -> None:
    """Run a scenario's arms x replications, store them, and show the measures (and a scorecard)."""
    from flagship.mechanisms import InputError  # noqa: PLC0415
    from flagship.sandbox._experiment_cli import check_correction  # noqa: PLC0415
    from flagship.sandbox._runner import run_batch  # noqa: PLC0415 - see the module docstring
    from flagship.sandbox._scenario import load_scenario  # noqa: PLC0415
    from flagship.telemetry import open_store  # noqa: PLC0415
    from flagship.telemetry._scorecard import SweepData, evaluate, load_criteria  # noqa: PLC0415

    check_correction(correction)
    resolved = load_scenario(scenario, set_ or [])
    spec = load_criteria(criteria) if criteria is not None else None  # bad criteria: exit 2 before running
    if resolved.scenario.grid:
        if seed is not None:
            resolved = load_scenario(scenario, [*(set_ or []), f"seed={seed}"])
        _run_cells(resolved, replications=replications, db=db, workers=workers, as_json=as_json,
                   criteria=criteria, correction=correction)
        return
    evaluation: Evaluation | None = None
    misfit: InputError | None = None  # raised once the measures are shown: the runs are stored anyway
    total = len(resolved.arm_names()) * (replications or resolved.scenario.replications)
    with open_store(db or resolved.scenario.store) as store, progress(as_json) as bar:
        task = bar.add_task(resolved.scenario.name, total=total)
        failures = 0

        def advance(result: RunResult) -> None:
            nonlocal failures
            failures += not result.ok
            bar.update(task, advance=1, description=(
                f"{resolved.scenario.name} ({failures} failed)" if failures else
                resolved.scenario.name))

        batch = run_batch(resolved, seed=seed, replications=replications, store=store,
                          workers=workers, on_result=advance)
        if spec is not None and batch.sweep_id is not None and len(batch.failed) < len(batch.results):
            try:
                evaluation = evaluate(SweepData.load(store, batch.sweep_id), spec, source=criteria or "",
                                      correction=cast(Any, correction))
            except InputError as exc:  # criteria naming measures or arms this scenario lacks
                misfit = exc
    contrasts = _cohort_contrasts(resolved, batch)
    if as_json:
        output = _batch_json(batch)
        if evaluation is not None:
            output["scorecard"] = evaluation.to_dict()
        if contrasts:
            output["cohorts"] = {name: {arm: ci.to_dict() for arm, ci in by_arm.items()}
                                 for name, by_arm in contrasts.items()}
        sys.stdout.write(json.dumps(output, indent=2, sort_keys=False) + "\n")
    else:
        _print_measures(batch)
        _print_cohorts(resolved, contrasts)
        if evaluation is not None:
            from flagship.sandbox._experiment_cli import print_evaluation  # noqa: PLC0415

            print_evaluation(evaluation, measures=False)
    # on stderr, with --json too: stdout stays the same bytes for the same seeds
    err.print(f"stored {len(batch.results)} runs as batch {batch.sweep_id} in {store.url} "
              f"(flagship runs --db {store.url} --sweep {batch.sweep_id})", highlight=False, soft_wrap=True)
    if misfit is not None:
        raise misfit
    for result in batch.failed:
        last = (result.error or "").strip().splitlines()[-1:] or ["unknown error"]
        err.print(f"run {result.run_id[:12]} (arm {result.arm or '-'}, seed {result.seed}) "
                   f"failed: {last[0]}", highlight=False, markup=False)
    if batch.failed:
        raise typer.Exit(1)


def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check a scenario file without running it."""
    from flagship.sandbox._scenario import load_scenario  # noqa: PLC0415

    resolved = load_scenario(scenario, set_ or [])
    arms = ", ".join(a for a in resolved.arm_names() if a) or "none"
    out.print(f"{scenario}: ok ({len(resolved.mechanism_configs)} mechanisms, "
               f"{len(resolved.population_params)} populations, arms: {arms})", highlight=False)


# -- a scenario with cells ---------------------------------------------------------------


def _run_cells(resolved: Any, *, replications: int | None, db: str | None, workers: int | None,
               as_json: bool, criteria: str | None, correction: str | None) -> None:
    """A scenario declaring ``grid`` cells: run them as a sweep (stored, resumable), then show each
    measure per cell and arm (and the scorecard, where criteria judge each cell)."""
    from flagship.sandbox._executors import open_executor, window_for  # noqa: PLC0415
    from flagship.sandbox._experiment_cli import print_evaluation  # noqa: PLC0415
    from flagship.sandbox._sweep import Axis, SweepSpec, pending_jobs, plan_sweep, store_results  # noqa: PLC0415
    from flagship.telemetry import open_store  # noqa: PLC0415
    from flagship.telemetry._scorecard import SweepData, evaluate, load_criteria  # noqa: PLC0415

    scenario = resolved.scenario
    spec = SweepSpec(tuple(Axis(path, tuple(values)) for path, values in scenario.grid.items()),
                     replications=replications or scenario.replications)
    plan = plan_sweep(resolved, spec)
    with open_store(db or scenario.store) as store, progress(as_json) as bar:
        jobs, skipped = pending_jobs(plan, store)
        task = bar.add_task(scenario.name, total=plan.total, completed=skipped)
        if jobs:
            with open_executor("local", workers=workers, scheduler=None, n_jobs=len(jobs)) as pool:
                store_results(jobs, pool, store, on_result=lambda _: bar.update(task, advance=1),
                              window=window_for(pool))
        data = SweepData.load(store, plan.sweep_id)
        evaluation = (evaluate(data, load_criteria(criteria), source=criteria,
                               correction=cast(Any, correction)) if criteria is not None else None)
        failed = [r for r in data.runs if r.status != "completed"]
        url = store.url
    if as_json:
        order = {key: index for index, key in enumerate(plan.result_keys())}
        runs = sorted(data.runs, key=lambda r: order.get((r.cell, r.arm, r.seed), len(order)))
        output: dict[str, Any] = {
            "runs": [{"cell": r.cell, "arm": r.arm or None, "seed": r.seed, "replication": r.replication,
                      "status": r.status, "measures": r.measures, "n_actions": r.n_actions,
                      "action_log_sha256": r.action_log_sha256} for r in runs],
            "cells": _cell_estimates(data)}
        if evaluation is not None:
            output["scorecard"] = evaluation.to_dict()
        sys.stdout.write(json.dumps(output, indent=2) + "\n")
    else:
        _print_cells(data)
        if evaluation is not None:
            print_evaluation(evaluation, measures=False)
    err.print(f"stored {plan.total} runs ({len(plan.cells)} cells x {len(plan.arms)} arms x "
              f"{plan.spec.replications} seeds) as sweep {plan.sweep_id} in {url} "
              f"(flagship runs --db {url} --sweep {plan.sweep_id}); the same command resumes it",
              highlight=False, soft_wrap=True)
    if failed:
        err.print(f"{len(failed)} runs failed: `flagship show RUN` shows a traceback", highlight=False)
        raise typer.Exit(1)


def _cell_label(assignment: dict[str, Any]) -> str:
    return ", ".join(f"{path.rsplit('.', 1)[-1]}={value}" for path, value in assignment.items())


def _ranges(data: Any) -> dict[str, tuple[float, float]]:
    """Each stored measure's range (its declared bounds, else its unit's), to clip intervals to."""
    return {name: info.value_range() for name, info in data.measures.items()}


def _cell_estimates(data: Any) -> list[dict[str, Any]]:
    """Per cell (design order): its assignment and, per measure and arm, the estimate's fields."""
    from flagship.sandbox._experiment_cli import summarise_measures  # noqa: PLC0415

    cells = []
    for cell in data.cells:
        values: dict[str, dict[str, list[float | None]]] = {}
        for name in sorted(data.measures):
            for arm in data.arms:
                samples = data.samples(name, arm, cell["key"])
                if samples:
                    values.setdefault(name, {})[arm or NO_ARM] = [samples[k] for k in sorted(samples)]
        estimates = summarise_measures(values, ranges=_ranges(data))
        cells.append({"cell": cell["assignment"],
                      "measures": {name: {arm: est.to_dict() for arm, est in by_arm.items()}
                                   for name, by_arm in estimates.items()}})
    return cells


def _print_cells(data: Any) -> None:
    """One table per area: a row per measure and cell, a column per arm."""
    from flagship.sandbox._experiment_cli import format_estimate, summarise_measures  # noqa: PLC0415

    arms = [arm or NO_ARM for arm in data.arms]
    ranges = _ranges(data)
    for area in ("legitimacy", "ux", "robustness"):
        names = sorted(name for name, info in data.measures.items() if info.area == area)
        if not names:
            continue
        table = Table(title=f"{area} per cell (mean ± 95% CI half-width, n={data.replications} per arm and "
                            "cell): ± is a t-interval, [low, high] names wilson or bca",
                      title_justify="left")
        table.add_column("measure", no_wrap=True)
        table.add_column("cell", no_wrap=True)
        table.add_column("better")
        for arm in arms:
            table.add_column(arm, justify="right")
        for name in names:
            info = data.measures[name]
            for cell in data.cells:
                values = {arm or NO_ARM: list(data.samples(name, arm, cell["key"]).values())
                          for arm in data.arms}
                values = {arm: v for arm, v in values.items() if v}
                estimates = summarise_measures({name: values}, ranges=ranges)[name] if values else {}
                table.add_row(name, _cell_label(cell["assignment"]), "↑" if info.higher_is_better else "↓",
                              *(format_estimate(estimates[arm]) if values.get(arm) else "—" for arm in arms))
        out.print(table)


# -- helpers -----------------------------------------------------------------------------


def _aggregate(batch: Batch) -> dict[str, dict[str, Estimate]]:
    """arm -> measure -> estimate, by the inference module's rule (its method named in each)."""
    from flagship.sandbox._experiment_cli import summarise_measures  # noqa: PLC0415

    by_measure: dict[str, dict[str, list[float | None]]] = {}
    ranges: dict[str, tuple[float, float]] = {}
    arms: list[str] = []
    for result in batch.results:
        if not result.ok:
            continue
        if result.telemetry is not None:
            ranges.update({f"{m.scope}.{m.name}": m.bounds for m in result.telemetry.measures})
        arm = result.arm or NO_ARM
        if arm not in arms:
            arms.append(arm)
        for name, value in result.measures().items():
            by_measure.setdefault(name, {}).setdefault(arm, []).append(value)
    estimates = summarise_measures(by_measure, ranges=ranges)
    return {arm: {name: estimates[name][arm] for name in sorted(estimates) if arm in estimates[name]}
            for arm in arms}


def _batch_json(batch: Batch) -> dict[str, Any]:
    return {
        "runs": [
            {"arm": r.arm, "seed": r.seed, "replication": r.replication, "status": r.status,
             "measures": r.measures(), "n_actions": r.n_actions,
             "action_log_sha256": r.action_log_sha256}
            for r in batch.results
        ],
        "aggregate": {arm: {name: est.to_dict() for name, est in measures.items()}
                      for arm, measures in _aggregate(batch).items()},
    }


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}"


def _print_measures(batch: Batch) -> None:
    from flagship.sandbox._experiment_cli import format_estimate  # noqa: PLC0415

    aggregate = _aggregate(batch)
    if not aggregate:
        return
    areas: dict[str, dict[str, tuple[str, str, bool]]] = {}
    for result in batch.results:
        if result.telemetry is None:
            continue
        for m in result.telemetry.measures:
            areas.setdefault(m.area, {})[f"{m.scope}.{m.name}"] = (m.unit, m.name,
                                                                     m.higher_is_better)
    arms = list(aggregate)
    n = max((est.n for measures in aggregate.values() for est in measures.values()), default=0)
    for area in ("legitimacy", "ux", "robustness"):
        if area not in areas:
            continue
        table = Table(title=f"{area} (mean ± 95% CI half-width, n={n} per arm): ± is a t-interval, "
                            "[low, high] names wilson or bca; = marks a measure constant across all runs",
                      title_justify="left")
        table.add_column("measure", no_wrap=True)
        table.add_column("unit")
        table.add_column("better")
        for arm in arms:
            table.add_column(arm, justify="right")
        for key, (unit, _, higher) in sorted(areas[area].items()):
            cells = []
            constant = False
            for arm in arms:
                est = aggregate[arm].get(key)
                constant = constant or (est is not None and est.constant)
                cells.append("—" if est is None else format_estimate(est))
            table.add_row(key + (" =" if constant else ""), unit, "↑" if higher else "↓", *cells)
        out.print(table)


def _cohort_contrasts(resolved: Any, batch: Batch) -> dict[str, dict[str, Any]]:
    """Staged cohorts' treatment - control per measure and arm, paired by run (none without cohorts)."""
    from flagship.sandbox._cohort_report import cohort_contrasts  # noqa: PLC0415
    from flagship.sandbox._cohorts import cohort_spec  # noqa: PLC0415

    staged = cohort_spec(resolved.scenario.live)
    return {} if staged is None else cohort_contrasts(batch.results, staged.mechanism, arm_label=NO_ARM)


def _print_cohorts(resolved: Any, contrasts: dict[str, dict[str, Any]]) -> None:
    from flagship.sandbox._cohorts import cohort_spec  # noqa: PLC0415
    from flagship.sandbox._experiment_cli import _ci  # noqa: PLC0415

    staged = cohort_spec(resolved.scenario.live)
    if staged is None or not contrasts:
        return
    arms = list(dict.fromkeys(arm for by_arm in contrasts.values() for arm in by_arm))
    table = Table(title=f"cohorts of {staged.mechanism}: treatment - control, paired by run "
                        "(mean [95% CI] method)", title_justify="left")
    table.add_column("measure", no_wrap=True)
    for arm in arms:
        table.add_column(arm, justify="right")
    for name, by_arm in contrasts.items():
        table.add_row(name, *(_ci(by_arm[arm]) if arm in by_arm else "—" for arm in arms))
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``, in the order ``--help`` lists them."""
    app.command()(run)
    app.command()(validate)
