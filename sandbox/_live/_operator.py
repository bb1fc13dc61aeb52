"""Operator routes: ``/v1/operator/…`` to pause, resume, close a live trial, set a live parameter or
roll staged cohorts back (:mod:`flagship.sandbox._cohorts`).

Each route checks the request's operator signature (:mod:`._operator_auth`; 401 unsigned,
403 signed by a key that is not an operator's), checks the body names this trial (409
``WRONG_TRIAL``), then hands the single writer an action addressed to the reserved mechanism
``operator`` (:mod:`flagship.sandbox._trial_control`): it is applied, logged, hash-chained and
committed like any client action, with origin ``operator`` and the operator's name as actor.
A refusal (``ALREADY_PAUSED``, ``NOT_PAUSED``, ``TRIAL_CLOSED``, ``NOT_LIVE_PARAMETER``,
``INVALID_VALUE``, ``NO_COHORTS``, ``ROLLED_BACK``) is problem+json with that reason code.

Lifecycle: the app factory calls :func:`operator_router` once with the engine and the
scenario's ``[live.operators]``; the routes stay outside the participants' request pipeline
(participants' authenticators never see an operator's request). Guardrails act through
:func:`operator_act` too, as actor ``guardrail:<name>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from flagship.mechanisms import ActionRejected, CommonReason, InputError, Outcome, Problem
from flagship.sandbox._live._operator_auth import OperatorVerifier
from flagship.sandbox._live._served import ServedTrial
from flagship.sandbox._trial_control import OPERATOR, OperatorReason

__all__ = ["OperatorState", "operator_act", "operator_router"]

_UNPROCESSABLE = {str(CommonReason.INVALID_PAYLOAD), str(CommonReason.UNKNOWN_KIND),
                  str(OperatorReason.NOT_LIVE_PARAMETER), str(OperatorReason.INVALID_VALUE)}


class OperatorState(BaseModel):
    """``GET /v1/operator`` and every operator action's answer: where the trial stands."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trial_id: str = Field(description="the trial")
    status: str = Field(description="running, paused or closed")
    changed: dict[str, dict[str, JsonValue]] = Field(description="live parameters operators set, "
                                                                 "by mechanism")


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    trial: str = Field(description="the trial acted on (a guard against acting on the wrong server)")
    note: str = Field(default="", max_length=1000, description="why, kept in the log entry")
    mechanism: str | None = Field(default=None, description="set: the mechanism")
    parameter: str | None = Field(default=None, description="set: the live parameter")
    value: JsonValue = Field(default=None, description="set: its new value")


def _state(engine: ServedTrial) -> OperatorState:
    control = engine.view.control if engine.view is not None else None  # committed state only
    return OperatorState(trial_id=engine.trial.id, status=control.status if control else "running",
                         changed=dict(control.changed) if control else {})


async def operator_act(engine: ServedTrial, kind: str, payload: Mapping[str, Any], actor: str) -> Outcome:
    """Have the single writer apply and commit one operator action; its outcome once durable."""
    return await engine.submit(OPERATOR, kind, payload, actor)


def operator_router(engine: ServedTrial, operators: Mapping[str, str], *,
                    started_at: float | None = None) -> APIRouter:
    """The ``/v1/operator`` routes for ``engine``'s trial, verified against ``operators``' keys
    (signatures created before ``started_at``, the server's start, are refused)."""
    verifier = OperatorVerifier(operators, not_before=started_at)
    router = APIRouter(prefix="/v1/operator", tags=["operator"])

    async def act(request: Request, kind: str) -> OperatorState:
        body = await request.body()
        operator = verifier.verify(request.method, str(request.url), request.headers, body)
        try:
            parsed = _Body.model_validate(orjson.loads(body or b"{}"))
        except (orjson.JSONDecodeError, ValueError) as exc:
            raise InputError([Problem("body", str(exc).splitlines()[0])]) from None
        if parsed.trial != engine.trial.id:
            raise ActionRejected("WRONG_TRIAL", f"this server runs trial {engine.trial.id}, "
                                                f"not {parsed.trial}", status=409)
        payload: dict[str, Any] = {"note": parsed.note} if parsed.note else {}
        if kind == "set":
            payload.update(mechanism=parsed.mechanism, parameter=parsed.parameter, value=parsed.value)
        outcome = await operator_act(engine, kind, payload, operator)
        if not outcome.accepted:
            reason = str(outcome.reason)
            raise ActionRejected(reason, outcome.detail, status=422 if reason in _UNPROCESSABLE else 409)
        return _state(engine)

    @router.get("", response_model=OperatorState)
    async def state() -> OperatorState:
        """The trial's operator state (no signature needed: it is public)."""
        return _state(engine)

    @router.post("/pause", response_model=OperatorState)
    async def pause(request: Request) -> OperatorState:
        """Pause: participants' new actions are refused with TRIAL_PAUSED (kinds the mechanism
        declares, cancels say, still go through)."""
        return await act(request, "pause")

    @router.post("/resume", response_model=OperatorState)
    async def resume(request: Request) -> OperatorState:
        """Resume a paused trial."""
        return await act(request, "resume")

    @router.post("/close", response_model=OperatorState)
    async def close(request: Request) -> OperatorState:
        """Close the trial for good: every later action is refused with TRIAL_CLOSED."""
        return await act(request, "close")

    @router.post("/rollback", response_model=OperatorState)
    async def rollback(request: Request) -> OperatorState:
        """Roll staged cohorts back: every participant is served by control from then on, and the
        schedule widens no more (409 NO_COHORTS without cohorts, ROLLED_BACK a second time)."""
        return await act(request, "rollback")

    @router.post("/set", response_model=OperatorState)
    async def set_parameter(request: Request) -> OperatorState:
        """Set a live-changeable parameter: ``mechanism``, ``parameter``, ``value`` in the body."""
        return await act(request, "set")

    return router
