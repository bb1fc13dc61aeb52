"""Mechanism search: ``flagship tune``'s search of the value market's circuit breaker, timed.

The search of ``examples/value_market_criteria.toml``'s header: the breaker's trigger move
(0.02 to 0.4) and halt (5 to 120 s), minimising the liquidity shock's drawdown and maximising
allocative efficiency, on 3 arms x K common seeds per trial, constrained by the criteria (trading
open at least 75% of the time, efficiency at least 0.8, in every arm). Each run uses a fresh
SQLite store, so every trial runs. Run:

    python benchmarks/bench_tune.py [--trials 40] [--replications 6] [--workers 2]

It prints the Pareto front of the passing trials (each objective's mean and interval), the
best passing configuration, the trials that pass, and the wall time (total and per run).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from flagship.sandbox import load_scenario
from flagship.sandbox._executors import open_executor, window_for
from flagship.sandbox._tune import Tune, declared_measures, parse_objective, parse_param, run_tune
from flagship.telemetry import Store
from flagship.telemetry._criteria import load_criteria

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PARAMS = ("mechanisms.value_market.circuit_breaker_move=0.02:0.4",
          "mechanisms.value_market.circuit_breaker_halt=5:120")
OBJECTIVES = ("robustness.shock_drawdown", "legitimacy.allocative_efficiency")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--replications", type=int, default=6)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    base = load_scenario(EXAMPLES / "value_market.toml")
    measures = declared_measures(base)
    arms = [a or "" for a in base.arm_names()]
    criteria = str(EXAMPLES / "value_market_criteria.toml")
    tune = Tune(base, tuple(parse_param(p) for p in PARAMS),
                tuple(parse_objective(o, measures, arms) for o in OBJECTIVES), load_criteria(criteria),
                criteria, args.trials, args.replications, base.scenario.seed)
    with tempfile.TemporaryDirectory() as tmp, Store.open(f"sqlite:///{Path(tmp) / 'tune.db'}") as store:
        started = time.perf_counter()
        n_jobs = args.trials * len(arms) * args.replications
        with open_executor("local", workers=args.workers, n_jobs=n_jobs) as pool:
            outcome = run_tune(tune, store, pool, window=window_for(pool))
        seconds = time.perf_counter() - started
    print(f"{'trial':>5}  {'move':>7} {'halt':>5}  " + "  ".join(f"{o.label:>42}" for o in tune.objectives))
    for number in outcome.front:
        trial = outcome.trials[number]
        move, halt = trial.assignment.values()
        cells = [f"{i.estimate:.4f} [{i.low:.4f}, {i.high:.4f}] {i.method}" for i in trial.objectives]
        print(f"{number + 1:>5}  {move:>7.4f} {halt:>5}  " + "  ".join(f"{c:>42}" for c in cells))
    passing = [r.number + 1 for r in outcome.trials if r.passes]
    front = "passing trials" if outcome.front_feasible else "all trials (none passes)"
    best = outcome.best
    print(f"front of {front}; best passing: "
          f"{'none' if best is None else f'trial {best.number + 1}, {best.assignment}'}")
    print(f"trials passing every criterion: {len(passing)} of {len(outcome.trials)} "
          f"(first: {passing[0] if passing else 'none'})")
    print(f"wall time: {seconds:.1f} s for {outcome.ran} runs ({seconds / max(1, outcome.ran) * 1000:.0f} ms "
          f"a run, sampling and judging included)")


if __name__ == "__main__":
    main()
