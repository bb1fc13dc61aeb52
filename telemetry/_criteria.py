"""Criteria files: what a pilot must show, as TOML, validated (``extra="forbid"``) before anything runs.

A criteria file lists criteria on measures, each named ``area.name``
(``ux.sell_through``; unique across the sweep's mechanisms and populations) or
``scope.name`` (``posted_price.sell_through``)::

    title = "Posted-price pilot: ready?"
    confidence = 0.95         # family-wise confidence (default 0.95): alpha = 1 - confidence
    resamples = 2000          # bootstrap resamples, when a BCa interval is used (default 2000)
    seed = 0                  # bootstrap seed (default 0)

    [[criteria]]              # a threshold on a measure's mean
    measure = "ux.sell_through"
    op = ">="                 # >=, <=, > or <
    threshold = 0.6
    arm = "discount"          # optional: judge this arm only (default: every arm must pass)
    cells = "every"           # every (default): each cell must pass; pooled: all cells together
    description = "most of the stock sells"
    contrast = { arm = "list_price" }   # optional: where this criterion should fail (the audit)

    [[criteria]]              # a required effect of treatment over control (paired by cell, seed)
    measure = "legitimacy.buyer_surplus_per_sale"
    effect = { treatment = "discount", control = "list_price", min = 5.0 }
    contrast = { set = { "mechanisms.posted_price.price" = 100 } }

An effect is the paired improvement of treatment over control in the measure's
declared better direction (treatment - control when higher is better, control -
treatment when lower is better); it must be at least ``min`` (a negative ``min``
states a non-inferiority margin).

A *contrast* names where the criterion should fail, so the audit
(:mod:`flagship.telemetry._audit`) can show that it is able to: exactly one of
``arm`` (an arm already in the sweep: a threshold criterion is judged on that arm; an
effect criterion takes it as its treatment) or ``set`` (dotted scenario paths and
values, run as one extra sweep cell through the sweep machinery, where the criterion is
judged as written).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flagship.mechanisms._errors import InputError, Problem
from flagship.telemetry._bootstrap import Op

__all__ = ["Contrast", "CriteriaFile", "Criterion", "Effect", "criteria_sha256", "load_criteria",
           "parse_criteria", "read_criteria_text"]

# -- the criteria file --------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Effect(_Strict):
    """``effect = {treatment, control, min}``: treatment must improve on control by at least min."""

    treatment: str = Field(min_length=1)
    control: str = Field(min_length=1)
    min: float = Field(default=0.0, allow_inf_nan=False,
                       description="minimum improvement in the measure's better direction")

    @model_validator(mode="after")
    def _different_arms(self) -> Effect:
        if self.treatment == self.control:
            raise ValueError("treatment and control must be different arms")
        return self


class Contrast(_Strict):
    """``contrast = { arm = "..." }`` or ``{ set = { "dotted.path" = value } }``: where it should fail."""

    arm: str | None = Field(default=None, min_length=1)
    set: dict[str, Any] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> Contrast:
        if (self.arm is None) == (self.set is None):
            raise ValueError("give exactly one of arm or set")
        return self

    def describe(self) -> str:
        if self.arm is not None:
            return f"arm {self.arm}"
        return "set " + ", ".join(f"{path}={value!r}" for path, value in (self.set or {}).items())


class Criterion(_Strict):
    """One ``[[criteria]]`` entry: a threshold on a measure, or a required effect."""

    measure: str = Field(min_length=3, description="area.name or scope.name")
    name: str = ""
    description: str = ""
    op: Op | None = None
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    arm: str | None = None
    effect: Effect | None = None
    cells: Literal["every", "pooled"] = "every"
    contrast: Contrast | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Criterion:
        if self.effect is not None:
            if self.op is not None or self.threshold is not None:
                raise ValueError("give either op and threshold, or effect, not both")
            if self.arm is not None:
                raise ValueError("arm does not apply to an effect (it names treatment and control)")
        elif self.op is None or self.threshold is None:
            raise ValueError("give op and threshold (a threshold criterion) or effect")
        return self


class CriteriaFile(_Strict):
    """A criteria file: title, interval settings and the criteria."""

    title: str = "Flagship scorecard"
    description: str = ""
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    resamples: int = Field(default=2000, ge=100, le=100_000)
    seed: int = Field(default=0, ge=0)
    correction: Literal["none", "holm", "bh"] = Field(
        default="holm", description="multiplicity correction across the criteria's judged parts")
    criteria: list[Criterion] = Field(min_length=1)


def _problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required field is missing"
        elif "input" in error and not isinstance(error["input"], dict):
            message = f"{message}, got {error['input']!r}"
        problems.append(Problem(path, message))
    return problems


def parse_criteria(data: Mapping[str, Any], *, source: str = "") -> CriteriaFile:
    """Validate criteria data; every problem names ``source`` and the field path."""
    try:
        return CriteriaFile.model_validate(dict(data))
    except ValidationError as exc:
        raise InputError(_problems(exc), source=source) from None


def load_criteria(path: str | Path) -> CriteriaFile:
    """Read and validate a criteria TOML file."""
    source = str(path)
    text = read_criteria_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError([Problem("", f"invalid TOML: {exc}")], source=source) from None
    return parse_criteria(data, source=source)


def read_criteria_text(path: str | Path) -> str:
    """A criteria file's text (``InputError`` naming the file when it cannot be read)."""
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError([Problem("", "no such file")], source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem("", f"cannot read: {exc}")], source=source) from None


def criteria_sha256(text: str) -> str:
    """The SHA-256 of a criteria file's text (UTF-8): what a preregistration locks."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
