"""Scenario files: what to run, validated at the boundary with pydantic.

A scenario is a TOML (or JSON) file. Loading it is the one place where input is
validated: structure first, then each mechanism's config with that mechanism's
``Config`` model and each population's params with its ``Params`` model, then
every arm's overrides. Every problem is reported with the file and the dotted
field path, e.g. ``examples/x.toml: mechanisms.value_market.tick_size: expected a
positive integer, got -1``; nothing runs until all of them are fixed.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
)

from flagship.mechanisms import (
    Arrival,
    Mechanism,
    Population,
    Problem,
    ScenarioError,
    UnknownNameError,
    mechanism,
    population,
)
from flagship.sandbox._cohorts import cohort_problems
from flagship.sandbox._guardrail import GuardrailTables, guardrail_problems

__all__ = [
    "ArmSpec",
    "PopulationSpec",
    "ResolvedScenario",
    "Scenario",
    "ShockSpec",
    "TelemetrySpec",
    "apply_overrides",
    "load_scenario",
    "parse_override",
    "read_scenario_file",
    "remove_paths",
    "resolve",
]

DEFAULT_STORE = "sqlite:///flagship.db"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationSpec(_Strict):
    """``[populations.<name>]``: a group of participants of one model."""

    model: str = Field(description="registered population model")
    count: NonNegativeInt = Field(description="number of participants")
    mechanism: str | None = Field(
        default=None, description="mechanism they act on (default: the only mechanism)"
    )
    arrival: Arrival = Field(default_factory=lambda: Arrival(process="none"))
    params: dict[str, Any] = Field(default_factory=dict, description="the model's Params")


class ShockSpec(_Strict):
    """``[[shocks]]``: an event published on the bus at a sim time."""

    at: float = Field(ge=0, description="sim time (seconds)")
    kind: str = Field(min_length=1, description="e.g. liquidity_shock, ai_incident")
    payload: dict[str, Any] = Field(default_factory=dict)


class TelemetrySpec(_Strict):
    """``[telemetry]``: what a run records besides its final measures."""

    enabled: bool = True
    series_interval: PositiveFloat | None = Field(
        default=None, description="sim seconds between series samples (default: duration / 100)"
    )


class ArmSpec(_Strict):
    """``[arms.<name>]``: a variant of the scenario, run on the same seeds as the other arms.

    ``unset`` removes fields or whole tables first (a mechanism, a population: an arm
    *without* that layer), then ``set`` overrides by dotted path.
    """

    description: str = ""
    set: dict[str, Any] = Field(default_factory=dict, description="dotted path -> value overrides")
    unset: list[str] = Field(
        default_factory=list,
        description="dotted paths removed before `set` applies (e.g. mechanisms.<name>, populations.<name>)")


class Scenario(_Strict):
    """The validated structure of a scenario file."""

    name: str = Field(min_length=1)
    description: str = ""
    seed: NonNegativeInt = 0
    duration: PositiveFloat = Field(description="sim time to run (seconds)")
    replications: PositiveInt = 1
    store: str = Field(default=DEFAULT_STORE, description="SQLAlchemy URL of the store")
    keep_actions: bool = Field(default=True, description="store the full action log of each run")
    mechanisms: dict[str, dict[str, Any]] = Field(min_length=1)
    populations: dict[str, PopulationSpec] = Field(default_factory=dict)
    shocks: list[ShockSpec] = Field(default_factory=list)
    arms: dict[str, ArmSpec] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="cells: dotted path -> values; `flagship run` and `flagship sweep` run every "
                    "combination (first path slowest), as `flagship sweep --grid path=v1,v2,...`")
    telemetry: TelemetrySpec = Field(default_factory=TelemetrySpec)
    live: dict[str, Any] = Field(default_factory=dict, description="options for `flagship serve`")


@dataclass(frozen=True)
class ResolvedScenario:
    """A scenario with every mechanism config and population params validated.

    ``data`` is the fully resolved scenario (defaults filled in) as plain JSON-able
    data: it goes into every run's manifest and is enough to rebuild this object.
    """

    scenario: Scenario
    mechanism_configs: dict[str, BaseModel]
    population_params: dict[str, BaseModel]
    data: dict[str, Any]
    source: str = ""
    source_sha256: str = ""
    overrides: tuple[str, ...] = ()
    arm: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def mechanism_class(self, name: str) -> type[Mechanism[Any]]:
        return mechanism(name)

    def population_class(self, name: str) -> type[Population[Any]]:
        return population(self.scenario.populations[name].model)

    def arm_names(self) -> list[str | None]:
        """The arms to run: those declared, or a single unnamed arm."""
        return list(self.scenario.arms) or [None]

    def with_arm(self, arm: str | None) -> ResolvedScenario:
        """This scenario with arm ``arm``'s overrides applied (``None``: unchanged)."""
        if arm is None:
            return self
        if arm not in self.scenario.arms:
            hint = did_you_mean(arm, self.scenario.arms)
            raise UnknownNameError([Problem("arm", f"unknown arm {arm!r}{hint}; known: "
                                            f"{', '.join(self.scenario.arms) or 'none'}")],
                                   source=self.source)
        spec = self.scenario.arms[arm]
        raw = remove_paths(self.raw, spec.unset, source=self.source, prefix=f"arms.{arm}.unset")
        raw = apply_overrides(raw, spec.set.items(), source=self.source, prefix=f"arms.{arm}.set")
        raw.pop("arms", None)  # an arm is a plain scenario: its siblings do not apply inside it
        return resolve(raw, source=self.source, source_sha256=self.source_sha256,
                       overrides=self.overrides, arm=arm)


