"""bench_full_stack.py's instruction mode, without valgrind: the child counts the phase it says.

The callgrind count itself is not run here (under valgrind even one arm takes most of a minute);
what is checked is that the child valgrind would run builds the arm's seeds, waits for the
parent's line, and then runs exactly their simulation phase: the actions it reports are the
actions of the same seeds run by ``flagship.sandbox.run`` (a child that ran no phase, or another
arm, reports another number).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flagship.sandbox import load_scenario, run
from tests._benchmarks import BENCHMARKS

REPO = BENCHMARKS.parent


def _child(scenario: Path, arm: str) -> list[str]:
    done = subprocess.run([sys.executable, str(BENCHMARKS / "bench_full_stack.py"), "--phase-child", arm,
                           "--scenario", str(scenario)], input="go\n", capture_output=True, text=True,
                          timeout=300, check=True)
    return done.stdout.split()


def test_the_instruction_child_runs_the_arms_seeds_simulation_phase_after_the_handshake() -> None:
    scenario = REPO / "examples" / "gode_sunder.toml"
    loaded = load_scenario(scenario)
    seeds = range(loaded.scenario.seed, loaded.scenario.seed + 3)
    for arm in ("zi_c", "zi_u"):
        expected = sum(run(loaded.with_arm(arm), seed).n_actions for seed in seeds)
        assert _child(scenario, arm) == ["ready", str(expected)], arm
