"""Shared helpers of the live-pilot tests: scenario files, in-process and subprocess servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from flagship.sandbox._live import (
    Engine,
    EngineOptions,
    LiveGateway,
    create_app,
    load_live_scenario,
    open_trial,
    shadow_scenario,
)
from flagship.telemetry import Store
from flagship.telemetry._prometheus import LiveMetrics
from flagship.telemetry._trial_log import LogEntry, TrialLog

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKENS = {f"tok-{name}": name for name in ("alice", "bob", "carol", "dave")}


def write_scenario(directory: Path, *, shoppers: int = 3, rate: float = 0.5, stock: int = 100_000,
                   time_factor: float = 10.0, duration: float = 1e6, extra: str = "",
                   limits: str = "") -> Path:
    """A posted-price shop with simulated shoppers, served with bearer tokens."""
    tokens = ", ".join(f'"{token}" = "{actor}"' for token, actor in TOKENS.items())
    path = directory / "shop.toml"
    path.write_text(f"""
name = "shop_live"
seed = 11
duration = {duration}

[mechanisms.posted_price]
price = 100
stock = {stock}

[populations.shoppers]
model = "shoppers"
count = {shoppers}
arrival = {{ process = "poisson", rate = {rate} }}
{extra}
[live]
authenticators = ["bearer_token"]
time_factor = {time_factor}

[live.auth.bearer_token]
tokens = {{ {tokens} }}
{limits}
""")
    return path


def auth(actor: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer tok-{actor}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Live:
    """An engine and its app, built in this process."""

    engine: Engine
    app: Any
    store: Store


def build_live(url: str, scenario: Path, key_dir: Path, *, options: EngineOptions | None = None,
               shadow: Any = None, clock: Callable[[], float] = time.time, **open_kwargs: Any) -> Live:
    live = load_live_scenario(scenario)
    store = Store.open(url, durable=True)
    log = TrialLog(store)
    trial, key, _ = open_trial(log, live, key_dir=key_dir, clock=clock, **open_kwargs)
    engine = Engine(live.resolved, trial, log, key,
                    options=options or EngineOptions(measures_seconds=0, tick_seconds=0.02),
                    metrics=LiveMetrics(), shadow=shadow, clock=clock)
    return Live(engine, create_app(engine, spec=live.spec), store)


class ThreadServer:
    """A real uvicorn server on loopback, in a thread of this process."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = free_port() if port is None else port
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, ws="none", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextlib.contextmanager
def serving(live: Live, port: int | None = None) -> Iterator[ThreadServer]:
    try:
        with ThreadServer(live.app, port) as server:
            yield server
    finally:
        live.store.close()


def flagship_command(*args: str) -> list[str]:
    """``flagship ARGS`` run by this interpreter (the same venv and checkout)."""
    return [sys.executable, "-m", "flagship.sandbox", *args]


_LIGHT_SERVE = """
import json, sys
from flagship.sandbox._live import EngineOptions, run_server
args = json.loads(sys.argv[1])
options = EngineOptions(**args.pop("options"))
run_server(args.pop("scenario"), options=options, **args)
"""


