"""One simulated agent: its keys and latent type (private to its population), and its beliefs.

Its status is what its population believes from the outcomes of its own actions and the
gate's events, one of the string constants here (not the gate's ``AgentStatus``: a
population never reads the gate's state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flagship.agents._identity import AgentIdentity
from flagship.mechanisms import SHARE, Area, Measure

__all__ = ["ADMITTED", "EXAMINING", "GAVE_UP", "LAPSED", "NEW", "REFUSED", "REVOKED", "SUSPENDED",
           "SimulatedAgent", "false_admission_measure"]

# Agent states, as the population believes them (from outcomes and events).
NEW, EXAMINING, REFUSED, ADMITTED = "new", "examining", "refused", "admitted"
SUSPENDED, REVOKED, LAPSED, GAVE_UP = "suspended", "revoked", "lapsed", "gave_up"


@dataclass(slots=True)
class SimulatedAgent:
    """One simulated agent: its keys and latent type (private), and what it believes of its status."""

    index: int
    identity: AgentIdentity
    vendor: str
    evaluator: str
    competence: float
    honesty: float
    operator: int = 0
    mode: str = ""
    victim: AgentIdentity | None = None
    status: str = NEW
    applications: int = 0
    exam: Mapping[str, Any] | None = None
    admitted_until: float | None = None
    appealed: bool = False
    issued: int = 0
    orders: int = 0
    open_orders: list[str] = field(default_factory=list)
    # ground-truth bookkeeping for measures
    first_apply: float | None = None
    first_admission: float | None = None
    steps: int = 0
    ever_admitted: bool = False
    sanctioned: bool = False
    revoked_for_strikes: bool = False

    @property
    def actor(self) -> str:
        """The id it acts under: its own, or its victim's when it impersonates one."""
        if self.mode == "identity_and_credential" and self.victim is not None:
            return self.victim.agent_id
        return self.identity.agent_id


def false_admission_measure() -> Measure:
    return Measure("false_admission_rate", Area.ROBUSTNESS, "ratio", False,
                   "share of this population's applicants admitted at least once (none should be)",
                   bounds=SHARE)

