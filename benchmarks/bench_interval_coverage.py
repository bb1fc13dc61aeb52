"""Coverage of the shipped intervals (flagship.telemetry._inference) against a known truth.

Run: .venv/bin/python benchmarks/bench_interval_coverage.py [--sets 2000] [--percentile]

For each row (a distribution and a sample size), draws ``--sets`` seeded data sets with a
known mean, computes the interval `flagship run`/`evaluate` would print at 95%, and counts
how often it covers the truth, how often it has zero width, and which method the rule
picked. ``--percentile`` adds the old percentile bootstrap (2,000 resamples) for comparison.
A nominal 95% interval should cover about 0.95 (Monte Carlo error about ±0.01 at 2,000 sets).
Pure numpy/scipy: no sandbox runs. About a minute (a few more with --percentile).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flagship.telemetry._bootstrap import bootstrap_mean
from flagship.telemetry._inference import Inference

Draw = Callable[[np.random.Generator, int], np.ndarray]

ROWS: list[tuple[str, Draw, float, bool, bool]] = [  # name, draw, true mean, paired, proportion
    ("normal(0, 1)", lambda rng, n: rng.normal(0.0, 1.0, n), 0.0, False, False),
    ("paired normal difference", lambda rng, n: rng.normal(0.5, 1.0, n), 0.5, True, False),
    ("exponential(1)", lambda rng, n: rng.exponential(1.0, n), 1.0, False, False),
    ("lognormal(0, 1)", lambda rng, n: rng.lognormal(0.0, 1.0, n), math.exp(0.5), False, False),
    ("Bernoulli(0.01)", lambda rng, n: (rng.random(n) < 0.01).astype(float), 0.01, False, True),
    ("Bernoulli(0.3)", lambda rng, n: (rng.random(n) < 0.3).astype(float), 0.3, False, True),
]
SIZES = (8, 30, 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=2000)
    parser.add_argument("--percentile", action="store_true", help="also the old percentile bootstrap")
    args = parser.parse_args()
    inference = Inference(0.95, seed=0, resamples=2000)
    header = f"{'data':<26} {'n':>4} {'method':<16} {'coverage':>8} {'zero width':>10}"
    print(header + (f" {'percentile':>10}" if args.percentile else ""))
    for name, draw, truth, paired, proportion in ROWS:
        for n in SIZES:
            rng = np.random.default_rng(20261204 + n)
            covered = zero = old = 0
            methods: Counter[str] = Counter()
            for index in range(args.sets):
                values = draw(rng, n)
                ci = inference.interval(values.tolist(), stream=f"{name}/{n}/{index}", paired=paired,
                                        proportion=proportion)
                methods[ci.method] += 1
                covered += ci.low <= truth <= ci.high
                zero += ci.high - ci.low == 0
                if args.percentile:
                    boot = bootstrap_mean(values.tolist(), seed=index, stream=name)
                    old += boot.low <= truth <= boot.high
            method = "/".join(m for m, _ in methods.most_common())
            line = f"{name:<26} {n:>4} {method:<16} {covered / args.sets:>8.3f} {zero / args.sets:>10.3f}"
            print(line + (f" {old / args.sets:>10.3f}" if args.percentile else ""), flush=True)


if __name__ == "__main__":
    main()
