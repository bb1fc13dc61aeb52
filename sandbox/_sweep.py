"""Sweeps: a scenario run over a design of cells, each cell with K seeded replications per arm.

A *cell* is an assignment ``{dotted.path: value}`` applied on top of the scenario
(any field: mechanism configs, initial conditions, populations, shocks, duration).
Cells come from the Cartesian product of ``--grid`` axes, one group of ``--zip``
axes walked in step, and ``--sample N`` seeded random or Latin-hypercube draws
over ``--range`` intervals; the three combine as a product.

Every cell and arm is validated before anything runs. Each cell runs with K seeds
derived from (scenario seed, cell key), the same for every arm, so arms are
compared on common random numbers. The sweep id is a digest of the scenario
file, the overrides and the design, so rerunning the same command finds the
same sweep in the store and runs only the (cell, arm, seed) results it lacks.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from flagship.mechanisms import (
    InputError,
    Mechanism,
    Population,
    Problem,
    ScenarioError,
    canonical_json,
    seed_sequence,
)
from flagship.sandbox._cohorts import cohort_scopes
from flagship.sandbox._rehearsal import GUARDRAILS_SCOPE, rehearsed_measures
from flagship.sandbox._runner import RunJob, jobs_for, stream_results
from flagship.sandbox._scenario import ResolvedScenario, apply_overrides, parse_override, resolve
from flagship.telemetry import RunResult, RunStore
from flagship.telemetry._sweep_data import MeasureInfo

__all__ = [
    "Axis",
    "Cell",
    "Range",
    "SweepOutcome",
    "SweepPlan",
    "SweepSpec",
    "cell_key",
    "cell_seeds",
    "declared_measures",
    "design_cells",
    "parse_axis",
    "parse_range",
    "pending_jobs",
    "plan_sweep",
    "run_sweep",
    "split_values",
    "store_results",
    "stream_results",
    "sweep_id_for",
]

Sampler = Literal["lhs", "random"]
ResultKey = tuple[str, str, int]
"""(cell key, arm name or "", seed): the store's idempotency key within a sweep."""

# The runs table holds cell keys of up to 200 characters; longer assignments are keyed by
# their digest (the full assignment stays in the sweep's recorded spec).
MAX_CELL_KEY = 200


# -- the design ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One swept path and its values, in the order given."""

    path: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Range:
    """A sampled path: values drawn in ``[low, high]``; integers when both bounds are integers."""

    path: str
    low: float
    high: float
    integer: bool


