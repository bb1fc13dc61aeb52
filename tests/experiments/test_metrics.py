"""Prometheus metrics of a running sweep, scraped over HTTP and parsed as exposition text."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from flagship.sandbox import load_scenario
from flagship.sandbox._sweep import Axis, SweepSpec, plan_sweep, run_sweep
from flagship.telemetry import RunResult, Store
from flagship.telemetry._sweep_metrics import SweepMetrics, measure_buckets
from tests._cli import FLAGSHIP, flagship
from tests.live._support import free_port, require_tool

FAULTY_SHOP = """
name = "faulty_shop"
seed = 5
duration = 30.0
replications = 4
[mechanisms.posted_price]
stock = 30
[mechanisms.faulty]
failure_probability = 0.5
[populations.shoppers]
model = "shoppers"
count = 6
mechanism = "posted_price"
arrival = { process = "poisson", rate = 0.3 }
[arms.list]
[arms.sale]
set = { "mechanisms.posted_price.price" = 80 }
"""


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def _value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return sum(value for _, value in samples.get(name, []))


def test_metrics_are_served_while_the_sweep_runs(tmp_path: Path) -> None:
    path = tmp_path / "faulty_shop.toml"
    path.write_text(FAULTY_SHOP)
    plan = plan_sweep(load_scenario(path), SweepSpec(grids=(Axis("populations.shoppers.count", (4, 6)),),
                                                    replications=4))
    metrics = SweepMetrics()
    port = metrics.serve(0)
    metrics.start(plan.total, 0)
    scraped: list[str] = []

    def observe(result: RunResult) -> None:
        metrics.observe(result)
        if len(scraped) < 2:  # scrape mid-sweep, over HTTP, like a Prometheus server would
            scraped.append(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)

    try:
        with Store.open(f"sqlite:///{tmp_path / 'm.db'}") as store, ThreadPoolExecutor(2) as pool:
            outcome = run_sweep(plan, store, pool, on_result=observe)
        final = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        metrics.stop()
    first = _samples(scraped[0])
    assert _value(first, "flagship_sweep_runs_completed_total") + _value(
        first, "flagship_sweep_runs_failed_total") == 1
    assert _value(first, "flagship_sweep_runs_planned") == plan.total == 16
    samples = _samples(final)
    completed = outcome.ran - outcome.failed_now
    assert 0 < outcome.failed_now < outcome.ran  # the faulty mechanism fails some seeds
    assert _value(samples, "flagship_sweep_runs_completed_total") == completed
    assert _value(samples, "flagship_sweep_runs_failed_total") == outcome.failed_now
    assert _value(samples, "flagship_sweep_run_wall_seconds_count") == completed
    counts = samples["flagship_sweep_measure_ux_sell_through_ratio_count"]  # the unit in the name
    assert {labels["arm"] for labels, _ in counts} == {"list", "sale"}
    assert sum(value for _, value in counts) == completed
    for name, entries in samples.items():
        if name.startswith("flagship_sweep_measure_"):
            for labels, _ in entries:  # bounded labels only: never a run id or a seed
                assert set(labels) - {"le"} == {"mechanism", "arm"}, (name, labels)
                assert labels["mechanism"] == "posted_price"


def test_buckets_follow_the_unit() -> None:
    assert measure_buckets("ratio", "sell_through")[-1] == 1.0
    assert 3600.0 in measure_buckets("seconds", "incident_to_decision_seconds")
    generic = measure_buckets("ticks", "buyer_surplus_per_sale")
    assert generic[0] < 0 < generic[-1] and list(generic) == sorted(generic)


def test_sweep_command_serves_metrics_on_its_port(tmp_path: Path, shop: Path) -> None:
    with socket.socket() as probe:  # a port that is free right now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [*FLAGSHIP, "sweep", str(shop), "--set", "duration=400.0", "--replications", "6",
               "--workers", "1", "--metrics-port", str(port), "--db", f"sqlite:///{tmp_path}/c.db"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "COLUMNS": "200"})
    seen: list[float] = []
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        seen.append(_value(_samples(text), "flagship_sweep_runs_completed_total"))
        time.sleep(0.05)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert f"metrics: http://127.0.0.1:{port}/metrics" in stderr
    assert seen, "the metrics endpoint never answered while the sweep ran"
    assert seen == sorted(seen) and seen[-1] <= 12


def test_a_sweep_pushes_its_metrics_to_a_real_pushgateway(tmp_path: Path, shop: Path) -> None:
    gateway = require_tool("prometheus-pushgateway")
    port = free_port()
    process = subprocess.Popen([gateway, f"--web.listen-address=127.0.0.1:{port}"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        db = f"sqlite:///{tmp_path / 'p.db'}"
        swept = flagship("sweep", str(shop), "--replications", "2", "--workers", "1", "--db", db,
                         "--pushgateway", url, cwd=tmp_path)
        assert swept.returncode == 0, swept.stderr
        sweep_id = re.search(r"sweep ([0-9a-f]{32})", swept.stderr)
        assert sweep_id is not None
        pushed = _samples(httpx.get(f"{url}/metrics", timeout=10).text)
        completed = [(labels, value) for labels, value in pushed["flagship_sweep_runs_completed_total"]
                     if labels.get("sweep") == sweep_id.group(1)]
        assert [(labels["job"], value) for labels, value in completed] == [("flagship_sweep", 4.0)]
        assert "flagship_sweep_measure_ux_sell_through_ratio_count" in pushed
    finally:
        process.terminate()
        process.wait(timeout=10)
    refused = flagship("sweep", str(shop), "--replications", "2", "--db", f"sqlite:///{tmp_path / 'q.db'}",
                       "--pushgateway", f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert refused.returncode == 2 and "--pushgateway: cannot push to" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "q.db").exists()
