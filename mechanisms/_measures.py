"""Measure declarations: what a mechanism promises to report for every run."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from flagship.mechanisms._errors import ContractError

__all__ = ["UNIT_RANGES", "Area", "Measure", "unit_range"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

UNIT_RANGES: dict[str, tuple[float, float]] = {
    "count": (0.0, math.inf),
    "seconds": (0.0, math.inf),
    "lots": (0.0, math.inf),
}
"""The values a measure in these units can take (other units: any real number).

Counts, durations and lot quantities are never negative. The recorder refuses a value
outside its unit's range (a broken mechanism, not a result), and intervals are clipped to
it: the true mean lies in the range, so clipping never lowers coverage, and a band never
claims an impossible value. ``ratio`` is not bounded here: Cronbach's alpha, allocative
efficiency and a signed winning margin are ratios that can fall below 0, and a drawdown can
exceed 1.
"""


def unit_range(unit: str, *, difference: bool = False) -> tuple[float, float]:
    """The range of a measure in ``unit`` (of a difference of two such measures when asked)."""
    low, high = UNIT_RANGES.get(unit, (-math.inf, math.inf))
    if difference:
        return low - high, high - low
    return low, high


class Area(StrEnum):
    """The three questions a pilot must answer about an institution."""

    LEGITIMACY = "legitimacy"
    UX = "ux"
    ROBUSTNESS = "robustness"


@dataclass(frozen=True, slots=True)
class Measure:
    """A headline number a mechanism (or population) reports once per run.

    ``unit`` follows Prometheus base units where one applies (``seconds``,
    ``ratio``, ``bytes``), else a plain noun (``lots``, ``ticks``, ``count``); a unit in
    :data:`UNIT_RANGES` bounds the values (a count is never negative).
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
