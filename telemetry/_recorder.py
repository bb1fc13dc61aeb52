"""Recording telemetry in simulated time, cheaply.

A run has one :class:`Telemetry`; each mechanism and population gets its own
:class:`ScopeRecorder` (scoped by its name, so names never collide and no string
is built per call). Recording is a dict update: nothing touches SQL or Prometheus
while the simulation runs. A sampler process snapshots every counter and gauge
each ``series_interval`` of sim time into series; at the end :meth:`Telemetry.collect`
turns everything into plain rows for the store.
"""

from __future__ import annotations

import math
from array import array
from collections import _count_elements  # type: ignore[attr-defined]
from dataclasses import dataclass
from functools import partial
from operator import setitem
from typing import TYPE_CHECKING

import numpy as np

from flagship.mechanisms._errors import ContractError
from flagship.mechanisms._measures import Measure

if TYPE_CHECKING:
    from collections.abc import Callable

    import simpy
    from simpy.events import ProcessGenerator

__all__ = [
    "MeasureValue",
    "NullRecorder",
    "RunTelemetry",
    "ScopeRecorder",
    "SeriesPoint",
    "Summary",
    "Telemetry",
]

QUANTILES = (0.5, 0.9, 0.99)
FOLD_EVERY = 4096
"""Pending unit counts a recorder folds at once, at the latest (see :class:`ScopeRecorder`)."""


@dataclass(frozen=True, slots=True)
class MeasureValue:
    """The final value of one declared measure in one run (``None``: undefined in this run)."""

    scope: str
    name: str
    area: str
    unit: str
    higher_is_better: bool
    value: float | None
    bounds: tuple[float, float] = (-math.inf, math.inf)
    """The values the measure can take (:meth:`Measure.value_range`), stored beside it."""


@dataclass(frozen=True, slots=True)
class Summary:
    """A per-run summary of one sampled distribution (latencies, sizes...)."""

    scope: str
    name: str
    count: int
    mean: float
    min: float
    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """The value of a counter or gauge at a sampled sim time."""

    scope: str
    name: str
    time: float
    value: float


@dataclass(frozen=True, slots=True)
class RunTelemetry:
    """Everything one run recorded, as rows."""

    measures: tuple[MeasureValue, ...]
    summaries: tuple[Summary, ...]
    series: tuple[SeriesPoint, ...]
    counters: dict[str, float]

    def measure_map(self) -> dict[str, float | None]:
        """``scope.name -> value`` for every measure."""
        return {f"{m.scope}.{m.name}": m.value for m in self.measures}


class ScopeRecorder:
    """The recorder of one mechanism or population (implements ``flagship.mechanisms.Recorder``).

    Unit counts are batched: ``count(name)`` (the per-action case) only appends ``name`` to a
    pending list, and the pending names are folded into the counters, in call order, by
    :func:`collections.Counter`'s C loop whenever the counters are read (each series snapshot,
    the final collection), before any other increment, and every :data:`FOLD_EVERY` names (so
    a run without a series sampler keeps a bounded list). Folding in call order gives the
    counters the same values, and the same key order, as updating them one call at a time.

    ``sampled``: a series sampler reads the counters every ``series_interval`` (it folds them),
    which bounds the pending list by the counts of one interval; the per-action :meth:`counter`
    handle is then the pending list's own ``append`` (a C call, about a tenth of the
    instructions of a call into :meth:`count`, which is a Python frame). Without a sampler the
    handle goes through :meth:`count`, which folds every :data:`FOLD_EVERY` names.
    """

    __slots__ = ("_counters", "_pending", "_sampled", "_tally", "gauges", "measures", "samples", "scope")

    def __init__(self, scope: str, *, sampled: bool = False) -> None:
        self.scope = scope
        self._sampled = sampled
        self._counters: dict[str, float] = {}
        self._pending: list[str] = []  # unit counts not yet folded into _counters, in call order
        self._tally = self._pending.append
        self.gauges: dict[str, float] = {}
        # array('d') rather than list: same append cost, and numpy reads it without copying
        self.samples: dict[str, array[float]] = {}
        self.measures: dict[str, float | None] = {}

    @property
    def counters(self) -> dict[str, float]:
        """Every counter's current value (pending unit counts folded in first)."""
        if self._pending:
            self._fold()
        return self._counters

    def _fold(self) -> None:
        _count_elements(self._counters, self._pending)
        self._pending.clear()

    def count(self, name: str, n: float = 1) -> None:
        if n == 1:
            self._tally(name)
            if len(self._pending) >= FOLD_EVERY:
                self._fold()
            return
        if self._pending:
            self._fold()
        counters = self._counters
        counters[name] = counters.get(name, 0) + n

    def gauge(self, name: str, value: float) -> None:
        self.gauges[name] = value

    def sample(self, name: str, value: float) -> None:
        try:
            self.samples[name].append(value)
        except KeyError:
            self.samples[name] = array("d", (value,))

    def measure(self, name: str, value: float | None) -> None:
        self.measures[name] = value

    def counter(self, name: str) -> Callable[[], object]:
        if self._sampled:  # the sampler folds the pending list every interval (class docstring)
            return partial(self._tally, name)
        # Through count, not straight to the pending list's append: count folds every FOLD_EVERY
        # names, and without a sampler a bare append would let the pending list grow for the whole run.
        return partial(self.count, name)

    def sampler(self, name: str) -> Callable[[float], object]:
        values = self.samples.get(name)
        if values is None:
            values = self.samples[name] = array("d")
        return values.append

    def gauge_setter(self, name: str) -> Callable[[float], object]:
        return partial(setitem, self.gauges, name)


