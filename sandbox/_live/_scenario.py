"""What a live trial serves: the scenario's ``[live]`` table, and the trial (resumed or new) with its key.

Lifecycle: ``flagship serve`` calls :func:`load_live_scenario` (the sandbox scenario plus
``[live]``, validated together, ``keep_actions`` forced on), then :func:`open_trial`, which
resumes the newest running trial of the same scenario (or the one named) or creates one
with a fresh Ed25519 checkpoint key written beside the database before the trial row.
:func:`shadow_scenario` derives the counterfactual arm the measures compare against.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError

from flagship.mechanisms import InputError, Problem, ScenarioError, StoreError, sha256_hex
from flagship.sandbox._cohorts import CohortSpec, cohort_scopes, treatment_config
from flagship.sandbox._guardrail import Guardrail, RehearsalSpec, guardrail_problems
from flagship.sandbox._live._limits import Limits
from flagship.sandbox._scenario import (
    ResolvedScenario,
    apply_overrides,
    parse_override,
    pydantic_problems,
    read_scenario_file,
    resolve,
)
from flagship.telemetry._chain_format import CURRENT_CHAIN_FORMAT
from flagship.telemetry._trial_log import CheckpointKey, Trial, TrialLog, key_path

__all__ = ["LiveScenario", "LiveSpec", "default_key_dir", "load_live_scenario", "open_trial",
           "shadow_scenario"]


class LiveSpec(BaseModel):
    """``[live]`` in a scenario file: how a live trial of it is served.

    ``authenticators`` names entry points of the group ``flagship.authenticators``,
    tried in order; ``auth.<name>`` is the options table handed to that one's
    factory. ``time_factor`` is the default for new trials (``--time-factor`` wins).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    authenticators: list[str] = Field(default_factory=list, description="authenticator entry points")
    auth: dict[str, dict[str, Any]] = Field(default_factory=dict, description="options per authenticator")
    time_factor: PositiveFloat | None = Field(default=None, description="sim seconds per wall second")
    limits: Limits = Field(default_factory=Limits)
    guardrails: list[Guardrail] = Field(default_factory=list, description=(
        "conditions on the live measures; crossing one pauses the trial"))
    rehearsal: RehearsalSpec = Field(default_factory=RehearsalSpec, description=(
        "how `flagship run` rehearses the guardrails in simulated time (not read by serve)"))
    operators: dict[str, str] = Field(default_factory=dict, description=(
        "operator name -> base64url raw Ed25519 public key: who may sign /v1/operator actions"))
    cohorts: CohortSpec | None = Field(default=None, description=(
        "staged cohorts: a treatment configuration of one mechanism, its rule and rollout schedule"))


@dataclass(frozen=True)
class LiveScenario:
    """A scenario validated for serving: the sandbox scenario plus its ``[live]`` table."""

    resolved: ResolvedScenario
    spec: LiveSpec


def load_live_scenario(path: str | Path, overrides: Sequence[str] = (), *,
                       arm: str | None = None) -> LiveScenario:
    """Read a scenario file with an optional ``[live]`` table; validate both parts.

    Overrides may target ``live.*`` paths too. A live trial always keeps its action
    log (``keep_actions`` is forced on): the log is the trial.
    """
    source = str(path)
    raw, digest = read_scenario_file(path, overrides)
    live_raw = raw.pop("live", {})
    try:
        spec = LiveSpec.model_validate(live_raw)
    except ValidationError as exc:
        raise ScenarioError(pydantic_problems(exc, "live", LiveSpec), source=source) from None
    raw["keep_actions"] = True
    if "cohorts" in live_raw:  # the host stages them, so they belong to the scenario it resolves
        raw["live"] = {"cohorts": live_raw["cohorts"]}
    resolved = resolve(raw, source=source, source_sha256=digest, overrides=tuple(overrides))
    if arm is not None:
        resolved = resolved.with_arm(arm)
    unsafe = [Problem(f"mechanisms.{name}.{problem.path}".rstrip("."), problem.message)
              for name, config in resolved.mechanism_configs.items()
              for problem in resolved.mechanism_class(name).live_problems(config)]
    if spec.cohorts is not None:  # the treatment is served live too
        staged = spec.cohorts.mechanism
        treatment = treatment_config(spec.cohorts, resolved.mechanism_configs[staged])
        unsafe += [Problem(f"live.cohorts.treatment.{problem.path}".rstrip("."), problem.message)
                   for problem in resolved.mechanism_class(staged).live_problems(treatment)]
    if unsafe:
        raise ScenarioError(unsafe, source=source)
    unknown = _unknown_guardrail_measures(resolved, spec)
    if unknown:
        raise ScenarioError(unknown, source=source)
    return LiveScenario(resolved, spec)


