"""``flagship sweep``, ``flagship evaluate`` and ``flagship report``: experiments at scale.

Registered on :data:`flagship.sandbox._cli_app.app` at import. Bad input (an unknown or invalid
swept value, a malformed option, a criteria file that does not validate, an
unknown sweep) raises :class:`~flagship.mechanisms.InputError` before anything runs: one
line per problem, exit code 2. ``sweep`` exits 1 when a run failed, ``evaluate``
exits 1 unless every criterion passes.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from flagship.sandbox._cli_app import err, out

if TYPE_CHECKING:
    from flagship.mechanisms import Problem
    from flagship.sandbox._sweep import (
        SweepPlan,
    )
    from flagship.telemetry import RunResult, RunStore
    from flagship.telemetry._bootstrap import Interval
    from flagship.telemetry._scorecard import Evaluation
    from flagship.telemetry._sweep_metrics import SweepMetrics

__all__ = ["evaluate_command", "print_evaluation", "register", "report_command", "store_url", "sweep_command"]

DbArg = Annotated[str, typer.Argument(metavar="DB", help="store URL (sqlite:///… or postgresql+psycopg://…) "
                                                         "or the path of a SQLite file")]
SweepOpt = Annotated[str, typer.Option("--sweep", help="sweep id (or a unique prefix)")]


def store_url(text: str) -> str:
    """A store URL from ``DB``: a SQLAlchemy URL as is, or an existing SQLite file's path."""
    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415

    if "://" in text:
        return text
    path = Path(text)
    if not path.is_file():
        raise InputError([Problem("DB", f"expected a store URL or an existing SQLite file, got {text!r}")])
    return f"sqlite:///{path.resolve()}"


# -- sweep --------------------------------------------------------------------------------


