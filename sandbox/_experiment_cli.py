"""``flagship sweep``, ``flagship evaluate`` and ``flagship report``: experiments at scale.

Registered on :data:`flagship.sandbox._cli_app.app` at import. Bad input (an unknown or invalid
swept value, a malformed option, a criteria file that does not validate, an
unknown sweep) raises :class:`~flagship.mechanisms.InputError` before anything runs: one
line per problem, exit code 2. ``sweep`` exits 1 when a run failed; ``evaluate``
exits 0 when every criterion passes, 1 when one fails, 3 when none fails but some are
inconclusive or flagged by the audit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Mapping
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

from flagship.sandbox._cli_app import StoreArg, StoreOpt, chosen_store, err, out, parse_each

if TYPE_CHECKING:
    from flagship.mechanisms import Problem
    from flagship.sandbox._sweep import (
        SweepPlan,
    )
    from flagship.telemetry import Estimate, RunResult, RunStore
    from flagship.telemetry._bootstrap import Interval
    from flagship.telemetry._scorecard import Evaluation
    from flagship.telemetry._sweep_metrics import SweepMetrics

__all__ = ["evaluate_command", "exit_code", "preregister_command", "print_evaluation", "register",
           "report_command", "store_url", "sweep_command"]

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
    common_seeds: Annotated[bool, typer.Option(help="every cell on the scenario's own seeds")] = False,
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
    pushgateway: Annotated[str | None, typer.Option(
        help="also push the sweep's metrics to this Prometheus Pushgateway (e.g. http://127.0.0.1:9091) "
             "before the first run and when the sweep ends, as job flagship_sweep, sweep=<id>")] = None,
) -> None:
    """Run a scenario over a grid, zipped lists or samples of its fields, K seeds per cell and arm.

    Rerunning the same command resumes the sweep: completed results are kept, failed
    ones rerun, none duplicated. The sweep is known by what decides its results (the
    scenario's data, not its text; the set of cells, not their order; the seed), so a
    comment or a reordered grid resumes it, and more --replications add only the new seeds.
    Ctrl-C or SIGTERM stops the workers, keeps what finished and prints the command that
    resumes (exit 130 or 143).
    """
    from flagship.mechanisms import InputError  # noqa: PLC0415
    from flagship.sandbox._executors import check_executor_options  # noqa: PLC0415
    from flagship.sandbox._interrupt import stop_on_signals  # noqa: PLC0415
    from flagship.sandbox._scenario import load_scenario  # noqa: PLC0415
    from flagship.sandbox._sweep import (  # noqa: PLC0415
        Axis,
        Sampler,
        SweepSpec,
        parse_axis,
        parse_range,
        pending_jobs,
        plan_sweep,
    )
    from flagship.telemetry import open_store  # noqa: PLC0415
    from flagship.telemetry._sweep_metrics import SweepMetrics  # noqa: PLC0415

    check_executor_options(executor, workers=workers, scheduler=scheduler)
    problems: list[Problem] = []
    grids = parse_each(grid, lambda text: parse_axis(text, "--grid"), problems)
    zips = parse_each(zip_, lambda text: parse_axis(text, "--zip"), problems)
    ranges = parse_each(range_, parse_range, problems)
    if problems:
        raise InputError(problems)
    base = load_scenario(scenario, set_ or [])
    swept = {*(axis.path for axis in grids), *(axis.path for axis in zips), *(r.path for r in ranges)}
    # The scenario's own cells come first; a path given on the command line replaces its axis.
    grids = [*(Axis(path, tuple(values)) for path, values in base.scenario.grid.items() if path not in swept),
             *grids]
    spec = SweepSpec(tuple(grids), tuple(zips), tuple(ranges), sample or 0,
                     cast(Sampler, sampler), replications or base.scenario.replications, common_seeds)
    plan = plan_sweep(base, spec)
    metrics = SweepMetrics() if metrics_port is not None or pushgateway else None
    if pushgateway and metrics is not None:  # an unreachable gateway is found before anything is stored
        metrics.start(plan.total, 0)
        metrics.push(pushgateway, plan.sweep_id)
    with open_store(db or base.scenario.store) as store:
        jobs, skipped = pending_jobs(plan, store)
        if metrics is not None:
            metrics.start(plan.total, skipped)
        if metrics is not None and metrics_port is not None:
            port = metrics.serve(metrics_port, metrics_host)
            err.print(f"metrics: http://{metrics_host}:{port}/metrics", highlight=False)
        try:
            with stop_on_signals() as received:
                ran, failed = _run_with_progress(plan, store, jobs, skipped, executor=executor,
                                                 scheduler=scheduler, workers=workers, quiet=as_json,
                                                 metrics=metrics)
        except KeyboardInterrupt:
            kept = len(store.completed_keys(plan.sweep_id) & set(plan.result_keys()))
            err.print(f"interrupted by {received.name}: workers stopped; {kept} of {plan.total} runs are "
                      f"stored in {store.url}; resume with: {plan.command()} --db {store.url}",
                      highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(received.exit_code) from None
        finally:
            if metrics is not None:
                metrics.stop()
                if pushgateway:
                    metrics.push(pushgateway, plan.sweep_id)
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


def format_estimate(est: Estimate) -> str:
    """A table cell: ``mean ± half-width t`` for a symmetric t-interval, else ``mean [low, high] method``."""
    if est.n == 0:
        return "—"
    if est.n == 1 or not math.isfinite(est.low):
        return _fmt(est.mean)
    if est.method == "t" and math.isclose(est.high - est.mean, est.mean - est.low, rel_tol=1e-9):
        # a Student-t interval is symmetric unless clipped to the measure's range: ± says it all
        return f"{_fmt(est.mean)} ± {_fmt((est.high - est.low) / 2)} t"
    return f"{_fmt(est.mean)} [{_fmt(est.low)}, {_fmt(est.high)}] {est.method}"


def summarise_measures(values: dict[str, dict[str, list[float | None]]], confidence: float = 0.95, *,
                       ranges: Mapping[str, tuple[float, float]] | None = None,
                       ) -> dict[str, dict[str, Estimate]]:
    """measure -> arm -> estimate by the inference module's rule (Wilson when a measure is 0/1 in every
    run of every arm), clipped to the measure's range where ``ranges`` names it (its declared
    bounds, else its unit's range); ``constant`` marks a measure with one value (or none) across all
    runs and arms."""
    from flagship.telemetry._inference import Inference, is_proportion  # noqa: PLC0415
    from flagship.telemetry._stats import summarise  # noqa: PLC0415

    inference = Inference(confidence)
    table: dict[str, dict[str, Estimate]] = {}
    for name, by_arm in values.items():
        every = [v for arm_values in by_arm.values() for v in arm_values]
        proportion = is_proportion(every)
        constant = len({float(v) for v in every if v is not None and math.isfinite(v)}) <= 1
        bounds = ranges.get(name) if ranges else None
        table[name] = {arm: dataclasses.replace(summarise(arm_values, proportion=proportion,
                                                          inference=inference, stream=f"{name}/{arm}",
                                                          bounds=bounds),
                                                constant=constant)
                       for arm, arm_values in by_arm.items()}
    return table


def _print_summary(plan: SweepPlan, by_key: dict[tuple[str, str, int], Any]) -> None:
    """Each measure per arm over the whole sweep: mean and 95% interval, its method named."""
    values: dict[str, dict[str, list[float | None]]] = {}
    for key in plan.result_keys():
        run = by_key.get(key)
        if run is None or run.status != "completed":
            continue
        for name, value in run.measures.items():
            values.setdefault(name, {}).setdefault(key[1], []).append(value)
    if not values:
        return
    from flagship.sandbox._sweep import declared_measures  # noqa: PLC0415

    ranges = {key: info.value_range() for key, info in declared_measures(plan.base).items()}
    estimates = summarise_measures(values, ranges=ranges)
    table = Table(title=f"sweep {plan.sweep_id[:12]}: mean ± 95% half-width (t), or mean [95% interval] "
                        "(wilson, bca), over all cells; = marks a measure constant across all runs",
                  title_justify="left")
    table.add_column("measure", no_wrap=True)
    for arm in plan.arms:
        table.add_column(arm or "value", justify="right")
    for name in sorted(values):
        by_arm = estimates[name]
        constant = any(e.constant for e in by_arm.values())
        table.add_row(name + (" =" if constant else ""),
                      *(format_estimate(by_arm[arm]) if arm in by_arm else "—" for arm in plan.arms))
    out.print(table)


# -- evaluate -----------------------------------------------------------------------------


CorrectionOpt = Annotated[str | None, typer.Option(
    "--correction", help="multiplicity correction across the criteria's judged parts: holm (default: "
                         "family-wise error), bh (false-discovery rate) or none; overrides the criteria "
                         "file")]


def check_correction(correction: str | None) -> None:
    """Refuse an unknown ``--correction`` (exit 2) before anything runs."""
    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415

    if correction is not None and correction not in ("none", "holm", "bh"):
        raise InputError([Problem("--correction", f"expected none, holm or bh, got {correction!r}")])


def evaluate_command(
    sweep: SweepOpt,
    criteria: Annotated[str, typer.Option("--criteria", help="criteria file (TOML)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the evaluation as JSON")] = False,
    correction: CorrectionOpt = None,
    audit: Annotated[bool, typer.Option(
        "--audit", help="also run each criterion's `set` contrast as an extra sweep cell and judge it there "
                        "(arm contrasts and vacuous measures are always audited)")] = False,
    extend: Annotated[bool, typer.Option(
        "--extend", help="sequential mode: run more seeds of the same sweep in stages (doubling) until "
                         "every criterion is decided or --max-replications, with an O'Brien-Fleming "
                         "alpha-spending boundary")] = False,
    max_replications: Annotated[int | None, typer.Option(
        "--max-replications", help="the most replications per cell and arm --extend may reach",
        min=2)] = None,
    workers: Annotated[int | None, typer.Option(
        help="worker processes for --audit and --extend runs (default: all cores)", min=1)] = None,
    db: StoreArg = None,
    db_option: StoreOpt = None,
) -> None:
    """Judge a stored sweep against a criteria file.

    Exit codes: 0 every criterion passes (and the audit flags none); 1 a criterion fails;
    3 none fails but some are inconclusive, or vacuous, or do not fail under their contrast;
    2 bad input. Intervals are t, paired-t, Wilson or BCa (the method is printed with each),
    each part tested at its Holm-adjusted level unless --correction says otherwise.
    """
    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415
    from flagship.sandbox._evidence import registration_check, run_set_contrasts  # noqa: PLC0415
    from flagship.telemetry import open_store  # noqa: PLC0415
    from flagship.telemetry._criteria import parse_criteria, read_criteria_text  # noqa: PLC0415
    from flagship.telemetry._scorecard import SweepData, evaluate  # noqa: PLC0415

    check_correction(correction)
    if max_replications is not None and not extend:
        raise InputError([Problem("--max-replications", "only applies with --extend")])
    if extend and max_replications is None:
        raise InputError([Problem("--extend", "needs --max-replications N")])
    text = read_criteria_text(criteria)
    spec = _parse_toml_criteria(text, criteria, parse_criteria)
    with open_store(store_url(chosen_store(db, db_option))) as store:
        with err.status("evaluate: reading the sweep"):
            data = SweepData.load(store, sweep)
        if not data.runs:
            raise InputError([Problem("--sweep", f"sweep {data.sweep.id} has no runs yet")])
        if extend and max_replications is not None:
            from flagship.sandbox._sequential_cli import evaluate_in_stages  # noqa: PLC0415

            evaluation = evaluate_in_stages(store, data, spec, criteria, max_replications, workers=workers,
                                            quiet=as_json)
        else:
            with err.status(f"evaluate: judging {len(spec.criteria)} criteria on {len(data.runs)} runs"):
                evaluation = evaluate(data, spec, source=criteria, correction=cast(Any, correction))
        if audit:
            run_set_contrasts(evaluation, store, workers=workers)
        evaluation.registration = registration_check(store, text, data.sweep.id)
    if as_json:
        sys.stdout.write(json.dumps(evaluation.to_dict(), indent=2) + "\n")
    else:
        print_evaluation(evaluation)
    raise typer.Exit(exit_code(evaluation))


def _parse_toml_criteria(text: str, source: str, parse: Any) -> Any:
    import tomllib  # noqa: PLC0415

    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415

    try:
        return parse(tomllib.loads(text), source=source)
    except tomllib.TOMLDecodeError as exc:
        raise InputError([Problem("", f"invalid TOML: {exc}")], source=source) from None


def exit_code(evaluation: Evaluation) -> int:
    """0 pass, 1 any criterion fails, 3 none fails but not all pass (inconclusive or flagged)."""
    from flagship.telemetry._bootstrap import Verdict  # noqa: PLC0415

    verdict = evaluation.verdict
    return 0 if verdict is Verdict.PASS else 1 if verdict is Verdict.FAIL else 3


def preregister_command(
    criteria: Annotated[str, typer.Argument(help="criteria file (TOML) to lock before the sweep runs")],
    db: Annotated[str, typer.Option("--db", help="store URL (or the path of a SQLite file)")],
) -> None:
    """Store a criteria file's text and SHA-256 with the time: a locked analysis plan.

    `flagship evaluate` then reports whether the criteria it judges with were registered
    before the sweep's first run was stored.
    """
    from flagship.telemetry import open_store  # noqa: PLC0415
    from flagship.telemetry._criteria import criteria_sha256, load_criteria, read_criteria_text  # noqa: PLC0415

    load_criteria(criteria)  # only a valid file is worth locking
    text = read_criteria_text(criteria)
    url = db if "://" in db else f"sqlite:///{Path(db).resolve()}"
    with open_store(url) as store:
        registration = store.preregister(text, criteria_sha256(text), source=criteria)
    out.print(f"registered {criteria}: sha256 {registration.sha256} at "
              f"{registration.created_at:%Y-%m-%d %H:%M:%S} UTC (registration {registration.id})",
              highlight=False, markup=False)


def _ci(interval: Interval, *, level: bool = False) -> str:
    """``estimate [low, high] method`` (``@ 99.6%`` with ``level``): every interval says its method."""
    if interval.n == 0:
        return "no data"
    if not math.isfinite(interval.low):
        return f"{_fmt(interval.estimate)} (n={interval.n})"
    at = f" @ {_percent(interval.confidence)}" if level else ""
    return f"{_fmt(interval.estimate)} [{_fmt(interval.low)}, {_fmt(interval.high)}] {interval.method}{at}"


def _percent(confidence: float) -> str:
    text = f"{confidence * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


_STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow"}  # by Verdict value
_AUDIT_STYLE = {"ok": "green", "vacuous": "red", "never fails": "red", "contrast not run": "yellow",
                "witness run": "dim", "never reaches threshold": "red"}


def _more(result: Any) -> str:
    from flagship.telemetry._bootstrap import Verdict  # noqa: PLC0415
    from flagship.telemetry._inference import MAX_REPLICATIONS  # noqa: PLC0415

    if result.verdict is not Verdict.INCONCLUSIVE:
        return ""
    if result.further is None:
        return "unknown"
    if result.further >= MAX_REPLICATIONS:
        return f">= {MAX_REPLICATIONS} per cell (estimate)"
    return f"~{result.further} per cell (estimate)"


def print_evaluation(evaluation: Evaluation, *, measures: bool = True) -> None:
    """Print the scorecard (criteria, verdicts, intervals with methods and adjusted levels), the audit
    and, with ``measures``, every measure per arm with its paired differences from the first arm."""
    from flagship.telemetry._scorecard import cell_label  # noqa: PLC0415

    data = evaluation.data
    conf = f"{evaluation.confidence:.0%}"
    batch = "batch" if data.sweep.kind == "run" else "sweep"  # `flagship run` stores its runs as a batch
    cells = f"{len(data.cells)} cell{'' if len(data.cells) == 1 else 's'}"
    correction = {"holm": "Holm family-wise", "bh": "Benjamini-Hochberg false-discovery",
                  "none": "no"}[evaluation.correction]
    out.print(f"{evaluation.title}: {batch} {data.sweep.id} ({data.sweep.scenario}), {cells}, "
              f"arms {', '.join(a or '-' for a in data.arms)}, {data.replications} replications; "
              f"{conf} overall, {correction} correction across "
              f"{sum(len(c.parts) for c in evaluation.criteria)} judged parts (each interval at its "
              "adjusted level; methods t, paired-t, wilson, bca: docs/experiments.md; "
              f"BCa seed {evaluation.seed}, {evaluation.resamples} resamples)",
              highlight=False, markup=False)
    table = Table(title="scorecard", title_justify="left")
    for column in ("criterion", "target", "estimate [CI] method @ adjusted level", "deciding part",
                   "verdict", "audit", "more replications"):
        table.add_column(column)
    labels = {c["key"]: cell_label(c["assignment"]) or c["key"] for c in data.cells}
    for result in evaluation.criteria:
        head = result.headline
        where = "" if head is None else ", ".join(
            part for part in (head.arm, labels.get(head.cell, head.cell) if head.cell else "all cells")
            if part)
        finding = evaluation.audit.get(result.index)
        audit = "" if finding is None else f"[{_AUDIT_STYLE[finding.status]}]{finding.status}[/]"
        table.add_row(escape(result.label), escape(result.target),
                      _ci(head.interval, level=True) if head else "no data", escape(where),
                      f"[{_STYLE[result.verdict.value]}]{result.verdict.value}[/]", audit, _more(result))
    out.print(table)
    print_audit(evaluation)
    if evaluation.sequential is not None:
        seq = evaluation.sequential
        out.print(f"sequential: {seq['looks']} of {len(seq['stages'])} looks (stages "
                  f"{seq['stages']} replications, at most {seq['max_replications']}); each part tested "
                  f"at the look's nominal level ({', '.join(f'{p:.3g}' for p in seq['nominal_levels'])}): "
                  f"{seq['spending']}",
                  highlight=False, markup=False)
    if evaluation.registration is not None:
        out.print(f"analysis plan: {evaluation.registration['text']}", highlight=False, markup=False)
    if measures:
        _print_measures(evaluation)
    verdict = evaluation.verdict
    counts = evaluation.counts
    if verdict is not None:
        style = _STYLE[verdict.value]
        flagged = (f"; {counts['flagged']} flagged by the audit (vacuous, not failing under its contrast, "
                   "or no contrast and a threshold no run reaches) count as not passed"
                   if counts["flagged"] else "")
        out.print(f"[{style}]{verdict.value.upper()}[/]: {counts['pass']} pass, {counts['fail']} "
                  f"fail, {counts['inconclusive']} inconclusive of {len(evaluation.criteria)} criteria"
                  f"{flagged}. 'More replications' is a power-based estimate: the seeds per cell at which "
                  "the part's test at its adjusted level has 80% power against the observed distance "
                  "to the threshold (capped at 10,000).", highlight=False)


def print_audit(evaluation: Evaluation) -> None:
    """The audit table: each criterion's measure (vacuous or not) and its verdict under its contrast."""
    if not evaluation.audit:
        return
    table = Table(title="audit: can each criterion fail?", title_justify="left")
    for column in ("criterion", "status", "measure across all runs and arms", "contrast",
                   "verdict under contrast (or a witness run)"):
        table.add_column(column)
    for result in evaluation.criteria:
        finding = evaluation.audit.get(result.index)
        if finding is None:
            continue
        under = finding.witness if finding.contrast_verdict is None else \
            f"{finding.contrast_verdict.value}: {finding.contrast_estimate}"
        table.add_row(escape(result.label), f"[{_AUDIT_STYLE[finding.status]}]{finding.status}[/]",
                      escape(finding.reason), escape(finding.contrast or "—"), escape(under))
    out.print(table)


