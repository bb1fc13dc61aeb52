"""The scaling benchmarks (benchmarks/bench_scaling*.py) still run, and their exponent fit is right.

The benchmarks print figures rather than assert them (speed is not a test's business), so
nothing else would notice a script that no longer runs: each script's ``--quick`` path runs
here on small sizes (a few seconds) and must print every size's figures and a verdict for
every exponent. The fit itself is checked against costs with a known exponent: exact power
laws give that exponent back with a zero-width interval, and noisy ones an interval that
covers it.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._benchmarks import load_benchmark

scaling = load_benchmark("_scaling")


@settings(max_examples=50, deadline=None)
@given(
    st.floats(0.01, 1e3),
    st.floats(0.0, 2.5),
    st.lists(st.integers(1, 10**7), min_size=3, max_size=6, unique=True),
)
def test_an_exact_power_law_gives_its_exponent_back(scale: float, exponent: float, sizes: list[int]) -> None:
    sizes = sorted(sizes)
    result = scaling.fit(sizes, [scale * n**exponent for n in sizes])
    assert result.slope == pytest.approx(exponent, abs=1e-6)
    assert result.last_step == pytest.approx(exponent, abs=1e-6)
    assert result.low == pytest.approx(exponent, abs=1e-5)
    assert result.high == pytest.approx(exponent, abs=1e-5)


def test_the_interval_covers_the_exponent_of_noisy_costs() -> None:
    rng = np.random.default_rng(7)
    sizes = [10**k for k in range(2, 8)]
    covered = 0
    for _ in range(200):
        costs = [n**1.3 * math.exp(rng.normal(0, 0.2)) for n in sizes]
        result = scaling.fit(sizes, costs)
        assert result.low < result.slope < result.high
        covered += result.low <= 1.3 <= result.high
    assert 180 <= covered <= 200  # a 95 % interval: about 190 of 200


def test_the_verdict_is_the_intervals_against_the_target() -> None:
    sizes = [1_000, 3_000, 10_000, 30_000, 100_000]
    assert "PASS" in scaling.fit(sizes, [n * 1e-6 for n in sizes]).verdict()
    assert "FAIL" in scaling.fit(sizes, [n**1.2 * 1e-6 for n in sizes]).verdict()
    assert "FAIL" in scaling.fit(sizes, [n**2 * 1e-9 for n in sizes]).verdict()
    # noise around a linear cost: the point estimate (1.08) is below 1.1, the interval is not
    noisy = scaling.fit(sizes, [n * 1e-6 * wobble for n, wobble in zip(sizes, [1.0, 0.7, 1.4, 0.8, 1.5],
                                                                         strict=True)])
    assert noisy.slope <= scaling.TARGET < noisy.high and noisy.outcome == "INCONCLUSIVE", noisy
    # ...and above it (1.11), the interval is not wholly above either: no FAIL by luck
    noisy = scaling.fit(sizes, [n * 1e-6 * wobble for n, wobble in zip(sizes, [0.7, 1.3, 0.9, 1.4, 1.3],
                                                                         strict=True)])
    assert noisy.low <= scaling.TARGET < noisy.slope and noisy.outcome == "INCONCLUSIVE", noisy


def _check_report(out: str, sizes_per_axis: list[int]) -> None:
    axes = [block for block in re.split(r"\n(?=\S)", out) if "growth exponent" in block]
    assert [len(re.findall(r"wall +[\d.]+ s +CPU", block)) for block in axes] == sizes_per_axis
    for block in axes:
        for what in ("CPU time", "added memory"):
            assert re.search(
                rf"growth exponent of {what}: +-?[\d.]+ +95% CI \[ *-?[\d.]+, +-?[\d.]+\] "
                r"+last step +-?[\d.]+ +(PASS|FAIL|INCONCLUSIVE) \(interval",
                block,
            ), block
    assert re.search(r"exponents against 1\.1: \d+ pass, \d+ fail, \d+ inconclusive of \d+$", out.rstrip())


@pytest.mark.parametrize(
    ("script", "sizes_per_axis"),
    [
        ("bench_scaling_vote", [3, 3, 3]),
        ("bench_scaling_agents", [3, 3]),
    ],
)
def test_the_quick_run_prints_every_figure(
    script: str, sizes_per_axis: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_benchmark(script).main(["--quick"]) == 0
    _check_report(capsys.readouterr().out, sizes_per_axis)


def test_the_book_quick_run_prints_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert load_benchmark("bench_scaling").main(["--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    axes = [block for block in re.split(r"\n(?=\S)", out) if "growth exponent" in block]
    assert [len(re.findall(r"wall +[\d.]+ s +CPU", block)) for block in axes] == [5, 4]
    for block in axes:
        for what in ("CPU time", "peak memory"):
            assert re.search(rf"growth exponent of {what}: +-?[\d.]+ +95% CI .*(PASS|FAIL|INCONCLUSIVE)",
                             block), block


def test_an_instruction_child_builds_then_waits_for_the_go_and_replays() -> None:
    # What each valgrind child of --instructions runs, here without valgrind: it must say ready
    # only once the stream is built, and replay only after the parent's line.
    script = load_benchmark("bench_scaling").HERE
    child = subprocess.run([sys.executable, str(script), "--replay", "200", "5"], input="go\n",
                           capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr
    ready, work = child.stdout.splitlines()
    assert ready == "ready"
    requests, fills = (int(word) for word in work.split())  # its work, for the parent's fit
    bench = load_benchmark("bench_scaling")
    ops = bench.stream(200, 5)
    assert (requests, fills) == (len(ops), len(bench.replay(ops).tape))


def test_an_instruction_child_is_counted_only_inside_its_replay() -> None:
    callgrind = load_benchmark("_callgrind")
    command = callgrind.callgrind_command("bench_scaling.py", ["--replay", "1000", "5"], "/tmp/out")
    assert "--collect-atstart=no" in command and "--instr-atstart=no" in command
    assert f"--toggle-collect={callgrind.TOGGLE}" in command
    assert command[-3:] == ["--replay", "1000", "5"]


def test_cache_simulation_is_refused_without_instruction_counts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        load_benchmark("bench_scaling").main(["--cache"])
    assert exited.value.code == 2
    assert "--cache: expected with --instructions" in capsys.readouterr().err
