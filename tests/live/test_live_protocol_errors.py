"""Requests that are not valid HTTP/1.1 get problem+json (400 MALFORMED_HTTP), not uvicorn's text/plain."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.live._support import ServerProcess, write_scenario

MALFORMED = {
    "request line": b"GARBAGE\r\n\r\n",
    "header name": b"GET /v1/shop HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
    "content-length": b"POST /v1/shop/purchases HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "chunk size": b"POST /v1/shop/purchases HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    tmp: Path = tmp_path_factory.mktemp("protocol")
    process = ServerProcess(write_scenario(tmp, shoppers=1), f"sqlite:///{tmp / 'live.db'}", cwd=tmp)
    process.wait_ready()
    yield process  # type: ignore[misc]
    process.stop()


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_request_that_is_not_http_gets_a_problem(server: ServerProcess, case: str) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(MALFORMED[case])
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 400"), raw
    fields = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:]}
    assert fields["content-type"] == "application/problem+json", raw
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["reason"] == "MALFORMED_HTTP" and problem["detail"]
    assert set(problem) == {"type", "title", "status", "detail", "reason", "errors"}
