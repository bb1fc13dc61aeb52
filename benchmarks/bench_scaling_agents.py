"""How the agents-only marketplace gate's costs grow: against the number of agents and against duration.

    .venv/bin/python benchmarks/bench_scaling_agents.py [--repeats R] [--quick | --full]

The scenario is examples/agents_gate.toml's (the ``agent_gate`` in front of an agents-only
``value_market``, 4 human market makers and 12 human ZI traders beside the agents) with
``agents`` agents applying: 70 % honest, 10 % incompetent, 10 % deceptive (they spoof once
past probation, so the market reports them and the gate sanctions them) and 10 % sybils, each
arriving at 0.01/s. An agent applies (identity and credential checked: Ed25519), answers its
exam (signature checked), and once admitted trades on the market and recertifies when due.
Run through :func:`flagship.sandbox.run` in a child process per size (benchmarks/_scaling.py).

* participants: 300, 1k, 3k and 10k agents (``--full``: issue 20's 1k, 10k and 100k; ``--quick``:
  30, 100, 300), 10 simulated minutes (about 6 arrivals each: apply, answer, then orders; sybils
  spoof from the start, so some are revoked on probation);
* duration: 1k agents (``--full``: 3k) for 10, 20, 40 and 80 simulated minutes (``--quick``: 100
  agents for 5, 10 and 20 min); the longer runs reach probation's end, the deceptive agents'
  spoofing from 15 min and its sanctions, and recertification at 30 min.

An agent costs about 1.6 ms of CPU per 10 simulated minutes (its Ed25519 identity and credential,
its exam, its orders), so the default sizes take about a minute here and ``--full`` about four
(the 100k run alone nearly three): four sizes a factor of about 3 apart give the fit two degrees
of freedom, where ``--full``'s three sizes give it one (a wide interval).

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

MINUTE = 60.0
PARTICIPANTS_MINUTES = 10
RATE = 0.01
SHARES = (
    ("honest", "honest_agents", 0.7),
    ("incompetent", "incompetent_agents", 0.1),
    ("deceptive", "deceptive_agents", 0.1),
    ("sybils", "sybil_agents", 0.1),
)


def scenario(agents: int, minutes: int) -> dict[str, Any]:
    """The gate and its market with ``agents`` agents (split as :data:`SHARES`) for ``minutes``."""
    populations: dict[str, Any] = {
        "makers": {
            "model": "market_makers",
            "mechanism": "value_market",
            "count": 4,
            "arrival": {"process": "poisson", "rate": 0.2},
        },
        "traders": {
            "model": "zi_traders",
            "mechanism": "value_market",
            "count": 12,
            "arrival": {"process": "poisson", "rate": 0.3},
            "params": {
                "period": 60.0,
                "value_range": [70, 130],
                "cost_range": [70, 130],
                "price_floor": 50,
                "price_ceiling": 150,
            },
        },
    }
    extra = {
        "honest": {"vendors": {"acme": "eval-a", "globex": "eval-b", "initech": "eval-a"}},
        "deceptive": {"spoof_from": 900.0},
        "sybils": {"operators": 4},
    }
    for name, model, share in SHARES:
        populations[name] = {
            "model": model,
            "mechanism": "agent_gate",
            "count": max(1, round(agents * share)),
            "arrival": {"process": "poisson", "rate": RATE},
            "params": {"market": "value_market", **extra.get(name, {})},
        }
    return {
        "name": "scaling_agents_gate",
        "seed": 11,
        "duration": minutes * MINUTE,
        "mechanisms": {
            "agent_gate": {
                "trusted_evaluators": ["eval-a", "eval-b"],
                "credential_threshold": 0.6,
                "exam_questions": 4,
                "exam_threshold": 0.75,
                "exam_ttl": 300.0,
                "max_applications": 3,
                "application_window": 3600.0,
                "probation": 600.0,
                "suspend_strikes": 2,
                "revoke_strikes": 4,
                "recertify_interval": 1800.0,
            },
            "value_market": {
                "admission": "agents_only",
                "admission_exempt_populations": ["makers", "traders"],
                "policies": ["screen"],
            },
        },
        "populations": populations,
    }


def sizes(quick: bool, full: bool = False) -> tuple[list[int], int, list[int]]:
    """(agents on the participants axis, agents on the duration axis, minutes on the duration axis)."""
    if quick:
        return [30, 100, 300], 100, [5, 10, 20]
    if full:
        return [1_000, 10_000, 100_000], 3_000, [10, 20, 40, 80]
    return [300, 1_000, 3_000, 10_000], 1_000, [10, 20, 40, 80]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=1, help="runs per size (medians)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    size.add_argument("--full", action="store_true", help="issue 20's sizes: up to 100k agents (minutes)")
    parser.add_argument("--axis", choices=("participants", "duration", "both"), default="both")
    args = parser.parse_args(argv)
    agents, duration_agents, minutes = sizes(args.quick, args.full)
    # Imported here, so that the forked children start with the mechanisms and populations loaded.
    import flagship.sandbox  # noqa: F401

    outcomes: list[str] = []
    if args.axis in ("participants", "both"):
        runs = [measure(n, partial(scenario, n, PARTICIPANTS_MINUTES), args.repeats) for n in agents]
        outcomes += report(f"participants (agents, {PARTICIPANTS_MINUTES} min)", "agents", runs)
    if args.axis in ("duration", "both"):
        runs = [measure(m, partial(scenario, duration_agents, m), args.repeats) for m in minutes]
        outcomes += report(f"duration ({duration_agents:,} agents)", "minutes", runs)
    print(summary(outcomes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