# -- loading ------------------------------------------------------------------------------


def read_scenario_file(path: str | Path, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], str]:
    """A scenario file's table (TOML, or JSON by suffix) with ``path=value`` overrides applied,
    and the SHA-256 of the file's bytes. Every problem names the file."""
    path = Path(path)
    source = str(path)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Problem("", "no such file")], source=source) from None
    except OSError as exc:
        raise ScenarioError([Problem("", f"cannot read: {exc.strerror}")], source=source) from None
    try:
        text = content.decode("utf-8")
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ScenarioError([Problem("", f"invalid {kind}: {exc}")], source=source) from None
    if not isinstance(raw, dict):
        raise ScenarioError([Problem("", "expected a table of scenario fields")], source=source)
    parsed = [parse_override(text, source=source) for text in overrides]
    return apply_overrides(raw, parsed, source=source), hashlib.sha256(content).hexdigest()


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> ResolvedScenario:
    """Read, override (``path=value`` strings) and validate a scenario file."""
    raw, digest = read_scenario_file(path, overrides)
    return resolve(raw, source=str(path), source_sha256=digest, overrides=tuple(overrides))


def parse_override(text: str, *, source: str = "") -> tuple[str, Any]:
    """``path=value`` -> (path, value); the value is read as TOML, else taken as a string."""
    path, sep, value_text = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise ScenarioError([Problem("--set", f"expected path=value, got {text!r}")], source=source)
    try:
        value: Any = tomllib.loads(f"v = {value_text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()
    return path, value


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[tuple[str, Any]], *,
                    source: str = "", prefix: str = "--set") -> dict[str, Any]:
    """A deep copy of ``raw`` with each dotted ``path`` set to its value (list items by index)."""
    result: dict[str, Any] = copy.deepcopy(dict(raw))
    problems: list[Problem] = []
    for path, value in overrides:
        parts = path.split(".")
        node: Any = result
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    problems.append(Problem(f"{prefix} {path}",
                                            f"{where}: expected a list index below {len(node)}"))
                    break
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                problems.append(Problem(f"{prefix} {path}", f"{where}: is not a table"))
                break
    if problems:
        raise ScenarioError(problems, source=source)
    return result


