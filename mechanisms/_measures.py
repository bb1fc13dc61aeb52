"""Measure declarations: what a mechanism promises to report for every run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from flagship.mechanisms._errors import ContractError

__all__ = ["Area", "Measure"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Area(StrEnum):
    """The three questions a pilot must answer about an institution."""

    LEGITIMACY = "legitimacy"
    UX = "ux"
    ROBUSTNESS = "robustness"


@dataclass(frozen=True, slots=True)
class Measure:
    """A headline number a mechanism (or population) reports once per run.

    ``unit`` follows Prometheus base units where one applies (``seconds``,
    ``ratio``, ``bytes``), else a plain noun (``lots``, ``ticks``, ``count``).
    ``higher_is_better`` tells scorecards and reports which way is good.
    """

    name: str
    area: Area
    unit: str
    higher_is_better: bool
    definition: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ContractError(f"measure name {self.name!r}: expected snake_case [a-z][a-z0-9_]*")
        if not isinstance(self.area, Area):
            object.__setattr__(self, "area", Area(self.area))
        if not self.definition.strip():
            raise ContractError(f"measure {self.name!r}: a one-line definition is required")

    @property
    def qualified(self) -> str:
        """``area.name``, the key criteria files and reports use."""
        return f"{self.area.value}.{self.name}"
