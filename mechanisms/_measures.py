"""Measure declarations: what a mechanism promises to report for every run."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from flagship.mechanisms._errors import ContractError

__all__ = [
    "NON_NEGATIVE",
    "SHARE",
    "SIGNED_SHARE",
    "UNIT_RANGES",
    "Area",
    "Measure",
    "difference_range",
    "unit_range",
]

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


SHARE: tuple[float, float] = (0.0, 1.0)
"""``bounds`` of a share, a rate or a fraction of a whole: never below 0, never above 1."""

SIGNED_SHARE: tuple[float, float] = (-1.0, 1.0)
"""``bounds`` of a signed share, such as a gap between two rates."""

NON_NEGATIVE: tuple[float, float] = (0.0, math.inf)
"""``bounds`` of a quantity that cannot fall below 0 but has no ceiling (a volatility, a ratio of sizes)."""


def unit_range(unit: str, *, difference: bool = False) -> tuple[float, float]:
    """The range of a measure in ``unit`` (of a difference of two such measures when asked)."""
    bounds = UNIT_RANGES.get(unit, (-math.inf, math.inf))
    return difference_range(bounds) if difference else bounds


def difference_range(bounds: tuple[float, float]) -> tuple[float, float]:
    """The values a difference of two values within ``bounds`` can take."""
    low, high = bounds
    return low - high, high - low


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
    ``bounds`` narrows the range further for one measure (:data:`SHARE` for a rate or a
    fraction, :data:`SIGNED_SHARE`, :data:`NON_NEGATIVE`): the recorder refuses a value
    outside it, and intervals, bands and differences are clipped to it, because the true
    mean lies inside and an interval claiming a negative share misleads a reader.
    """

    name: str
    area: Area
    unit: str
    higher_is_better: bool
    definition: str
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ContractError(f"measure name {self.name!r}: expected snake_case [a-z][a-z0-9_]*")
        if not isinstance(self.area, Area):
            object.__setattr__(self, "area", Area(self.area))
        if not self.definition.strip():
            raise ContractError(f"measure {self.name!r}: a one-line definition is required")
        if self.bounds is not None:
            low, high = (float(b) for b in self.bounds)
            unit_low, unit_high = unit_range(self.unit)
            if math.isnan(low) or math.isnan(high) or not low < high:
                raise ContractError(f"measure {self.name!r}: bounds {self.bounds!r}: expected (low, high) "
                                    "with low < high")
            if low < unit_low or high > unit_high:
                raise ContractError(f"measure {self.name!r}: bounds {self.bounds!r} leave the range "
                                    f"[{unit_low:g}, {unit_high:g}] of its unit {self.unit!r}")
            object.__setattr__(self, "bounds", (low, high))

    def value_range(self) -> tuple[float, float]:
        """The values this measure can take: its ``bounds``, else its unit's range."""
        return self.bounds if self.bounds is not None else unit_range(self.unit)

    def difference_range(self) -> tuple[float, float]:
        """The values a difference of two runs' values of this measure can take."""
        return difference_range(self.value_range())

    @property
    def qualified(self) -> str:
        """``area.name``, the key criteria files and reports use."""
        return f"{self.area.value}.{self.name}"
