"""Safety of the citizen pages, over plain HTTP against a real server on loopback.

CSRF: a form without its session's token is refused (403 ``CSRF_FAILED``) and logs nothing.
Headers: every page answer has a CSP without inline scripts and ``Referrer-Policy:
no-referrer``. The invitation token moves into an HttpOnly cookie and out of the URL, is
never in the trial log, and is cut from access log lines. A resubmitted form (same hidden
idempotency key) is applied once. Rejections keep the JSON routes' reason codes and statuses.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx

from flagship.sandbox._live._logs import QueryRedaction
from tests.live._support import ServerProcess
from tests.live.test_votes_api import REGISTRAR, Clock, pilot, write_vote_scenario
from tests.pages._browser import log_actions

FORM = {"rank_restrict": "1", "rank_monitor": "2", "rank_no_action": "", "rank_pause_deployment": ""}


@contextlib.contextmanager
def signed_in(base: str, token: str) -> Iterator[httpx.Client]:
    """A browser-like client that followed the invitation (it keeps the session cookie)."""
    with httpx.Client(base_url=base, timeout=10) as client:
        yield _follow(client, token)


def _follow(client: httpx.Client, token: str) -> httpx.Client:
    landed = client.get("/pages/votes/invitation", params={"token": token})
    assert landed.status_code == 303 and landed.headers["location"] == "/pages/votes"
    cookie = landed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/pages" in cookie
    return client


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, html
    return found.group(1)


def test_forms_need_their_csrf_token_and_pages_send_safe_headers(tmp_path: Path) -> None:
    clock = Clock()
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with pilot(url, tmp_path, clock) as p:
        voter, token = p.register("person-0")
        clock.sim(160.0)
        base = str(p.client.base_url)
        with signed_in(base, token) as browser:
            page = browser.get("/pages/votes")
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
            assert page.headers["referrer-policy"] == "no-referrer"
            assert "<script>" not in page.text and " style=" not in page.text and token not in page.text
            action = "/pages/votes/emergency_vote-vote-1/ballot"
            key = hidden(page.text, "idempotency_key")

            forged = browser.post(action, data={**FORM, "idempotency_key": key})
            assert (forged.status_code, forged.json()["reason"]) == (403, "CSRF_FAILED")
            wrong = browser.post(action, data={**FORM, "idempotency_key": key, "csrf_token": "x" * 43})
            assert (wrong.status_code, wrong.json()["reason"]) == (403, "CSRF_FAILED")
            assert log_actions(url, "ballot") == []

            guarded = {**FORM, "csrf_token": hidden(page.text, "csrf_token"), "idempotency_key": key}
            cast = browser.post(action, data=guarded)
            assert cast.status_code == 201 and 'id="receipt"' in cast.text
            again = browser.post(action, data=guarded)  # the same form sent twice: applied once
            assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
            second = browser.post(action, data={**guarded, "idempotency_key": "another"})
            assert second.status_code == 409 and "SECOND_BALLOT" in second.text
            tied = browser.post(action, data={**guarded, "rank_monitor": "1", "idempotency_key": "tied"})
            assert tied.status_code == 422 and "INVALID_PAYLOAD" in tied.text
        assert [actor for _, actor, _ in log_actions(url, "ballot")] == [voter, voter]  # + the refused second
        # a browser whose cookie went stale (another trial's token) follows a fresh invitation
        with httpx.Client(base_url=base, timeout=10) as stale:
            stale.cookies.set("flagship_session", "v-0.stale", domain="127.0.0.1", path="/pages")
            assert stale.get("/pages/votes").status_code == 401
            _follow(stale, token)
            assert stale.get("/pages/votes").status_code == 200
        # without a session: the JSON routes' 401 problem, and no page
        anonymous = p.client.get("/pages/votes")
        assert (anonymous.status_code, anonymous.json()["reason"]) == (401, "UNAUTHENTICATED")
    with (tmp_path / "live.db").open("rb") as db:
        assert token.encode() not in db.read()


def test_access_log_lines_never_carry_the_invitation_token() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/pages/votes/invitation?token=v-1.secret", "1.1", 303),
                               None)
    assert QueryRedaction().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /pages/votes/invitation?[redacted] HTTP/1.1" 303'


def test_flagship_serve_with_access_log_never_writes_the_token(tmp_path: Path) -> None:
    """The real ``flagship serve`` (its own process, ``--access-log``): the invitation's line is
    logged without its query string, and the stylesheet is served from the package."""
    scenario = write_vote_scenario(tmp_path)
    server = ServerProcess(scenario, f"sqlite:///{tmp_path / 'serve.db'}", cwd=tmp_path, cli=True,
                           extra_args=["--access-log"])
    try:
        server.wait_ready()
        registered = httpx.post(f"{server.url}/v1/votes/registrations",
                                json={"person": "person-0", "strata": {"region": "north"}},
                                headers={"Authorization": f"Bearer {REGISTRAR}", "Idempotency-Key": "r1"})
        assert registered.status_code == 201, registered.text
        token = registered.json()["token"]
        with signed_in(server.url, token) as browser:
            home = browser.get("/pages/votes")
            assert home.status_code == 200 and "No vote for you yet" in home.text
            css = browser.get("/pages/static/pages.css")
            assert css.status_code == 200 and "prefers-reduced-motion" in css.text
            assert "prefers-color-scheme" in css.text
        assert server.stop()
        output = server.output()
        assert "/pages/votes/invitation?[redacted]" in output and token not in output
    finally:
        server.kill()


def test_pages_and_json_routes_share_the_callers_rate_limit(tmp_path: Path) -> None:
    """One bucket per identity: a voter's JSON requests and page requests draw on the same one."""
    scenario = write_vote_scenario(tmp_path)
    scenario.write_text(scenario.read_text() + "\n[live.limits]\nrate_per_second = 0.001\nburst = 3\n")
    with pilot(f"sqlite:///{tmp_path / 'live.db'}", tmp_path, Clock(), scenario) as p:
        _, token = p.register("person-0")
        for _ in range(2):
            me = p.client.get("/v1/votes/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200
        with signed_in(str(p.client.base_url), token) as browser:
            assert browser.get("/pages/votes").status_code == 200  # the bucket's third and last
            limited = browser.get("/pages/votes")
            assert (limited.status_code, limited.json()["reason"]) == (429, "RATE_LIMITED")
            assert "retry-after" in limited.headers and limited.headers["referrer-policy"] == "no-referrer"
