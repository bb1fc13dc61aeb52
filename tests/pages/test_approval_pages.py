"""The citizen's page of an approval vote, in the Debian chromium against a real server.

The served trial of the citizen page tests with ``rule = "approval"`` (an incident at sim time
100 convenes every registered voter; ballot from 150 to 250, count at 250). A citizen follows
the invitation link, first casts a ballot approving nothing (refused: ``BALLOT_EMPTY``, shown in
words, nothing counted), then ticks two measures by keyboard, casts, and reads the receipt;
after the count the page shows the decision. The accepted ballot is in the trial log exactly
once, at the receipt's sequence number and hash, with the approvals in candidate order, and
``flagship verify`` passes. The same flow runs with JavaScript disabled at a 360x800 viewport;
axe-core (in the JavaScript run) finds no serious or critical WCAG 2.2 AA violation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from flagship.telemetry import Store
from tests.live.test_approval_api import write_approval_scenario
from tests.live.test_votes_api import VOTE, Clock, pilot
from tests.pages._browser import chromium, verify
from tests.pages.test_citizen_pages import assert_accessible


def logged_ballots(url: str) -> list[tuple[int, str, str, bool, str | None, dict[str, object]]]:
    """(seq, actor, hash, accepted, reason, payload) of every logged ballot, accepted or refused."""
    with Store.open(url) as store, store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, actor, hash, accepted, reason, payload FROM trial_log "
                                    "WHERE kind = 'ballot' ORDER BY seq")).all()
    return [(int(r[0]), str(r[1]), str(r[2]), bool(r[3]), r[4], json.loads(r[5])) for r in rows]


@pytest.mark.parametrize(("javascript", "viewport"), [(True, (1280, 900)), (False, (360, 800))],
                         ids=["javascript-desktop", "no-javascript-mobile"])
def test_citizen_approves_two_measures_casts_and_sees_receipt_and_decision(
        tmp_path: Path, javascript: bool, viewport: tuple[int, int]) -> None:
    clock = Clock()
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with pilot(url, tmp_path, clock, write_approval_scenario(tmp_path)) as p:
        voter, token = p.register("person-0")
        _, other = p.register("person-1", "south")
        clock.sim(160.0)  # convened at 100, ballot open from 150
        assert p.post(f"/v1/votes/{VOTE}/ballots", other, {"approvals": ["restrict"]}).status_code == 201
        site = str(p.client.base_url).rstrip("/")
        with chromium(javascript=javascript, viewport=viewport) as context:
            page = context.new_page()
            page.goto(f"{site}/pages/votes/invitation?token={token}")
            assert page.url == f"{site}/pages/votes"
            boxes = page.get_by_role("checkbox")
            assert boxes.count() == 4 and not any(boxes.nth(i).is_checked() for i in range(4))
            assert page.get_by_role("combobox").count() == 0  # no ranking in an approval vote
            assert_accessible(page, javascript=javascript)

            page.get_by_role("button", name="Cast my ballot").click()  # nothing approved
            problem = page.locator("#problem")
            problem.wait_for()
            assert "BALLOT_EMPTY" in problem.inner_text()
            assert "approve at least one measure" in problem.inner_text()
            assert_accessible(page, javascript=javascript)

            for name in ("monitor", "restrict"):  # by keyboard: focus the box, Space ticks it
                page.get_by_role("checkbox", name=name).focus()
                page.keyboard.press("Space")
            assert page.get_by_role("checkbox", name="restrict").is_checked()
            page.get_by_role("button", name="Cast my ballot").focus()
            page.keyboard.press("Enter")
            page.wait_for_selector("#receipt")
            seq = int(page.locator("#receipt-seq").inner_text())
            digest = page.locator("#receipt-hash").inner_text()
            assert page.get_by_role("checkbox").count() == 0  # cast: no second ballot offered
            assert_accessible(page, javascript=javascript)

            clock.sim(260.0)
            result = p.until_counted()["result"]
            assert result["tally"]["details"]["scores"]["restrict"] == 2
            page.goto(f"{site}/pages/votes")
            assert page.locator("#decided-measure").inner_text() == "restrict"
            assert "Approval: 2 ballots counted" in page.locator("#decision").inner_text()
            assert_accessible(page, javascript=javascript)
    ballots = [entry for entry in logged_ballots(url) if entry[1] == voter]
    assert [(accepted, reason) for _, _, _, accepted, reason, _ in ballots] == [(False, "BALLOT_EMPTY"),
                                                                                 (True, None)]
    accepted = [entry for entry in ballots if entry[3]]
    assert [(s, h) for s, _, h, _, _, _ in accepted] == [(seq, digest)]  # once, where the receipt says
    assert accepted[0][5] == {"vote_id": VOTE, "approvals": ["restrict", "monitor"]}
    assert verify(tmp_path / "live.db").count(": ok (") == 1
