"""The old home of the gate, kept so that imports of ``flagship.agents._gate`` keep working.

The gate is now split into parts (see :mod:`flagship.agents._mechanism`); this module only
re-exports the names it used to define. ``agents/_live_auth.py`` (owned by the live-auth
rework) still imports :class:`AgentGate` from here; new code imports from ``flagship.agents``.
"""

from flagship.agents._config import GateConfig, simulated_evaluator, simulated_evaluator_identity
from flagship.agents._examiner import EXAM_SIGNATURE_DOMAIN, exam_signing_input
from flagship.agents._mechanism import AgentGate
from flagship.agents._reasons import DecisionReason, GateReason
from flagship.agents._records import AgentStatus

__all__ = [
    "EXAM_SIGNATURE_DOMAIN",
    "AgentGate",
    "AgentStatus",
    "DecisionReason",
    "GateConfig",
    "GateReason",
    "exam_signing_input",
    "simulated_evaluator",
    "simulated_evaluator_identity",
]
