"""The link of a split server: framed messages between the sequencer and its workers.

A split server (``flagship serve --workers N``, :mod:`._split`) is one sequencer process, the
single writer, and N worker processes that parse HTTP, check signatures, validate and answer.
Each worker holds one connection to the sequencer over a Unix socket in a directory only the
server's user can enter. A frame is a 4-byte big-endian length and one JSON object (orjson)
whose ``op`` names it:

worker -> sequencer
    ``hello {worker}`` first; ``submit {id, mechanism, kind, payload, actor, key, base_key, index,
    request_hash}`` an action for the writer; ``applied {size}`` the replica holds the log up to
    ``size`` entries (once bootstrapped, after a reload, and when asked by ``report``);
    ``metrics {id, accept}`` a scrape arrived; ``collected {id, families}`` this worker's own
    metric samples.

sequencer -> worker
    ``state {...}`` the writer's status (on hello and whenever it changes); ``commit {entries}``
    a durable batch, as the log holds it; ``advance {clock}`` a step that logged nothing;
    ``reload {}`` the writer reloaded the log; ``results {answers}`` the outcomes of submits, each
    ``[id, outcome]`` or ``[id, null, error]``, all that were due when it was written (one frame
    per batch, written with the batch's ``commit`` frame); ``report {}`` an answer to another worker waits
    for this replica: send ``applied`` (after the commits before it); ``collect {id}``;
    ``exposition {id, body, content_type}``; ``joined {}`` once, in answer to a worker's first
    ``applied``: from then on every answer to another worker waits for this one's replica.

Frames on one connection arrive in the order they were written, so a worker has applied every
commit before it reads the results that follow it (which is why an answer need only wait for
the *other* workers' replicas). Outcomes cross as the log stores a keyed request's response
(:func:`~._idempotency.response_json`); errors as a closed set of classes (:func:`error_data`),
anything else as a :class:`ContractError`.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Sequence
from typing import Any, cast

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

__all__ = ["MAX_FRAME", "FrameProtocol", "decode_error", "entries_data", "entries_from", "error_data",
           "frame", "outcome_data", "outcome_from"]

_log = logging.getLogger("flagship.live")

MAX_FRAME = 256 * 1024 * 1024
"""Longest frame either side accepts (a batch of 256 actions with large payloads fits many times)."""

_LENGTH = struct.Struct(">I")


def frame(message: dict[str, Any]) -> bytes:
    """``message`` as one frame."""
    body = orjson.dumps(message)
    return _LENGTH.pack(len(body)) + body


class FrameProtocol(asyncio.Protocol):
    """One end of a link: complete frames are handed to ``on_message`` as they arrive (in order,
    synchronously, no task per frame); frames sent in one turn of the loop go out in one write.

    Lifecycle: the loop calls ``connection_made`` -> ``data_received``... -> ``connection_lost``,
    which calls ``on_lost`` once. A frame longer than :data:`MAX_FRAME` or not JSON closes the link.
    """

    def __init__(self, on_message: Callable[[dict[str, Any]], None] | None = None,
                 on_lost: Callable[[], None] | None = None) -> None:
        self.on_message = on_message
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()
        """Done once the link is lost (either end closed it, or the peer died)."""
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self._flushing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's is no subclass of asyncio.Transport, hence no isinstance)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer, start)
            end = start + _LENGTH.size + length
            if length > MAX_FRAME:
                self._abort(f"link frame of {length} bytes, more than {MAX_FRAME}")
                return
            if len(buffer) < end:
                break
            try:
                message = orjson.loads(memoryview(buffer)[start + _LENGTH.size:end])
            except orjson.JSONDecodeError as exc:
                self._abort(f"a link frame is not JSON: {exc}")
                return
            start = end
            if self.on_message is not None:
                self.on_message(message)
        del buffer[:start]

    def _abort(self, why: str) -> None:
        _log.error("closing a link: %s", why)
        if self.transport is not None:
            self.transport.abort()

    def send(self, message: dict[str, Any]) -> None:
        """Queue ``message``; what one turn of the loop queued is written at once."""
        self.send_frame(frame(message))

    def send_frame(self, data: bytes) -> None:
        """Queue an encoded frame (a broadcast encodes once for every peer)."""
        self._out.append(data)
        self.schedule_flush()

    def schedule_flush(self) -> None:
        """Have what is queued written soon (once, however many frames are queued meanwhile)."""
        if not self._flushing:
            self._flushing = True
            self._defer(self._flush)

    def _defer(self, flush: Callable[[], None]) -> None:
        """When ``flush`` runs: at the next turn of the loop (a subclass may wait longer)."""
        asyncio.get_running_loop().call_soon(flush)

    def _flush(self) -> None:
        self._flushing = False
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(b"".join(self._out))
        self._out.clear()

    def close(self) -> None:
        """Write what is queued, then close."""
        if self.transport is not None:
            self._flush()
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(None)
        if self.on_lost is not None:
            self.on_lost()


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