def sweep_command(
    scenario: Annotated[str, typer.Argument(help="scenario file (.toml or .json)")],
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", help="sweep a path over values: path=v1,v2,… (values read as TOML); axes multiply")] = None,
    zip_: Annotated[list[str] | None, typer.Option(
        "--zip", help="path=v1,v2,…; all --zip paths advance together (equal lengths)")] = None,
    sample: Annotated[int | None, typer.Option(
        "--sample", help="draw N cells over the --range intervals", min=1)] = None,
    range_: Annotated[list[str] | None, typer.Option(
        "--range", help="path=low:high for --sample (integers when both bounds are)")] = None,
    sampler: Annotated[str, typer.Option(help="lhs (Latin hypercube) or random")] = "lhs",
    replications: Annotated[int | None, typer.Option(
        help="seeds per cell (default: the scenario's replications)", min=1)] = None,
    db: Annotated[str | None, typer.Option("--db", help="store URL (default: the scenario's store)")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="override a scenario field for every cell: dotted.path=value")] = None,
    executor: Annotated[str, typer.Option(help="local (process pool) or dask")] = "local",
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address, e.g. tcp://host:8786 (default: a LocalCluster)")] = None,
    workers: Annotated[int | None, typer.Option(
        help="local processes or LocalCluster workers (default: all cores)", min=1)] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="print every (cell, arm, seed) result's measures as JSON on stdout")] = False,
    metrics_port: Annotated[int | None, typer.Option(
        help="serve Prometheus metrics of the sweep on this port while it runs", min=0,
        max=65535)] = None,
    metrics_host: Annotated[str, typer.Option(help="address to serve metrics on")] = "127.0.0.1",
) -> None:
    """Run a scenario over a grid, zipped lists or samples of its fields, K seeds per cell and arm.

    Rerunning the same command resumes the sweep: completed results are kept, failed
    ones rerun, none duplicated.
    """
    from flagship.mechanisms import InputError  # noqa: PLC0415
    from flagship.sandbox._executors import check_executor_options  # noqa: PLC0415
    from flagship.sandbox._scenario import load_scenario  # noqa: PLC0415
    from flagship.sandbox._sweep import Sampler, SweepSpec, parse_axis, parse_range, pending_jobs, plan_sweep  # noqa: PLC0415
    from flagship.telemetry import open_store  # noqa: PLC0415
    from flagship.telemetry._sweep_metrics import SweepMetrics  # noqa: PLC0415

    check_executor_options(executor, workers=workers, scheduler=scheduler)
    problems: list[Problem] = []
    grids, zips, ranges = [], [], []
    for text in grid or []:
        try:
            grids.append(parse_axis(text, "--grid"))
        except InputError as exc:
            problems.extend(exc.problems)
    for text in zip_ or []:
        try:
            zips.append(parse_axis(text, "--zip"))
        except InputError as exc:
            problems.extend(exc.problems)
    for text in range_ or []:
        try:
            ranges.append(parse_range(text))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    base = load_scenario(scenario, set_ or [])
    spec = SweepSpec(tuple(grids), tuple(zips), tuple(ranges), sample or 0,
                     cast(Sampler, sampler), replications or base.scenario.replications)
    plan = plan_sweep(base, spec)
    metrics = SweepMetrics() if metrics_port is not None else None
    with open_store(db or base.scenario.store) as store:
        jobs, skipped = pending_jobs(plan, store)
        if metrics is not None and metrics_port is not None:
            port = metrics.serve(metrics_port, metrics_host)
            metrics.start(plan.total, skipped)
            err.print(f"metrics: http://{metrics_host}:{port}/metrics", highlight=False)
        try:
            ran, failed = _run_with_progress(plan, store, jobs, skipped, executor=executor,
                                             scheduler=scheduler, workers=workers, quiet=as_json,
                                             metrics=metrics)
        finally:
            if metrics is not None:
                metrics.stop()
        stored = store.runs(sweep_id=plan.sweep_id)
    by_key = {(r.cell, r.arm, r.seed): r for r in stored}
    if as_json:
        sys.stdout.write(json.dumps(_sweep_json(plan, by_key), indent=2) + "\n")
    else:
        _print_summary(plan, by_key)
    completed = sum(1 for key in plan.result_keys() if key in by_key and by_key[key].status == "completed")
    failed_total = sum(1 for key in plan.result_keys() if key in by_key and by_key[key].status != "completed")
    err.print(f"sweep {plan.sweep_id} ({plan.base.scenario.name}): {len(plan.cells)} cells x "
               f"{len(plan.arms)} arms x {plan.spec.replications} seeds = {plan.total} runs; ran {ran} now "
               f"({failed} failed), {skipped} already stored; {completed} completed, {failed_total} "
               f"failed in {store.url}", highlight=False, markup=False, soft_wrap=True)
    if failed_total:
        err.print("rerun the same command to retry the failed runs; `flagship show RUN` shows a traceback",
                   highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)


def _run_with_progress(plan: SweepPlan, store: RunStore, jobs: list[Any], skipped: int, *, executor: str,
                       scheduler: str | None, workers: int | None, quiet: bool,
                       metrics: SweepMetrics | None) -> tuple[int, int]:
    from flagship.sandbox._executors import open_executor, window_for  # noqa: PLC0415
    from flagship.sandbox._sweep import store_results  # noqa: PLC0415

    if not jobs:
        return 0, 0
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                        TextColumn("remaining"), TimeRemainingColumn(), console=err, transient=True,
                        disable=quiet)
    with progress:
        task = progress.add_task(f"sweep {plan.base.scenario.name}", total=plan.total, completed=skipped,
                                 failed=0)
        failures = 0

        def advance(result: RunResult) -> None:
            nonlocal failures
            failures += not result.ok
            progress.update(task, advance=1, failed=failures)
            if metrics is not None:
                metrics.observe(result)

        with open_executor(executor, workers=workers, scheduler=scheduler, n_jobs=len(jobs)) as pool:
            return store_results(jobs, pool, store, on_result=advance, window=window_for(pool))