class ServerProcess:
    """A live server as a subprocess on loopback (killable).

    ``cli=True`` runs ``flagship serve``; otherwise the same ``run_server`` is called
    without the CLI module, whose other commands' imports would slow every restart.
    """

    def __init__(self, scenario: Path, url: str, *, cwd: Path, cli: bool = False, tick: float = 0.02,
                 checkpoint_seconds: float = 0.5, measures_seconds: float = 0.0, new_trial: bool = False,
                 extra_args: Sequence[str] = (), port: int | None = None,
                 witness: Path | None = None, workers: int = 0, commit_delay: float | None = None) -> None:
        self.port = free_port() if port is None else port
        self.workers = workers
        self._admin_url: str | None = None
        self._tag = f"flagship_test_{self.port}_{uuid.uuid4().hex[:8]}"
        if url.startswith("postgresql"):  # name its connections, so that kill() can wait for their end
            self._admin_url = url
            url = f"{url}{'&' if '?' in url else '?'}application_name={self._tag}"
        self.log_path = cwd / f"serve-{self.port}.log"
        self._log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if cli:
            if commit_delay is not None:
                raise ValueError("flagship serve has no --commit-delay: run the server without cli=True")
            command = flagship_command(
                "serve", str(scenario), "--db", url, "--port", str(self.port), "--key-dir", str(cwd),
                "--tick", str(tick), "--checkpoint-seconds", str(checkpoint_seconds),
                "--measures-interval", str(measures_seconds), *(["--new-trial"] if new_trial else []),
                *(["--witness", str(witness)] if witness is not None else []),
                *(["--workers", str(workers)] if workers else []), *extra_args)
        else:
            args = {"scenario": str(scenario), "db": url, "port": self.port, "key_dir": str(cwd),
                    "new_trial": new_trial, "witness": None if witness is None else str(witness),
                    "workers": workers,
                    "options": {"tick_seconds": tick, "checkpoint_seconds": checkpoint_seconds,
                                "measures_seconds": measures_seconds,
                                **({} if commit_delay is None else {"commit_delay": commit_delay})}}
            command = [sys.executable, "-c", _LIGHT_SERVE, json.dumps(args)]
        self.process = subprocess.Popen(command, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float | None = None) -> None:
        # a split server starts three interpreters, each recovering the trial: more time on a busy machine
        deadline = time.monotonic() + (timeout or (150.0 if self.workers else 60.0))
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}): {self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the server did not become ready: {self.output()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, exactly like a crash.

        Returns once PostgreSQL holds no connection of the killed server (or its workers): a
        COMMIT the server sent just before it died may still complete in its backend, so the
        durable log is only final once that backend is gone.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        if not self._log.closed:
            self._log.close()
        if self._admin_url is not None:
            self._wait_for_backends_to_end(self._admin_url)

    def _wait_for_backends_to_end(self, admin_url: str, timeout: float = 30.0) -> None:
        admin = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
        try:
            deadline = time.monotonic() + timeout
            while True:
                with admin.connect() as conn:
                    left = conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity "
                                                "WHERE application_name = :tag"), {"tag": self._tag}).scalar()
                if left == 0:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"{left} connections of the killed server outlived it "
                                         f"by {timeout} s")
                time.sleep(0.02)
        finally:
            admin.dispose()

    def stop(self) -> bool:
        """SIGTERM: a graceful stop (drain, final checkpoint); True when it exited cleanly.

        uvicorn re-raises the signal after its graceful shutdown, so a clean stop
        ends by SIGTERM (-15) rather than with status 0.
        """
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self._log.close()
        return code in (0, -signal.SIGTERM)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]


def drive_session(tmp_path: Path, *, shadow: list[str] | None = None, clients: int = 30,
                  shoppers: int = 4, url: str | None = None, options: EngineOptions | None = None) -> Live:
    """A short live trial driven in-process: clients buy through the gateway while shoppers act.

    The store is ``url`` (a SQLite file in ``tmp_path`` by default); it is left open.
    """
    scenario = write_scenario(tmp_path, shoppers=shoppers, rate=0.5, time_factor=50.0)
    live = build_live(url or f"sqlite:///{tmp_path / 'live.db'}", scenario, tmp_path,
                      options=options or EngineOptions(tick_seconds=0.01, measures_seconds=0))
    if shadow:
        live.engine.shadow = shadow_scenario(live.engine.trial, shadow)

    async def drive() -> None:
        await live.engine.start()
        gateway = LiveGateway(live.engine)
        try:
            for i in range(clients):
                await gateway.submit("posted_price", "buy", {"offer": 70 + 3 * i}, actor=f"client-{i % 3}")
                await asyncio.sleep(0.01)
        finally:
            await live.engine.stop()

    asyncio.run(drive())
    return live