def remove_paths(raw: Mapping[str, Any], paths: Iterable[str], *, source: str = "",
                 prefix: str = "unset") -> dict[str, Any]:
    """A deep copy of ``raw`` without each dotted ``path`` (a field or a whole table).

    A path that names nothing is a problem (a typo must not silently keep a layer in).
    """
    result: dict[str, Any] = copy.deepcopy(dict(raw))
    problems: list[Problem] = []
    for path in paths:
        parts = path.split(".")
        node: Any = result
        for depth, part in enumerate(parts):
            where = ".".join(parts[: depth + 1])
            if not isinstance(node, dict) or part not in node:
                problems.append(Problem(f"{prefix} {path}", f"{where}: no such field to remove"))
                break
            if depth == len(parts) - 1:
                del node[part]
            else:
                node = node[part]
    if problems:
        raise ScenarioError(problems, source=source)
    return result


# -- validation ---------------------------------------------------------------------------


def _annotation_at(model: type[BaseModel] | None, loc: Sequence[int | str]) -> Any:
    """The declared type of the field at ``loc`` in ``model`` (``None`` when it is not declared)."""
    annotation: Any = model
    for part in loc:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(str(part))
            if info is None:
                return None
            annotation = info.annotation
        elif getattr(annotation, "__origin__", None) in (dict, list):
            annotation = annotation.__args__[-1]  # a key or an index: step into the values
        else:
            return None
    return annotation


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest known name, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_field(model: type[BaseModel] | None, loc: Sequence[int | str]) -> str:
    parent = _annotation_at(model, loc[:-1])
    if isinstance(parent, type) and issubclass(parent, BaseModel):
        return "unknown field" + did_you_mean(str(loc[-1]), parent.model_fields)
    return "unknown field"


def _is_integer_field(model: type[BaseModel] | None, loc: Sequence[int | str]) -> bool:
    """Whether the field at ``loc`` in ``model`` is declared as an integer."""
    annotation = _annotation_at(model, loc)
    if annotation is None:
        return False
    candidates = getattr(annotation, "__args__", None) or (annotation,)
    return any(c is int for c in candidates) and not any(c is float for c in candidates)


