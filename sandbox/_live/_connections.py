"""Connection limits of the live server: slow and greedy clients cannot exhaust it (Slowloris).

uvicorn bounds only an idle keep-alive connection (``timeout_keep_alive``, armed after a
response): a client that opens a connection and trickles a request's head, or its body,
holds a file descriptor forever, and nothing caps how many connections one address opens.
One client held 19,990 half-sent requests until the process ran out of descriptors.

:func:`guarded_protocol` subclasses uvicorn's own HTTP protocol class (the one
:func:`~flagship.sandbox._live._protocol.http_protocol` picks, h11 or httptools) and gives
each connection a :class:`ConnectionGuard` that enforces :class:`ConnectionLimits`:

* at accept, a total cap and a per-client-address cap: a connection beyond either gets a
  ``503 TOO_MANY_CONNECTIONS`` problem with ``Retry-After`` and is closed at once, so it
  holds its descriptor for microseconds, not for the attacker's lifetime;
* a header deadline: a request's head must be complete within ``header_timeout`` of the
  connection opening (or of the previous response on a kept-alive connection), else
  ``408 REQUEST_TIMEOUT`` and close (a connection that sent nothing is closed silently, as
  an idle one is: a 408 there could be read as the answer to a client's next request);
* a body deadline: the body must be complete within ``body_timeout`` of its head, else
  ``408 REQUEST_TIMEOUT`` (when no answer has started) and close; the app sees a disconnect,
  so nothing is committed;
* a head of more than ``max_header_bytes`` gets ``431 HEADERS_TOO_LARGE`` and is closed
  before the parser sees it.

Lifecycle: ``run_server`` builds the limits from ``flagship serve``'s options, calls
:func:`reserve_descriptors` (the process must be allowed the descriptors the cap admits),
and hands ``guarded_protocol(limits)`` to ``uvicorn.Config(http=...)``; uvicorn then makes
one protocol object per accepted connection, which makes its guard. The counts live in one
:class:`_Tally` per server (uvicorn runs one event loop, so no lock is needed).
"""

from __future__ import annotations

import asyncio
import http
import resource
from collections import Counter
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flagship.mechanisms import InputError, Problem
from flagship.sandbox._live._problems import PROBLEM_JSON

__all__ = ["ConnectionGuard", "ConnectionLimits", "guarded_protocol", "raw_problem", "reserve_descriptors"]

TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"
#: Descriptors the process needs besides client connections (store, logs, measure worker, listener).
SPARE_DESCRIPTORS = 256
_HEAD_END = b"\r\n\r\n"


class ConnectionLimits(BaseModel):
    """How many connections the live server keeps open and how long a request may take to arrive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_connections: int = Field(1024, ge=1, le=1_000_000, description=(
        "open client connections in all; one more gets 503 TOO_MANY_CONNECTIONS and is closed"))
    max_connections_per_address: int = Field(128, ge=1, le=1_000_000, description=(
        "open connections from one client IP address (behind a reverse proxy every client "
        "shares the proxy's address: raise it to max_connections there)"))
    header_timeout: float = Field(10.0, gt=0, le=3600, description=(
        "seconds for a request's head to arrive, from the connection's opening or the previous "
        "response; 408 REQUEST_TIMEOUT after"))
    body_timeout: float = Field(30.0, gt=0, le=3600, description=(
        "seconds for a request's body to arrive after its head; 408 REQUEST_TIMEOUT after"))
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576, description=(
        "bytes of a request line and headers; 431 HEADERS_TOO_LARGE above"))

    @model_validator(mode="after")
    def _per_address_within_total(self) -> ConnectionLimits:
        if self.max_connections_per_address > self.max_connections:
            raise ValueError(f"max_connections_per_address ({self.max_connections_per_address}) "
                             f"exceeds max_connections ({self.max_connections})")
        return self


def reserve_descriptors(limits: ConnectionLimits) -> int:
    """Make sure the process may open ``max_connections`` sockets and its own files; the limit.

    Raises the soft ``RLIMIT_NOFILE`` up to the hard one when needed; a hard limit too low
    for the cap is bad input (``--max-connections``), refused before serving.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = limits.max_connections + SPARE_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise InputError([Problem("--max-connections", (
                f"{limits.max_connections} connections need {needed} file descriptors but the "
                f"process may open {hard} (ulimit -Hn); lower it or raise the limit"))])
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        soft = needed
    return int(soft)


def raw_problem(status: int, reason: str, detail: str, *, retry_after: int | None = None) -> bytes:
    """A whole HTTP/1.1 problem+json answer that closes the connection, for the protocol layer
    (before any ASGI code runs, so the app's problem handlers cannot answer)."""
    phrase = http.HTTPStatus(status).phrase
    body = orjson.dumps({"type": f"urn:flagship:reason:{reason}", "title": phrase, "status": status,
                         "detail": detail, "reason": reason, "errors": []})
    retry = f"retry-after: {retry_after}\r\n" if retry_after is not None else ""
    head = (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: {PROBLEM_JSON}\r\n"
            f"content-length: {len(body)}\r\n{retry}connection: close\r\n\r\n")
    return head.encode("ascii") + body


class _Tally:
    """The server's open (admitted) connections, in all and per client address."""

    def __init__(self) -> None:
        self.total = 0
        self.by_address: Counter[str] = Counter()


