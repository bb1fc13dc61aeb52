"""A stalled store (a frozen disk): reads answer from committed state at once, the stalled POST
answers OUTCOME_UNKNOWN once it overruns the timeout, the server is not ready meanwhile.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from flagship.sandbox._live import EngineOptions
from flagship.telemetry._trial_log import TrialLog
from tests.live._outages import buy, client_key, proxied
from tests.live._support import Live, build_live, logged_entries, problem, serving, write_scenario


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


@dataclass
class _Stall:
    """A server whose next commit the test stalls, and the events that hold and end the stall."""

    live: Live
    stall: Callable[[], None]
    """Arm the stall: the next commit's write stops (at the disk, or at COMMIT on the wire)."""
    stalled: threading.Event
    """Set once a commit reached the stall."""
    resume: Callable[[], None]
    """End the stall: the write goes on (and lands)."""


@contextlib.contextmanager
def _stallable(store_url: str, tmp_path: Path, options: EngineOptions) -> Iterator[_Stall]:
    scenario = write_scenario(tmp_path, shoppers=0)
    with contextlib.ExitStack() as stack:
        if store_url.startswith("sqlite"):
            live = build_live(store_url, scenario, tmp_path, options=options)
            stand_in = _StallsOneCommit(live.engine.log)
            live.engine.durable.log = stand_in  # type: ignore[assignment]

            def arm() -> None:
                stand_in.armed = True

            yield _Stall(live, arm, stand_in.stalled, stand_in.released.set)
        else:
            proxy, url = stack.enter_context(proxied(store_url))
            live = build_live(url, scenario, tmp_path, options=options)
            yield _Stall(live, lambda: proxy.stall_at(b"COMMIT"), proxy.stalled, proxy.resume)


def _stored_keys(store_url: str) -> list[str]:
    """The idempotency keys (as the clients sent them) of the trial's committed log entries."""
    return sorted(client_key(e.idempotency_key) for e in logged_entries(store_url) if e.idempotency_key)


def test_reads_answer_from_committed_state_while_a_commit_is_stalled(store_url: str, tmp_path: Path) -> None:
    # The writer gives up on a commit only after 1.5 x db_timeout: far beyond any read here, so
    # the stall is the test's to end and every read below is answered while it lasts.
    options = EngineOptions(tick_seconds=0.02, measures_seconds=0, db_timeout=40.0)
    with _stallable(store_url, tmp_path, options) as held, serving(held.live) as server, \
            httpx.Client(base_url=server.url, timeout=120) as client:
        engine = held.live.engine
        try:
            assert buy(client, "before").status_code == 201
            shop, trial = client.get("/v1/shop").json(), client.get("/v1/trial").json()
            assert client.get("/readyz").status_code == 200

            held.stall()
            answers: list[httpx.Response] = []
            poster = threading.Thread(target=lambda: answers.append(buy(client, "stalled")))
            poster.start()
            assert held.stalled.wait(60), "the POST's commit never reached the store"
            # The writer applied the purchase and is waiting on the store with it...
            assert engine.host is not None and engine.host.mechanisms["posted_price"].sold == shop["sold"] + 1
            events = ["stalled"]
            for _ in range(3):  # ...and reads, none waiting on it, show only what is committed
                assert client.get("/v1/shop").json() == shop
                during = client.get("/v1/trial").json()
                assert (during["log_size"], during["head_hash"], during["state_sha256"]) == \
                    (trial["log_size"], trial["head_hash"], trial["state_sha256"])
            events.append("reads answered")
            assert poster.is_alive() and not answers, "the POST was answered before the stall ended"
            assert client.get("/healthz").status_code == 200
            events.append("post still waiting")
        finally:
            held.resume()
        events.append("stall ended")
        poster.join(120)
        assert events == ["stalled", "reads answered", "post still waiting", "stall ended"]
        assert answers[0].status_code == 201, answers[0].text  # the write landed once the disk thawed
        assert answers[0].headers.get("flagship-receipt")
        # acknowledged means readable: the view moved with the commit, before the answer
        after = client.get("/v1/shop").json()
        assert after == {**shop, "sold": shop["sold"] + 1, "stock": shop["stock"] - 1}
        assert client.get("/v1/trial").json()["log_size"] == trial["log_size"] + 1
        assert client.get("/readyz").status_code == 200
    assert _stored_keys(store_url) == ["before", "stalled"]


def test_a_stalled_commit_answers_outcome_unknown_while_reads_go_on(store_url: str, tmp_path: Path) -> None:
    options = EngineOptions(tick_seconds=0.02, measures_seconds=0, db_timeout=0.5, retry_backoff=0.1,
                            max_backoff=0.5)
    with _stallable(store_url, tmp_path, options) as held:
        live, stall, stalled, resume = held.live, held.stall, held.stalled, held.resume
        with serving(live) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            try:
                acked = {"before"}
                assert buy(client, "before").status_code == 201
                before = client.get("/v1/shop").json()
                assert client.get("/readyz").status_code == 200

                stall()
                answers: list[httpx.Response] = []
                poster = threading.Thread(target=lambda: answers.append(buy(client, "stalled")))
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
                assert client.get("/v1/shop").json() == before  # the overrun write is still in flight
                problem(client.get("/readyz"), 503, "NOT_READY")
                other = buy(client, "during")  # no second commit while the first is in flight
                problem(other, 503, "STORE_UNAVAILABLE")
                assert client.get("/healthz").status_code == 200  # alive: no restart needed
                events.append("readyz 503")
            finally:
                resume()
            events.append("stall ended")
            assert events == ["stalled", "read answered", "post answered", "readyz 503", "stall ended"]

            deadline = time.monotonic() + 30
            while (retried := buy(client, "stalled")).status_code == 503:
                assert retried.json()["reason"] in ("STORE_UNAVAILABLE", "OUTCOME_UNKNOWN"), retried.text
                assert time.monotonic() < deadline, "never served the retry"
                time.sleep(0.1)
            assert retried.status_code == 201, retried.text
            assert retried.json()["buyer"] == "alice"
            acked.add("stalled")
            again = buy(client, "stalled")  # a second retry replays, it does not act again
            assert again.status_code == 201 and again.json() == retried.json()
            assert client.get("/v1/shop").json()["sold"] == before["sold"] + 1  # acted once
            assert client.get("/readyz").status_code == 200
            assert buy(client, "after").status_code == 201
            acked.add("after")
    assert _stored_keys(store_url) == sorted(acked)  # nothing acknowledged lost, the stalled one once
