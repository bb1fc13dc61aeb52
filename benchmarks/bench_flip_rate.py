"""What the citizens' decision flip rate costs in the full-stack pilot, and what its fast path saves.

The flip rate redraws ``redraws`` counterfactual panels per panel decision; each one
deliberates and is counted. Under a Condorcet-consistent rule (the pilot's Schulze) the
count of a profile with a Condorcet winner is skipped
(:func:`flagship.democracy._populations._electorate.decide_complete`); ``slow`` below
counts every redrawn panel through :func:`decide_with` as before. Both give the same
measures (checked here, and differentially in tests/democracy).

Prints, for the pilot's two arms with the regulator (full_stack, regulator_only) over the
scenario's 8 seeds, the process CPU seconds of the whole set of runs, median of ``--runs``
repetitions interleaved so that machine noise hits every case alike: redraws = 0,
redraws = 20 with the fast path, redraws = 20 without it. CPU seconds rather than wall
seconds, because the machine is shared.

    python benchmarks/bench_flip_rate.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from flagship.democracy._populations import _citizens
from flagship.democracy._populations._electorate import decide_with, names_of
from flagship.sandbox import load_scenario, run

PILOT = Path(__file__).resolve().parent.parent / "examples" / "full_stack_pilot.toml"
ARMS = ("full_stack", "regulator_only")


def _slow(view: Any, rows: Any, seed: int, tie_break: str) -> str | None:
    return decide_with(view, names_of(rows, tuple(view.event.candidates)), seed, tie_break)


def batch(redraws: int, fast: bool) -> tuple[float, list[Any]]:
    """CPU seconds of every regulator run of the pilot, and their measures."""
    scenario = load_scenario(PILOT, [f"populations.citizens.params.redraws={redraws}"])
    fast_path = _citizens.decide_complete
    if not fast:
        _citizens.decide_complete = _slow  # type: ignore[assignment]
    try:
        started = time.process_time()
        measures = [run(scenario.with_arm(arm), scenario.scenario.seed + k).measures()
                    for arm in ARMS for k in range(scenario.scenario.replications)]
        return time.process_time() - started, measures
    finally:
        _citizens.decide_complete = fast_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each case (median reported)")
    args = parser.parse_args()
    cases = {"redraws=0": (0, True), "redraws=20 fast": (20, True), "redraws=20 slow": (20, False)}
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    results: dict[str, list[Any]] = {}
    for _ in range(args.runs):
        for name, (redraws, fast) in cases.items():
            cpu, measures = batch(redraws, fast)
            seconds[name].append(cpu)
            results[name] = measures
    if results["redraws=20 fast"] != results["redraws=20 slow"]:
        raise SystemExit("the fast path changed a measure")
    print(f"{len(ARMS)} arms x 8 seeds of {PILOT.name}, CPU seconds, median of {args.runs}:")
    for name, values in seconds.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:16s} {statistics.median(values):7.2f}  (runs: {runs})")
    flips = [m.get("citizens.decision_flip_rate") for m in results["redraws=20 fast"]]
    defined = [f for f in flips if f is not None]
    print(f"  decision_flip_rate defined in {len(defined)} of {len(flips)} runs, "
          f"mean {statistics.fmean(defined):.3f}" if defined else "  decision_flip_rate never defined")


if __name__ == "__main__":
    main()
