"""``flagship run``, ``validate``, ``events``, ``list`` and ``show``: one scenario at a time.

Registered on :data:`flagship.sandbox._cli_app.app` at import. The runner, the store and
the scorecard are imported when a command runs (see :mod:`flagship.sandbox._cli_app`).
"""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.markup import escape
from rich.table import Table

from flagship.sandbox._cli_app import (
    DEFAULT_STORE_URL,
    NO_ARM,
    DbOpt,
    ScenarioArg,
    SetOpt,
    app,
    err,
    out,
    progress,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from flagship.sandbox._runner import Batch
    from flagship.telemetry import Estimate, RunResult
    from flagship.telemetry._scorecard import Evaluation

if TYPE_CHECKING:
    from flagship.mechanisms import InputError

__all__ = ["events", "list_", "run", "show", "validate"]


@app.command()
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
    if as_json:
        output = _batch_json(batch)
        if evaluation is not None:
            output["scorecard"] = evaluation.to_dict()
        sys.stdout.write(json.dumps(output, indent=2, sort_keys=False) + "\n")
    else:
        _print_measures(batch)
        if evaluation is not None:
            from flagship.sandbox._experiment_cli import print_evaluation  # noqa: PLC0415

            print_evaluation(evaluation, measures=False)
        err.print(f"stored {len(batch.results)} runs as batch {batch.sweep_id} in "
                   f"{store.url}", highlight=False)
    if misfit is not None:
        raise misfit
    for result in batch.failed:
        last = (result.error or "").strip().splitlines()[-1:] or ["unknown error"]
        err.print(f"run {result.run_id[:12]} (arm {result.arm or '-'}, seed {result.seed}) "
                   f"failed: {last[0]}", highlight=False, markup=False)
    if batch.failed:
        raise typer.Exit(1)


@app.command()
def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check a scenario file without running it."""
    from flagship.sandbox._scenario import load_scenario  # noqa: PLC0415

    resolved = load_scenario(scenario, set_ or [])
    arms = ", ".join(a for a in resolved.arm_names() if a) or "none"
    out.print(f"{scenario}: ok ({len(resolved.mechanism_configs)} mechanisms, "
               f"{len(resolved.population_params)} populations, arms: {arms})", highlight=False)


@app.command()
def events(
    with_populations: Annotated[bool, typer.Option(
        "--populations", help="also draw the population models (dotted arrows)")] = False,
) -> None:
    """Print the event flow between mechanisms as a Mermaid flowchart, from their declarations."""
    from flagship.mechanisms import mechanisms, populations  # noqa: PLC0415
    from flagship.sandbox._diagram import event_flow, render_mermaid  # noqa: PLC0415

    sys.stdout.write(render_mermaid(event_flow(mechanisms(), populations() if with_populations else None)))


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False) -> None:
    """List mechanisms and population models with their config fields."""
    from flagship.mechanisms import mechanisms, populations  # noqa: PLC0415

    listing = {
        "mechanisms": {name: _describe(cls, cls.Config) for name, cls in mechanisms().items()},
        "populations": {name: _describe(cls, cls.Params) for name, cls in populations().items()},
    }
    if as_json:
        sys.stdout.write(json.dumps(listing, indent=2) + "\n")
        return
    for kind, entries in listing.items():
        table = Table(title=kind, show_lines=False, title_justify="left")
        for column in ("name", "module", "field", "type", "default", "description"):
            table.add_column(column)
        for name, entry in entries.items():
            fields = entry["fields"] or [{"name": "-", "type": "", "default": "", "description": ""}]
            for index, f in enumerate(fields):
                table.add_row(name if index == 0 else "", entry["module"] if index == 0 else "",
                              escape(f["name"]), escape(f["type"]), escape(json.dumps(f["default"])),
                              escape(f["description"]))  # "[lo, hi]" is text, not Rich markup
        out.print(table)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id (or a unique prefix)")],
    db: Annotated[str, typer.Option("--db", help="store URL")] = DEFAULT_STORE_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole run as JSON")] = False,
    scenario_only: Annotated[bool, typer.Option(
        "--scenario", help="print only the resolved scenario (JSON), to rerun it exactly")] = False,
) -> None:
    """Show a stored run: status, measures and the manifest that reproduces it."""
    from flagship.telemetry import open_store  # noqa: PLC0415

    with open_store(db) as store:
        stored = store.run(run_id)
    if scenario_only:
        sys.stdout.write(json.dumps(stored.manifest["scenario"], indent=2) + "\n")
        return
    record = {
        "id": stored.id, "batch": stored.sweep_id, "scenario": stored.scenario,
        "arm": stored.arm or None, "seed": stored.seed, "replication": stored.replication,
        "status": stored.status, "wall_seconds": stored.wall_seconds, "sim_time": stored.sim_time,
        "n_actions": stored.n_actions, "action_log_sha256": stored.action_log_sha256,
        "state_sha256": stored.state_sha256, "events": stored.events, "measures": stored.measures,
        "error": stored.error, "manifest": stored.manifest,
    }
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2, default=str) + "\n")
        return
    table = Table(title=f"run {stored.id}", show_header=False, title_justify="left")
    for key in ("scenario", "arm", "seed", "status", "sim_time", "n_actions", "action_log_sha256",
                "state_sha256"):
        table.add_row(key, str(record[key]))
    for name, value in stored.measures.items():
        table.add_row(name, _fmt(value))
    out.print(table)
    if stored.error:
        out.print(stored.error, markup=False, highlight=False)
    out.print("manifest:", highlight=False)
    out.print_json(json.dumps(stored.manifest, default=str))
    out.print(f"reproduce: flagship show {stored.id} --db {db} --scenario > run.json && "
               f"flagship run run.json --seed {stored.seed} --replications 1",
               highlight=False, markup=False)


# -- helpers -----------------------------------------------------------------------------


def _describe(cls: type[Any], model: type[BaseModel]) -> dict[str, Any]:
    fields = []
    for name, info in model.model_fields.items():
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        fields.append({
            "name": name,
            "type": getattr(info.annotation, "__name__", str(info.annotation)).replace("typing.", ""),
            "default": json.loads(json.dumps(default, default=str)),
            "description": info.description or "",
        })
    return {"module": cls.__module__, "doc": (cls.__doc__ or "").strip().split("\n")[0],
            "fields": fields}


def _aggregate(batch: Batch) -> dict[str, dict[str, Estimate]]:
    """arm -> measure -> estimate, by the inference module's rule (its method named in each)."""
    from flagship.sandbox._experiment_cli import summarise_measures  # noqa: PLC0415

    by_measure: dict[str, dict[str, list[float | None]]] = {}
    arms: list[str] = []
    for result in batch.results:
        if not result.ok:
            continue
        arm = result.arm or NO_ARM
        if arm not in arms:
            arms.append(arm)
        for name, value in result.measures().items():
            by_measure.setdefault(name, {}).setdefault(arm, []).append(value)
    estimates = summarise_measures(by_measure)
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
