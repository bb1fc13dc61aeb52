"""The citizen's pages of the emergency vote, in the Debian chromium against a real server.

A real uvicorn server on loopback serves an ``emergency_vote`` trial on a clock the test
moves (an incident at sim time 100 convenes every registered voter; ballot from 150 to
250, count at 250). A citizen follows the registrar's invitation link, ranks the measures
by keyboard, casts the ballot, reads the receipt, and after the count sees the decision
and its sunset. Afterwards ``flagship verify`` passes and the ballot is in the trial log
exactly once, at the receipt's sequence number and hash. The same flow runs with
JavaScript disabled at a 360x800 viewport, and axe-core (in the JavaScript run) finds no
serious or critical WCAG 2.2 AA violation on any page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.live.test_survey_api import write_survey_scenario
from tests.live.test_votes_api import Clock, pilot
from tests.pages._browser import chromium, log_actions, verify

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


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


@pytest.mark.parametrize(("javascript", "viewport"), [(True, (1280, 900)), (False, (360, 800))],
                         ids=["javascript-desktop", "no-javascript-mobile"])
def test_citizen_follows_the_invitation_ranks_casts_and_sees_receipt_and_decision(
        tmp_path: Path, javascript: bool, viewport: tuple[int, int]) -> None:
    clock = Clock()
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with pilot(url, tmp_path, clock, write_survey_scenario(tmp_path)) as p:
        voter, token = p.register("person-0")
        p.register("person-1", "south")
        clock.sim(160.0)  # convened at 100, ballot open from 150
        site = str(p.client.base_url).rstrip("/")
        with chromium(javascript=javascript, viewport=viewport) as context:
            page = context.new_page()
            sent: list[dict[str, str]] = []
            page.on("request", lambda request: sent.append(request.headers))
            page.goto(f"{site}/pages/votes/invitation?token={token}")
            assert page.url == f"{site}/pages/votes"  # the token left the address bar
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

            clock.sim(260.0)
            assert p.until_counted()["result"]["decision"]["measure"] == "restrict"
            page.goto(f"{site}/pages/votes")
            assert page.locator("#decided-measure").inner_text() == "restrict"
            assert page.locator("#sunset").inner_text() == "sim time 1250, unless renewed"
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
    assert log_actions(url, "respond") == [answered]
    assert verify(tmp_path / "live.db").count(": ok (") == 1
    assert log_actions(url, "ballot") == [(seq, voter, digest)]  # exactly once, where the receipt says
