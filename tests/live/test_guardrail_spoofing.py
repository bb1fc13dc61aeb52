"""A live spoofing burst crosses a guardrail and the server pauses itself (issue #18), and its control.

A signed agent places large orders far behind the touch and cancels them at once, the pattern the
value market's surveillance looks for; the guardrail watches ``value_market.suspicious_cancels``
(what surveillance sees: a live client is never profiled as a manipulator, so the ground-truth
``spoof_orders`` stays 0 live). The control places and cancels as many orders, small and at the
touch, and the trial keeps running.

Every measure refresh's judgement is recorded by wrapping the server's own
:meth:`~flagship.sandbox._live._guardrails.Guardrails.judge` (the real one runs), so "within one
refresh" is checked on log sizes and sequence numbers, never on wall time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flagship.agents import AgentIdentity, WebBotAuth
from flagship.sandbox._live import EngineOptions, load_live_scenario
from flagship.sandbox._replay import commits_from_entries, replay_scenario
from flagship.sandbox._trial_control import OPERATOR
from flagship.sandbox.cli import main
from flagship.telemetry import MeasureValue, Store
from flagship.telemetry._trial_log import LogEntry, TrialLog
from tests.live._gate_support import admit, agent, write_gate_scenario
from tests.live._support import Live, build_live, free_port, problem, serving

MAKER, SPOOFER = agent("spoof-maker"), agent("spoof-spoofer")
BID, ASK = 100, 110  # the maker's quotes: the touch every order is judged against
CYCLES = 6  # orders placed and cancelled, in the burst and in the control alike
THRESHOLD = 2
MIN_ENTRIES = 6  # four admission entries and the two quotes: judged once the market is quoted

SCENARIO_PARTS = {
    # The guardrail is under test, not the gate's sanctions: surveillance reports strike the
    # spoofer, and at the defaults a strike on probation would revoke it before the guardrail
    # crosses (its later orders then NOT_ADMITTED).
    "gate": "probation = 0.0\nsuspend_strikes = 100\nrevoke_strikes = 100",
    "market": "[mechanisms.value_market.surveillance]\n"
              "spoof_min_qty = 20\nspoof_min_distance = 5\nspoof_max_lifetime = 5.0",
    "limits": f"""
[live.limits]
rate_per_second = 1000.0
burst = 1000

[[live.guardrails]]
name = "spoofing"
measure = "value_market.suspicious_cancels"
op = "<="
threshold = {THRESHOLD}
min_entries = {MIN_ENTRIES}
description = "at most two orders cancelled in the spoofing pattern"
""",
}


@dataclass(frozen=True)
class Judgement:
    """One measure refresh's judgement: the log size it covered, the live values, what it paused."""

    size: int
    values: dict[str, float | None]
    fired: list[str]


def record_judgements(live: Live) -> list[Judgement]:
    """Wrap the engine's guardrails so that every judgement is appended to the returned list."""
    rails = live.engine.guardrails
    assert rails is not None, "the scenario declares a guardrail"
    judge = rails.judge
    seen: list[Judgement] = []

    async def recording(values: Iterable[MeasureValue], log_size: int) -> list[str]:
        values = list(values)
        fired = await judge(values, log_size)
        seen.append(Judgement(log_size, {f"{v.scope}.{v.name}": v.value for v in values}, fired))
        return fired

    rails.judge = recording  # type: ignore[method-assign]
    return seen


async def until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for ``predicate`` (a liveness bound only: nothing is asserted about how long it took)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def place(client: httpx.AsyncClient, who: AgentIdentity, order_id: str, side: str, price: int,
                qty: int) -> httpx.Response:
    return await client.post("/v1/market/orders", headers={"Idempotency-Key": f"place-{order_id}"},
                             auth=WebBotAuth(who), json={
        "order_id": order_id, "side": side, "type": "limit", "price": price, "qty": qty})


async def cancel(client: httpx.AsyncClient, who: AgentIdentity, order_id: str) -> httpx.Response:
    return await client.delete(f"/v1/market/orders/{order_id}", auth=WebBotAuth(who),
                               headers={"Idempotency-Key": f"cancel-{order_id}"})


