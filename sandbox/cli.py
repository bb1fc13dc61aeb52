"""The ``flagship`` command line.

Bad input (a scenario that does not validate, an unknown option, a bad ``--set``)
prints one line per problem on stderr and exits with code 2, without a
traceback; a failure while running (a failed replication, an unreachable store)
exits with code 1. ``run --criteria`` prints the scorecard of the runs it just made but
its exit code does not depend on the verdict: ``flagship evaluate`` is the gate for CI.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from flagship.mechanisms import FlagshipError, InputError, mechanisms, populations
from flagship.sandbox._diagram import event_flow, render_mermaid
from flagship.sandbox._runner import Batch, run_batch
from flagship.sandbox._scenario import load_scenario
from flagship.telemetry import DEFAULT_URL, Estimate, RunResult, Store, mean_ci
from flagship.telemetry._scorecard import Evaluation, SweepData, evaluate, load_criteria

__all__ = ["app", "main"]

app = typer.Typer(
    name="flagship",
    help="Prototype, stress-test and pilot alignment mechanisms.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

NO_ARM = "default"  # the arm name shown when a scenario declares no arms

_err = Console(stderr=True)
# Piped output (CI logs, files) gets a wide page instead of rich's 80-column default,
# so measure tables with several arms are not folded into unreadable columns.
_out = Console() if Console().is_terminal else Console(width=200)

ScenarioArg = Annotated[str, typer.Argument(help="scenario file (.toml or .json)")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="override a scenario field: dotted.path=value (value read as TOML)")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help=f"store URL (default: the scenario's store, else {DEFAULT_URL})")]


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
) -> None:
    """Run a scenario's arms x replications, store them, and show the measures (and a scorecard)."""
    resolved = load_scenario(scenario, set_ or [])
    spec = load_criteria(criteria) if criteria is not None else None  # bad criteria: exit 2 before running
    evaluation: Evaluation | None = None
    misfit: InputError | None = None  # raised once the measures are shown: the runs are stored anyway
    total = len(resolved.arm_names()) * (replications or resolved.scenario.replications)
    with Store.open(db or resolved.scenario.store) as store, _progress(as_json) as progress:
        task = progress.add_task(resolved.scenario.name, total=total)
        failures = 0

        def advance(result: RunResult) -> None:
            nonlocal failures
            failures += not result.ok
            progress.update(task, advance=1, description=(
                f"{resolved.scenario.name} ({failures} failed)" if failures else
                resolved.scenario.name))

        batch = run_batch(resolved, seed=seed, replications=replications, store=store,
                          workers=workers, on_result=advance)
        if spec is not None and batch.sweep_id is not None and len(batch.failed) < len(batch.results):
            try:
                evaluation = evaluate(SweepData.load(store, batch.sweep_id), spec, source=criteria or "")
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
            # the command module registers on this app, so it is imported by now (no cycle at load)
            from flagship.sandbox._experiment_cli import print_evaluation  # noqa: PLC0415

            print_evaluation(evaluation, measures=False)
        _err.print(f"stored {len(batch.results)} runs as batch {batch.sweep_id} in "
                   f"{store.url}", highlight=False)
    if misfit is not None:
        raise misfit
    for result in batch.failed:
        last = (result.error or "").strip().splitlines()[-1:] or ["unknown error"]
        _err.print(f"run {result.run_id[:12]} (arm {result.arm or '-'}, seed {result.seed}) "
                   f"failed: {last[0]}", highlight=False, markup=False)
    if batch.failed:
        raise typer.Exit(1)


