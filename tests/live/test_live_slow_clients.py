"""Slow and greedy clients (Slowloris) cannot exhaust a real ``flagship serve`` (issue 17, failure 4).

Raw sockets against the server on loopback: half-sent requests from one address are capped
per address and timed out (the server's open descriptors, read from /proc, stay bounded),
while a client from another loopback address (127.0.0.2) is still served; the header and
body deadlines answer 408, an oversized head 431, a connection over the cap 503, all
problem+json; bad option values exit 2 with one line.

Each test fails on a server without the limits: there 1,000 half-sent requests hold 1,000
descriptors for as long as the client likes, and no 408/431/503 is ever sent.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from flagship.sandbox._live._connections import ConnectionLimits, guarded_protocol
from flagship.sandbox._live._protocol import _H11ProblemProtocol, http_protocol
from tests.live._support import ServerProcess, flagship_command, free_port, write_scenario

PER_ADDRESS = 40
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
FLOOD = 1000
HALF_SENT = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp: Path = tmp_path_factory.mktemp("slow")
    process = ServerProcess(
        write_scenario(tmp, shoppers=1), f"sqlite:///{tmp / 'live.db'}", cwd=tmp, cli=True,
        extra_args=["--max-connections", "200", "--max-connections-per-address", str(PER_ADDRESS),
                    "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT)])
    process.wait_ready()
    yield process
    process.stop()


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def read_answer(sock: socket.socket, timeout: float = 15.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    raw = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            raw += chunk
    return raw


def problem_of(raw: bytes, status: int, reason: str) -> dict[str, object]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} "), raw
    fields = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:]}
    assert fields["content-type"] == "application/problem+json", raw
    problem: dict[str, object] = json.loads(body)
    assert problem["status"] == status and problem["reason"] == reason, problem
    assert set(problem) == {"type", "title", "status", "detail", "reason", "errors"}
    return problem


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def settle(pid: int, at_most: int, seconds: float = 20.0) -> int:
    """The server's descriptor count once it is at most ``at_most`` (or the last seen)."""
    deadline = time.monotonic() + seconds
    count = open_fds(pid)
    while count > at_most and time.monotonic() < deadline:
        time.sleep(0.1)
        count = open_fds(pid)
    return count


def test_a_flood_of_half_sent_requests_from_one_address_is_capped_and_others_are_served(
        server: ServerProcess) -> None:
    pid = server.process.pid
    before = open_fds(pid)
    flood: list[socket.socket] = []
    try:
        for _ in range(FLOOD):
            sock = connect(server.port)
            sock.sendall(HALF_SENT)
            flood.append(sock)
        # every connection is accepted, and all but PER_ADDRESS are answered 503 and closed at once
        during = settle(pid, before + PER_ADDRESS + 5)
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10) as other:
            assert other.get(f"{server.url}/healthz").status_code == 200
        problem_of(read_answer(flood[-1]), 503, "TOO_MANY_CONNECTIONS")
        # the ones held get 408 when their head is late, and the descriptors come back
        held = flood[0]
        problem_of(read_answer(held, timeout=HEADER_TIMEOUT + 10), 408, "REQUEST_TIMEOUT")
        after = settle(pid, before + 2)
    finally:
        for sock in flood:
            sock.close()
    print(f"server descriptors: {before} before, {during} during a flood of {FLOOD}, {after} after")
    assert during <= before + PER_ADDRESS + 5, (before, during)
    assert after <= before + 2, (before, after)


def test_the_per_address_cap_refuses_the_next_connection_from_that_address_only(
        server: ServerProcess) -> None:
    held = [connect(server.port) for _ in range(PER_ADDRESS)]
    try:
        for sock in held:
            sock.sendall(HALF_SENT)
        time.sleep(0.3)  # every one of them is accepted and counted before the next
        with connect(server.port) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            body = problem_of(read_answer(extra), 503, "TOO_MANY_CONNECTIONS")
        assert "address" in str(body["detail"])
        with connect(server.port, "127.0.0.3") as elsewhere:
            elsewhere.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_answer(elsewhere).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in held:
            sock.close()


def test_a_late_head_gets_408_and_a_silent_connection_is_closed(server: ServerProcess) -> None:
    with connect(server.port) as slow, connect(server.port) as silent:
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        problem_of(read_answer(slow), 408, "REQUEST_TIMEOUT")
        assert time.monotonic() - started >= HEADER_TIMEOUT - 0.5
        assert read_answer(silent) == b""


