"""The trial's operator state machine: running, paused, closed, and live parameter changes.

Pure: no I/O, no clock. A :class:`~flagship.sandbox.Host` owns one :class:`TrialControl` and
routes actions addressed to the reserved mechanism name :data:`OPERATOR` to
:meth:`TrialControl.handle`, exactly as it routes any action to a mechanism; its outcome is
logged like any other. Because operator actions are entries of the action log, a replay of
the log applies them at the same place and reaches the same state (and the same refusals).

Lifecycle: built with the host's mechanisms -> :meth:`TrialControl.refusal` is asked before
each action to a mechanism (``None``: go ahead) -> :meth:`TrialControl.handle` applies each
operator action (``pause``, ``resume``, ``close``, ``set``) -> :meth:`TrialControl.snapshot`
joins the host's state (only once an operator has acted, so older trials keep their hashes).

A mechanism declares which of its action kinds are still taken while the trial is paused
(``kinds_while_paused``, e.g. cancels) and which configuration fields an operator may change
while it runs (``live_parameters``); the core has no special case for any mechanism.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from flagship.mechanisms import Action, CommonReason, Mechanism, Outcome

__all__ = ["OPERATOR", "OPERATOR_KINDS", "OperatorReason", "TrialControl", "origin_of"]

OPERATOR = "operator"
"""The reserved mechanism name operator actions are addressed to (and their log entries' origin)."""

OPERATOR_KINDS = ("pause", "resume", "close", "set", "widen", "rollback")
"""What an operator may do (``widen`` and ``rollback`` act on staged cohorts,
:mod:`flagship.sandbox._cohorts`, and are refused with ``NO_COHORTS`` without them)."""


class OperatorReason(StrEnum):
    """Why an action was refused because of the trial's operator state, or an operator action failed."""

    TRIAL_PAUSED = "TRIAL_PAUSED"
    """The trial is paused by an operator (or a guardrail); this kind of action waits for resume."""
    TRIAL_CLOSED = "TRIAL_CLOSED"
    """An operator closed the trial: no action is taken any more."""
    ALREADY_PAUSED = "ALREADY_PAUSED"
    """Pause while paused."""
    NOT_PAUSED = "NOT_PAUSED"
    """Resume while running."""
    NOT_LIVE_PARAMETER = "NOT_LIVE_PARAMETER"
    """``set`` named a mechanism or field the mechanism does not declare live-changeable."""
    INVALID_VALUE = "INVALID_VALUE"
    """``set`` gave a value the mechanism's configuration does not validate."""
    NO_COHORTS = "NO_COHORTS"
    """``widen`` or ``rollback`` in a trial that stages no cohorts."""


def origin_of(mechanism: str, external: bool) -> str:
    """The ``origin`` column of a log entry: ``operator``, ``http`` (a client) or ``sim``."""
    if mechanism == OPERATOR:
        return OPERATOR
    return "http" if external else "sim"


class TrialControl:
    """Running, paused or closed; and the parameters operators changed (see the module docstring)."""

    def __init__(self, mechanisms: Mapping[str, Mechanism[Any]]) -> None:
        self._mechanisms = mechanisms
        self.status = "running"
        self.changed: dict[str, dict[str, Any]] = {}
        self.acted = False
        """Whether any operator action was taken (the state hash includes this state from then on)."""
        self.staged: Callable[[Action], Outcome] | None = None
        """Applies ``widen`` and ``rollback`` to the staged cohorts (set by ``Host.stage``)."""

    def refusal(self, mechanism: Mechanism[Any], kind: str) -> Outcome | None:
        """The refusal of an action of ``kind`` to ``mechanism`` in this state, or ``None``."""
        if self.status == "running":
            return None
        if self.status == "closed":
            return Outcome.reject(OperatorReason.TRIAL_CLOSED, "the trial was closed by an operator")
        if kind in type(mechanism).kinds_while_paused:
            return None
        return Outcome.reject(OperatorReason.TRIAL_PAUSED, "the trial is paused by an operator")

    def handle(self, action: Action) -> Outcome:
        """Apply one operator action; a refusal changes nothing."""
        kind = action.kind
        if kind not in OPERATOR_KINDS:
            return Outcome.reject(CommonReason.UNKNOWN_KIND, f"operator actions: {', '.join(OPERATOR_KINDS)}")
        if self.status == "closed":
            return Outcome.reject(OperatorReason.TRIAL_CLOSED, "the trial was closed by an operator")
        if kind == "pause":
            if self.status == "paused":
                return Outcome.reject(OperatorReason.ALREADY_PAUSED, "the trial is already paused")
            self.status = "paused"
        elif kind == "resume":
            if self.status != "paused":
                return Outcome.reject(OperatorReason.NOT_PAUSED, "the trial is not paused")
            self.status = "running"
        elif kind == "close":
            self.status = "closed"
        elif kind in ("widen", "rollback"):
            if self.staged is None:
                return Outcome.reject(OperatorReason.NO_COHORTS, "this trial stages no cohorts")
            outcome = self.staged(action)
            if not outcome.accepted:
                return outcome
            self.acted = True
            return Outcome.accept({**outcome.effects, "status": self.status})
        else:
            refused = self._set(action.payload)
            if refused is not None:
                return refused
        self.acted = True
        return Outcome.accept({"status": self.status})

    def _set(self, payload: Mapping[str, Any]) -> Outcome | None:
        name, field, value = payload.get("mechanism"), payload.get("parameter"), payload.get("value")
        if not isinstance(name, str) or not isinstance(field, str) or "value" not in payload:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD,
                                  "set needs mechanism (a name), parameter (a name) and value")
        mechanism = self._mechanisms.get(name)
        if mechanism is None or field not in type(mechanism).live_parameters:
            declared = sorted(type(mechanism).live_parameters) if mechanism is not None else []
            return Outcome.reject(OperatorReason.NOT_LIVE_PARAMETER,
                                  f"{name}.{field} is not live-changeable (declared: "
                                  f"{', '.join(declared) or 'none'})")
        config = mechanism.config
        try:
            updated = type(config).model_validate({**config.model_dump(), field: value})
        except ValidationError as exc:
            return Outcome.reject(OperatorReason.INVALID_VALUE, exc.errors()[0]["msg"])
        mechanism.config = updated
        self.changed.setdefault(name, {})[field] = value
        return None

    def snapshot(self) -> dict[str, Any]:
        """The operator state, as JSON-able data (sorted, so equal states hash equal)."""
        return {"status": self.status,
                "changed": {name: dict(sorted(fields.items()))
                            for name, fields in sorted(self.changed.items())}}