class ConnectionGuard:
    """One connection's share of the limits: admission, the header and body deadlines, head size.

    The protocol calls :meth:`admit` once the connection is made, :meth:`before_data` and
    :meth:`after_data` around each chunk it parses, :meth:`response_done` after each response
    and :meth:`lost` when the connection closes.
    """

    def __init__(self, limits: ConnectionLimits, tally: _Tally, transport: asyncio.Transport,
                 address: str, loop: asyncio.AbstractEventLoop) -> None:
        self.limits = limits
        self.tally = tally
        self.transport = transport
        self.address = address
        self.loop = loop
        self.admitted = False
        self.awaiting_head = True
        self.head_bytes = 0
        self._tail = b""  # the last bytes of the head so far: its end may straddle two chunks
        self._cycle: Any = None  # the current request's uvicorn RequestResponseCycle
        self._draining = False  # answered before its body arrived: the rest of the body drains
        self._timer: asyncio.TimerHandle | None = None
        self._timer_kind = ""  # "head", "body" or "" (none armed)

    def admit(self) -> bool:
        """Count the connection in, or answer 503 and close it; whether it was admitted."""
        if self.tally.total >= self.limits.max_connections:
            return self._refuse(f"the server holds its maximum of {self.limits.max_connections} connections")
        if self.tally.by_address[self.address] >= self.limits.max_connections_per_address:
            return self._refuse(f"this address holds its maximum of "
                                f"{self.limits.max_connections_per_address} connections")
        self.admitted = True
        self.tally.total += 1
        self.tally.by_address[self.address] += 1
        self._arm("head")
        return True

    def _refuse(self, detail: str) -> bool:
        self.transport.write(raw_problem(503, TOO_MANY_CONNECTIONS, detail, retry_after=1))
        self.transport.close()
        return False

    def before_data(self, data: bytes) -> bool:
        """Account a chunk about to be parsed; False when it was refused (431) and must not be."""
        if not self.awaiting_head:
            return True
        window = self._tail + data
        end = window.find(_HEAD_END)
        counted = len(data) if end < 0 else end + len(_HEAD_END) - len(self._tail)
        self.head_bytes += counted
        if self.head_bytes > self.limits.max_header_bytes:
            self._cancel()
            self.awaiting_head = False
            self.transport.write(raw_problem(431, HEADERS_TOO_LARGE, (
                f"the request line and headers exceed {self.limits.max_header_bytes} bytes")))
            self.transport.close()
            return False
        if end < 0:
            self._tail = window[-(len(_HEAD_END) - 1):]
        else:  # the head is complete: the body's deadline starts now
            self.awaiting_head = False
            self._arm("body")
        return True

    def after_data(self, cycle: Any) -> None:
        """After parsing: a new request's cycle starts its body deadline; a complete body stops it."""
        if self.awaiting_head or cycle is None:
            return
        if cycle is not self._cycle:
            self._cycle = cycle
            if self._draining:  # the next request's head, parsed while the last body drained
                self._draining = False
                self._arm("body")
        if not getattr(cycle, "more_body", True) and self._timer_kind == "body":
            self._cancel()

    def response_done(self) -> None:
        """A response went out: the next request's head has ``header_timeout`` to arrive.

        A response sent before its request's body arrived (a 401, a 413 on the declared
        length) leaves the rest of that body to drain: it is not a head and is not counted as
        one, and the body deadline still bounds it (then the connection closes silently).
        """
        if not self.admitted or self.transport.is_closing():
            return
        if self._cycle is not None and getattr(self._cycle, "more_body", False):
            self._draining = True
            if self._timer_kind != "body":
                self._arm("body")
            return
        self.awaiting_head = True
        self.head_bytes = 0
        self._tail = b""
        self._arm("head")

    def lost(self) -> None:
        """The connection closed: count it out and stop its timer."""
        self._cancel()
        if self.admitted:
            self.admitted = False
            self.tally.total -= 1
            self.tally.by_address[self.address] -= 1
            if self.tally.by_address[self.address] <= 0:
                del self.tally.by_address[self.address]

    def _arm(self, kind: str) -> None:
        self._cancel()
        self._timer_kind = kind
        if kind == "head":
            self._timer = self.loop.call_later(self.limits.header_timeout, self._head_late)
        else:
            self._timer = self.loop.call_later(self.limits.body_timeout, self._body_late)

    def _cancel(self) -> None:
        self._timer_kind = ""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_late(self) -> None:
        self._timer, self._timer_kind = None, ""
        if self.transport.is_closing():
            return
        if self.head_bytes:
            self.transport.write(raw_problem(408, REQUEST_TIMEOUT, (
                f"the request's head did not arrive within {self.limits.header_timeout:g} s")))
        self.transport.close()

    def _body_late(self) -> None:
        self._timer, self._timer_kind = None, ""
        if self.transport.is_closing():
            return
        if self._cycle is None or not getattr(self._cycle, "response_started", False):
            self.transport.write(raw_problem(408, REQUEST_TIMEOUT, (
                f"the request's body did not arrive within {self.limits.body_timeout:g} s")))
        self.transport.close()


def guarded_protocol(base: type[Any], limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's protocol class ``base`` (an h11 or httptools protocol) with every connection
    guarded by ``limits``; one call makes one server's class (its own connection counts)."""
    tally = _Tally()

    class GuardedProtocol(base):  # type: ignore[misc]
        _guard: ConnectionGuard | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
            self._guard = ConnectionGuard(limits, tally, transport, address, self.loop)
            self._guard.admit()

        def data_received(self, data: bytes) -> None:
            guard = self._guard
            if guard is None or not guard.admitted or self.transport.is_closing():
                return
            if not guard.before_data(data):
                return
            super().data_received(data)
            guard.after_data(self.cycle)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._guard is not None:
                self._guard.response_done()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._guard is not None:
                self._guard.lost()
            super().connection_lost(exc)

    GuardedProtocol.__name__ = GuardedProtocol.__qualname__ = f"Guarded{base.__name__}"
    return GuardedProtocol