class NullRecorder(ScopeRecorder):
    """Telemetry off: counters, gauges and samples are dropped; final measures are still kept."""

    __slots__ = ()

    def count(self, name: str, n: float = 1) -> None:
        return

    def gauge(self, name: str, value: float) -> None:
        return

    def sample(self, name: str, value: float) -> None:
        return

    # C-level calls that ignore what they are given (the cheapest no-ops there are), so that
    # "telemetry off" costs no more than it must.
    def counter(self, name: str) -> Callable[[], object]:
        return tuple

    def sampler(self, name: str) -> Callable[[float], object]:
        return bool

    def gauge_setter(self, name: str) -> Callable[[float], object]:
        return bool


class Telemetry:
    """All recorders of one run, the series sampler, and the final collection."""

    def __init__(self, env: simpy.Environment | None = None, *, enabled: bool = True,
                 series_interval: float | None = None) -> None:
        self.env = env
        self.enabled = enabled
        self.series_interval = series_interval
        self._recorders: dict[str, ScopeRecorder] = {}
        # (time, scope, that scope's counters then gauges as (name, value) pairs) per snapshot:
        # SeriesPoint rows are built from them at collect, after the simulation phase (a frozen
        # dataclass costs several thousand instructions to build; a copy of a dict's items is
        # one C call).
        self._snapshots: list[tuple[float, str, list[tuple[str, float]]]] = []
        self._last_snapshot: float | None = None

    def recorder(self, scope: str) -> ScopeRecorder:
        """The recorder for ``scope`` (a mechanism or population name), created once."""
        if scope in self._recorders:
            raise ContractError(f"telemetry scope {scope!r} requested twice")
        sampled = bool(self.series_interval) and self.env is not None  # see start()
        recorder = ScopeRecorder(scope, sampled=sampled) if self.enabled else NullRecorder(scope)
        self._recorders[scope] = recorder
        return recorder

    def start(self) -> None:
        """Start the series sampler (if enabled and an interval is set)."""
        if self.enabled and self.series_interval and self.env is not None:
            self.env.process(self._sample_forever(self.env, self.series_interval))

    def _sample_forever(self, env: simpy.Environment, interval: float) -> ProcessGenerator:
        while True:
            self.snapshot(float(env.now))
            yield env.timeout(interval)

    def snapshot(self, time: float) -> None:
        """Append the current value of every counter and gauge to the series (once per time)."""
        if time == self._last_snapshot:
            return
        self._last_snapshot = time
        append = self._snapshots.append
        for scope, recorder in self._recorders.items():
            counters, gauges = recorder.counters, recorder.gauges
            if counters or gauges:
                append((time, scope, [*counters.items(), *gauges.items()]))

    def series(self) -> tuple[SeriesPoint, ...]:
        """Every snapshot's points, in snapshot order, each scope's counters then its gauges."""
        return tuple(
            SeriesPoint(scope, name, time, float(value))
            for time, scope, values in self._snapshots
            for name, value in values
        )

    def collect(self, declared: dict[str, tuple[Measure, ...]], *, final_time: float | None = None
                ) -> RunTelemetry:
        """Rows for the store; every declared measure must have been recorded, and only those."""
        if final_time is not None and self.enabled and self.series_interval:
            self.snapshot(final_time)
        measures: list[MeasureValue] = []
        for scope, declarations in declared.items():
            recorder = self._recorders.get(scope)
            recorded = recorder.measures if recorder else {}
            names = {d.name for d in declarations}
            undeclared = sorted(set(recorded) - names)
            if undeclared:
                raise ContractError(f"{scope} recorded undeclared measures: {', '.join(undeclared)}")
            for d in declarations:
                if d.name not in recorded:
                    raise ContractError(f"{scope} did not record its declared measure {d.name!r}")
                value = _finite_or_none(recorded[d.name])
                low, high = d.value_range()
                if value is not None and not low <= value <= high:
                    source = "its bounds" if d.bounds is not None else f"its unit {d.unit!r}"
                    raise ContractError(f"{scope} recorded {d.name} = {value!r}, outside the range "
                                        f"[{low:g}, {high:g}] of {source}")
                measures.append(MeasureValue(scope, d.name, d.area.value, d.unit, d.higher_is_better,
                                             value, (low, high)))
        summaries = [
            _summarise(scope, name, values)
            for scope, recorder in self._recorders.items()
            for name, values in sorted(recorder.samples.items())
            if values
        ]
        counters = {
            f"{scope}.{name}": float(value)
            for scope, recorder in self._recorders.items()
            for name, value in sorted(recorder.counters.items())
        }
        return RunTelemetry(tuple(measures), tuple(summaries), self.series(), counters)


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _summarise(scope: str, name: str, values: array[float]) -> Summary:
    data = np.frombuffer(values, dtype=np.float64)
    p50, p90, p99 = (float(q) for q in np.quantile(data, QUANTILES))
    return Summary(scope, name, int(data.size), float(data.mean()), float(data.min()),
                   p50, p90, p99, float(data.max()))
