"""The conformance kit catches each kind of contract violation, with a witness."""

from __future__ import annotations

import random
from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from flagship.mechanisms import (
    Action,
    Area,
    CommonReason,
    ConformanceError,
    Measure,
    Mechanism,
    NoConfig,
    Outcome,
)
from flagship.mechanisms.testing import check_conformance


def script(n: int = 40) -> list[Action]:
    return [Action(float(i), f"a{i % 3}", "add" if i % 4 else "bad", {"x": i}) for i in range(n)]


class Counter(Mechanism[NoConfig]):
    """A well-behaved mechanism: adds x to a total; rejects other kinds."""

    name = "counter_test"
    measures = (Measure("total", Area.UX, "count", True, "sum of accepted x"),)

    def __init__(self, config: NoConfig, ctx: Any) -> None:
        super().__init__(config, ctx)
        self.total = 0

    def handle(self, action: Action) -> Outcome:
        if action.kind != "add":
            return Outcome.reject(CommonReason.UNKNOWN_KIND)
        self.total += int(action.payload["x"])
        return Outcome.accept({"total": self.total})

    def finish(self) -> None:
        self.ctx.recorder.measure("total", self.total)

    def snapshot(self) -> dict[str, int]:
        return {"total": self.total}


def test_a_good_mechanism_passes_with_counts() -> None:
    report = check_conformance(Counter, NoConfig(), script())
    assert (report.n_accepted, report.n_rejected) == (30, 10)
    assert report.reasons_seen == {"UNKNOWN_KIND"}
    assert report.measures == {"counter_test.total": float(sum(i for i in range(40) if i % 4))}


def test_the_plugin_and_scripts_from_an_rng_pass() -> None:
    def shoppers(rng: Any) -> list[Action]:
        return [Action(float(t), "s", "buy", {"offer": int(rng.integers(50, 150))})
                for t in range(200)]

    report = check_conformance("posted_price", {"price": 100, "stock": 30}, shoppers, seed=3)
    assert report.reasons_seen == {"BELOW_PRICE", "SOLD_OUT"}


class GlobalRandom(Counter):
    name = "global_random_test"

    def handle(self, action: Action) -> Outcome:
        if action.kind == "add":
            self.total += random.randint(0, 9)  # global state: not reproducible
            return Outcome.accept({"total": self.total})
        return Outcome.reject(CommonReason.UNKNOWN_KIND)


class NoReason(Counter):
    name = "no_reason_test"

    def handle(self, action: Action) -> Outcome:
        if action.kind != "add":
            return Outcome(False, None)
        return super().handle(action)


class ForeignReason(Counter):
    name = "foreign_reason_test"

    class Other(StrEnum):
        NOPE = "NOPE"

    def handle(self, action: Action) -> Outcome:
        if action.kind != "add":
            return Outcome.reject(self.Other.NOPE)
        return super().handle(action)


class MutatesOnReject(Counter):
    name = "mutates_test"

    def handle(self, action: Action) -> Outcome:
        if action.kind != "add":
            self.total -= 1
            return Outcome.reject(CommonReason.UNKNOWN_KIND)
        return super().handle(action)


class ForgetsMeasure(Counter):
    name = "forgets_test"

    def finish(self) -> None:
        pass


class UndeclaredMeasure(Counter):
    name = "undeclared_test"

    def finish(self) -> None:
        super().finish()
        self.ctx.recorder.measure("bonus", 1.0)


class Unserialisable(Counter):
    name = "unserialisable_test"

    def snapshot(self) -> Any:
        return {"total": object()}


@pytest.mark.parametrize(("cls", "check"), [
    (GlobalRandom, "determinism"),
    (NoReason, "reasons"),
    (ForeignReason, "reasons"),
    (MutatesOnReject, "no_mutation_on_reject"),
    (ForgetsMeasure, "measures"),
    (UndeclaredMeasure, "measures"),
    (Unserialisable, "snapshot"),
])
def test_each_violation_is_caught(cls: type[Counter], check: str) -> None:
    with pytest.raises(ConformanceError) as info:
        check_conformance(cls, NoConfig(), script())
    assert info.value.check == check


def test_mutation_witness_names_the_action() -> None:
    with pytest.raises(ConformanceError) as info:
        check_conformance(MutatesOnReject, NoConfig(), script())
    witness = info.value.witness
    assert isinstance(witness, dict) and witness["action"].kind == "bad"
    assert witness["before"] != witness["after"]


def test_a_script_without_rejections_is_refused() -> None:
    only_adds = [a for a in script() if a.kind == "add"]
    with pytest.raises(ConformanceError) as info:
        check_conformance(Counter, NoConfig(), only_adds)
    assert info.value.check == "coverage"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: int = 1


def test_dict_configs_are_validated_by_the_mechanism_model() -> None:
    class Stepper(Counter):
        name = "stepper_test"
        Config = Strict

    check_conformance(Stepper, {"step": 2}, script())
    with pytest.raises(Exception, match="step"):
        check_conformance(Stepper, {"step": "x"}, script())
