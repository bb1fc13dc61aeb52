"""How the emergency AI-regulator vote's costs grow: against registered citizens and against duration.

    .venv/bin/python benchmarks/bench_scaling_vote.py [--repeats R] [--quick | --full]

The scenario is examples/emergency_vote.toml's default arm (an incident at t = 600 s convenes a
stratified panel of 40, which deliberates 30 min and votes for 30 min; the decision binds until
its sunset and is renewed once) with ``citizens`` registered citizens, a strategic coalition of
one in twenty of them and 12 sybils, run through :func:`flagship.sandbox.run` in a child process
per size (see benchmarks/_scaling.py). Every citizen registers (an action each), and each vote
reads the whole roll: the convening (panel draw, its exact selection probabilities, the
representativeness), and the citizens' measures (the electorate's counterfactual decision and
20 redrawn panels), so both axes exercise costs in the number of registered voters.

* participants: 1k, 10k, 100k and 1M citizens (``--quick``: 200 to 2k), 4 simulated hours;
* the same with the whole electorate convened (the example's whole_electorate arm): every
  citizen casts a ballot, and the count reads them all: 1k, 3k, 10k, 30k and 100k citizens
  (``--full``: 1k, 10k, 100k and 1M);
* duration: 10k citizens (``--quick``: 500), an incident every hour for 4, 8, 16 and 32 hours
  (``--full``: and 64), so 4 to 32 votes, besides renewals.

The default sizes take about a minute here (the 1M-citizen panel run about half of it); a
whole-electorate run costs about ten times a panel run of the same size, so ``--full``, with a
1M electorate, takes about four.

Prints wall time, CPU time and peak resident memory per run and the fitted growth exponents of
CPU time and of the memory the run added, with 95 % intervals and a verdict against 1.1
(PASS, FAIL or INCONCLUSIVE: benchmarks/_scaling.py).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _scaling import measure, report, summary

HOUR = 3600.0
PARTICIPANTS_HOURS = 4
ISSUE_SIZES = [1_000, 10_000, 100_000, 1_000_000]
"""Issue 20's sizes: an emergency vote with up to 1M registered citizens."""


def scenario(citizens: int, hours: int, *, hourly: bool, convening: str = "panel") -> dict[str, Any]:
    """The emergency vote with ``citizens`` citizens for ``hours`` hours; incidents hourly or once.

    ``convening = "electorate"`` is the example's whole_electorate arm: every registered voter
    is convened and votes at once (no deliberation), so the count reads every citizen's ballot.
    """
    times = [600.0 + HOUR * k for k in range(hours)] if hourly else [600.0]
    return {
        "name": "scaling_emergency_vote",
        "seed": 21,
        "duration": hours * HOUR,
        "mechanisms": {
            "emergency_vote": {
                "candidates": ["pause_deployment", "restrict", "monitor", "no_action"],
                "rule": "schulze",
                "status_quo": "no_action",
                "thresholds": {"pause_deployment": 0.6},
                "quorum": 0.5,
                "convening": convening,
                "panel_size": 40,
                "strata": ["region", "age_band"],
                "deliberation_seconds": 1200.0 if convening == "panel" else 0.0,
                "ballot_seconds": 1200.0,
                "sunset_seconds": 7200.0,
                "renewals": 1,
                "renew_lead_seconds": 60.0,
                "min_severity": 0.5,
                "shock_kinds": ["ai_incident"],
                "ballot_effort_seconds": 300.0,
            }
        },
        "populations": {
            "citizens": {
                "model": "citizens",
                "mechanism": "emergency_vote",
                "count": citizens,
                "params": {
                    "preferences": "mallows",
                    "phi": 0.6,
                    "reference": ["restrict", "monitor", "pause_deployment", "no_action"],
                    "prior": ["pause_deployment", "restrict", "monitor", "no_action"],
                    "informedness": [0.1, 0.6],
                    "noise": 0.2,
                    "deliberation_rate": 0.05,
                    "materials_quality": 0.5,
                    "round_seconds": 60.0,
                    "turnout": 0.85,
                    "time_to_vote": 400.0,
                    "redraws": 20,
                },
            },
            "coalition": {
                "model": "strategic_coalition",
                "mechanism": "emergency_vote",
                "count": max(1, citizens // 20),
                "params": {
                    "sincere": ["no_action", "monitor", "restrict", "pause_deployment"],
                    "strategy": "bury",
                    "threat": "restrict",
                },
            },
            "sybils": {
                "model": "sybils",
                "mechanism": "emergency_vote",
                "count": 12,
                "params": {"operators": 3, "push": ["pause_deployment", "restrict", "monitor", "no_action"]},
            },
        },
        "shocks": [
            {"at": at, "kind": "ai_incident", "payload": {"severity": 0.8, "incident_id": f"incident-{k}"}}
            for k, at in enumerate(times)
        ],
    }


def sizes(quick: bool, full: bool = False) -> tuple[list[int], list[int], int, list[int]]:
    """(citizens on the panel axis, on the whole-electorate axis and on the duration axis, and
    hours on the duration axis)."""
    if quick:
        return [200, 600, 2_000], [200, 600, 2_000], 500, [2, 4, 8]
    if full:
        return ISSUE_SIZES, ISSUE_SIZES, 10_000, [4, 8, 16, 32, 64]
    return ISSUE_SIZES, [1_000, 3_000, 10_000, 30_000, 100_000], 10_000, [4, 8, 16, 32]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=1, help="runs per size (medians)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    size.add_argument("--full", action="store_true", help="a 1M whole electorate and 64 hours (minutes)")
    parser.add_argument("--axis", choices=("participants", "electorate", "duration", "both"), default="both")
    args = parser.parse_args(argv)
    citizens, electorate, duration_citizens, hours = sizes(args.quick, args.full)
    # Imported here, so that the forked children start with the mechanisms and populations loaded.
    import flagship.sandbox  # noqa: F401

    outcomes: list[str] = []
    if args.axis in ("participants", "both"):
        runs = [
            measure(n, partial(scenario, n, PARTICIPANTS_HOURS, hourly=False), args.repeats) for n in citizens
        ]
        outcomes += report(
            f"participants (registered citizens, {PARTICIPANTS_HOURS} h, one incident)", "citizens", runs
        )
    if args.axis in ("electorate", "both"):
        runs = [
            measure(
                n,
                partial(scenario, n, PARTICIPANTS_HOURS, hourly=False, convening="electorate"),
                args.repeats,
            )
            for n in electorate
        ]
        outcomes += report(
            f"whole electorate convened (registered citizens, {PARTICIPANTS_HOURS} h, one incident)",
            "citizens",
            runs,
        )
    if args.axis in ("duration", "both"):
        runs = [measure(h, partial(scenario, duration_citizens, h, hourly=True), args.repeats) for h in hours]
        outcomes += report(f"duration ({duration_citizens:,} citizens, an incident every hour)", "hours",
                           runs)
    print(summary(outcomes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
