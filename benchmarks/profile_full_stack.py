"""Where the full-stack pilot's simulation phase spends its time: cProfile, sorted by own time.

Profiles ``env.run`` alone (not build, finish or serialising) of one arm of
examples/full_stack_pilot.toml over a few seeds run one after another, and prints the
top functions by own time (pstats ``tottime``) with the share of the phase each takes.
cProfile slows Python calls more than C work, so read shares, not seconds; numpy's
scalar draws (``Generator.integers``, ``random``) are C calls it does not list: their
cost shows in their callers' own time.

    python benchmarks/profile_full_stack.py [arm] [top]     # default: full_stack 25
"""

from __future__ import annotations

import cProfile
import pstats
import sys
from pathlib import Path

from flagship.sandbox import build_host, load_scenario
from flagship.sandbox._gc import quiet_gc

PILOT = Path(__file__).resolve().parent.parent / "examples" / "full_stack_pilot.toml"
SEEDS = 3


def main() -> None:
    arm = sys.argv[1] if len(sys.argv) > 1 else "full_stack"
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    pilot = load_scenario(PILOT)
    armed = pilot.with_arm(arm)
    profile = cProfile.Profile()
    actions = 0
    for seed in range(pilot.scenario.seed, pilot.scenario.seed + SEEDS):
        host = build_host(armed, seed)
        host.start()
        with quiet_gc():
            profile.enable()
            host.env.run(until=armed.scenario.duration)
            profile.disable()
        host.finish()
        actions += host.n_actions
    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{arm}: {actions:,} actions over {SEEDS} seeds, {total:.2f} s profiled; top {top} by own time")
    print(f"{'own %':>6}{'own s':>8}{'cum s':>8}{'calls':>9}  function")
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    for (filename, line, name), (_, calls, own, cumulative, _) in rows[:top]:
        where = f"{Path(filename).parent.name}/{Path(filename).name}:{line}" if line else filename
        print(f"{own / total:>6.1%}{own:>8.3f}{cumulative:>8.3f}{calls:>9,}  {name} ({where})")


if __name__ == "__main__":
    main()
