"""``flagship tune``: search a scenario's fields with Optuna for the best configuration that passes a
criteria file (the search itself is :mod:`flagship.sandbox._tune`).

Exit codes: 0 a trial passes every criterion; 1 none does (or a run failed); 2 bad input (an unknown
path, a bad range, an unknown measure or arm, a criteria file that does not validate), found before
anything runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from flagship.sandbox._cli_app import ScenarioArg, SetOpt, err, out, parse_each

if TYPE_CHECKING:
    from flagship.sandbox._tune import TrialResult, TuneOutcome

__all__ = ["register", "tune_command"]


def tune_command(
    scenario: ScenarioArg,
    objective: Annotated[list[str], typer.Option(
        "--objective", help="MEASURE[@ARM][:max|min] to optimise: its mean over the seeds (and the arms, "
                            "unless @ARM); default direction: the measure's declared better one. Repeat for "
                            "a multi-objective search")],
    constraints: Annotated[str, typer.Option(
        "--constraints", help="criteria file (TOML): a configuration qualifies when every criterion passes")],
    trials: Annotated[int, typer.Option("--trials", help="configurations to try", min=1)],
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="a searched path: path=low:high (integers when both bounds are) or path=v1,v2,... "
                        "(values read as TOML)")] = None,
    replications: Annotated[int | None, typer.Option(
        help="seeds per trial and arm, common to every trial (default: the scenario's replications)",
        min=1)] = None,
    seed: Annotated[int | None, typer.Option(
        help="the search's seed (default: the scenario's seed); the runs' seeds stay the scenario's",
        min=0)] = None,
    db: Annotated[str | None, typer.Option(
        "--db", help="store URL or SQLite file (default: the scenario's store)")] = None,
    set_: SetOpt = None,
    workers: Annotated[int | None, typer.Option(help="local processes (default: all cores)", min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print every trial and the result as JSON")] = False,
) -> None:
    """Search scenario fields with Optuna's TPE sampler: each trial a stored sweep cell on common seeds.

    Prints the Pareto front of the objectives (means with their intervals) among the trials that pass
    every criterion of --constraints (among all trials when none does), and the best passing
    configuration (the best first objective on that front) with its scorecard. Rerunning the same
    command replays the stored trials without running them again; more --trials go on from there.
    """
    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415
    from flagship.sandbox._executors import open_executor, window_for  # noqa: PLC0415
    from flagship.sandbox._interrupt import stop_on_signals  # noqa: PLC0415
    from flagship.sandbox._scenario import load_scenario  # noqa: PLC0415
    from flagship.sandbox._tune import (  # noqa: PLC0415
        Tune,
        check_criteria,
        declared_measures,
        parse_objective,
        parse_param,
        run_tune,
    )
    from flagship.telemetry import open_store  # noqa: PLC0415
    from flagship.telemetry._criteria import load_criteria  # noqa: PLC0415

    problems: list[Problem] = []
    params = parse_each(param, parse_param, problems)
    if problems:
        raise InputError(problems)
    base = load_scenario(scenario, set_ or [])
    measures = declared_measures(base)
    arms = [a or "" for a in base.arm_names()]
    objectives = [parse_objective(text, measures, arms) for text in objective]
    criteria = load_criteria(constraints)
    check_criteria(criteria, measures, arms, constraints)
    tune = Tune(base, tuple(params), tuple(objectives), criteria, constraints, trials,
                replications or base.scenario.replications,
                seed if seed is not None else base.scenario.seed)

    def progress(result: TrialResult) -> None:
        if not as_json:
            state = "passes" if result.passes else "fails" if result.complete else "failed"
            err.print(f"trial {result.number + 1}/{trials}: {_config(result.assignment)}: {state}",
                      highlight=False, markup=False, soft_wrap=True)

    url = db if db is None or "://" in db else f"sqlite:///{Path(db).resolve()}"  # a SQLite file's path too
    with open_store(url or base.scenario.store) as store:
        n_jobs = trials * len(arms) * tune.replications
        try:
            with stop_on_signals() as received, \
                    open_executor("local", workers=workers, n_jobs=n_jobs) as pool:
                outcome = run_tune(tune, store, pool, window=window_for(pool), on_trial=progress)
        except KeyboardInterrupt:  # every finished run is stored: the same command replays and goes on
            err.print(f"interrupted by {received.name}: workers stopped; completed runs are stored in "
                      f"{store.url}; rerun the same command to resume", highlight=False, markup=False,
                      soft_wrap=True)
            raise typer.Exit(received.exit_code) from None
        url = store.url
    if as_json:
        sys.stdout.write(json.dumps(_tune_json(outcome), indent=2) + "\n")
    else:
        _print_outcome(outcome, url)
    raise typer.Exit(0 if outcome.best is not None else 1)


def _config(assignment: dict[str, Any]) -> str:
    from flagship.telemetry._scorecard import cell_label  # noqa: PLC0415

    return cell_label(assignment)


def _print_outcome(outcome: TuneOutcome, url: str) -> None:
    from flagship.sandbox._experiment_cli import format_estimate, print_evaluation  # noqa: PLC0415

    tune = outcome.tune
    passing = sum(r.passes for r in outcome.trials)
    which = "trials passing every criterion" if outcome.front_feasible else \
        "all trials: none passes every criterion"
    table = Table(title=f"Pareto front ({which}); each objective's mean over {tune.replications} common "
                        f"seeds [{tune.criteria.confidence:.0%} interval] method", title_justify="left")
    table.add_column("trial", justify="right")
    table.add_column("configuration")
    for o in tune.objectives:
        table.add_column(escape(o.label))
    table.add_column("criteria")
    table.add_column("sweep")
    for number in outcome.front:
        result = outcome.trials[number]
        counts = result.evaluation.counts if result.evaluation else {}
        table.add_row(str(number + 1), escape(_config(result.assignment)),
                      *(format_estimate(_estimate(i)) for i in result.objectives),
                      f"{counts.get('pass', 0)} of {len(tune.criteria.criteria)} pass",
                      result.sweep_id[:12])
    out.print(table)
    best = outcome.best
    if best is not None and best.evaluation is not None:
        out.print(f"best passing configuration: trial {best.number + 1}, {_config(best.assignment)} "
                  f"(sweep {best.sweep_id})", highlight=False, markup=False, soft_wrap=True)
        print_evaluation(best.evaluation, measures=False)
        out.print(f"selected from {len(outcome.trials)} trials: confirm on fresh seeds with "
                  f"{_confirm_command(outcome, best, url)}", highlight=False, markup=False, soft_wrap=True)
    arms = len(tune.base.arm_names())
    err.print(f"tune {tune.base.scenario.name}: {len(outcome.trials)} trials x {arms} "
              f"arms x {tune.replications} seeds; ran {outcome.ran} runs now, {outcome.skipped} already "
              f"stored in {url}; {passing} of {len(outcome.trials)} trials pass every criterion",
              highlight=False, markup=False, soft_wrap=True)


def _estimate(interval: Any) -> Any:
    """An inference interval as the sweep table's estimate (``format_estimate`` prints either)."""
    from flagship.telemetry import Estimate  # noqa: PLC0415

    return Estimate(mean=interval.estimate, low=interval.low, high=interval.high, n=interval.n,
                    method=interval.method)