@dataclass(frozen=True)
class SweepSpec:
    """The design of a sweep: grid axes x one zipped group x samples, and replications per cell."""

    grids: tuple[Axis, ...] = ()
    zips: tuple[Axis, ...] = ()
    ranges: tuple[Range, ...] = ()
    samples: int = 0
    sampler: Sampler = "lhs"
    replications: int = 1
    common_seeds: bool = False
    """Every cell runs the same K seeds (those of the scenario's own, empty cell) instead of seeds
    derived from its assignment: common random numbers across cells too, as ``flagship tune``'s
    trials use, so two cells differ by their configuration and not by their draws."""

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if isinstance(self.replications, bool) or self.replications < 1:
            problems.append(Problem("--replications", f"expected a positive integer, got "
                                                      f"{self.replications!r}"))
        if self.samples < 0:
            problems.append(Problem("--sample", f"expected a non-negative integer, got {self.samples}"))
        if self.samples and not self.ranges:
            problems.append(Problem("--sample", "needs at least one --range path=low:high"))
        if self.ranges and not self.samples:
            problems.append(Problem("--range", "needs --sample N (the number of cells to draw)"))
        if self.sampler not in ("lhs", "random"):
            problems.append(Problem("--sampler", f"expected lhs or random, got {self.sampler!r}"))
        lengths = {len(axis.values) for axis in self.zips}
        if len(lengths) > 1:
            detail = ", ".join(f"{a.path} has {len(a.values)}" for a in self.zips)
            problems.append(Problem("--zip", f"zipped paths need equally many values ({detail})"))
        seen: set[str] = set()
        for option, path in [*(("--grid", a.path) for a in self.grids),
                             *(("--zip", a.path) for a in self.zips),
                             *(("--range", r.path) for r in self.ranges)]:
            if path in seen:
                problems.append(Problem(option, f"{path}: swept more than once"))
            seen.add(path)
        if problems:
            raise InputError(problems)

    @property
    def paths(self) -> list[str]:
        """Every swept path, in option order (grids, zips, ranges)."""
        return [a.path for a in self.grids] + [a.path for a in self.zips] + [r.path for r in self.ranges]

    def to_dict(self) -> dict[str, Any]:
        """Plain data: goes into the sweep id and the store's record of the sweep."""
        return {
            "grids": [{"path": a.path, "values": list(a.values)} for a in self.grids],
            "zips": [{"path": a.path, "values": list(a.values)} for a in self.zips],
            "ranges": [{"path": r.path, "low": r.low, "high": r.high, "integer": r.integer}
                       for r in self.ranges],
            "samples": self.samples,
            "sampler": self.sampler,
            "replications": self.replications,
            **({"common_seeds": True} if self.common_seeds else {}),
        }

    def command_args(self) -> list[str]:
        """The ``flagship sweep`` options that give this design."""
        args: list[str] = []
        for axis in self.grids:
            args += ["--grid", f"{axis.path}={','.join(_toml_literal(v) for v in axis.values)}"]
        for axis in self.zips:
            args += ["--zip", f"{axis.path}={','.join(_toml_literal(v) for v in axis.values)}"]
        if self.samples:
            args += ["--sample", str(self.samples), "--sampler", self.sampler]
            for r in self.ranges:
                low, high = (int(r.low), int(r.high)) if r.integer else (r.low, r.high)
                args += ["--range", f"{r.path}={low}:{high}"]
        args += ["--replications", str(self.replications)]
        return [*args, "--common-seeds"] if self.common_seeds else args


