"""The link of a split server: framed messages between the sequencer and its workers.

A split server (``flagship serve --workers N``, :mod:`._split`) is one sequencer process, the
single writer, and N worker processes that parse HTTP, check signatures, validate and answer.
Each worker holds one connection to the sequencer over a Unix socket in a directory only the
server's user can enter. A frame is a 4-byte big-endian length and one JSON object (orjson)
whose ``op`` names it:

worker -> sequencer
    ``hello {worker}`` first; ``submit {id, mechanism, kind, payload, actor, key, base_key, index,
    request_hash}`` an action for the writer; ``applied {size}`` the replica holds the log up to
    ``size`` entries; ``metrics {id, accept}`` a scrape arrived; ``collected {id, families}`` this
    worker's own metric samples.

sequencer -> worker
    ``state {...}`` the writer's status (on hello and whenever it changes); ``commit {entries}``
    a durable batch, as the log holds it; ``advance {clock}`` a step that logged nothing;
    ``reload {}`` the writer reloaded the log; ``result {id, outcome | error}``;
    ``collect {id}``; ``exposition {id, body, content_type}``.

Frames on one connection arrive in the order they were written, so a worker has applied every
commit before it reads the result that follows it. Outcomes cross as the log stores a keyed
request's response (:func:`~._idempotency.response_json`); errors as a closed set of classes
(:func:`error_data`), anything else as a :class:`ContractError`.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from typing import Any

import orjson

from flagship.mechanisms import (
    ActionRejected,
    CommitOutcomeUnknownError,
    ContractError,
    FlagshipError,
    InputError,
    MechanismFailedError,
    Outcome,
    Problem,
    ShuttingDownError,
    StoreUnavailableError,
    TrialEndedError,
    UnknownNameError,
)
from flagship.sandbox._live._idempotency import response_json, stored_outcome
from flagship.telemetry._trial_log import LogEntry

__all__ = ["MAX_FRAME", "decode_error", "entries_data", "entries_from", "error_data", "frame",
           "outcome_data", "outcome_from", "read_frame"]

MAX_FRAME = 256 * 1024 * 1024
"""Longest frame either side accepts (a batch of 256 actions with large payloads fits many times)."""

_LENGTH = struct.Struct(">I")


def frame(message: dict[str, Any]) -> bytes:
    """``message`` as one frame."""
    body = orjson.dumps(message)
    return _LENGTH.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at the end of the stream (the peer closed or died)."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        (length,) = _LENGTH.unpack(head)
        if length > MAX_FRAME:
            raise ContractError(f"link frame of {length} bytes, more than {MAX_FRAME}")
        message: dict[str, Any] = orjson.loads(await reader.readexactly(length))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return message


def outcome_data(outcome: Outcome) -> str:
    """An outcome for the link: exactly what the log stores for a keyed request."""
    return response_json(outcome)


def outcome_from(data: str) -> Outcome:
    """The outcome :func:`outcome_data` encoded (what a retry under the same key gets too)."""
    return stored_outcome(data)


_ERRORS: dict[str, type[FlagshipError]] = {
    cls.__name__: cls for cls in (ShuttingDownError, TrialEndedError, StoreUnavailableError,
                                  CommitOutcomeUnknownError, MechanismFailedError, ActionRejected,
                                  UnknownNameError, InputError, ContractError)
}


def error_data(exc: BaseException) -> dict[str, Any]:
    """An exception the writer raised for a submit, as the link carries it."""
    name = next((cls.__name__ for cls in type(exc).__mro__ if cls.__name__ in _ERRORS), "")
    data: dict[str, Any] = {"class": name or "ContractError", "message": str(exc)}
    if not name:
        data["message"] = f"the sequencer raised {type(exc).__name__}: {exc}"
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float):
        data["retry_after"] = float(retry_after)
    if isinstance(exc, ActionRejected):
        data.update(reason=exc.reason, detail=exc.detail, status=exc.status)
    if isinstance(exc, InputError):
        data["problems"] = [[p.path, p.message] for p in exc.problems]
    return data


def decode_error(data: dict[str, Any]) -> FlagshipError:
    """The exception :func:`error_data` described, raised again in the worker."""
    cls = _ERRORS.get(str(data.get("class")), ContractError)
    message = str(data.get("message", ""))
    if cls in (StoreUnavailableError, CommitOutcomeUnknownError):
        return cls(message, retry_after=float(data.get("retry_after", 1.0)))
    if cls is ActionRejected:
        return ActionRejected(str(data["reason"]), str(data.get("detail", "")), status=int(data["status"]))
    if issubclass(cls, InputError):
        return cls([Problem(str(path), str(text)) for path, text in data.get("problems", [])])
    return cls(message)


def entries_data(entries: Sequence[LogEntry]) -> list[list[Any]]:
    """Committed log entries for the link, field by field in :class:`LogEntry`'s order."""
    return [[e.seq, e.time, e.mechanism, e.actor, e.kind, e.payload, e.accepted, e.reason, e.effects,
             e.origin, e.idempotency_key, e.request_hash, e.response, e.clock, e.state_hash,
             e.prev_hash, e.hash] for e in entries]


def entries_from(rows: Sequence[Sequence[Any]]) -> list[LogEntry]:
    """The log entries :func:`entries_data` encoded."""
    return [LogEntry(*row) for row in rows]
