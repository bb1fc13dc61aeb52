"""Idempotency of the live server: keys, request hashes, committed records and the active requests.

Lifecycle of a key:

1. A POST, PATCH or DELETE arrives with ``Idempotency-Key``; :func:`parse_key` checks its form and
   :func:`request_hash` fingerprints the request (JSON bodies by value, others by bytes).
2. The idempotency middleware looks the key up in the :class:`IdempotencyIndex`: unknown, it
   runs the route; known with the same hash, it runs the route in *replay* mode (each
   ``gateway.submit`` returns the committed outcome instead of acting again); known with
   another hash, 422. The request's :class:`IdempotencyContext` lives in the ASGI scope's
   ``state`` and is bound to the task serving the request in :class:`ActiveRequests`, which
   is how ``gateway.submit`` (whose contract takes no request) finds it.
3. The single writer commits each keyed action with its stored key (:meth:`IdempotencyContext.key_for`),
   the request hash and the outcome (:func:`response_json`), then records it in the index.
4. On restart, :meth:`IdempotencyIndex.from_entries` rebuilds the index from the log.

The index keeps the records of the ``window`` most recently committed keys in memory
(``flagship serve --idempotency-window``); an older key's record is read back from the log
(:func:`store_lookup`, one indexed query per stored key), so a retry under a key of any age
gets its committed outcome. Once keys have been evicted, a key unknown in memory costs one
such query: the price of memory that no longer grows with the trial.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from flagship.mechanisms import Outcome, StoreError, canonical_bytes, canonical_json
from flagship.mechanisms._action import EMPTY
from flagship.telemetry._trial_log import LogEntry, TrialLog

__all__ = [
    "KEYED_METHODS",
    "ActiveRequests",
    "IdempotencyContext",
    "IdempotencyIndex",
    "IdempotencyRecord",
    "OlderRecords",
    "parse_key",
    "parse_stored_key",
    "request_hash",
    "response_json",
    "store_lookup",
    "stored_outcome",
]

DEFAULT_WINDOW = 100_000
"""Keys whose records the index keeps in memory unless told otherwise (about 50 MB at most)."""

#: Methods whose effect must happen once: they carry an ``Idempotency-Key``. DELETE too: a
#: cancellation replayed (after a restart emptied the signatures' replay cache) must return
#: the committed outcome, not cancel an order placed again under the same id.
KEYED_METHODS = frozenset({"POST", "PATCH", "DELETE"})


@dataclass(frozen=True)
class IdempotencyRecord:
    """What a key has done: the request it was first used with and its committed outcomes.

    ``entries`` holds, per submit, the log entry that committed it (seq, hash): what the
    request's receipt is signed over.
    """

    request_hash: str
    outcomes: dict[int, Outcome]
    entries: dict[int, tuple[int, str]] = field(default_factory=dict)

    @property
    def last_entry(self) -> tuple[int, str] | None:
        """(seq, hash) of the request's last committed entry (its chain covers the earlier ones)."""
        return max(self.entries.values()) if self.entries else None


OlderRecords = Callable[[str], "IdempotencyRecord | None"]
"""Where an index finds the record of a key it no longer holds in memory (the log)."""


