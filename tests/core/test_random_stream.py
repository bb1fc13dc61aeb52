"""RandomStream's fast draws against numpy, draw for draw, and whole runs with and without them.

The oracle is numpy itself: a plain ``numpy.random.Generator(PCG64(seed))`` given the same calls,
with ``int(integers(low, high))``, ``random()`` and ``uniform(low, high)`` where the stream is given
``draw_int``, ``draw_float`` and ``draw_uniform``. Every value, every error and the bit generator's
whole state (its kept 32-bit half included) must agree after any mix of fast and numpy calls.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.mechanisms import ContractError, RandomStream, Streams
from flagship.mechanisms._stream import PREFETCH
from flagship.sandbox import load_scenario, run
from tests._benchmarks import load_benchmark

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Ranges at the edges of the 32-bit path: one value (no draw), two, 2**31 + 1 values (rejecting
# about half the draws), 2**32 - 1 and 2**32 values (the last 32-bit cases), 2**32 + 1 (numpy's
# 64-bit path), and very wide.
SPANS = [1, 2, 3, 7, 41, 1000, 2**31, 2**31 + 1, 3 * 2**30, 2**32 - 1, 2**32, 2**32 + 1, 2**40, 2**62]

Op = tuple[str, Any]
ops = st.one_of(
    st.tuples(st.just("int"), st.tuples(st.integers(-2**40, 2**40), st.sampled_from(SPANS))),
    st.tuples(st.just("int"), st.tuples(st.integers(-5, 5), st.integers(-3, 0))),  # high <= low
    st.tuples(st.just("float"), st.none()),
    st.tuples(st.just("uniform"),
              st.tuples(st.floats(-1e6, 1e6), st.sampled_from([0.0, 1e-9, 0.5, 3.0, 1e6]))),
    st.tuples(st.just("uniform"), st.tuples(st.floats(-10, 10), st.just(-1.0))),  # high < low
    st.tuples(st.just("numpy"), st.sampled_from(["integers", "random", "exponential", "normal", "choice",
                                                 "permutation", "integers3", "state", "pickle"])),
)


def _apply(draws: dict[str, Callable[..., Any]], generator: np.random.Generator, op: Op) -> Any:
    """Run ``op`` on ``generator``, its draws spelled by ``draws`` (FAST_DRAWS or NUMPY_DRAWS)."""
    name, arg = op
    if name == "numpy":
        return _numpy(generator, arg)
    if name == "float":
        return draws["draw_float"](generator)
    low, span = arg
    return draws[f"draw_{name}"](generator, low, low + span)


def _numpy(generator: np.random.Generator, name: str) -> Any:
    calls: dict[str, Callable[[], Any]] = {
        "integers": lambda: generator.integers(0, 9),
        "random": generator.random,
        "exponential": lambda: generator.exponential(2.0),
        "normal": generator.normal,
        "choice": lambda: generator.choice(10, size=3, replace=False).tolist(),
        "permutation": lambda: generator.permutation(6).tolist(),
        "integers3": lambda: generator.integers(0, 2**33, size=3).tolist(),
        "state": lambda: generator.bit_generator.state,
        "pickle": lambda: pickle.loads(pickle.dumps(generator)).random(),
    }
    return calls[name]()


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        value = call()
    except ValueError as exc:
        return "ValueError", str(exc)
    return type(value).__name__, value


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), program=st.lists(ops, max_size=3 * PREFETCH))
def test_every_mix_of_fast_and_numpy_draws_gives_numpys_values_errors_and_state(
        seed: int, program: list[Op]) -> None:
    stream = RandomStream(np.random.PCG64(seed))
    generator = np.random.Generator(np.random.PCG64(seed))
    for step, op in enumerate(program):
        got = _outcome(lambda: _apply(FAST_DRAWS, stream, op))  # noqa: B023 - called at once
        expected = _outcome(lambda: _apply(NUMPY_DRAWS, generator, op))  # noqa: B023
        assert got == expected, f"step {step}: {op}"
    assert stream.bit_generator.state == generator.bit_generator.state


def test_long_runs_of_fast_draws_cross_many_prefetches_unchanged() -> None:
    stream = RandomStream(np.random.PCG64(7))
    generator = np.random.Generator(np.random.PCG64(7))
    for i in range(20 * PREFETCH):
        assert stream.draw_int(-3, 38 + i % 5) == int(generator.integers(-3, 38 + i % 5))
        assert stream.draw_float() == generator.random()
    assert stream.bit_generator.state == generator.bit_generator.state


def test_a_fast_draw_buffers_and_a_numpy_call_syncs() -> None:
    stream = RandomStream(np.random.PCG64(1))
    assert type(stream) is RandomStream  # synced: numpy's methods are numpy's own
    assert stream.exponential is not None and type(stream).exponential is np.random.Generator.exponential
    stream.draw_int(0, 10)
    assert type(stream) is not RandomStream and isinstance(stream, RandomStream)  # buffered
    stream.normal()
    assert type(stream) is RandomStream


def test_only_pcg64_is_accepted() -> None:
    with pytest.raises(ContractError, match=r"^bit_generator: expected numpy\.random\.PCG64, got MT19937$"):
        RandomStream(np.random.MT19937(1))  # type: ignore[arg-type]


def test_streams_hand_out_random_streams_with_numpys_draws() -> None:
    stream = Streams(42)("population:alpha")
    assert isinstance(stream, RandomStream)
    reference = Streams(42)("population:alpha")
    assert [stream.draw_int(0, 100) for _ in range(5)] == reference.integers(0, 100, size=5).tolist()


# The fast draws spelled as the numpy calls they stand for: the oracle, draw by draw and run-level.
def _numpy_draw_int(generator: np.random.Generator, low: int, high: int) -> int:
    return int(generator.integers(low, high))


def _numpy_draw_float(generator: np.random.Generator) -> float:
    return float(generator.random())


def _numpy_draw_uniform(generator: np.random.Generator, low: float, high: float) -> float:
    return float(generator.uniform(low, high))


NUMPY_DRAWS: dict[str, Callable[..., Any]] = {
    "draw_int": _numpy_draw_int, "draw_float": _numpy_draw_float, "draw_uniform": _numpy_draw_uniform}
FAST_DRAWS: dict[str, Callable[..., Any]] = {
    "draw_int": RandomStream.draw_int, "draw_float": RandomStream.draw_float,
    "draw_uniform": RandomStream.draw_uniform}


# Every population that uses the fast draws: zi_traders, value_traders, noise_traders and
# manipulators (value_market.toml), zi_c, zi_u and zip (gode_sunder.toml's arms).
RUNS = [("value_market.toml", "baseline", 3), ("gode_sunder.toml", "zi_c", 1),
        ("gode_sunder.toml", "zi_u", 1), ("gode_sunder.toml", "zip", 1)]


@pytest.mark.parametrize(("example", "arm", "seed"), RUNS)
def test_a_run_is_the_same_with_numpys_own_draws(example: str, arm: str, seed: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(EXAMPLES / example).with_arm(arm)
    fast = run(scenario, seed)
    for name, spelled_by_numpy in NUMPY_DRAWS.items():
        monkeypatch.setattr(RandomStream, name, spelled_by_numpy)
    slow = run(scenario, seed)
    assert fast.n_actions > 100
    assert (fast.n_actions, fast.action_log_sha256, fast.state_sha256) == \
        (slow.n_actions, slow.action_log_sha256, slow.state_sha256)


def test_the_draws_benchmark_times_the_same_numbers_on_both_sides() -> None:
    bench = load_benchmark("bench_draws")
    for numpy_call, fast_call in bench.KINDS.values():
        generator = np.random.Generator(np.random.PCG64(bench.SEED))
        stream = RandomStream(np.random.PCG64(bench.SEED))
        assert [numpy_call(generator) for _ in range(300)] == [fast_call(stream) for _ in range(300)]
    assert bench.per_draw(lambda: None, 10) >= 0
