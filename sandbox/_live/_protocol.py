"""Requests uvicorn cannot parse get problem+json too, like every other error of the live server.

uvicorn answers a request it cannot parse (a bad request line, header, chunked body or
``Content-Length``...) itself, before any ASGI code runs, with a ``text/plain`` 400. The live
server's contract is that every error is ``application/problem+json`` with a reason code, so
:func:`http_protocol` gives uvicorn (``uvicorn.Config(http=...)``) its own protocol class
with only that answer replaced: 400 ``MALFORMED_HTTP``, and the connection closes as before.
"""

from __future__ import annotations

import asyncio
import importlib.util

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from flagship.sandbox._live._problems import PROBLEM_JSON

__all__ = ["MALFORMED_HTTP", "http_protocol", "problem_400"]

MALFORMED_HTTP = "MALFORMED_HTTP"
"""The reason code of a request that is not valid HTTP/1.1."""


def problem_400(message: str) -> bytes:
    """The problem+json body uvicorn's parse-error 400 carries instead of its text."""
    return orjson.dumps({"type": f"urn:flagship:reason:{MALFORMED_HTTP}", "title": "Bad Request",
                         "status": 400, "detail": message, "reason": MALFORMED_HTTP, "errors": []})


class _H11ProblemProtocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = problem_400(msg)
        headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def http_protocol() -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (httptools when installed, as ``auto`` picks; else h11),
    answering unparsable requests with problem+json."""
    if importlib.util.find_spec("httptools") is None:
        return _H11ProblemProtocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: PLC0415

    class _HttpToolsProblemProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            body = problem_400(msg)
            head = (f"HTTP/1.1 400 Bad Request\r\ncontent-type: {PROBLEM_JSON}\r\n"
                    f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode("ascii")
            self.transport.write(head + body)
            self.transport.close()

    return _HttpToolsProblemProtocol