def _sweep_json(plan: SweepPlan, by_key: dict[tuple[str, str, int], Any]) -> dict[str, Any]:
    """Every (cell, arm, seed) in design order: cell, arm, seed, replication, status, measures."""
    results = []
    for cell in plan.cells:
        for arm in plan.arms:
            for replication, seed in enumerate(cell.seeds):
                run = by_key.get((cell.key, arm, seed))
                results.append({"cell": cell.assignment, "arm": arm or None, "seed": seed,
                                "replication": replication,
                                "status": run.status if run is not None else "missing",
                                "measures": run.measures if run is not None else {}})
    return {"sweep": plan.sweep_id, "scenario": plan.base.scenario.name, "results": results}


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}"


def _print_summary(plan: SweepPlan, by_key: dict[tuple[str, str, int], Any]) -> None:
    """Each measure per arm over the whole sweep: mean ± 95% Student-t half-width."""
    from flagship.telemetry import mean_ci  # noqa: PLC0415

    values: dict[str, dict[str, list[float | None]]] = {}
    for key in plan.result_keys():
        run = by_key.get(key)
        if run is None or run.status != "completed":
            continue
        for name, value in run.measures.items():
            values.setdefault(name, {}).setdefault(key[1], []).append(value)
    if not values:
        return
    table = Table(title=f"sweep {plan.sweep_id[:12]}: mean ± 95% CI half-width over all cells",
                  title_justify="left")
    table.add_column("measure", no_wrap=True)
    for arm in plan.arms:
        table.add_column(arm or "value", justify="right")
    for name in sorted(values):
        cells = []
        for arm in plan.arms:
            est = mean_ci(values[name].get(arm, []))
            half = (est.high - est.low) / 2 if math.isfinite(est.low) else math.nan
            cells.append(f"{_fmt(est.mean)} ± {_fmt(half)}" if math.isfinite(half) else _fmt(est.mean))
        table.add_row(name, *cells)
    out.print(table)


# -- evaluate -----------------------------------------------------------------------------


def evaluate_command(
    db: DbArg,
    sweep: SweepOpt,
    criteria: Annotated[str, typer.Option("--criteria", help="criteria file (TOML)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the evaluation as JSON")] = False,
) -> None:
    """Judge a stored sweep against a criteria file: exit 0 when every criterion passes, else 1.

    Each measure is estimated with a seeded bootstrap interval across replications;
    a criterion passes only when its whole interval clears the threshold.
    """
    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415
    from flagship.telemetry import open_store  # noqa: PLC0415
    from flagship.telemetry._bootstrap import Verdict  # noqa: PLC0415
    from flagship.telemetry._scorecard import SweepData, evaluate, load_criteria  # noqa: PLC0415

    spec = load_criteria(criteria)
    with open_store(store_url(db)) as store:
        data = SweepData.load(store, sweep)
    if not data.runs:
        raise InputError([Problem("--sweep", f"sweep {data.sweep.id} has no runs yet")])
    evaluation = evaluate(data, spec, source=criteria)
    if as_json:
        sys.stdout.write(json.dumps(evaluation.to_dict(), indent=2) + "\n")
    else:
        print_evaluation(evaluation)
    if evaluation.verdict is not Verdict.PASS:
        raise typer.Exit(1)


def _ci(interval: Interval) -> str:
    if interval.n == 0:
        return "no data"
    if not math.isfinite(interval.low):
        return f"{_fmt(interval.estimate)} (n={interval.n})"
    return f"{_fmt(interval.estimate)} [{_fmt(interval.low)}, {_fmt(interval.high)}]"


_STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow"}  # by Verdict value