def _print_measures(evaluation: Evaluation) -> None:
    data = evaluation.data
    conf = f"{evaluation.confidence:.0%}"
    measures = Table(title=f"measures (mean [{conf} CI] method over all cells; differences paired by cell "
                           "and seed; = marks a measure constant across all runs and arms)",
                     title_justify="left")
    measures.add_column("measure", no_wrap=True)
    for arm in data.arms:
        measures.add_column(arm or "value")
    control = data.arms[0] if data.arms else ""
    for arm in data.arms[1:]:
        measures.add_column(f"{arm} - {control}")
    for key, info in data.measures.items():
        row = [escape(f"{info.qualified} ({info.unit}, {'↑' if info.higher_is_better else '↓'})"
                      + (" =" if data.is_constant(key) else ""))]
        row += [_ci(evaluation.pooled[key][arm]) for arm in data.arms]
        row += [_ci(evaluation.differences[key][f"{arm} - {control}"]) for arm in data.arms[1:]]
        measures.add_row(*row)
    out.print(measures)


# -- report -------------------------------------------------------------------------------


def report_command(
    sweep: SweepOpt,
    out: Annotated[str, typer.Option("--out", help="directory for report.html, report.json and figures/")],
    criteria: Annotated[str | None, typer.Option("--criteria", help="criteria file (TOML)")] = None,
    db: StoreArg = None,
    db_option: StoreOpt = None,
) -> None:
    """Write a self-contained HTML report of a sweep, its figures (PNG and SVG) and its numbers (JSON)."""
    from flagship.telemetry import open_store  # noqa: PLC0415
    from flagship.telemetry._criteria import read_criteria_text  # noqa: PLC0415

    # matplotlib takes most of a second to import: only this command pays for it
    from flagship.telemetry._report import write_report  # noqa: PLC0415
    from flagship.telemetry._scorecard import load_criteria  # noqa: PLC0415

    spec = load_criteria(criteria) if criteria is not None else None
    text = read_criteria_text(criteria) if criteria is not None else None
    with open_store(store_url(chosen_store(db, db_option))) as store, err.status("report") as status:
        report = write_report(store, sweep, out, spec, criteria_source=criteria or "", criteria_text=text,
                              on_step=lambda step: status.update(f"report: {step}"))
    verdict = report.evaluation.verdict
    err.print(f"report: {Path(out) / 'report.html'} ({len(report.figures)} figures"
               f"{', verdict ' + verdict.value if verdict else ''})", highlight=False, markup=False)


# -- registration -------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    """Add ``sweep``, ``evaluate``, ``preregister`` and ``report`` to a Typer app, in ``--help`` order."""
    app.command("sweep")(sweep_command)
    app.command("evaluate")(evaluate_command)
    app.command("preregister")(preregister_command)
    app.command("report")(report_command)
