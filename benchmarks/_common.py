"""Helpers shared by the benchmark scripts: a no-op mechanism and a Poisson crowd."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from flagship.mechanisms import Action, Area, Measure, Mechanism, NoConfig, Outcome, Population, register
from flagship.mechanisms._action import ACCEPTED


@register
class Noop(Mechanism[NoConfig]):
    """Accepts every action and does nothing: measures the sandbox's own cost."""

    name = "bench_noop"

    def handle(self, action: Action) -> Outcome:
        return ACCEPTED

    def snapshot(self) -> dict[str, Any]:
        return {}


@register
class Busy(Mechanism[NoConfig]):
    """Some bookkeeping per action plus telemetry on every action: a recording-heavy mechanism.

    Records through the recorder's per-action handles (bound once in ``start``), as a hot path
    should; :class:`BusyNamed` does the same through the name-keyed methods.
    """

    name = "bench_busy"
    measures = (Measure("mean_size", Area.UX, "lots", True, "mean action size"),)

    def __init__(self, config: NoConfig, ctx: Any) -> None:
        super().__init__(config, ctx)
        self.book: dict[str, int] = {}
        self.total = 0

    def start(self) -> None:
        recorder = self.ctx.recorder
        self._actions = recorder.counter("actions")
        self._size = recorder.sampler("size")
        self._total = recorder.gauge_setter("total")

    def handle(self, action: Action) -> Outcome:
        size = action.payload["size"]
        self.book[action.actor] = self.book.get(action.actor, 0) + size
        self.total += size
        self._actions()
        self._size(size)
        self._total(self.total)
        return ACCEPTED

    def finish(self) -> None:
        self.ctx.recorder.measure("mean_size", self.total / max(1, len(self.book)))

    def snapshot(self) -> dict[str, Any]:
        return {"book": self.book}


@register
class BusyNamed(Busy):
    """:class:`Busy` recording through the name-keyed methods (``count``, ``sample``, ``gauge``)."""

    name = "bench_busy_named"

    def start(self) -> None:
        return  # no handles to bind

    def handle(self, action: Action) -> Outcome:
        size = action.payload["size"]
        self.book[action.actor] = self.book.get(action.actor, 0) + size
        self.total += size
        recorder = self.ctx.recorder
        recorder.count("actions")
        recorder.sample("size", size)
        recorder.gauge("total", self.total)
        return ACCEPTED


@register
class Crowd(Population[NoConfig]):
    """Participants that each submit one action per Poisson arrival."""

    name = "bench_crowd"

    def start(self) -> None:
        self._submit = self.ctx.submit
        self._env = self.ctx.env
        self._actors = [self.ctx.actor(i) for i in range(self.ctx.count)]
        self._payloads = [{"size": 1 + i % 7} for i in range(self.ctx.count)]
        super().start()

    def act(self, participant: int) -> None:
        self._submit(Action(self._env.now, self._actors[participant], "poke",
                            self._payloads[participant]))


def scenario(mechanism: str, *, participants: int = 1000, duration: float = 300.0,
             telemetry: bool = True, keep_actions: bool = True) -> dict[str, Any]:
    return {
        "name": f"bench_{mechanism}", "seed": 1, "duration": duration,
        "keep_actions": keep_actions,
        "telemetry": {"enabled": telemetry},
        "mechanisms": {mechanism: {}},
        "populations": {"crowd": {"model": "bench_crowd", "count": participants,
                                  "arrival": {"process": "poisson", "rate": 1.0}}},
    }


def bare_simpy_model(participants: int = 1000) -> tuple[simpy.Environment, Callable[[], int]]:
    """Bare SimPy's pattern, built and not run: processes with exponential gaps, and a function
    that tells how many of their timeouts have fired so far."""
    env = simpy.Environment()
    rng = np.random.default_rng(1)
    count = 0

    def participant() -> Any:
        nonlocal count
        while True:
            for gap in rng.exponential(1.0, 64).tolist():
                yield env.timeout(gap)
                count += 1

    for _ in range(participants):
        env.process(participant())
    return env, lambda: count


def bare_simpy(participants: int = 1000, duration: float = 300.0) -> float:
    """Events per second of bare SimPy on the same pattern: processes with exponential gaps."""
    env, events = bare_simpy_model(participants)
    started = time.perf_counter()
    env.run(until=duration)
    return events() / (time.perf_counter() - started)


def best_of(repeats: int, measure: Callable[[], float]) -> float:
    """The best of several measurements (other processes share this machine)."""
    return max(measure() for _ in range(repeats))
