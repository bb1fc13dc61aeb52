"""One survey's state: the decision it is about, whom it asks (by group), its window, who has answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Survey"]


@dataclass
class Survey:
    """One survey: the decision it is about, who it asks (by group), its window, who has answered."""

    survey_id: str
    subject: str
    kind: str
    opened: float
    closes: float
    groups: dict[str, str]
    voice: tuple[str, ...]
    procedural: bool
    responded: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {"survey_id": self.survey_id, "subject": self.subject, "kind": self.kind,
                "opened": self.opened, "closes": self.closes, "groups": dict(sorted(self.groups.items())),
                "voice": list(self.voice), "procedural": self.procedural,
                "responded": sorted(self.responded)}
