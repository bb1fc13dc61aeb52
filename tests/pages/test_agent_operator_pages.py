"""The agent operator's page of the gate, in the Debian chromium against ``flagship serve``.

``flagship serve`` runs in its own process on loopback (see :func:`tests.pages._browser.served`),
serving the gate + agents-only market trial. Alice (an AI agent signing her HTTP requests with
Web Bot Auth for the server's ``127.0.0.1:PORT``) applies, passes the exam and is admitted, and
her admission answer carries her operator's token; on probation she spoofs the book, surveillance
reports it and the gate revokes her. Her operator signs in with the token, reads the
revocation's explanation in words, and files an appeal with the page's form; once the server
stopped gracefully, ``flagship verify`` passes under the trial's key and the appeal is in the
trial log exactly once, acted for Alice, at the receipt's sequence number and hash. The flow
runs with JavaScript (axe-core: no serious or critical WCAG 2.2 AA violation) and without it at
a 360x800 viewport. The token's guarantees are checked over HTTP: only its hash is logged, a
forged token is refused, and an operator cannot act for the agent in the market.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from flagship.agents import WebBotAuth
from flagship.agents._operator_tokens import operator_sha256
from flagship.telemetry import Store
from tests.live._gate_support import agent, answer_body, application_body, key, write_gate_scenario
from tests.live._support import free_port, problem
from tests.pages._browser import ServedTrial, chromium, log_actions, served, verify
from tests.pages.test_citizen_pages import assert_accessible

ALICE = agent("operator-page-alice")
SPOOF_MARKET = ("[mechanisms.value_market.surveillance]\nspoof_min_qty = 10\nspoof_repeat = 1\n"
                "spoof_max_lifetime = 1000.0")


def admitted_then_revoked(client: httpx.Client) -> str:
    """Alice applies, passes, spoofs on probation and is revoked; her operator token."""
    signer = WebBotAuth(ALICE)
    applied = client.post("/v1/gate/applications", json=application_body(ALICE), headers=key(), auth=signer)
    assert applied.status_code == 201, applied.text
    exam = applied.json()
    decided = client.post(f"/v1/gate/applications/{exam['exam_id']}/answers", json=answer_body(ALICE, exam),
                          headers=key(), auth=signer)
    assert decided.status_code == 200, decided.text
    token = str(decided.json()["operator_token"])
    for order in ({"order_id": "touch", "price": 100, "qty": 1},
                  {"order_id": "spoof", "price": 90, "qty": 50}):
        placed = client.post("/v1/market/orders", json={"side": "buy", "type": "limit", **order},
                             headers=key(), auth=signer)
        assert placed.status_code == 201, placed.text
    cancelled = client.delete("/v1/market/orders/spoof", headers=key(), auth=signer)
    assert cancelled.status_code == 200, cancelled.text
    view = client.get(f"/v1/gate/agents/{ALICE.agent_id}", auth=signer).json()
    assert (view["status"], view["reasons"]) == ("revoked", ["PROBATION_VIOLATION"])
    return token


def appeal_outcomes(url: str) -> list[tuple[bool, str | None]]:
    with Store.open(url) as store, store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT accepted, reason FROM trial_log WHERE kind = 'appeal' "
                                    "ORDER BY seq")).all()
    return [(bool(row[0]), None if row[1] is None else str(row[1])) for row in rows]


@contextmanager
def gate_served(tmp_path: Path) -> Iterator[ServedTrial]:
    """The gate trial served by ``flagship serve`` on the port its scenario binds signatures to."""
    port = free_port()  # signatures are made for the authority the scenario binds
    scenario = write_gate_scenario(tmp_path, authority=f"127.0.0.1:{port}", market=SPOOF_MARKET,
                                   gate="appeal_review_delay = 100000.0",  # pending while the test looks
                                   authenticators=("web_bot_auth", "agent_operator_token"))
    with served(scenario, tmp_path, port=port) as trial:
        yield trial


@pytest.mark.parametrize(("javascript", "viewport"), [(True, (1280, 900)), (False, (360, 800))],
                         ids=["javascript-desktop", "no-javascript-mobile"])
def test_operator_reads_the_revocation_in_words_and_files_an_appeal(
        tmp_path: Path, javascript: bool, viewport: tuple[int, int]) -> None:
    with gate_served(tmp_path) as trial, trial.client() as client:
        token = admitted_then_revoked(client)
        with chromium(javascript=javascript, viewport=viewport) as context:
            page = context.new_page()
            page.goto(f"{trial.url}/pages/gate/sign-in?token={token}")
            assert page.url == f"{trial.url}/pages/gate"  # the token left the address bar
            assert page.get_by_role("heading", level=1).inner_text() == "Your agent at the gate"
            assert page.locator("#agent-id").inner_text() == ALICE.agent_id
            assert page.locator("#status").inner_text() == \
                "Revoked: the agent may not act in the marketplace."
            why = page.locator("#explanation").inner_text()
            assert "A violation was observed while the agent was on probation" in why
            assert "PROBATION_VIOLATION" in why
            assert page.locator("#strikes").inner_text() == "1"
            assert page.locator("#exam-result").inner_text().startswith("score 1.000, threshold ")
            assert page.locator("#appeal-state").inner_text() == "not filed"
            assert_accessible(page, javascript=javascript)

            page.get_by_role("button", name="Appeal this sanction").focus()
            page.keyboard.press("Enter")
            page.wait_for_selector("#receipt")
            receipt = (int(page.locator("#receipt-seq").inner_text()), ALICE.agent_id,
                       page.locator("#receipt-hash").inner_text())
            assert page.locator("#appeal-state").inner_text() == "under review"
            assert page.get_by_role("button", name="Appeal this sanction").count() == 0
            assert_accessible(page, javascript=javascript)

            page.goto(f"{trial.url}/pages/gate")
            assert page.locator("#appeal-state").inner_text() == "under review"
    assert verify(trial.db, trial).count(": ok (") == 1
    assert log_actions(trial.db_url, "appeal") == [receipt]  # once, where the receipt says, for Alice
    assert appeal_outcomes(trial.db_url) == [(True, None)]


def test_a_stale_appeal_form_is_refused_in_words_and_logged_once(tmp_path: Path) -> None:
    """Two tabs: the second submission of the appeal form is refused as APPEAL_PENDING, shown in words."""
    with gate_served(tmp_path) as trial, trial.client() as client:
        token = admitted_then_revoked(client)
        with chromium(javascript=False) as context:
            first, second = context.new_page(), context.new_page()
            first.goto(f"{trial.url}/pages/gate/sign-in?token={token}")
            second.goto(f"{trial.url}/pages/gate")
            first.get_by_role("button", name="Appeal this sanction").click()
            first.wait_for_selector("#receipt")
            second.get_by_role("button", name="Appeal this sanction").click()
            second.wait_for_selector("#problem")
            refusal = second.locator("#problem").inner_text()
            assert "An appeal of this sanction is already under review." in refusal
            assert "APPEAL_PENDING" in refusal
    # the refusal is on record too (a rejected action is logged); the appeal was accepted once
    assert appeal_outcomes(trial.db_url) == [(True, None), (False, "APPEAL_PENDING")]
    assert verify(trial.db, trial).count(": ok (") == 1


def test_the_operator_token_is_logged_as_a_hash_only_forgeries_fail_and_it_cannot_trade(
        tmp_path: Path) -> None:
    with gate_served(tmp_path) as trial, trial.client() as client:
        token = admitted_then_revoked(client)
        assert token.startswith(f"op.{ALICE.agent_id}.")
        bearer = {"Authorization": f"Bearer {token}"}
        # the page reads with the token as a bearer credential too (what the session cookie becomes)
        assert client.get("/pages/gate", headers=bearer).status_code == 200
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        problem(client.get("/pages/gate", headers={"Authorization": f"Bearer {forged}"}), 401,
                "INVALID_TOKEN")
        # the operator is not the agent: the market refuses its order, the agent's JSON routes too
        refused = client.post("/v1/market/orders", headers={**bearer, **key()},
                              json={"order_id": "op", "side": "buy", "type": "limit", "price": 99, "qty": 1})
        assert refused.status_code in (403, 409), refused.text
        assert client.get(f"/v1/gate/agents/{ALICE.agent_id}", headers=bearer).status_code == 404
        # an agent's own signature is not an operator's sign-in
        problem(client.get("/pages/gate", auth=WebBotAuth(ALICE)), 403, "NOT_AN_OPERATOR")
    with Store.open(trial.db_url) as store, store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT payload, effects, response FROM trial_log")).all()
    logged = "\n".join(str(value) for row in rows for value in row)
    assert token not in logged and operator_sha256(token) in logged