def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` at top-level commas (not inside quotes, brackets or braces)."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    escaped = False
    for char in text:
        if quote is not None:
            current.append(char)
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def parse_axis(text: str, option: str = "--grid") -> Axis:
    """``path=v1,v2,...`` -> :class:`Axis`; each value is read as TOML, else taken as a string."""
    path, sep, values_text = text.partition("=")
    path = path.strip()
    if not sep or not path or not values_text.strip():
        raise InputError([Problem(option, f"expected path=value1,value2,..., got {text!r}")])
    values = []
    for item in split_values(values_text):
        if not item:
            raise InputError([Problem(option, f"{path}: empty value in {values_text!r}")])
        values.append(parse_override(f"{path}={item}")[1])
    keys = [canonical_json(v) for v in values]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise InputError([Problem(option, f"{path}: value {duplicates[0]} given more than once")])
    return Axis(path, tuple(values))


def parse_range(text: str, option: str = "--range") -> Range:
    """``path=low:high`` -> :class:`Range` (integer sampling when both bounds are integers)."""
    path, sep, bounds = text.partition("=")
    path = path.strip()
    low_text, colon, high_text = bounds.partition(":")
    problem = Problem(option, f"expected path=low:high with numbers low < high, got {text!r}")
    if not sep or not path or not colon:
        raise InputError([problem])
    try:
        low = tomllib.loads(f"v = {low_text.strip()}")["v"]
        high = tomllib.loads(f"v = {high_text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        raise InputError([problem]) from None
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not math.isfinite(low) or not math.isfinite(high) or not low < high:
        raise InputError([problem])
    integer = isinstance(low, int) and isinstance(high, int)
    return Range(path, float(low), float(high), integer)


def _sample_points(ranges: Sequence[Range], samples: int, sampler: Sampler,
                   seed: int) -> list[dict[str, Any]]:
    """``samples`` points over ``ranges``, seeded by the scenario seed and the design itself."""
    if not samples:
        return [{}]
    design = canonical_json({"ranges": [(r.path, r.low, r.high, r.integer) for r in ranges],
                             "samples": samples, "sampler": sampler})
    rng = np.random.Generator(np.random.PCG64(seed_sequence(seed, f"sweep/samples/{design}")))
    columns: list[list[Any]] = []
    for r in ranges:
        count = int(r.high - r.low) + 1  # integers in the range
        if sampler == "lhs" and r.integer and count >= samples:
            # Latin hypercube over integers: stratum i holds the integers [i*count//n,
            # (i+1)*count//n), disjoint and never empty, so the samples are distinct.
            strata = rng.permutation(samples)
            starts = strata * count // samples
            widths = (strata + 1) * count // samples - starts
            offsets = np.floor(rng.random(samples) * widths).astype(np.int64)
            columns.append([int(r.low) + int(v) for v in starts + offsets])
            continue
        if sampler == "lhs":
            # Latin hypercube: one point in each of `samples` equal strata of the range.
            unit = (rng.permutation(samples) + rng.random(samples)) / samples
        else:
            unit = rng.random(samples)
        if r.integer:
            columns.append([int(min(r.high, math.floor(r.low + float(u) * count))) for u in unit])
        else:
            columns.append([r.low + float(u) * (r.high - r.low) for u in unit])
    return [{r.path: column[i] for r, column in zip(ranges, columns, strict=True)}
            for i in range(samples)]


def design_cells(spec: SweepSpec, seed: int) -> list[dict[str, Any]]:
    """Every cell's assignment, in a stable order: grid product (first axis slowest) x zip x samples.

    With no axes at all the design is one empty cell (plain replications).
    """
    grid = itertools.product(*(a.values for a in spec.grids)) if spec.grids else [()]
    grid_points = [dict(zip((a.path for a in spec.grids), values, strict=True)) for values in grid]
    zip_count = len(spec.zips[0].values) if spec.zips else 0
    zip_points = ([{a.path: a.values[i] for a in spec.zips} for i in range(zip_count)]
                  if spec.zips else [{}])
    sample_points = _sample_points(spec.ranges, spec.samples, spec.sampler, seed)
    cells = [{**g, **z, **s} for g in grid_points for z in zip_points for s in sample_points]
    keys = [cell_key(c) for c in cells]
    if len(set(keys)) != len(keys):  # integer samples over a narrow range can repeat
        repeated = next(k for k in keys if keys.count(k) > 1)
        raise InputError([Problem("--sample", f"the design repeats cell {repeated}; narrow --sample "
                                              f"or widen --range")])
    return cells


def cell_key(assignment: Mapping[str, Any]) -> str:
    """The canonical JSON of a cell's assignment (``sha256:<hex>`` of it when over 200 characters)."""
    text = canonical_json(dict(assignment))
    if len(text) <= MAX_CELL_KEY:
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def cell_seeds(seed: int, assignment: Mapping[str, Any], replications: int) -> list[int]:
    """K seeds for a cell, derived from (scenario seed, canonical cell assignment).

    The first k of K seeds equal the k seeds of a smaller sweep, so adding replications
    keeps the earlier ones comparable.
    """
    sequence = seed_sequence(seed, "sweep/cell/" + canonical_json(dict(assignment)))
    return [int(s) for s in sequence.generate_state(replications, dtype=np.uint32)]


def _toml_literal(value: Any) -> str:
    """A value as a TOML literal (what ``parse_override`` reads back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return canonical_json(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{canonical_json(str(k))} = {_toml_literal(v)}"
                               for k, v in value.items()) + "}"
    return canonical_json(value)


# -- the plan -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One cell of a sweep: its key, its assignment, its seeds and the validated scenario."""

    index: int
    key: str
    assignment: dict[str, Any]
    seeds: tuple[int, ...]
    resolved: ResolvedScenario = field(repr=False)


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: every cell resolved (arms included), ready to turn into jobs."""

    sweep_id: str
    base: ResolvedScenario
    spec: SweepSpec
    cells: tuple[Cell, ...]
    overrides: tuple[tuple[str, Any], ...]

    @property
    def arms(self) -> list[str]:
        """Arm names in declaration order (``""`` for a scenario without arms)."""
        return [a or "" for a in self.base.arm_names()]

    def result_keys(self) -> list[ResultKey]:
        """Every (cell, arm, seed) result the sweep produces, in report order."""
        return [(cell.key, arm, seed) for cell in self.cells for arm in self.arms for seed in cell.seeds]

    @property
    def total(self) -> int:
        """The number of runs in the whole sweep."""
        return len(self.cells) * len(self.arms) * self.spec.replications

    def jobs(self, skip: Iterable[ResultKey] = ()) -> list[RunJob]:
        """The jobs of every result not in ``skip``, cell by cell, arm by arm, seed by seed."""
        done = set(skip)
        jobs = []
        for cell in self.cells:
            for job in jobs_for(cell.resolved, sweep_id=self.sweep_id, cell=cell.key, seeds=cell.seeds):
                if (cell.key, job.arm or "", job.seed) not in done:
                    jobs.append(job)
        return jobs

    def record(self) -> dict[str, Any]:
        """What the store keeps about the sweep: enough to rerun it and to label every result."""
        return {
            "scenario_file": self.base.source,
            "scenario_sha256": self.base.source_sha256,
            "overrides": [f"{path}={_toml_literal(value)}" for path, value in self.overrides],
            "seed": self.base.scenario.seed,
            "arms": self.arms,
            "paths": self.spec.paths,
            "design": self.spec.to_dict(),
            "replications": self.spec.replications,
            "cells": [{"key": c.key, "assignment": c.assignment, "seeds": list(c.seeds)}
                      for c in self.cells],
            "command": self.command(),
        }

    def command(self) -> str:
        """The ``flagship sweep`` command line that reproduces (and resumes) this sweep."""
        args = ["flagship", "sweep", self.base.source or "SCENARIO"]
        for path, value in self.overrides:
            args += ["--set", f"{path}={_toml_literal(value)}"]
        args += self.spec.command_args()
        return " ".join(_shell_quote(a) for a in args)


def _shell_quote(arg: str) -> str:
    safe = all(c.isalnum() or c in "-_./=:,+@" for c in arg)
    return arg if safe and arg else "'" + arg.replace("'", "'\"'\"'") + "'"


_NOT_IDENTITY = ("replications", "description")
"""Scenario fields that change no result: the replication count (more seeds extend the same
sweep) and prose."""


def _content(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario's data without the fields that change no result (arms' descriptions too)."""
    content = {k: v for k, v in raw.items() if k not in _NOT_IDENTITY}
    arms = content.get("arms")
    if isinstance(arms, Mapping):
        content["arms"] = {name: ({k: v for k, v in arm.items() if k != "description"}
                                  if isinstance(arm, Mapping) else arm) for name, arm in arms.items()}
    return content


def sweep_id_for(base: ResolvedScenario, cell_keys: Iterable[str],
                 overrides: Sequence[tuple[str, Any]], *, common_seeds: bool = False) -> str:
    """A digest of what decides the results: 32 hex chars.

    The scenario's parsed data (not its text: a comment or a reordered table changes nothing),
    the overrides by path, the *set* of cells (a reordered grid is the same design) and the
    seed. Not the replication count: seeds extend as a prefix (:func:`cell_seeds`), so
    ``--replications 16`` after 8 adds the 8 new seeds to the same sweep.
    """
    identity = {
        "scenario": _content(base.raw),
        "overrides": sorted([[path, value] for path, value in overrides], key=lambda o: str(o[0])),
        "cells": sorted(cell_keys),
        "seed": base.scenario.seed,
        **({"common_seeds": True} if common_seeds else {}),  # other seeds: another sweep
    }
    return hashlib.sha256(canonical_json(identity).encode("utf-8")).hexdigest()[:32]


def plan_sweep(base: ResolvedScenario, spec: SweepSpec) -> SweepPlan:
    """Validate every cell (and every arm in it) of the design; raise before anything runs.

    Problems are reported once each, with the file and the dotted path, e.g.
    ``shop.toml: mechanisms.posted_price.price: expected a positive integer, got 0``.
    """
    overrides = tuple(parse_override(text, source=base.source) for text in base.overrides)
    seed = base.scenario.seed
    assignments = design_cells(spec, seed)
    problems: list[Problem] = []
    cells: list[Cell] = []
    for index, assignment in enumerate(assignments):
        try:
            raw = apply_overrides(base.raw, assignment.items(), source=base.source, prefix="sweep")
            raw.pop("grid", None)  # a cell is one point of the design: a plain scenario, run once per seed
            resolved = resolve(raw, source=base.source, source_sha256=base.source_sha256,
                               overrides=(*base.overrides,
                                          *(f"{p}={_toml_literal(v)}" for p, v in assignment.items())))
        except ScenarioError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
            continue
        seeds = cell_seeds(seed, {} if spec.common_seeds else assignment, spec.replications)
        cells.append(Cell(index, cell_key(assignment), dict(assignment), tuple(seeds), resolved))
    if problems:
        raise ScenarioError(problems, source=base.source)
    return SweepPlan(sweep_id_for(base, (c.key for c in cells), overrides, common_seeds=spec.common_seeds),
                     base, spec, tuple(cells), overrides)


# -- running ------------------------------------------------------------------------------


@dataclass
class SweepOutcome:
    """What one ``flagship sweep`` invocation did."""

    plan: SweepPlan
    skipped: int
    ran: int = 0
    failed_now: int = 0


def pending_jobs(plan: SweepPlan, store: RunStore) -> tuple[list[RunJob], int]:
    """Record the sweep in the store; return the jobs still to run and how many are done."""
    store.create_sweep("sweep", plan.base.scenario.name, plan.record(), sweep_id=plan.sweep_id)
    done = store.completed_keys(plan.sweep_id) & set(plan.result_keys())
    return plan.jobs(skip=done), len(done)


def store_results(jobs: Iterable[RunJob], executor: Executor, store: RunStore, *,
                  on_result: Callable[[RunResult], None] | None = None,
                  window: int = 256) -> tuple[int, int]:
    """Run ``jobs`` on ``executor``, storing each result as it arrives; returns (ran, failed)."""
    ran = failed = 0
    for result in stream_results(jobs, executor, window=window):
        store.save_run(result)  # idempotent by (sweep, cell, arm, seed): a rerun never duplicates
        ran += 1
        failed += not result.ok
        if on_result is not None:
            on_result(result)
    return ran, failed


def run_sweep(plan: SweepPlan, store: RunStore, executor: Executor, *,
              on_result: Callable[[RunResult], None] | None = None,
              window: int = 256) -> SweepOutcome:
    """Record the sweep, run its missing results on ``executor`` and store each as it arrives.

    Completed results already in the store are skipped and failed ones rerun. The
    caller owns ``executor`` (and shuts it down).
    """
    jobs, skipped = pending_jobs(plan, store)
    ran, failed = store_results(jobs, executor, store, on_result=on_result, window=window)
    return SweepOutcome(plan, skipped, ran, failed)


def declared_measures(base: ResolvedScenario) -> dict[str, MeasureInfo]:
    """Every measure the scenario's mechanisms and populations declare, in any arm, by ``scope.name``
    (and the ``guardrails`` scope's, when an arm rehearses guardrails)."""
    measures: dict[str, MeasureInfo] = {}
    for arm in base.arm_names():
        resolved = base.with_arm(arm)
        scopes: list[tuple[str, type[Mechanism[Any]] | type[Population[Any]]]] = [
            (name, resolved.mechanism_class(name)) for name in resolved.mechanism_configs]
        scopes += [(name, resolved.population_class(name)) for name in resolved.scenario.populations]
        declared = [(scope, cls.measures) for scope, cls in scopes]
        declared.append((GUARDRAILS_SCOPE, rehearsed_measures(resolved)))
        declared += cohort_scopes(resolved.scenario.live, resolved.mechanism_class)
        for scope, scope_measures in declared:
            for m in scope_measures:
                measures.setdefault(f"{scope}.{m.name}", MeasureInfo(
                    f"{scope}.{m.name}", scope, m.name, m.area.value, m.unit, m.higher_is_better,
                    m.value_range()))
    return measures