def test_a_late_body_gets_408_and_commits_nothing(server: ServerProcess) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"POST /v1/shop/purchases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-alice\r\n"
                     b"Idempotency-Key: slow-body-1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"offer\": ")
        problem_of(read_answer(sock), 408, "REQUEST_TIMEOUT")
    # the key was never used: the same key with a whole body is a first attempt, not a replay
    answer = httpx.post(f"{server.url}/v1/shop/purchases", json={"offer": 150}, timeout=10,
                        headers={"Authorization": "Bearer tok-alice", "Idempotency-Key": "slow-body-1"})
    assert answer.status_code in (200, 201), answer.text
    assert "Idempotent-Replayed" not in answer.headers


def test_a_body_answered_before_it_arrived_drains_and_is_not_taken_for_a_head(server: ServerProcess) -> None:
    """A 413 on the declared length goes out before the body: the 40 KB that follow are the
    body's rest, not a 40 KB head (no 431 after the 413), and the body deadline ends the drain."""
    with connect(server.port) as sock:
        sock.sendall(b"POST /v1/shop/purchases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-alice\r\n"
                     b"Idempotency-Key: big-1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n")
        time.sleep(0.3)
        sock.sendall(b"x" * 40_000)
        raw = read_answer(sock)
    problem_of(raw, 413, "BODY_TOO_LARGE")
    assert b"HEADERS_TOO_LARGE" not in raw and raw.count(b"HTTP/1.1 ") == 1, raw


def test_an_oversized_head_gets_431(server: ServerProcess) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        problem_of(read_answer(sock), 431, "HEADERS_TOO_LARGE")


@pytest.mark.parametrize(("args", "option"), [
    (["--max-connections", "0"], "--max-connections"),
    (["--max-connections", "10", "--max-connections-per-address", "20"], "--max-connections-per-address"),
    (["--header-timeout", "0"], "--header-timeout"),
    (["--body-timeout", "-1"], "--body-timeout"),
    (["--max-connections", "999999"], "--max-connections"),  # more descriptors than the hard limit
])
def test_bad_connection_options_exit_2_with_one_line(tmp_path: Path, args: list[str], option: str) -> None:
    if args[-1] == "999999" and resource.getrlimit(resource.RLIMIT_NOFILE)[1] in (resource.RLIM_INFINITY,):
        pytest.skip("no hard descriptor limit here to exceed")
    scenario = write_scenario(tmp_path, shoppers=1)
    result = subprocess.run(
        [*flagship_command("serve", str(scenario), "--db", f"sqlite:///{tmp_path / 'live.db'}",
                           "--key-dir", str(tmp_path), "--port", "1"), *args],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "live.db").exists()  # refused before the trial opened


async def _echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, then answers 200 with its length (an app that waits for the body)."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(size).encode()})


@pytest.fixture(params=["h11", "httptools"])
def parser_server(request: pytest.FixtureRequest) -> Iterator[int]:
    """The guard on each of uvicorn's HTTP parsers, in a uvicorn server of this process."""
    base = _H11ProblemProtocol if request.param == "h11" else http_protocol()
    if request.param == "httptools" and base is _H11ProblemProtocol:
        pytest.skip("httptools is not installed")
    port = free_port()
    limits = ConnectionLimits(max_connections=8, max_connections_per_address=3,
                              header_timeout=1.0, body_timeout=1.0)
    config = uvicorn.Config(_echo_app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            ws="none", lifespan="off", http=guarded_protocol(base, limits),
                            h11_max_incomplete_event_size=limits.max_header_bytes + 1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(timeout=30)


def test_the_guard_works_on_both_parsers(parser_server: int) -> None:
    port = parser_server
    with connect(port) as ok:  # a whole request with a body in two writes is served, kept alive
        ok.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        time.sleep(0.1)
        ok.sendall(b"56789")
        ok.settimeout(5)
        assert ok.recv(65536).startswith(b"HTTP/1.1 200 ")
    with connect(port) as body:
        body.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n012")
        problem_of(read_answer(body), 408, "REQUEST_TIMEOUT")
    with connect(port) as head:
        head.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        problem_of(read_answer(head), 408, "REQUEST_TIMEOUT")
    with connect(port) as big:
        big.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17_000 + b"\r\n\r\n")
        problem_of(read_answer(big), 431, "HEADERS_TOO_LARGE")
    held = [connect(port) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.2)
        with connect(port) as extra:
            problem_of(read_answer(extra), 503, "TOO_MANY_CONNECTIONS")
    finally:
        for sock in held:
            sock.close()
