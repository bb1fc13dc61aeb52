"""Arrival and timer chains (mechanisms/_chains.py) give the event order SimPy processes gave.

The reference is the code they replaced: one generator process per participant (64 exponential
gaps drawn per batch from a shared stream) and one process per timer. Both run beside other
processes on one environment, with ties at equal times, and must log the same sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import pytest
import simpy

from flagship.mechanisms._base import Timer
from flagship.mechanisms._chains import ARRIVAL_BATCH, PoissonArrivals, start_timer

Log = list[tuple[float, str]]


def _process_arrivals(env: simpy.Environment, act: Callable[[int], None], participant: int,
                      mean_gap: float, start: float, rng: np.random.Generator) -> Generator[Any, Any, None]:
    if start > 0:
        yield env.timeout(start)
    while True:
        for gap in rng.exponential(mean_gap, ARRIVAL_BATCH).tolist():
            yield env.timeout(gap)
            act(participant)


def _process_timer(env: simpy.Environment, timer: Timer, callback: Callable[..., object],
                   args: tuple[Any, ...]) -> Generator[Any, Any, None]:
    yield env.timeout(timer.when - float(env.now))
    if not timer.cancelled:
        timer.fired = True
        callback(*args)


class _WholeGaps:
    """A stream whose every gap is a whole number of seconds: arrivals tie with each other, with
    the ticker and with timers, so only the events' priorities and scheduling order decide."""

    def __init__(self) -> None:
        self.drawn = 0

    def exponential(self, scale: float, size: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        self.drawn += size
        return np.array([1.0 + (self.drawn + i) % 2 for i in range(size)])


class _CountingEnvironment(simpy.Environment):
    """An environment with a schedule of its own (it counts its calls): arrivals must go through it."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = 0

    def schedule(self, event: Any, priority: Any = simpy.events.NORMAL, delay: Any = 0) -> None:
        self.scheduled += 1
        super().schedule(event, priority, delay)


def _scenario(chains: bool, whole_gaps: bool = False, env: simpy.Environment | None = None) -> Log:
    env = simpy.Environment() if env is None else env
    rng: Any = _WholeGaps() if whole_gaps else np.random.default_rng(7)
    log: Log = []

    def on_time(label: str) -> Callable[..., None]:
        return lambda *args: log.append((float(env.now), f"{label}{args}"))

    def set_timer(when: float, label: str, cancel: bool = False) -> None:
        timer = Timer(when)
        if chains:
            start_timer(env, timer, on_time(label), (when,))
        else:
            env.process(_process_timer(env, timer, on_time(label), (when,)))
        if cancel:
            timer.cancel()

    def act(participant: int) -> None:
        log.append((float(env.now), f"arrival {participant}"))
        if len(log) % 7 == 0:  # an arrival that sets a timer for now and one for later
            set_timer(float(env.now), f"now from {participant}")
            set_timer(float(env.now) + 1.0, f"later from {participant}", cancel=len(log) % 14 == 0)

    def ticker() -> Generator[Any, Any, None]:  # a process at whole seconds: ties with timers
        while True:
            yield env.timeout(1.0)
            log.append((float(env.now), "tick"))

    env.process(ticker())
    for participant in range(5):
        start = 2.0 if participant == 3 else 0.0
        if chains:
            PoissonArrivals(env, act, participant, 0.5, start, rng)
        else:
            env.process(_process_arrivals(env, act, participant, 0.5, start, rng))
    set_timer(3.0, "set at start")
    env.run(until=200.0)
    return log


def test_chains_log_what_processes_logged() -> None:
    reference = _scenario(chains=False)
    assert len(reference) > 5 * ARRIVAL_BATCH * 2  # several batches per participant
    assert _scenario(chains=True) == reference


def test_arrivals_that_tie_keep_the_order_processes_gave() -> None:
    """Arrivals at the same instants as other arrivals, the ticker and timers: the order at each
    instant is SimPy's (priority, then scheduling order), as with the processes."""
    reference = _scenario(chains=False, whole_gaps=True)
    times = [time for time, _ in reference]
    assert len(times) - len(set(times)) > 100  # many instants shared by several entries
    assert _scenario(chains=True, whole_gaps=True) == reference


def test_arrivals_go_through_an_environments_own_schedule() -> None:
    """Arrivals push onto SimPy's queue themselves only where ``schedule`` is SimPy's: an
    environment that overrides it sees every arrival scheduled, in the same order."""
    reference = _scenario(chains=False, whole_gaps=True)
    counting = _CountingEnvironment()
    assert _scenario(chains=True, whole_gaps=True, env=counting) == reference
    arrivals = sum(1 for _, entry in reference if entry.startswith("arrival"))
    assert counting.scheduled > arrivals


def test_a_failing_arrival_stops_the_run_with_its_own_error() -> None:
    env = simpy.Environment()

    def act(participant: int) -> None:
        raise KeyError(participant)

    PoissonArrivals(env, act, 4, 1.0, 0.0, np.random.default_rng(1))
    with pytest.raises(KeyError):
        env.run(until=100.0)
