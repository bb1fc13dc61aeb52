"""A mechanism that fails on purpose, for testing failure isolation across replications."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flagship.mechanisms import Action, Mechanism, Outcome, register


class FaultyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failure_probability: float = Field(default=0.5, ge=0, le=1,
                                       description="chance that a run raises at its end")


@register
class Faulty(Mechanism[FaultyConfig]):
    """Accepts everything; at the end of a run raises with the configured probability."""

    name = "faulty"
    Config = FaultyConfig

    def handle(self, action: Action) -> Outcome:
        return Outcome.accept()

    def finish(self) -> None:
        if self.ctx.rng.random() < self.config.failure_probability:
            raise RuntimeError("faulty mechanism failed on purpose")

    def snapshot(self) -> dict[str, Any]:
        return {}
