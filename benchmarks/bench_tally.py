"""Seconds per ranked rule to tally 1,000,000 complete rankings of 10 candidates.

Plain script: ``python benchmarks/bench_tally.py [--voters N] [--candidates M]``.
The ballots are an impartial-culture integer array (seeded); each timing is the
best of ``--repeat`` full ``tally`` calls, so it includes validating and
aggregating the array.  The target is at most 0.5 s for plurality, Borda, IRV
and Schulze at the default size.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flagship.democracy import BallotType, rules, tally

TARGET_SECONDS = 0.5
TARGET_RULES = ("plurality", "borda", "irv", "schulze")


def impartial_culture(n_voters: int, n_candidates: int, seed: int) -> np.ndarray:
    """Each voter's ranking is a uniformly random permutation (argsort of uniform keys)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    return np.argsort(rng.random((n_voters, n_candidates)), axis=1).astype(np.int64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--voters", type=int, default=1_000_000)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    ballots = impartial_culture(args.voters, args.candidates, args.seed)
    candidates = [f"c{i}" for i in range(args.candidates)]
    print(
        f"{args.voters} voters x {args.candidates} candidates, impartial culture, "
        f"seed {args.seed}, best of {args.repeat}"
    )
    slow = []
    for name, info in rules().items():
        if info.ballot_type is not BallotType.RANKED:
            continue
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = tally(name, ballots, candidates, seed=args.seed)
            best = min(best, time.perf_counter() - start)
        flag = ""
        if name in TARGET_RULES:
            flag = "ok" if best <= TARGET_SECONDS else f"SLOW (> {TARGET_SECONDS} s)"
            if best > TARGET_SECONDS:
                slow.append(name)
        print(f"{name:>13}: {best:7.3f} s  winners={result.winners}  {flag}")
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
