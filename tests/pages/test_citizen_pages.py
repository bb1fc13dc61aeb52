"""The citizen's pages of the emergency vote, in the Debian chromium against ``flagship serve``.

``flagship serve`` runs in its own process on loopback (see :func:`tests.pages._browser.served`),
serving an ``emergency_vote`` trial with a legitimacy survey on the wall clock at 60 sim seconds
per wall second: an incident at sim time 600 (10 s in) convenes every registered voter; the
ballot is open from 660 to 2460 (30 wall seconds for the browser), the count at 2460 opens the
survey for 7200 (two wall minutes). The registrar registers two voters over HTTP before the
incident, as a real registrar would. A citizen follows the invitation link, ranks the measures
by keyboard, casts the ballot and reads the receipt; once the server has counted (the test polls
the API), the citizen sees the decision and its sunset and answers the survey. After the server
stopped gracefully, ``flagship verify`` passes under the trial's own key and the ballot and the
answer are each in the trial log exactly once, at their receipts' sequence numbers and hashes.
The same flow runs with JavaScript disabled at a 360x800 viewport, and axe-core (in the
JavaScript run) finds no serious or critical WCAG 2.2 AA violation on any page.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live.test_survey_api import write_survey_scenario
from tests.live.test_votes_api import REGISTRAR, VOTE, bearer
from tests.pages._browser import ServedTrial, chromium, log_actions, served, verify, wait_for

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
TIME_FACTOR = 60.0
"""Sim seconds per wall second: the vote's timetable below, in wall seconds, is a ten-second
wait for the incident, thirty seconds of ballot and two minutes of survey: on a busy two-core
machine the registrations end about a second after the server starts and the browser casts within
two seconds of the ballot opening, so each window has a margin of eight times or more."""
INCIDENT_AT = 600.0
DELIBERATION = 60.0
BALLOT = 1800.0
COUNT_AT = INCIDENT_AT + DELIBERATION + BALLOT
SURVEY_WINDOW = 7200.0
SUNSET = 36000.0


def assert_accessible(page: Any, *, javascript: bool) -> None:
    """axe-core on the page as shown: no serious or critical WCAG 2.2 AA violation.

    axe runs as a script in the page, so it checks the JavaScript run's pages (the same
    templates the no-JavaScript run gets, plus the enhancement's buttons).
    """
    if not javascript:
        return
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}})
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]])
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{page.url}: {bad}"


def rank_restrict_first(page: Any, *, javascript: bool) -> None:
    """Put ``restrict`` (second by default) first, with the keyboard only."""
    if javascript:
        page.get_by_role("button", name="Move restrict up").focus()
        page.keyboard.press("Enter")
        assert page.get_by_role("status").inner_text() == "restrict is now at position 1"
    else:
        page.locator("#rank-2").focus()  # restrict: position 2 -> 1
        page.keyboard.press("ArrowUp")
        page.locator("#rank-1").focus()  # pause_deployment: position 1 -> 2
        page.keyboard.press("ArrowDown")
    assert page.locator("select[name='rank_restrict']").input_value() == "1"
    assert page.locator("select[name='rank_pause_deployment']").input_value() == "2"


class Registrar:
    """The polity's registrar, over HTTP with its own bearer token, as a real one registers people."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.keys = itertools.count(1)

    def register(self, person: str, region: str) -> tuple[str, str]:
        """Register ``person``; (voter id, the token of the invitation link sent to them)."""
        answer = self.client.post("/v1/votes/registrations",
                                  json={"person": person, "strata": {"region": region}},
                                  headers={**bearer(REGISTRAR), "Idempotency-Key": f"reg-{next(self.keys)}"})
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return str(body["voter_id"]), str(body["token"])


def ballot_open_to(client: httpx.Client, token: str) -> bool | None:
    """True once the voter's ballot is open (the API's ``/v1/votes/me``); None while it is not yet."""
    mine = client.get("/v1/votes/me", headers=bearer(token))
    assert mine.status_code == 200, mine.text
    votes = {v["vote_id"]: v for v in mine.json()["votes"]}
    if VOTE in votes:
        assert votes[VOTE]["convened"], votes  # registered before the incident, so convened
        assert votes[VOTE]["status"] in ("deliberation", "ballot_open"), votes  # not closed before we cast
    return True if VOTE in votes and votes[VOTE]["ballot_open"] else None


