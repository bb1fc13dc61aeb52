"""The conformance kit: checks every mechanism author runs before anyone else does.

    from flagship.mechanisms.testing import check_conformance
    report = check_conformance(MyMechanism, MyMechanism.Config(), my_actions, seed=1)

``check_conformance`` drives the mechanism through the same host the sandbox uses,
twice with the same seed, and raises :class:`~flagship.mechanisms.ConformanceError` (with a
witness) unless:

- ``determinism``: the same seed gives identical outcomes, snapshots and measures;
- ``reasons``: every rejection carries a reason code from the mechanism's closed set
  (and no acceptance carries one);
- ``measures``: every declared measure is recorded at ``finish()``, and nothing else;
- ``no_mutation_on_reject``: ``handle()`` leaves the snapshot unchanged when it rejects;
- ``snapshot``: the snapshot is JSON-able canonical data;
- ``coverage``: the action script exercised both acceptance and rejection, so the
  checks above were not vacuous.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from flagship.mechanisms._action import Action, Outcome
from flagship.mechanisms._base import Mechanism
from flagship.mechanisms._bus import Event
from flagship.mechanisms._canonical import canonical_json
from flagship.mechanisms._errors import ConformanceError, ContractError
from flagship.mechanisms._registry import mechanism as lookup_mechanism

__all__ = ["ConformanceReport", "check_conformance"]

ActionScript = Iterable[Action] | Callable[[np.random.Generator], Iterable[Action]]


@dataclass(frozen=True)
class ConformanceReport:
    """What the kit exercised: counts, the reason codes seen, and the final measures."""

    n_actions: int
    n_accepted: int
    n_rejected: int
    reasons_seen: frozenset[str]
    measures: dict[str, float | None]


def check_conformance(
    mechanism: type[Mechanism[Any]] | str,
    config: BaseModel | dict[str, Any] | None = None,
    actions: ActionScript = (),
    *,
    seed: int = 0,
    events: Sequence[Event] = (),
    until: float | None = None,
    require_rejections: bool = True,
) -> ConformanceReport:
    """Run every check on ``mechanism`` driven by ``actions`` (and bus ``events``); see module doc.

    ``actions`` is a time-ordered iterable of actions, or a function of a seeded
    numpy Generator returning one (called once per run with the same seed).
    ``events`` are published on the bus at their ``time`` (e.g. a halt).
    """
    cls = lookup_mechanism(mechanism) if isinstance(mechanism, str) else mechanism
    if config is None:
        config = cls.Config()
    elif isinstance(config, dict):
        config = cls.Config.model_validate(config)
    first = _drive(cls, config, actions, seed, events, until, check_mutation=True)
    second = _drive(cls, config, actions, seed, events, until, check_mutation=False)
    comparisons: tuple[tuple[str, Any, Any], ...] = (
        ("outcomes", first.outcomes, second.outcomes),
        ("final snapshot", first.snapshot, second.snapshot),
        ("measures", first.measures, second.measures),
    )
    for label, a, b in comparisons:
        if a != b:
            index = _first_difference(a, b) if isinstance(a, list) else None
            raise ConformanceError("determinism", f"two runs with seed {seed} gave different {label}",
                                   witness={"index": index, "first": _at(a, index),
                                            "second": _at(b, index)})
    accepted = sum(1 for o in first.raw if o.accepted)
    rejected = len(first.raw) - accepted
    if require_rejections and (accepted == 0 or rejected == 0):
        raise ConformanceError("coverage", f"the action script gave {accepted} acceptances and "
                               f"{rejected} rejections; it must exercise both")
    return ConformanceReport(len(first.raw), accepted, rejected,
                             frozenset(str(o.reason) for o in first.raw if o.reason is not None),
                             dict(first.measures_map))


@dataclass
class _Run:
    raw: list[Outcome]
    outcomes: list[str]
    snapshot: str
    measures: list[tuple[str, float | None]]
    measures_map: dict[str, float | None]


def _drive(cls: type[Mechanism[Any]], config: BaseModel, script: ActionScript, seed: int,
           events: Sequence[Event], until: float | None, *, check_mutation: bool) -> _Run:
    # Lazy: sandbox imports mechanisms. The kit drives mechanisms exactly as the sandbox does.
    from flagship.sandbox._host import Host  # noqa: PLC0415

    host = Host(seed, keep_actions=False)
    target = host.add_mechanism(cls.name, cls, config)
    codes = cls.reason_codes()
    if check_mutation:
        original = target.handle

        def guarded(action: Action) -> Outcome:
            before = _snapshot(target)
            outcome = original(action)
            _check_reason(outcome, action, codes)
            if not outcome.accepted:
                after = _snapshot(target)
                if after != before:
                    raise ConformanceError("no_mutation_on_reject",
                                           f"state changed although {action.kind!r} was rejected "
                                           f"with {outcome.reason}",
                                           witness={"action": action, "before": before,
                                                    "after": after})
            return outcome

        target.handle = guarded  # type: ignore[method-assign]
    for event in events:
        host.env.process(_publish_at(host, event))
    host.start()
    actions = list(script(np.random.default_rng(np.random.SeedSequence(seed))) if callable(script)
                   else script)
    try:
        outcomes = host.run_feed(((cls.name, a) for a in actions), until=until)
        telemetry = host.finish()
    except ConformanceError:
        raise
    except ContractError as exc:
        raise ConformanceError("measures" if "measure" in str(exc) else "contract", str(exc)) from exc
    measures = [(f"{m.scope}.{m.name}", m.value) for m in telemetry.measures]
    return _Run(outcomes, [canonical_json(_outcome_data(o)) for o in outcomes], _snapshot(target),
                measures, dict(measures))


def _publish_at(host: Any, event: Event) -> Any:
    yield host.env.timeout(event.time - float(host.env.now))
    host.bus.publish(event)


def _check_reason(outcome: Outcome, action: Action, codes: frozenset[str]) -> None:
    if outcome.accepted and outcome.reason is not None:
        raise ConformanceError("reasons", f"accepted {action.kind!r} carries reason {outcome.reason}",
                               witness=action)
    if not outcome.accepted and outcome.reason not in codes:
        raise ConformanceError("reasons", f"rejected {action.kind!r} with {outcome.reason!r}, "
                               f"not in its closed set {sorted(codes)}", witness=action)


def _snapshot(target: Mechanism[Any]) -> str:
    try:
        return canonical_json(target.snapshot())
    except (TypeError, ValueError) as exc:
        raise ConformanceError("snapshot", f"snapshot() is not canonical JSON data: {exc}") from exc


def _outcome_data(outcome: Outcome) -> dict[str, Any]:
    return {"accepted": outcome.accepted, "reason": outcome.reason, "effects": outcome.effects,
            "detail": outcome.detail}


def _first_difference(a: list[Any], b: list[Any]) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def _at(values: Any, index: int | None) -> Any:
    if index is None:
        return values
    return values[index] if index < len(values) else None
