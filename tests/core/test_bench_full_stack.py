"""bench_full_stack.py's instruction mode, without valgrind: the child counts the phase it says;
and its CPU mode, on a small scenario.

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


def _cpu(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCHMARKS / "bench_full_stack.py"), "--cpu", *arguments],
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_cpu_mode_prints_every_arm_with_a_median_inside_its_range() -> None:
    scenario = REPO / "examples" / "gode_sunder.toml"
    done = _cpu("3", "--scenario", str(scenario))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "medians of 3 rounds" in lines[0]
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == load_scenario(scenario).arm_names()
    for name, rate, ratio, spread in rows:
        low, high = (float(bound) for bound in spread.split("-"))
        assert float(rate.replace(",", "")) > 0, name
        assert 0 < low <= float(ratio) <= high, name


def test_the_cpu_mode_refuses_a_round_count_below_one() -> None:
    done = _cpu("0")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == ("bench_full_stack.py: error: argument --cpu: expected a whole "
                                            "number of rounds >= 1, got '0'")
