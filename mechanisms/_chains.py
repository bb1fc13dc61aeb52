"""Poisson arrivals and timers as chains of SimPy timeouts with callbacks, not a SimPy process each.

A process pays a generator resume (SimPy's ``Process._resume``, the generator's ``send``) on
every event it waits for, and a completion event when it ends: at one process per participant
and per timer, paid on every arrival of every participant. A chain schedules the same
events in the same order: a start event of URGENT priority where ``env.process`` scheduled its
``Initialize``, then each timeout at the point the generator created it (after the arrival's
``act``, before anything later), so same-time ties, the random draws and every stored digest
are what the processes gave. What differs: no event marks the end of a timer (nobody waited
on it), and an exception raised by ``act`` or a timer's callback leaves ``env.run`` at once,
itself, instead of as a copy one step later. And a participant's arrivals are not SimPy
``Timeout`` objects: each participant has one :class:`_Due` that it schedules again, with the
priority and delay a timeout would have had (so it takes the same place in the queue), after
each arrival; nothing can wait on an arrival, so nothing needs a new event object per arrival.
It schedules by pushing onto the environment's queue what ``Environment.schedule`` pushes
(time, priority, the environment's next event id, the event), without that call, wherever
``schedule`` is SimPy's own; an environment that overrides ``schedule`` gets it called.

Lifecycle: built once (at a population's ``start`` or a ``call_at``); from then on it lives on
the environment's queue, one pending event at a time, until its last event (a timer) or for
the rest of the run (arrivals).
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any, Protocol

import numpy as np
import simpy
from simpy.events import NORMAL, URGENT, Event

__all__ = ["ARRIVAL_BATCH", "PoissonArrivals", "start_timer"]

ARRIVAL_BATCH = 64  # exponential gaps drawn per numpy call: one call per 64 arrivals


class _Begin(Event):
    """What ``env.process`` schedules first (SimPy's ``Initialize``), calling ``callback`` instead
    of resuming a generator."""

    def __init__(self, env: simpy.Environment, callback: Callable[[Event], None]) -> None:
        # Initialize's own fields, set as it sets them (it, too, skips Event.__init__).
        self.env = env
        self.callbacks = [callback]
        self._value: Any = None
        self._ok = True
        env.schedule(self, URGENT)


class _Due:
    """A participant's next arrival on the environment's queue: what ``Environment.step`` reads
    of an event (``callbacks``, ``_ok``, ``_value``), and nothing else.

    Lifecycle: one per participant, built with its chain; scheduled, processed (``step`` sets
    ``callbacks`` to None and calls the arrival), then scheduled again by that arrival. It is
    on the queue at most once at a time, as the participant's single pending timeout was.
    """

    __slots__ = ("_ok", "_value", "callbacks")

    def __init__(self) -> None:
        self._ok = True  # an arrival never fails
        self._value: Any = None
        self.callbacks: list[Callable[[Any], None]] | None = None


class PoissonArrivals:
    """One participant's arrivals: ``act(participant)`` at the events of a Poisson process.

    Draws exponential gaps of mean ``mean_gap`` from ``rng``, ``ARRIVAL_BATCH`` at a time,
    exactly when the former per-participant generator drew them (at its first wait and after
    every ``ARRIVAL_BATCH``-th arrival), so the shared stream is consumed in the same order.
    """

    __slots__ = ("_act", "_callbacks", "_due", "_eid", "_env", "_gaps", "_mean_gap", "_participant", "_queue",
                 "_rng", "_schedule", "_start", "_timeout")

    def __init__(self, env: simpy.Environment, act: Callable[[int], None], participant: int,
                 mean_gap: float, start: float, rng: np.random.Generator) -> None:
        self._act = act
        self._participant = participant
        self._mean_gap = mean_gap
        self._start = start
        self._rng = rng
        self._timeout = env.timeout
        self._gaps: list[float] = []  # the batch's gaps still to wait, last first
        self._schedule = env.schedule
        # What Environment.schedule does, done here at each arrival without its call (a share of
        # every arrival), on its own queue and event counter; only where schedule is SimPy's own
        # (an environment that overrides it gets its schedule called, see _arrive).
        self._env = env
        own = type(env).schedule is simpy.Environment.schedule
        self._queue: list[Any] | None = env._queue if own else None
        self._eid = env._eid
        self._due = _Due()
        # The due event's callbacks, the same list every time: step() iterates over it after
        # taking it from the event, and the arrival only puts it back (never changes it).
        self._callbacks: list[Callable[[Any], None]] = [self._arrive]
        _Begin(env, self._begin)

    def _begin(self, _: Event) -> None:
        if self._start > 0:
            self._timeout(self._start).callbacks.append(self._first)
        else:
            self._wait()

    def _first(self, _: Event) -> None:
        self._wait()

    def _wait(self) -> None:
        gaps = self._gaps
        if not gaps:
            batch = self._rng.exponential(self._mean_gap, ARRIVAL_BATCH).tolist()
            batch.reverse()
            gaps.extend(batch)
        due = self._due
        due.callbacks = self._callbacks
        self._schedule(due, NORMAL, gaps.pop())  # type: ignore[arg-type]  # duck-typed: step() reads 3 fields

    def _arrive(self, _: object) -> None:
        self._act(self._participant)
        # _wait and env.schedule, inline: two calls less at every arrival of every participant
        gaps = self._gaps
        queue = self._queue
        if gaps and queue is not None:
            due = self._due
            due.callbacks = self._callbacks
            heappush(queue, (self._env._now + gaps.pop(), NORMAL, next(self._eid), due))
        else:
            self._wait()


class _Timer(Protocol):
    """What a chain needs of :class:`~flagship.mechanisms._base.Timer` (named, not imported:
    the base imports this module)."""

    when: float
    cancelled: bool
    fired: bool


def start_timer(env: simpy.Environment, timer: _Timer, callback: Callable[..., object],
                args: tuple[Any, ...]) -> None:
    """Run ``callback(*args)`` at ``timer.when`` unless the timer is cancelled by then."""

    def wait(_: Event) -> None:
        env.timeout(timer.when - float(env.now)).callbacks.append(fire)

    def fire(_: Event) -> None:
        if not timer.cancelled:
            timer.fired = True
            callback(*args)

    _Begin(env, wait)
