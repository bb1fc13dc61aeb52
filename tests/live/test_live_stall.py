"""A stalled store (a frozen disk): reads go on, the stalled POST answers OUTCOME_UNKNOWN, not ready.

On PostgreSQL the stall is real: a TCP proxy between the server and the database stops
forwarding, both ways, the moment the server sends COMMIT, and closes nothing, so no timeout
of the database or the driver ends it (the issue's frozen filesystem looks the same to the
server). On SQLite, in-process, nothing can hold a COMMIT like that without freezing a
filesystem (a lock held by another process is answered by SQLite's busy timeout, which
test_live_outage covers): the log's append waits on an event, as a write blocked on a frozen
disk would, and writes when the stall ends (the same stand-in pattern as test_live_outage's
lost answer). Nothing is timed: every check is ordered against the stall's end, which the
test holds until all of them passed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa

from flagship.sandbox._live import EngineOptions
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests.live._support import TcpProxy, auth, build_live, problem, serving, write_scenario


def _buy(client: httpx.Client, key: str) -> httpx.Response:
    return client.post("/v1/shop/purchases", json={"offer": 150},
                       headers={**auth(), "Idempotency-Key": key})


class _StallsOneCommit:
    """SQLite's stand-in for a frozen disk: once armed, the next append blocks until released,
    then writes (the commit lands after the stall, as a blocked write would)."""

    def __init__(self, log: TrialLog) -> None:
        self.log = log
        self.armed = False
        self.stalled = threading.Event()
        self.released = threading.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.log, name)

    def append(self, *args: object, **kwargs: object) -> None:
        if self.armed:
            self.armed = False
            self.stalled.set()
            self.released.wait()
        self.log.append(*args, **kwargs)  # type: ignore[arg-type]


def test_a_stalled_commit_answers_outcome_unknown_while_reads_go_on(store_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=0)
    options = EngineOptions(tick_seconds=0.02, measures_seconds=0, db_timeout=0.5, retry_backoff=0.1,
                            max_backoff=0.5)
    with contextlib.ExitStack() as stack:
        proxy: TcpProxy | None = None
        if store_url.startswith("sqlite"):
            url = store_url
        else:
            parsed = sa.make_url(store_url)
            proxy = stack.enter_context(TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432))
            url = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        live = build_live(url, scenario, tmp_path, options=options)
        stand_in = _StallsOneCommit(live.engine.log)
        stall: Callable[[], None]
        if proxy is None:
            live.engine.durable.log = stand_in  # type: ignore[assignment]
            stalled, resume = stand_in.stalled, stand_in.released.set

            def stall() -> None:
                stand_in.armed = True
        else:
            stalled, resume = proxy.stalled, proxy.resume

            def stall() -> None:
                proxy.stall_at(b"COMMIT")
        with serving(live) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            try:
                acked = {"before"}
                assert _buy(client, "before").status_code == 201
                before = client.get("/v1/shop").json()
                assert client.get("/readyz").status_code == 200

                stall()
                answers: list[httpx.Response] = []
                poster = threading.Thread(target=lambda: answers.append(_buy(client, "stalled")))
                poster.start()
                assert stalled.wait(30), "the POST's commit never reached the store"
                events = ["stalled"]
                book = client.get("/v1/shop")  # the stall is held: answering at all is answering in time
                events.append("read answered")
                assert book.status_code == 200 and book.json() == before  # committed state only
                poster.join(60)
                events.append("post answered")
                body = problem(answers[0], 503, "OUTCOME_UNKNOWN")
                assert "Idempotency-Key" in body["detail"] and int(answers[0].headers["retry-after"]) >= 1
                problem(client.get("/readyz"), 503, "NOT_READY")
                other = _buy(client, "during")  # no second commit while the first is in flight
                problem(other, 503, "STORE_UNAVAILABLE")
                assert client.get("/healthz").status_code == 200  # alive: no restart needed
                events.append("readyz 503")
            finally:
                resume()
            events.append("stall ended")
            assert events == ["stalled", "read answered", "post answered", "readyz 503", "stall ended"]

            deadline = time.monotonic() + 30
            while (retried := _buy(client, "stalled")).status_code == 503:
                assert retried.json()["reason"] in ("STORE_UNAVAILABLE", "OUTCOME_UNKNOWN"), retried.text
                assert time.monotonic() < deadline, "never served the retry"
                time.sleep(0.1)
            assert retried.status_code == 201, retried.text
            assert retried.json()["buyer"] == "alice"
            acked.add("stalled")
            again = _buy(client, "stalled")  # a second retry replays, it does not act again
            assert again.status_code == 201 and again.json() == retried.json()
            assert client.get("/v1/shop").json()["sold"] == before["sold"] + 1  # acted once
            assert client.get("/readyz").status_code == 200
            assert _buy(client, "after").status_code == 201
            acked.add("after")
    with Store.open(store_url) as store:
        log = TrialLog(store)
        trial_id = log.trials()[-1].id
        assert log.verify(trial_id).ok
        keys = [e.idempotency_key for e in log.entries(trial_id) if e.idempotency_key]
    stored = [key.split('"')[3] for key in keys]
    assert sorted(stored) == sorted(acked)  # nothing acknowledged lost, the stalled one once
