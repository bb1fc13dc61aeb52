"""The trader's pages of the value market, in the Debian chromium against ``flagship serve``.

``flagship serve`` runs in its own process on loopback (see :func:`tests.pages._browser.served`),
serving a ``value_market`` trial (the ``screen`` policy, ``deforestation`` prohibited; traders
authenticated by bearer tokens). Alice signs in with her token on the sign-in form, places a limit
order, modifies it, sees bob's JSON sell trade against it (the book section refreshes itself with
JavaScript; without it the reload link is used), has an order attesting ``deforestation`` refused
with the reason in words, and cancels what rests. Once the server stopped gracefully (SIGINT, a
Ctrl-C), ``flagship verify`` passes under the trial's key and the trial log holds each of her
actions exactly once, with the refusal recorded as ``NORM_PROHIBITED``. The same flow runs without
JavaScript at a 360x800 viewport; axe-core (JavaScript run) finds no serious or critical WCAG 2.2 AA
violation on the sign-in page, the trading page and the refusal.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flagship.telemetry import Store
from tests.live._support import TOKENS, auth
from tests.pages._browser import chromium, served, verify
from tests.pages.test_citizen_pages import assert_accessible


def _scenario(directory: Path) -> Path:
    tokens = ", ".join(f'"{token}" = "{actor}"' for token, actor in TOKENS.items())
    path = directory / "market.toml"
    path.write_text(f"""
name = "market_pages"
seed = 5
duration = 1e6

[mechanisms.value_market]
policies = ["screen"]
prohibited = ["deforestation"]

[live]
authenticators = ["bearer_token"]
time_factor = 1.0

