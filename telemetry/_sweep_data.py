"""A stored sweep's design and measures, ready for statistics (:class:`SweepData`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flagship.mechanisms._errors import InputError, Problem
from flagship.mechanisms._measures import difference_range, unit_range
from flagship.telemetry._store_protocol import RunStore, StoredRun, StoredSweep

__all__ = ["AREAS", "MeasureInfo", "SweepData", "resolve_measure", "stored_bounds"]

AREAS = ("legitimacy", "ux", "robustness")

# -- a sweep's data -----------------------------------------------------------------------


@dataclass(frozen=True)
class MeasureInfo:
    """A measure as declared: ``key`` is ``scope.name``; ``qualified`` is ``area.name``."""

    key: str
    scope: str
    name: str
    area: str
    unit: str
    higher_is_better: bool
    bounds: tuple[float, float] = (-math.inf, math.inf)

    @property
    def qualified(self) -> str:
        return f"{self.area}.{self.name}"

    def value_range(self) -> tuple[float, float]:
        """The values the measure can take, as its runs stored them."""
        return self.bounds

    def difference_range(self) -> tuple[float, float]:
        """The values a difference of two runs' values can take."""
        return difference_range(self.bounds)


def stored_bounds(row: Mapping[str, Any]) -> tuple[float, float]:
    """A measure row's range: its ``low``/``high`` columns (NULL: unbounded on that side), or its
    unit's range for rows stored before the columns existed (both NULL, or absent)."""
    low, high = row.get("low"), row.get("high")
    if low is None and high is None:
        return unit_range(str(row["unit"]))
    return (-math.inf if low is None else float(low), math.inf if high is None else float(high))


ValueKey = tuple[str, str, int]  # (cell, arm, seed)


def resolve_measure(measures: Mapping[str, MeasureInfo], name: str, *, where: str = "measure") -> MeasureInfo:
    """The measure called ``scope.name`` or ``area.name`` (unique across scopes) among ``measures``."""
    if name in measures:
        return measures[name]
    area, _, short = name.partition(".")
    candidates = [m for m in measures.values() if m.area == area and m.name == short]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        listed = ", ".join(sorted(m.key for m in candidates))
        raise InputError([Problem(where, f"{name!r} is ambiguous; name one of: {listed}")])
    known = ", ".join(f"{m.qualified} ({m.key})" for m in measures.values()) or "none"
    raise InputError([Problem(where, f"unknown measure {name!r}; known: {known}")])


@dataclass
class SweepData:
    """A stored sweep's design and every completed run's measures, ready for statistics."""

    sweep: StoredSweep
    arms: list[str]
    cells: list[dict[str, Any]]  # {"key", "assignment"} in design order
    measures: dict[str, MeasureInfo]
    values: dict[str, dict[ValueKey, float | None]]
    runs: list[StoredRun] = field(repr=False)
    series: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @classmethod
    def load(cls, store: RunStore, sweep_id: str, *, with_series: bool = False) -> SweepData:
        """Read a sweep (or a ``flagship run`` batch) by id or unique id prefix."""
        sweep = store.sweep(sweep_id)
        runs = store.runs(sweep_id=sweep.id)
        rows = store.sweep_measures(sweep.id)
        arms = [str(a) for a in sweep.spec.get("arms", [])]
        for run in runs:
            if run.arm not in arms:
                arms.append(run.arm)
        cells = [{"key": c["key"], "assignment": c.get("assignment", {})}
                 for c in sweep.spec.get("cells", [])]
        known = {c["key"] for c in cells}
        for run in sorted(runs, key=lambda r: r.cell):
            if run.cell not in known:
                known.add(run.cell)
                cells.append({"key": run.cell, "assignment": {}})
        infos: dict[str, MeasureInfo] = {}
        values: dict[str, dict[ValueKey, float | None]] = {}
        for row in rows:
            key = f"{row['scope']}.{row['name']}"
            if key not in infos:
                infos[key] = MeasureInfo(key, row["scope"], row["name"], row["area"], row["unit"],
                                         bool(row["higher_is_better"]), stored_bounds(row))
            values.setdefault(key, {})[(row["cell"], row["arm"], int(row["seed"]))] = row["value"]
        order = {area: i for i, area in enumerate(AREAS)}
        infos = dict(sorted(infos.items(), key=lambda kv: (order.get(kv[1].area, len(order)), kv[0])))
        series = store.sweep_series(sweep.id) if with_series else []
        return cls(sweep, arms, cells, infos, values, runs, series)

    @property
    def replications(self) -> int:
        """Replications per cell and arm: the design's, or more when a sequential evaluation extended it."""
        declared = self.sweep.spec.get("replications")
        counts: dict[tuple[str, str], int] = {}
        for run in self.runs:
            counts[(run.cell, run.arm)] = counts.get((run.cell, run.arm), 0) + 1
        stored = max(counts.values(), default=0)
        return max(declared, stored) if isinstance(declared, int) else stored

    def resolve_measure(self, name: str, *, where: str = "measure") -> MeasureInfo:
        """The measure called ``scope.name`` or ``area.name`` (unique across scopes)."""
        return resolve_measure(self.measures, name, where=where)

    def samples(self, measure: str, arm: str, cell: str | None = None) -> dict[tuple[str, int], float]:
        """(cell, seed) -> defined value of ``measure`` in ``arm`` (one cell, or all)."""
        return {(c, s): float(v) for (c, a, s), v in self.values.get(measure, {}).items()
                if a == arm and (cell is None or c == cell) and v is not None and math.isfinite(v)}

    def paired(self, measure: str, treatment: str, control: str,
               cell: str | None = None) -> list[float]:
        """treatment - control, matched by (cell, seed) where both are defined, in key order."""
        t = self.samples(measure, treatment, cell)
        c = self.samples(measure, control, cell)
        return [t[k] - c[k] for k in sorted(t.keys() & c.keys())]

    def defined_values(self, measure: str) -> list[float]:
        """Every defined value of ``measure`` across all runs, arms and cells."""
        return [float(v) for v in self.values.get(measure, {}).values()
                if v is not None and math.isfinite(v)]

    def is_proportion(self, measure: str) -> bool:
        """Every defined value of the measure, in every run and arm, is 0 or 1: k of n runs."""
        values = self.defined_values(measure)
        return bool(values) and all(v in (0.0, 1.0) for v in values)

    def is_constant(self, measure: str) -> bool:
        """The measure takes one value in every run and arm, or is never defined."""
        return len(set(self.defined_values(measure))) <= 1