def print_evaluation(evaluation: Evaluation, *, measures: bool = True) -> None:
    """Print the scorecard (criteria, verdicts, intervals) and, with ``measures``, every measure per arm
    with its paired differences from the first arm."""
    from flagship.telemetry._bootstrap import Verdict  # noqa: PLC0415
    from flagship.telemetry._scorecard import cell_label  # noqa: PLC0415

    data = evaluation.data
    conf = f"{evaluation.confidence:.0%}"
    batch = "batch" if data.sweep.kind == "run" else "sweep"  # `flagship run` stores its runs as a batch
    cells = f"{len(data.cells)} cell{'' if len(data.cells) == 1 else 's'}"
    out.print(f"{evaluation.title}: {batch} {data.sweep.id} ({data.sweep.scenario}), {cells}, "
               f"arms {', '.join(a or '-' for a in data.arms)}, {data.replications} replications; "
               f"{conf} bootstrap intervals ({evaluation.resamples} resamples, seed {evaluation.seed})",
               highlight=False, markup=False)
    table = Table(title="scorecard", title_justify="left")
    for column in ("criterion", "target", f"estimate [{conf} CI]", "deciding part", "verdict",
                   "more replications"):
        table.add_column(column)
    labels = {c["key"]: cell_label(c["assignment"]) or c["key"] for c in data.cells}
    for result in evaluation.criteria:
        head = result.headline
        more = ("" if result.verdict is not Verdict.INCONCLUSIVE
                else "unknown" if result.further is None else f"~{result.further} per cell")
        where = "" if head is None else ", ".join(
            part for part in (head.arm, labels.get(head.cell, head.cell) if head.cell else "all cells")
            if part)
        table.add_row(escape(result.label), escape(result.target), _ci(head.interval) if head else "no data",
                      escape(where),
                      f"[{_STYLE[result.verdict.value]}]{result.verdict.value}[/]", more)
    out.print(table)
    if measures:
        _print_measures(evaluation)
    verdict = evaluation.verdict
    counts = evaluation.counts
    if verdict is not None:
        style = _STYLE[verdict.value]
        out.print(f"[{style}]{verdict.value.upper()}[/]: {counts['pass']} pass, {counts['fail']} "
                   f"fail, {counts['inconclusive']} inconclusive of {len(evaluation.criteria)} criteria. "
                   "'More replications' estimates, from the current interval, how many further seeds per "
                   "cell would shrink its half-width below the distance to the threshold.",
                   highlight=False)


def _print_measures(evaluation: Evaluation) -> None:
    data = evaluation.data
    conf = f"{evaluation.confidence:.0%}"
    measures = Table(title=f"measures (mean [{conf} CI] over all cells; differences paired by cell and seed)",
                     title_justify="left")
    measures.add_column("measure", no_wrap=True)
    for arm in data.arms:
        measures.add_column(arm or "value")
    control = data.arms[0] if data.arms else ""
    for arm in data.arms[1:]:
        measures.add_column(f"{arm} - {control}")
    for key, info in data.measures.items():
        row = [escape(f"{info.qualified} ({info.unit}, {'↑' if info.higher_is_better else '↓'})")]
        row += [_ci(evaluation.pooled[key][arm]) for arm in data.arms]
        row += [_ci(evaluation.differences[key][f"{arm} - {control}"]) for arm in data.arms[1:]]
        measures.add_row(*row)
    out.print(measures)


# -- report -------------------------------------------------------------------------------


def report_command(
    db: DbArg,
    sweep: SweepOpt,
    out: Annotated[str, typer.Option("--out", help="directory for report.html, report.json and figures/")],
    criteria: Annotated[str | None, typer.Option("--criteria", help="criteria file (TOML)")] = None,
) -> None:
    """Write a self-contained HTML report of a sweep, its figures (PNG and SVG) and its numbers (JSON)."""
    from flagship.telemetry import open_store  # noqa: PLC0415

    # matplotlib takes most of a second to import: only this command pays for it
    from flagship.telemetry._report import write_report  # noqa: PLC0415
    from flagship.telemetry._scorecard import load_criteria  # noqa: PLC0415

    spec = load_criteria(criteria) if criteria is not None else None
    with open_store(store_url(db)) as store:
        report = write_report(store, sweep, out, spec, criteria_source=criteria or "")
    verdict = report.evaluation.verdict
    err.print(f"report: {Path(out) / 'report.html'} ({len(report.figures)} figures"
               f"{', verdict ' + verdict.value if verdict else ''})", highlight=False, markup=False)


# -- registration -------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    """Add ``sweep``, ``evaluate`` and ``report`` to a Typer app, in the order ``--help`` lists them."""
    app.command("sweep")(sweep_command)
    app.command("evaluate")(evaluate_command)
    app.command("report")(report_command)