def _unknown_guardrail_measures(resolved: ResolvedScenario, spec: LiveSpec) -> list[Problem]:
    """Guardrails naming no declared measure (one would never be judged), and names used twice."""
    declared = [*((scope, resolved.mechanism_class(scope).measures) for scope in resolved.mechanism_configs),
                *((scope, resolved.population_class(scope).measures) for scope in resolved.population_params),
                *cohort_scopes(resolved.scenario.live, resolved.mechanism_class)]
    names = {f"{prefix}.{m.name}" for scope, measures in declared for m in measures
             for prefix in (scope, m.area.value)}
    return guardrail_problems(spec.guardrails, names)


def shadow_scenario(trial: Trial, overrides: Sequence[str]) -> ResolvedScenario:
    """The trial's scenario with ``path=value`` overrides: a counterfactual arm."""
    data = trial.scenario["scenario"]
    parsed = [parse_override(o, source="--shadow") for o in overrides]
    raw = apply_overrides(data, parsed, source="--shadow", prefix="--shadow")
    return resolve(raw, source="--shadow", overrides=tuple(overrides))


def default_key_dir(url: str) -> Path:
    """Where checkpoint keys live by default: beside a SQLite file, else the working directory."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return Path(parsed.database).expanduser().resolve().parent
    return Path.cwd()


def open_trial(log: TrialLog, live: LiveScenario, *, key_dir: Path, trial_id: str | None = None,
               new: bool = False, time_factor: float | None = None,
               clock: Callable[[], float] = time.time) -> tuple[Trial, CheckpointKey, bool]:
    """Resume a trial (the given one, else the newest running one of this scenario) or start one.

    Returns (trial, its checkpoint key, resumed?). A new trial gets a fresh Ed25519
    key, written to ``key_dir`` before the trial row; the database keeps the public key.
    """
    data = live.resolved.data
    digest = sha256_hex(data)
    trial: Trial | None = None
    if trial_id is not None:
        trial = log.trial(trial_id)
        if trial.scenario_sha256 != digest:
            raise InputError([Problem("trial", f"trial {trial.id} ran another scenario (or other "
                                               "--set values); serve the same scenario to resume it")])
    elif not new:
        trial = log.find_resumable(digest)
    if trial is not None:
        if time_factor is not None and time_factor != trial.time_factor:
            raise InputError([Problem("--time-factor", f"trial {trial.id} runs at time factor "
                                                       f"{trial.time_factor}; use --new-trial to change it")])
        key = CheckpointKey.load(key_path(key_dir, trial.id))
        if key.public_hex != trial.public_key:
            raise StoreError(f"checkpoint key {key_path(key_dir, trial.id)} is not trial {trial.id}'s key")
        return trial, key, True
    factor = time_factor if time_factor is not None else (live.spec.time_factor or 1.0)
    if not (factor > 0 and math.isfinite(factor)):
        raise InputError([Problem("--time-factor", f"expected a positive number, got {factor!r}")])
    new_id = uuid.uuid4().hex
    key = CheckpointKey.generate()
    key_dir.mkdir(parents=True, exist_ok=True)
    key.save(key_path(key_dir, new_id))
    created = log.create_trial(
        trial_id=new_id, scenario={"scenario": data, "live": live.spec.model_dump(mode="json")},
        scenario_sha256=digest, epoch=clock(), time_factor=factor, seed=live.resolved.scenario.seed,
        public_key=key.public_hex, chain_format=CURRENT_CHAIN_FORMAT)
    return created, key, False