def serve_burst(store_url: str, tmp_path: Path, *, price: int, qty: int, pause_expected: bool
                ) -> tuple[Live, list[Judgement], Path]:
    """Serve the scenario, quote the market, then run the burst: ``CYCLES`` buy orders at ``price``
    for ``qty`` lots, each cancelled at once. The client waits for the refresh that judges each
    cycle before the next (lock-step with the refreshes, so each cycle is one refresh: how many
    refreshes a pause took is read from the log, not from the clock)."""
    port = free_port()
    scenario = write_gate_scenario(tmp_path, time_factor=1.0, authority=f"127.0.0.1:{port}",
                                   **SCENARIO_PARTS)
    options = EngineOptions(tick_seconds=0.02, measures_seconds=0.1, checkpoint_seconds=0.3)
    live = build_live(store_url, scenario, tmp_path, options=options)
    seen = record_judgements(live)

    async def judged() -> None:
        """Until a refresh has judged everything logged so far."""
        size = live.engine.durable.size
        await until(lambda: any(j.size >= size for j in seen))

    async def drive(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            for who in (MAKER, SPOOFER):
                await admit(client, who)
            for order_id, side, quote in (("bid", "buy", BID), ("ask", "sell", ASK)):
                quoted = await place(client, MAKER, order_id, side, quote, 1)
                assert quoted.status_code == 201, quoted.text
            await judged()  # the guardrail holds on the quoted market before the burst
            assert seen[-1].size >= MIN_ENTRIES and all(j.fired == [] for j in seen)
            for i in range(CYCLES):
                placed = await place(client, SPOOFER, f"o{i}", "buy", price, qty)
                if placed.status_code == 201:
                    cancelled = await cancel(client, SPOOFER, f"o{i}")
                    assert cancelled.status_code == 200, cancelled.text
                else:  # the guardrail paused the trial
                    problem(placed, 409, "TRIAL_PAUSED")
                await judged()
            if pause_expected:
                problem(await place(client, MAKER, "late", "buy", BID, 1), 409, "TRIAL_PAUSED")
            assert (await client.get("/v1/operator")).json()["status"] == (
                "paused" if pause_expected else "running")
            metrics = (await client.get("/metrics")).text
            crossed = 1.0 if pause_expected else 0.0
            assert f'flagship_guardrail_crossed{{guardrail="spoofing"}} {crossed}' in metrics

    with serving(live, port) as server:
        asyncio.run(drive(server.url))
    return live, seen, scenario


def logged(store_url: str, trial_id: str) -> list[LogEntry]:
    with Store.open(store_url) as store:
        return list(TrialLog(store).entries(trial_id))


def check_verify_and_replay(store_url: str, live: Live, scenario: Path, entries: list[LogEntry],
                            capsys: pytest.CaptureFixture[str]) -> str:
    """``flagship verify`` passes and a replay reproduces every state hash; the replayed status."""
    trial_id = live.engine.trial.id
    with pytest.raises(SystemExit) as verified:
        main(["verify", store_url, "--trial", trial_id])
    assert verified.value.code == 0, capsys.readouterr().out
    assert f"trial {trial_id}: ok" in capsys.readouterr().out
    host, report, _ = replay_scenario(load_live_scenario(scenario).resolved, live.engine.trial.seed,
                                      commits_from_entries(entries, trial_id=trial_id))
    assert report.exact, report.divergences[:3]
    return host.control.status


def test_a_spoofing_burst_crosses_the_guardrail_and_pauses_within_one_refresh(
        store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # large (50 lots >= 20) and 10 ticks behind the bid (>= 5): the spoofing pattern
    live, seen, scenario = serve_burst(store_url, tmp_path, price=BID - 10, qty=50, pause_expected=True)
    entries = logged(store_url, live.engine.trial.id)

    cancels = [e for e in entries if e.actor == SPOOFER.agent_id and e.kind == "cancel" and e.accepted]
    crossing = cancels[THRESHOLD]  # the cancel that makes suspicious_cancels exceed the threshold
    pauses = [e for e in entries if e.origin == OPERATOR]
    assert [(e.kind, e.actor, e.accepted) for e in pauses] == [("pause", "guardrail:spoofing", True)]
    payload = json.loads(pauses[0].payload)
    assert payload["guardrail"] == "spoofing" and payload["measure"] == "value_market.suspicious_cancels"
    assert payload["threshold"] == THRESHOLD and payload["value"] > THRESHOLD

    # Every refresh that did not cover the crossing entry held; the very next one, the first to
    # cover it, paused: the pause is the entry right after it, naming that refresh's value and size.
    before = [j for j in seen if j.size <= crossing.seq]
    assert len(before) >= 1 + THRESHOLD and all(j.fired == [] for j in before)
    first = next(j for j in seen if j.size > crossing.seq)
    assert (first.size, first.fired) == (crossing.seq + 1, ["spoofing"])
    assert pauses[0].seq == crossing.seq + 1
    assert (payload["log_entries"], payload["value"]) == (first.size, float(THRESHOLD + 1))
    # The ground-truth measure cannot see a live spoofer (never profiled as a manipulator).
    assert all(j.values["value_market.spoof_orders"] == 0.0 for j in seen)
    # From the pause on, every client's order is refused with the pause's reason code: the rest
    # of the burst and a late order of the maker.
    after = [e for e in entries[pauses[0].seq + 1:] if e.origin == "http"]
    refused = (CYCLES - (THRESHOLD + 1)) + 1  # the burst's orders after the crossing cycle, the late one
    assert [(e.kind, e.accepted, e.reason) for e in after] == [("limit", False, "TRIAL_PAUSED")] * refused

    assert check_verify_and_replay(store_url, live, scenario, entries, capsys) == "paused"


def test_as_many_small_orders_at_the_touch_placed_and_cancelled_do_not_pause(
        sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # one lot at the bid: neither large nor far, however quickly it is cancelled
    live, seen, scenario = serve_burst(sqlite_url, tmp_path, price=BID, qty=1, pause_expected=False)
    entries = logged(sqlite_url, live.engine.trial.id)

    cancels = [e for e in entries if e.actor == SPOOFER.agent_id and e.kind == "cancel" and e.accepted]
    assert len(cancels) == CYCLES
    assert not any(e.origin == OPERATOR for e in entries)
    assert all(j.fired == [] and j.values["value_market.suspicious_cancels"] == 0.0 for j in seen)
    assert seen[-1].size == len(entries)  # the last refresh judged the whole burst

    assert check_verify_and_replay(sqlite_url, live, scenario, entries, capsys) == "running"