def _confirm_command(outcome: TuneOutcome, best: TrialResult, url: str) -> str:
    """A plain sweep of the chosen configuration: its seeds come from the cell, not the tune's."""
    from flagship.sandbox._sweep import Axis, SweepSpec, plan_sweep  # noqa: PLC0415

    tune = outcome.tune
    spec = SweepSpec(grids=tuple(Axis(path, (value,)) for path, value in best.assignment.items()),
                     replications=tune.replications)
    return f"{plan_sweep(tune.base, spec).command()} --db {url}"


def _trial_json(result: TrialResult, outcome: TuneOutcome) -> dict[str, Any]:
    evaluation = result.evaluation
    return {"trial": result.number + 1, "configuration": result.assignment,
            "sweep": result.sweep_id or None, "passes": result.passes, "failed_runs": result.failed_runs,
            "problem": result.problem or None,
            "objectives": {o.label: i.to_dict() for o, i in zip(outcome.tune.objectives, result.objectives,
                                                                strict=False)},
            "verdict": evaluation.verdict.value if evaluation and evaluation.verdict else None,
            "criteria": {c.label: c.verdict.value for c in evaluation.criteria} if evaluation else {}}


def _tune_json(outcome: TuneOutcome) -> dict[str, Any]:
    tune = outcome.tune
    best = outcome.best
    return {
        "scenario": tune.base.scenario.name, "seed": tune.seed, "replications": tune.replications,
        "params": [p.path for p in tune.params], "objectives": [o.label for o in tune.objectives],
        "trials": [_trial_json(r, outcome) for r in outcome.trials],
        "front": [n + 1 for n in outcome.front], "front_of": "passing" if outcome.front_feasible else "all",
        "best": None if best is None or best.evaluation is None else {
            **_trial_json(best, outcome), "scorecard": best.evaluation.to_dict()},
        "runs": {"ran": outcome.ran, "skipped": outcome.skipped},
    }


def register(app: typer.Typer) -> None:
    """Add ``tune`` to a Typer app."""
    app.command("tune")(tune_command)
