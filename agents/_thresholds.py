"""The gate's thresholds in force: the declared ones plus every binding regulator raise.

Lifecycle: a ``DecisionTaken`` whose measure is one of ``threshold_measures`` raises the
exam and credential thresholds (and may put every admitted agent back on probation) until
its ``DecisionLapsed``. Raises add up; a threshold stays within [0, 1].
"""

from __future__ import annotations

from typing import Any

from flagship.agents._checks import finite_or_none
from flagship.agents._config import GateConfig
from flagship.mechanisms import ContractError, Recorder
from flagship.mechanisms.events import DecisionLapsed, DecisionTaken

__all__ = ["Thresholds"]


class Thresholds:
    """The exam and credential thresholds, moved by the regulator's binding decisions."""

    __slots__ = ("_config", "_in_force", "_recorder")

    def __init__(self, config: GateConfig, recorder: Recorder) -> None:
        self._config = config
        self._recorder = recorder
        # decision id -> (exam delta, credential delta, every admitted agent back on probation?)
        self._in_force: dict[str, tuple[float, float, bool]] = {}

    def exam(self) -> float:
        """The exam threshold in force."""
        raise_by = sum(exam for exam, _, _ in self._in_force.values())
        return min(1.0, max(0.0, self._config.exam_threshold + raise_by))

    def credential(self) -> float:
        """The credential threshold in force."""
        raise_by = sum(credential for _, credential, _ in self._in_force.values())
        return min(1.0, max(0.0, self._config.credential_threshold + raise_by))

    def probation_for_all(self) -> bool:
        """Whether a binding decision puts every admitted agent back on probation now."""
        return any(probation for _, _, probation in self._in_force.values())

    def snapshot(self) -> dict[str, Any]:
        return {decision: list(deltas) for decision, deltas in self._in_force.items()}

    def on_decision(self, event: DecisionTaken) -> None:
        """A regulator decision: a raise if its measure is one the gate obeys."""
        config = self._config
        if event.measure not in config.threshold_measures:
            return
        params = event.params
        exam = params.get("exam_threshold_delta")
        credential = params.get("credential_threshold_delta", 0.0)
        if exam is None and "credential_threshold_delta" not in params:
            exam = config.default_exam_threshold_delta
        exam_delta = finite_or_none(0.0 if exam is None else exam)
        credential_delta = finite_or_none(credential)
        if exam_delta is None or credential_delta is None:
            raise ContractError(f"{event.source}: {event.measure} params: threshold deltas must be "
                                f"finite numbers, got {dict(params)!r}")
        probation = params.get("probation", False)
        if not isinstance(probation, bool):
            raise ContractError(f"{event.source}: {event.measure} params: probation must be true or "
                                f"false, got {probation!r}")
        self._in_force[event.decision_id] = (exam_delta, credential_delta, probation)
        self._recorder.gauge("exam_threshold", self.exam())

    def on_lapsed(self, event: DecisionLapsed) -> None:
        """A decision lapsed: its raise, if any, ends."""
        if self._in_force.pop(event.decision_id, None) is not None:
            self._recorder.gauge("exam_threshold", self.exam())