@app.command()
def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check a scenario file without running it."""
    resolved = load_scenario(scenario, set_ or [])
    arms = ", ".join(a for a in resolved.arm_names() if a) or "none"
    _out.print(f"{scenario}: ok ({len(resolved.mechanism_configs)} mechanisms, "
               f"{len(resolved.population_params)} populations, arms: {arms})", highlight=False)


@app.command()
def events(
    with_populations: Annotated[bool, typer.Option(
        "--populations", help="also draw the population models (dotted arrows)")] = False,
) -> None:
    """Print the event flow between mechanisms as a Mermaid flowchart, from their declarations."""
    sys.stdout.write(render_mermaid(event_flow(mechanisms(), populations() if with_populations else None)))


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False) -> None:
    """List mechanisms and population models with their config fields."""
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
        _out.print(table)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id (or a unique prefix)")],
    db: Annotated[str, typer.Option("--db", help="store URL")] = DEFAULT_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole run as JSON")] = False,
    scenario_only: Annotated[bool, typer.Option(
        "--scenario", help="print only the resolved scenario (JSON), to rerun it exactly")] = False,
) -> None:
    """Show a stored run: status, measures and the manifest that reproduces it."""
    with Store.open(db) as store:
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
    _out.print(table)
    if stored.error:
        _out.print(stored.error, markup=False, highlight=False)
    _out.print("manifest:", highlight=False)
    _out.print_json(json.dumps(stored.manifest, default=str))
    _out.print(f"reproduce: flagship show {stored.id} --db {db} --scenario > run.json && "
               f"flagship run run.json --seed {stored.seed} --replications 1",
               highlight=False, markup=False)


# -- helpers -----------------------------------------------------------------------------


def _progress(quiet: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=_err, transient=True, disable=quiet)


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
    by_arm: dict[str, dict[str, list[float | None]]] = {}
    for result in batch.results:
        if not result.ok:
            continue
        arm = by_arm.setdefault(result.arm or NO_ARM, {})
        for name, value in result.measures().items():
            arm.setdefault(name, []).append(value)
    return {arm: {name: mean_ci(values) for name, values in sorted(measures.items())}
            for arm, measures in by_arm.items()}


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
        table = Table(title=f"{area} (mean ± 95% CI half-width, n={n} per arm)",
                      title_justify="left")
        table.add_column("measure", no_wrap=True)
        table.add_column("unit")
        table.add_column("better")
        for arm in arms:
            table.add_column(arm, justify="right")
        for key, (unit, _, higher) in sorted(areas[area].items()):
            cells = []
            for arm in arms:
                est = aggregate[arm].get(key)
                if est is None or est.n == 0:
                    cells.append("—")
                elif est.n == 1 or not math.isfinite(est.low):
                    cells.append(_fmt(est.mean))
                else:  # Student-t intervals are symmetric: mean ± half-width says it all
                    cells.append(f"{_fmt(est.mean)} ± {_fmt((est.high - est.low) / 2)}")
            table.add_row(key, unit, "↑" if higher else "↓", *cells)
        _out.print(table)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``flagship`` console script."""
    try:
        code = app(args=list(argv) if argv is not None else None, prog_name="flagship",
                   standalone_mode=False)
    except typer.Abort:
        _err.print("flagship: aborted", highlight=False)
        sys.exit(130)
    except typer.TyperException as exc:
        # Usage errors (unknown option, bad value, no arguments): one line, exit code 2.
        # Typer vendors click, so its exception types are reached through typer's public base.
        if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
            format_message = getattr(exc, "format_message", None)
            message = format_message() if callable(format_message) else str(exc)
            _err.print(f"flagship: {' '.join(str(message).split())}", markup=False,
                       highlight=False, soft_wrap=True)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except InputError as exc:
        for line in exc.lines():
            _err.print(line, markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except FlagshipError as exc:
        _err.print(f"flagship: {exc}".splitlines()[0], markup=False, highlight=False,
                   soft_wrap=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


# The command modules import `app` from here and add their commands to it.
from flagship.sandbox import (  # noqa: E402
    _experiment_cli,  # noqa: F401  sweep, evaluate, report
    _live_cli,  # noqa: F401  serve, verify, replay, export-metrics
)