def _describe(error: Mapping[str, Any], model: type[BaseModel] | None) -> str:
    """A pydantic error as 'expected X, got Y'."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return _unknown_field(model, error["loc"])
    if kind in ("greater_than", "greater_than_equal") and isinstance(value, int | float):
        bound = ctx.get("gt", ctx.get("ge"))
        noun = "integer" if _is_integer_field(model, error["loc"]) else "number"
        if bound == 0:
            what = f"a {'positive' if kind == 'greater_than' else 'non-negative'} {noun}"
        else:
            what = f"a{'n' if noun == 'integer' else ''} {noun} " \
                   f"{'>' if kind == 'greater_than' else '>='} {bound}"
        return f"expected {what}, got {value!r}"
    message = str(error["msg"])
    for lead in ("Input should be ", "Value error, "):
        if message.startswith(lead):
            message = "expected " + message[len(lead):]
    if "input" in error and not isinstance(value, dict):
        return f"{message}, got {value!r}"
    return message


def pydantic_problems(exc: ValidationError, prefix: str = "",
                      model: type[BaseModel] | None = None) -> list[Problem]:
    """One :class:`Problem` per pydantic error, with dotted paths under ``prefix``."""
    problems = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        path = ".".join(p for p in (prefix, loc) if p)
        problems.append(Problem(path, _describe(error, model)))
    return problems


def _guardrail_problems(live: Mapping[str, Any], measures: set[str]) -> list[Problem]:
    """What is wrong with the guardrails a simulated trial rehearses (``[live]``'s other fields are
    ``flagship serve``'s to validate)."""
    try:
        tables = GuardrailTables.model_validate(live)
    except ValidationError as exc:
        return pydantic_problems(exc, "live", GuardrailTables)
    return guardrail_problems(tables.guardrails, measures)


def resolve(raw: Mapping[str, Any], *, source: str = "", source_sha256: str = "",
            overrides: tuple[str, ...] = (), arm: str | None = None) -> ResolvedScenario:
    """Validate a raw scenario mapping completely (structure, configs, params, arms).

    ``arm`` names the arm this scenario already is (its overrides applied); it is
    recorded in ``data["arm"]``, which :func:`resolve` reads back from a manifest.
    """
    raw = dict(raw)
    arm = raw.pop("arm", None) if arm is None else arm
    raw.pop("arm", None)
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(pydantic_problems(exc, model=Scenario), source=source) from None
    problems: list[Problem] = []
    configs: dict[str, BaseModel] = {}
    measures: set[str] = set()  # area.name and scope.name of every declared measure
    for name, config in scenario.mechanisms.items():
        try:
            cls = mechanism(name)
        except UnknownNameError as exc:
            problems.append(Problem(f"mechanisms.{name}", exc.problems[0].message))
            continue
        measures.update(n for m in cls.measures for n in (f"{name}.{m.name}", m.qualified))
        try:
            configs[name] = cls.Config.model_validate(config)
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc, f"mechanisms.{name}", cls.Config))
    params: dict[str, BaseModel] = {}
    for name, spec in scenario.populations.items():
        path = f"populations.{name}"
        if name in scenario.mechanisms:
            problems.append(Problem(path, "a population cannot share its name with a mechanism"))
        try:
            pcls = population(spec.model)
        except UnknownNameError as exc:
            problems.append(Problem(f"{path}.model", exc.problems[0].message))
            continue
        measures.update(n for m in pcls.measures for n in (f"{name}.{m.name}", m.qualified))
        try:
            params[name] = pcls.Params.model_validate(spec.params)
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc, f"{path}.params", pcls.Params))
        if spec.mechanism is not None and spec.mechanism not in scenario.mechanisms:
            problems.append(Problem(f"{path}.mechanism",
                                    f"expected one of the scenario's mechanisms "
                                    f"({', '.join(scenario.mechanisms)}), got {spec.mechanism!r}"))
        if spec.mechanism is None and spec.count and len(scenario.mechanisms) > 1:
            problems.append(Problem(f"{path}.mechanism",
                                    "required when the scenario has several mechanisms"))
        if spec.arrival.process == "poisson" and spec.arrival.rate is None:
            problems.append(Problem(f"{path}.arrival.rate", "required for poisson arrivals"))
        if spec.arrival.process == "periodic" and spec.arrival.interval is None:
            problems.append(Problem(f"{path}.arrival.interval", "required for periodic arrivals"))
    for index, shock in enumerate(scenario.shocks):
        if shock.at > scenario.duration:
            problems.append(Problem(f"shocks.{index}.at",
                                    f"expected a time within the duration ({scenario.duration}), "
                                    f"got {shock.at!r}"))
    staged, staged_measures = cohort_problems(
        scenario.live, configs, {name: mechanism(name) for name in configs},
        {*scenario.mechanisms, *scenario.populations}, pydantic_problems)
    problems.extend(staged)
    measures.update(staged_measures)
    problems.extend(_guardrail_problems(scenario.live, measures))
    if problems:
        raise ScenarioError(problems, source=source)
    for path, values in scenario.grid.items():
        if not values:
            problems.append(Problem(f"grid.{path}", "expected at least one value"))
    if problems:
        raise ScenarioError(problems, source=source)
    data = scenario.model_dump(mode="json")
    if not scenario.grid:
        del data["grid"]  # a scenario without cells resolves (and hashes) as it always has
    data["arm"] = arm
    data["mechanisms"] = {n: c.model_dump(mode="json") for n, c in configs.items()}
    for name, p in params.items():
        data["populations"][name]["params"] = p.model_dump(mode="json")
        if data["populations"][name]["mechanism"] is None and len(configs) == 1:
            data["populations"][name]["mechanism"] = next(iter(configs))
    resolved = ResolvedScenario(scenario, configs, params, data, source, source_sha256, overrides,
                                arm, dict(raw))
    arm_problems: list[Problem] = []
    for arm_name in scenario.arms:
        try:
            resolved.with_arm(arm_name)
        except ScenarioError as exc:
            arm_problems.extend(
                Problem(f"arms.{arm_name}: {p.path}" if p.path else f"arms.{arm_name}", p.message)
                for p in exc.problems)
    if arm_problems:
        raise ScenarioError(arm_problems, source=source)
    return resolved