class IdempotencyIndex:
    """Committed idempotency records by base key: built from the log, grown by each commit.

    Holds the ``window`` most recently committed keys (None: all); ``older`` answers for
    the keys evicted from memory.
    """

    __slots__ = ("_evicted", "_older", "_records", "_window")

    def __init__(self, records: dict[str, IdempotencyRecord] | None = None, *, window: int | None = None,
                 older: OlderRecords | None = None) -> None:
        self._records: dict[str, IdempotencyRecord] = {} if records is None else records
        self._window = window
        self._older = older
        self._evicted = False
        self._trim()

    @classmethod
    def from_entries(cls, entries: Iterable[LogEntry], *, trial_id: str = "", window: int | None = None,
                     older: OlderRecords | None = None) -> IdempotencyIndex:
        """The index of a trial's log: every entry that answered a keyed request (the newest
        ``window`` keys kept in memory).

        A stored key or response that cannot be read raises :class:`StoreError` naming
        the trial and the entry's sequence number.
        """
        index = cls()
        for entry in entries:
            index._add(entry, trial_id)
        index._window, index._older = window, older
        index._trim()
        return index

    def extend(self, entries: Iterable[LogEntry], *, trial_id: str = "") -> None:
        """Add the records of newly committed ``entries`` (a split server's replica follows the log so)."""
        for entry in entries:
            self._add(entry, trial_id)

    def _add(self, entry: LogEntry, trial_id: str) -> None:
        if entry.idempotency_key is None or entry.request_hash is None or entry.response is None:
            return
        try:
            base, position = parse_stored_key(entry.idempotency_key)
            outcome = stored_outcome(entry.response)
        except (ValueError, KeyError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
            raise StoreError(f"trial {trial_id}: log entry seq {entry.seq} holds an unreadable "
                             f"idempotency record ({exc}); the log is corrupt") from None
        self.remember(base, entry.request_hash, position, outcome, entry=(entry.seq, entry.hash))

    def __len__(self) -> int:
        return len(self._records)

    def lookup(self, base_key: str, *, memory_only: bool = False) -> IdempotencyRecord | None:
        """The record of ``base_key`` if an action under it has been committed.

        Past the window it is read from the log, unless ``memory_only`` (the writer's own
        check for a key committed while its request waited: such a key is recent).
        """
        record = self._records.get(base_key)
        if record is None and self._evicted and self._older is not None and not memory_only:
            return self._older(base_key)
        return record

    async def find(self, base_key: str) -> IdempotencyRecord | None:
        """:meth:`lookup` off the event loop: a key past the window is read from the log in a thread."""
        record = self._records.get(base_key)
        if record is None and self._evicted and self._older is not None:
            return await asyncio.to_thread(self._older, base_key)
        return record

    def remember(self, base_key: str, request_hash: str, position: int, outcome: Outcome, *,
                 entry: tuple[int, str] | None = None) -> None:
        """Record the committed outcome of the ``position``-th submit under ``base_key``
        (and ``entry``, the (seq, hash) of the log entry that committed it)."""
        record = self._records.pop(base_key, None)  # popped: re-inserted as the newest
        if record is None and position > 0 and self._evicted and self._older is not None:
            # a later submit of an evicted key (its first one commits first): keep its earlier ones
            record = self._older(base_key)
        if record is None:
            record = IdempotencyRecord(request_hash, {})
        self._records[base_key] = record
        record.outcomes[position] = outcome
        if entry is not None:
            record.entries[position] = entry
        self._trim()

    def _trim(self) -> None:
        """Evict the oldest keys beyond the window (dicts keep insertion order: oldest first)."""
        window, records = self._window, self._records
        if window is None or len(records) <= window:
            return
        for oldest in list(itertools.islice(records, len(records) - window)):
            del records[oldest]
        self._evicted = True


def store_lookup(log: TrialLog, trial_id: str) -> OlderRecords:
    """Reads the record of a base key from ``trial_id``'s log: an index's ``older``.

    Every submit of a request is stored under its own key (``[identity, key]``, then
    ``[identity, key, n]``), each looked up exactly in the log's unique index, in rounds of
    :data:`_LOOKUP_ROUND` until a round finds fewer.
    """
    def older(base_key: str) -> IdempotencyRecord | None:
        try:
            identity, key = orjson.loads(base_key)
        except (ValueError, TypeError):
            return None
        index = IdempotencyIndex()
        start = 0
        while True:
            stored: Sequence[str] = [base_key if n == 0 else canonical_json([identity, key, n])
                                     for n in range(start, start + _LOOKUP_ROUND)]
            found = log.keyed_entries(trial_id, stored)
            for entry in found:
                index._add(entry, trial_id)
            if len(found) < _LOOKUP_ROUND:
                return index._records.get(base_key)
            start += _LOOKUP_ROUND

    return older


_LOOKUP_ROUND = 4
"""Stored keys asked for at once (a request's submits beyond the first are rare)."""


@dataclass(slots=True)
class IdempotencyContext:
    """The idempotency key of the request being handled, seen by ``gateway.submit``.

    A route may submit more than one action per request: the n-th submit (from 0)
    is stored under :meth:`key_for` ``(n)``; ``stored`` holds those already committed.
    """

    identity: str
    key: str
    request_hash: str
    stored: Mapping[int, Outcome]
    submits: int = 0
    replayed: bool = False

    @property
    def base_key(self) -> str:
        """The stored key of the first submit: canonical JSON ``[identity, key]``."""
        return canonical_json([self.identity, self.key])

    def key_for(self, index: int) -> str:
        """The stored key of the ``index``-th submit of this request."""
        if index == 0:
            return self.base_key
        return canonical_json([self.identity, self.key, index])


class ActiveRequests:
    """The idempotency context of each keyed request being served, by the task serving it.

    ``Gateway.submit`` takes no request (a wing's route passes only what to do and who
    asks), and a request is served by one task from the server's middleware to the route
    (Starlette runs pure ASGI middlewares, dependencies and ``async def`` endpoints in the
    task that received the request), so the running task names the request. The context
    itself lives in the request's ASGI scope; this only points to it while the request runs.
    """

    __slots__ = ("_by_task",)

    def __init__(self) -> None:
        self._by_task: dict[asyncio.Task[Any], IdempotencyContext] = {}

    def bind(self, context: IdempotencyContext) -> asyncio.Task[Any] | None:
        """Bind ``context`` to the running task; returns the task, for :meth:`release`."""
        task = asyncio.current_task()
        if task is not None:
            self._by_task[task] = context
        return task

    def release(self, task: asyncio.Task[Any] | None) -> None:
        """Forget the request served by ``task`` (it has answered)."""
        if task is not None:
            self._by_task.pop(task, None)

    def current(self) -> IdempotencyContext | None:
        """The context of the keyed request the running task serves, if any."""
        if not self._by_task:  # the common case of an unkeyed caller: no task lookup at all
            return None
        task = asyncio.current_task()
        return None if task is None else self._by_task.get(task)


def parse_stored_key(stored: str) -> tuple[str, int]:
    """(base key, submit index) of a key as stored in the log."""
    parts = orjson.loads(stored)
    if not isinstance(parts, list) or len(parts) not in (2, 3):
        raise ValueError(f"not an idempotency key: {stored!r}")
    index = int(parts[2]) if len(parts) == 3 else 0
    return canonical_json(parts[:2]), index


def parse_key(raw: str | None) -> str | None:
    """The key of an ``Idempotency-Key`` header: 1 to 255 visible ASCII characters, else None."""
    if raw is None:
        return None
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':  # an RFC 8941 sf-string, as the draft writes it
        value = value[1:-1]
    if not 1 <= len(value) <= 255 or any(not 0x21 <= ord(ch) <= 0x7E for ch in value):
        return None
    return value


def request_hash(method: str, path: str, query: str, body: bytes, parsed: Any, is_json: bool) -> str:
    """SHA-256 identifying a request's content: JSON bodies compare by value, others by bytes."""
    content: Any = parsed if is_json else body.hex()
    return hashlib.sha256(canonical_bytes([method, path, query, is_json, content])).hexdigest()


def response_json(outcome: Outcome) -> str:
    """An outcome as the log stores it for a keyed request (what a retry gets back)."""
    return canonical_json({"accepted": outcome.accepted,
                           "reason": None if outcome.reason is None else str(outcome.reason),
                           "effects": outcome.effects, "detail": outcome.detail})


def stored_outcome(response: str) -> Outcome:
    """The outcome a log entry's ``response`` holds (the inverse of :func:`response_json`)."""
    data = orjson.loads(response)
    return Outcome(bool(data["accepted"]), data.get("reason"), data.get("effects") or EMPTY,
                   str(data.get("detail") or ""))