def counted(client: httpx.Client) -> dict[str, Any] | None:
    """The vote's view once the server counted it (at sim time ``COUNT_AT``), else None."""
    view = client.get(f"/v1/votes/{VOTE}")
    assert view.status_code == 200, view.text
    body: dict[str, Any] = view.json()
    return body if body["status"] == "counted" else None


def registered_before_the_incident(trial: ServedTrial, client: httpx.Client) -> tuple[str, str]:
    """Two voters registered by the registrar; the first one's (voter id, invitation token)."""
    registrar = Registrar(client)
    voter, token = registrar.register("person-0", "north")
    registrar.register("person-1", "south")
    now = trial.sim_time()
    assert now < INCIDENT_AT, f"registered at sim time {now:g}, after the incident: the server was too slow"
    return voter, token


@pytest.mark.parametrize(("javascript", "viewport"), [(True, (1280, 900)), (False, (360, 800))],
                         ids=["javascript-desktop", "no-javascript-mobile"])
def test_citizen_follows_the_invitation_ranks_casts_and_sees_receipt_and_decision(
        tmp_path: Path, javascript: bool, viewport: tuple[int, int]) -> None:
    scenario = write_survey_scenario(tmp_path, window=SURVEY_WINDOW, incident_at=INCIDENT_AT,
                                     deliberation=DELIBERATION, ballot=BALLOT, sunset=SUNSET)
    with served(scenario, tmp_path, time_factor=TIME_FACTOR) as trial, trial.client() as client:
        voter, token = registered_before_the_incident(trial, client)
        with chromium(javascript=javascript, viewport=viewport) as context:
            page = context.new_page()
            sent: list[dict[str, str]] = []
            page.on("request", lambda request: sent.append(request.headers))
            wait_for("the ballot to open", lambda: ballot_open_to(client, token),
                     seconds=(INCIDENT_AT + DELIBERATION) / TIME_FACTOR + 60)
            page.goto(f"{trial.url}/pages/votes/invitation?token={token}")
            assert page.url == f"{trial.url}/pages/votes"  # the token left the address bar
            assert page.get_by_role("heading", level=1).inner_text() == "Emergency vote on an AI incident"
            assert "frontier-jailbreak" in page.locator("main").inner_text()
            assert_accessible(page, javascript=javascript)
            rank_restrict_first(page, javascript=javascript)
            if javascript:
                IMAGES.mkdir(exist_ok=True)
                page.screenshot(path=str(IMAGES / "citizen.png"), full_page=True)
            page.get_by_role("button", name="Cast my ballot").focus()
            page.keyboard.press("Enter")
            page.wait_for_selector("#receipt")
            seq = int(page.locator("#receipt-seq").inner_text())
            digest = page.locator("#receipt-hash").inner_text()
            assert_accessible(page, javascript=javascript)
            assert not any("token" in h.get("referer", "") or token in str(h) for h in sent[1:])

            view = wait_for("the count", lambda: counted(client), seconds=BALLOT / TIME_FACTOR + 120)
            assert view["result"]["decision"]["measure"] == "restrict"
            page.goto(f"{trial.url}/pages/votes")
            assert page.locator("#decided-measure").inner_text() == "restrict"
            assert page.locator("#sunset").inner_text() == f"sim time {COUNT_AT + SUNSET:g}, unless renewed"
            assert_accessible(page, javascript=javascript)

            page.get_by_role("link", name="Surveys").click()  # the count opened the survey
            assert page.get_by_role("heading", level=1).inner_text() == "How do you see the decision?"
            assert_accessible(page, javascript=javascript)
            page.locator("#answer_da_comply-4").check()
            page.locator("#answer_da_use_again-yes").check()
            page.locator("#answer_da_comment").fill("A fair process")
            page.get_by_role("button", name="Send my answers").click()
            page.wait_for_selector("#receipt")
            answered = (int(page.locator("#receipt-seq").inner_text()), voter,
                        page.locator("#receipt-hash").inner_text())
            assert_accessible(page, javascript=javascript)
            assert "No survey is open to you right now." not in page.locator("main").inner_text()
    assert log_actions(trial.db_url, "respond") == [answered]
    assert verify(trial.db, trial).count(": ok (") == 1
    assert log_actions(trial.db_url, "ballot") == [(seq, voter, digest)]  # once, where the receipt says