[live.auth.bearer_token]
tokens = {{ {tokens} }}
""")
    return path


def market_actions(url: str) -> list[tuple[str, str, dict[str, Any], bool, str | None]]:
    """(actor, kind, payload, accepted, reason) of every logged market action, in log order."""
    with Store.open(url) as store, store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT actor, kind, payload, accepted, reason FROM trial_log "
                                    "WHERE mechanism = 'value_market' ORDER BY seq")).all()
    return [(str(r[0]), str(r[1]), json.loads(r[2]), bool(r[3]), r[4]) for r in rows]


def book_rows(page: Any) -> list[str]:
    return [" ".join(row.split()) for row in page.locator("#book tbody tr").all_inner_texts()]


@pytest.mark.parametrize(("javascript", "viewport"), [(True, (1280, 900)), (False, (360, 800))],
                         ids=["javascript-desktop", "no-javascript-mobile"])
def test_trader_signs_in_places_modifies_is_refused_with_a_reason_and_cancels(
        tmp_path: Path, javascript: bool, viewport: tuple[int, int]) -> None:
    with served(_scenario(tmp_path), tmp_path, stop_with=signal.SIGINT) as trial, trial.client() as client, \
            chromium(javascript=javascript, viewport=viewport) as context:
        site = trial.url
        page = context.new_page()
        sent: list[dict[str, str]] = []
        page.on("request", lambda request: sent.append(request.headers))
        page.goto(f"{site}/pages/market/sign-in")
        assert_accessible(page, javascript=javascript)
        page.get_by_label("Your trader token").fill("tok-alice")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{site}/pages/market")  # the token left the address bar
        assert page.get_by_text("Signed in as alice.").is_visible()
        assert book_rows(page) == ["The book is empty."]

        page.locator("#order_id").fill("a1")
        page.locator("#qty").fill("3")
        page.locator("#price").fill("100")
        page.get_by_role("button", name="Place the order").click()
        page.wait_for_selector("#done")
        assert page.locator("#done").inner_text() == "Order a1 placed: 0 lots traded, 3 lots resting."
        assert book_rows(page) == ["buy 100 3 1"]
        assert_accessible(page, javascript=javascript)

        page.locator("#modify-qty-1").fill("2")
        page.locator("#modify-price-1").fill("101")
        page.get_by_role("button", name="Modify order a1").click()
        page.wait_for_selector("#done")
        assert page.locator("#done").inner_text() == "Order a1 modified: 0 lots traded, 2 lots resting."

        sold = client.post("/v1/market/orders", headers={**auth("bob"), "Idempotency-Key": "bob-1"},
                           json={"order_id": "b1", "side": "sell", "type": "limit", "price": 101, "qty": 1})
        assert sold.status_code == 201, sold.text
        resting = client.post("/v1/market/orders", headers={**auth("bob"), "Idempotency-Key": "bob-2"},
                              json={"order_id": "b2", "side": "sell", "type": "limit", "price": 110,
                                    "qty": 4})
        assert resting.status_code == 201, resting.text
        if javascript:  # the book section refreshes itself: no navigation
            page.locator("#book tr.ask", has_text="110").wait_for()
        else:
            page.get_by_role("link", name="Reload the book").click()
        assert book_rows(page) == ["sell 110 4 1", "buy 101 1 1"]
        page.goto(f"{site}/pages/market")
        assert [" ".join(r.split()) for r in page.locator("#fills tbody tr").all_inner_texts()] == \
            ["1 a1 buy 101 1"]

        page.locator("#order_id").fill("a2")
        page.locator("#side-sell").check()
        page.locator("#qty").fill("1")
        page.locator("#price").fill("120")
        page.get_by_label("deforestation").check()
        page.get_by_role("button", name="Place the order").click()
        page.wait_for_selector("#problem")
        assert page.locator("#problem-sentence").inner_text() == \
            "The order's attestation names a value this market prohibits."
        assert page.locator("#problem-reason").inner_text() == "NORM_PROHIBITED"
        assert_accessible(page, javascript=javascript)

        page.get_by_role("button", name="Cancel order a1").click()
        page.wait_for_selector("#done")
        assert page.locator("#done").inner_text() == "Order a1 cancelled: 1 lots taken off the book."
        assert page.get_by_text("You have no live orders.").is_visible()
        page.reload()  # a resubmitted cancel is the same request: applied once, answered again
        assert not any("tok-alice" in str(headers) for headers in sent[2:])

    alice = [(kind, payload, accepted, reason) for actor, kind, payload, accepted, reason
             in market_actions(trial.db_url) if actor == "alice"]
    assert alice == [
        ("limit", {"order_id": "a1", "side": "buy", "price": 100, "qty": 3, "tif": "GTC",
                   "post_only": False}, True, None),
        ("modify", {"order_id": "a1", "qty": 2, "price": 101}, True, None),
        ("limit", {"order_id": "a2", "side": "sell", "price": 120, "qty": 1, "tif": "GTC", "post_only": False,
                   "values": ["deforestation"]}, False, "NORM_PROHIBITED"),
        ("cancel", {"order_id": "a1"}, True, None)]
    assert verify(trial.db, trial).count(": ok (") == 1


def test_a_page_without_a_session_is_refused_and_a_foreign_order_is_unknown(tmp_path: Path) -> None:
    with served(_scenario(tmp_path), tmp_path, stop_with=signal.SIGINT) as trial, trial.client() as client:
        problem = client.get("/pages/market")
        assert (problem.status_code, problem.json()["reason"]) == (401, "UNAUTHENTICATED")
        signed = client.get("/pages/market/sign-in", params={"token": "tok-carol"}, follow_redirects=False)
        assert (signed.status_code, signed.headers["location"]) == (303, "/pages/market")
        home = client.get("/pages/market")
        assert home.status_code == 200 and "Signed in as carol." in home.text
        csrf = home.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        refused = client.post("/pages/market/orders/nobody/cancel",
                              data={"csrf_token": csrf, "idempotency_key": "k-1"})
        assert refused.status_code == 404
        assert "You have no live order with this id" in refused.text and "UNKNOWN_ORDER" in refused.text
        malformed = client.post("/pages/market/orders", data={"csrf_token": csrf, "idempotency_key": "k-2",
                                                               "order_id": "c1", "side": "buy", "qty": "x"})
        assert malformed.status_code == 422 and "INVALID_PAYLOAD" in malformed.text
    assert [(a, k, ok, r) for a, k, _, ok, r in market_actions(trial.db_url)] == [
        ("carol", "cancel", False, "UNKNOWN_ORDER")]


def test_every_reason_the_market_may_give_has_a_sentence() -> None:
    """Fails for a reason code added to the market (or the common set) without words for traders."""
    from flagship.markets._pages import REASON_SENTENCES
    from flagship.markets._reasons import MarketReason
    from flagship.mechanisms import CommonReason

    assert set(REASON_SENTENCES) == {*map(str, MarketReason), *map(str, CommonReason)}
    assert all(sentence.endswith(".") for sentence in REASON_SENTENCES.values())


@pytest.mark.parametrize(("fields", "problem"), [
    ({"order_id": "x", "side": "buy", "qty": "1"}, "price: required"),
    ({"order_id": "x", "side": "buy", "qty": "1", "price": "-3"}, "price: a whole number"),
    ({"order_id": "x", "side": "buy", "type": "market", "qty": "2", "externality": "lots"}, "externality"),
])
def test_an_incomplete_order_form_is_an_input_error(fields: dict[str, str], problem: str) -> None:
    from flagship.markets._pages import order_request
    from flagship.mechanisms import InputError

    with pytest.raises(InputError, match=problem):
        order_request(fields, [])


def test_a_market_order_form_leaves_the_limit_fields_out() -> None:
    from flagship.markets._pages import order_request

    body = order_request({"order_id": "m1", "side": "sell", "type": "market", "qty": "2", "tif": "GTC"},
                         ["low_carbon"])
    assert body.payload() == {"order_id": "m1", "side": "sell", "qty": 2, "values": ["low_carbon"]}