def require_tool(name: str) -> str:
    """The path of an external tool; missing fails under CI=true and skips locally."""
    found = shutil.which(name)
    if found is None:
        package = {"prometheus-pushgateway": "prometheus-pushgateway",
                   "chromium": "chromium"}.get(name, "prometheus")
        message = f"{name} is not installed (Debian: apt-get install -y {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def fuzz_api(url: str, token: str, report_dir: Path, *, paths: str | None = None, examples: int = 10,
             seconds: int = 15) -> str:
    """Run Schemathesis (every check but positive-data acceptance) against the server's OpenAPI.

    Asserts that it found no server error and no schema violation; returns its output.
    """
    here = str(Path(sys.executable).parent)
    tool = shutil.which("schemathesis", path=here) or shutil.which("schemathesis")
    if tool is None:
        pytest.fail("schemathesis is not installed; install the test extra: pip install -e '.[test]'")
    command = [tool, "run", f"{url}/openapi.json", "--checks", "all",
               "--exclude-checks", "positive_data_acceptance", "--max-examples", str(examples),
               "--seed", "7", "--workers", "1", "--max-time", str(seconds), "--no-shrink",
               "--request-timeout", "10", "--header", f"Authorization: Bearer {token}",
               "--report-dir", str(report_dir)]
    if paths is not None:
        command += ["--include-path-regex", paths]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=240,
                            cwd=report_dir.parent)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Test cases:" in output and " passed" in output
    return output


def until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``predicate`` until it holds; fail once ``timeout`` seconds pass without it."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def logged_entries(store_url: str, trial_id: str | None = None) -> list[LogEntry]:
    """The entries of a trial (the store's newest by default), read directly, once its hash
    chain verified."""
    with Store.open(store_url) as store:
        log = TrialLog(store)
        trial_id = log.trials()[-1].id if trial_id is None else trial_id
        assert log.verify(trial_id).ok
        return list(log.entries(trial_id))


def problem(response: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    """Assert ``response`` is the server's problem+json with this status and reason; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["reason"] == reason, body
    assert set(body) == {"type", "title", "status", "detail", "reason", "errors"}
    return body


class TcpProxy:
    """A TCP proxy on loopback in front of a server (PostgreSQL), to cut the connection for real.

    :meth:`cut` closes the listening socket and every relayed connection (clients see the
    database vanish mid-connection and new connections refused); :meth:`restore` listens
    again on the same port. The database itself is never touched.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lose_answer_to: bytes | None = None
        self.answers_lost = 0
        self._stall_at: bytes | None = None
        self._flowing = threading.Event()
        self._flowing.set()
        self.stalled = threading.Event()
        """Set once a :meth:`stall_at` marker was met and forwarding stopped."""

    def __enter__(self) -> TcpProxy:
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()

    def restore(self) -> None:
        """Accept connections again (on the same port)."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def lose_answer_to(self, marker: bytes) -> None:
        """Forward the next client message holding ``marker`` (b"COMMIT"), then drop that
        connection without relaying the server's answer: the statement ran, the client never knows."""
        self._lose_answer_to = marker

    def stall_at(self, marker: bytes) -> None:
        """Stop forwarding, both ways and on every connection, when a client message holds
        ``marker`` (b"COMMIT"), without closing anything: a database that stopped answering
        (a frozen disk), which no timeout of the database itself ends. :meth:`resume` ends it."""
        self.stalled.clear()
        self._stall_at = marker

    def resume(self) -> None:
        """Forward again what a stall held back (the held COMMIT reaches the database now)."""
        self._stall_at = None
        self._flowing.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            muted = threading.Event()
            threading.Thread(target=self._pipe, args=(client, upstream, muted, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, muted, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, muted: threading.Event,
              from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                stall = self._stall_at
                if from_client and stall is not None and stall in data:
                    self._stall_at = None
                    self._flowing.clear()
                    self.stalled.set()
                self._flowing.wait()
                marker = self._lose_answer_to
                if from_client and marker is not None and marker in data:
                    self._lose_answer_to = None
                    muted.set()  # the answer must not reach the client
                    sink.sendall(data)
                    time.sleep(0.5)  # the server runs it and answers into the void
                    self.answers_lost += 1
                    break
                if muted.is_set() and not from_client:
                    continue
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
