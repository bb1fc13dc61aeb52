"""Seconds for the profile study's kernels, per rule, on one batch of impartial-culture profiles.

Plain script: ``python benchmarks/bench_profile_study.py [--profiles N] [--voters N]``.
Times (best of ``--repeat``) drawing the counts, finding Condorcet winners, the rule's
winners, and the two manipulation searches (coalitions of any size; one voter). The
whole example (``examples/impartial_culture.toml``: 4 rules x 20 runs x 5000 profiles)
is about 4 x 20 such batches of 5000; its wall time is printed by ``flagship run``'s
caller, e.g. ``time flagship run examples/impartial_culture.toml --workers 1``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flagship.democracy._count_profiles import (
    RULE_NAMES,
    condorcet_winners,
    draw_profiles,
    manipulable,
    winners,
)


def best_of(repeat: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=5000)
    parser.add_argument("--voters", type=int, default=100_001)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    counts = draw_profiles(rng, "impartial", args.profiles, args.voters)
    draw = best_of(args.repeat, lambda: draw_profiles(rng, "impartial", args.profiles, args.voters))
    condorcet = best_of(args.repeat, lambda: condorcet_winners(counts))
    print(f"{args.profiles} profiles of {args.voters} voters: draw {draw:.4f} s, "
          f"Condorcet winners {condorcet:.4f} s")
    print(f"{'rule':<14} {'winners s':>10} {'coalition s':>12} {'one voter s':>12}")
    for rule in RULE_NAMES:
        rule_time = best_of(args.repeat, lambda: winners(counts, rule))  # noqa: B023
        coalition = best_of(args.repeat, lambda: manipulable(counts, rule, "uniform"))  # noqa: B023
        single = best_of(args.repeat, lambda: manipulable(counts, rule, "single"))  # noqa: B023
        print(f"{rule:<14} {rule_time:>10.4f} {coalition:>12.4f} {single:>12.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
