"""Replay: advance-then-submit order, exact reproduction, divergence reports, counterfactuals, shadow."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from flagship.mechanisms import (
    Action,
    CommonReason,
    ContractError,
    Mechanism,
    NoConfig,
    Outcome,
    Population,
    register,
)
from flagship.sandbox import Host
from flagship.sandbox._live import LiveGateway, load_live_scenario
from flagship.sandbox._replay import commits_from_entries, replay_scenario
from flagship.sandbox.cli import main
from flagship.telemetry import Store
from flagship.telemetry._schema import trial_log
from flagship.telemetry._trial_log import TrialLog
from tests.live._support import build_live, drive_session


@register
class Deadline(Mechanism[NoConfig]):
    """Open until a timer closes it at t=5."""

    name = "live_test_deadline"

    def __init__(self, config: NoConfig, ctx: Any) -> None:
        super().__init__(config, ctx)
        self.open = True
        self.taken = 0

    def start(self) -> None:
        def close() -> Any:
            yield self.ctx.env.timeout(5.0)
            self.open = False

        self.ctx.env.process(close())

    def handle(self, action: Action) -> Outcome:
        if not self.open:
            return Outcome.reject(CommonReason.NOT_PERMITTED)
        self.taken += 1
        return Outcome.accept()

    def snapshot(self) -> dict[str, Any]:
        return {"open": self.open, "taken": self.taken}


def test_run_feed_submits_before_timers_due_at_the_same_time() -> None:
    """The live engine's order: run every event before t, then handle the action at t."""
    host = Host(0)
    host.add_mechanism("live_test_deadline", Deadline, NoConfig())
    host.start()
    feed = [("live_test_deadline", Action(t, "a", "take")) for t in (1.0, 5.0, 5.0, 5.000001)]
    outcomes = host.run_feed(feed, until=6.0)
    assert [o.accepted for o in outcomes] == [True, True, True, False]
    assert float(host.env.now) == 6.0
    with pytest.raises(ContractError, match="back in time"):
        host.run_feed([("live_test_deadline", Action(2.0, "a", "take"))])


def test_replay_reproduces_a_trial_and_reports_divergence(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    live = drive_session(tmp_path)
    trial_id = live.engine.trial.id
    db = str(tmp_path / "live.db")
    live.store.close()
    with pytest.raises(SystemExit) as exact:
        main(["replay", db, "--trial", trial_id, "--json"])
    assert exact.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exact"] and report["divergences"] == []
    assert report["external"] == 30 and report["entries"] > 30  # the shoppers' actions were regenerated
    assert report["measures"]["posted_price.sell_through"] > 0

    with pytest.raises(SystemExit) as counter:
        main(["replay", db, "--trial", trial_id, "--set", "mechanisms.posted_price.price=80", "--json"])
    assert counter.value.code == 0
    both = json.loads(capsys.readouterr().out)
    real, cf = both["measures"], both["counterfactual"]["measures"]
    # same client offers, lower price: more of them are accepted, fewer turned away
    assert cf["posted_price.turned_away_ratio"] < real["posted_price.turned_away_ratio"]
    assert both["counterfactual"]["state_sha256"] != both["state_sha256"]

    with Store.open(f"sqlite:///{db}") as store, store.engine.begin() as conn:
        victim = conn.execute(trial_log.select().where(trial_log.c.origin == "http", trial_log.c.accepted)
                              .order_by(trial_log.c.seq).limit(1)).first()
        assert victim is not None
        conn.execute(trial_log.update().where(trial_log.c.seq == victim.seq)
                     .values(accepted=False, reason="SOLD_OUT"))
    with pytest.raises(SystemExit) as diverged:
        main(["replay", db, "--trial", trial_id])
    assert diverged.value.code == 1
    out = capsys.readouterr().out
    assert "DIVERGED" in out and f"seq {victim.seq}: recorded" in out


def test_shadow_arm_measures_the_counterfactual_on_live_traffic(tmp_path: Path) -> None:
    live = drive_session(tmp_path, shadow=["mechanisms.posted_price.price=80"])
    try:
        arms = dict(live.engine.measures_now())
        live_values = {f"{m.scope}.{m.name}": m.value for m in arms["live"]}
        shadow_values = {f"{m.scope}.{m.name}": m.value for m in arms["shadow"]}
        assert set(live_values) == set(shadow_values)
        assert shadow_values["posted_price.turned_away_ratio"] < live_values["posted_price.turned_away_ratio"]
        live.engine.metrics.set_measures("shadow", arms["shadow"])
        live.engine.metrics.set_measures("live", arms["live"])
        text, _ = live.engine.metrics.render(None)
        assert b'flagship_measure_robustness_ratio{arm="shadow",measure="turned_away_ratio"' in text
        assert b'flagship_measure_robustness_ratio{arm="live",measure="turned_away_ratio"' in text
    finally:
        live.store.close()


def test_a_restarted_engine_resumes_the_clock_mapping(tmp_path: Path) -> None:
    live = drive_session(tmp_path)
    epoch, size = live.engine.trial.epoch, live.engine.size
    live.store.close()
    again = build_live(f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "shop.toml", tmp_path)
    try:
        assert again.engine.trial.epoch == epoch  # the same trial, resumed
        again.engine.recover()
        assert again.engine.size == size and again.engine.recovered_entries == size
        assert again.engine.sim_time() >= (time.time() - epoch) * 50.0 - 1.0
    finally:
        again.store.close()


@register
class EarlyBirds(Population[NoConfig]):
    """Acts from start(), before any process runs: those actions are part of the trial too."""

    name = "live_test_early_birds"

    def start(self) -> None:
        for participant in range(self.ctx.count):
            self.ctx.submit(Action(self.ctx.now, self.ctx.actor(participant), "take"))


def test_actions_submitted_at_start_are_in_the_trial_log_and_replay_exactly(tmp_path: Path) -> None:
    scenario = tmp_path / "early.toml"
    scenario.write_text("""
name = "early"
seed = 1
duration = 100.0
[mechanisms.live_test_deadline]
[populations.birds]
model = "live_test_early_birds"
count = 3
arrival = { process = "none" }
""")
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", scenario, tmp_path)

    async def drive() -> None:
        await live.engine.start()
        await LiveGateway(live.engine).submit("live_test_deadline", "take", {}, actor="client")
        await live.engine.stop()

    try:
        asyncio.run(drive())
        entries = list(TrialLog(live.store).entries(live.engine.trial.id))
    finally:
        live.store.close()
    assert [(e.actor, e.origin, e.time) for e in entries[:3]] == [
        ("birds-0", "sim", 0.0), ("birds-1", "sim", 0.0), ("birds-2", "sim", 0.0)]
    assert [(e.actor, e.origin) for e in entries[3:]] == [("client", "http")]
    resolved = load_live_scenario(scenario).resolved
    _, report, _ = replay_scenario(resolved, live.engine.trial.seed, commits_from_entries(entries))
    assert report.exact and report.entries == 4, report.divergences
