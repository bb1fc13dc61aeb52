"""Prometheus: promtool accepts the exposition, a real Prometheus scrapes the server, exports load as
TSDB blocks, and the Grafana dashboards only use exported metrics.

promtool and prometheus come from Debian's ``prometheus`` package; under ``CI=true``
a missing tool fails these tests instead of skipping them.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from flagship.sandbox._catalog_cli import Kind, catalogue
from flagship.sandbox._live._cohort_metrics import CohortMetrics
from flagship.sandbox.cli import main
from flagship.telemetry import Store
from flagship.telemetry._prometheus import LiveMetrics, sample_names
from tests.live._support import (
    REPO_ROOT,
    ServerProcess,
    auth,
    drive_session,
    free_port,
    require_tool,
    write_scenario,
)

GRAFANA = REPO_ROOT / "deploy" / "grafana"


def _exposition(tmp_path: Path) -> tuple[bytes, bytes]:
    """The text and OpenMetrics expositions after real traffic and a measure refresh."""
    live = drive_session(tmp_path, shadow=["mechanisms.posted_price.price=80"], clients=10)
    engine = live.engine
    try:
        for arm, values in engine.measures_now():
            engine.metrics.set_measures(arm, values)
        metrics = engine.metrics
        metrics.observe_request("/v1/shop/purchases", "POST", 201, 0.004, 14)
        metrics.problem("/v1/shop/purchases", "RATE_LIMITED")
        metrics.idempotent_replay("/v1/shop/purchases")
        text, text_type = metrics.render("text/plain")
        om, om_type = metrics.render("application/openmetrics-text; version=1.0.0")
    finally:
        live.store.close()
    assert text_type.startswith("text/plain; version=0.0.4") and om_type.startswith("application/openmetrics")
    return text, om


def test_promtool_accepts_the_exposition(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    text, om = _exposition(tmp_path)
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, check=False)
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), \
        checked.stdout.decode() + checked.stderr.decode()
    families = {f.name: f for f in text_string_to_metric_families(om.decode())}  # a strict OM parser
    assert families["flagship_actions"].type == "counter"
    assert families["flagship_action_ack_seconds"].type == "histogram"
    assert {s.labels["arm"] for s in families["flagship_measure_ux_ratio"].samples} == {"live", "shadow"}
    # The writer's CPU, split into its loop share and its commit thread's, both spent by the session.
    cpu = {s.labels["part"]: s.value for s in families["flagship_engine_cpu_seconds"].samples
           if s.name == "flagship_engine_cpu_seconds_total"}
    assert set(cpu) == {"apply", "commit"} and min(cpu.values()) > 0, cpu
    for name in families:  # a family never mixes units: its name carries the unit
        if name.startswith("flagship_measure_"):
            area = name.removeprefix("flagship_measure_").split("_", 1)[0]
            assert area in ("legitimacy", "ux", "robustness")
    for family in families.values():
        assert family.name.startswith("flagship_")
        for sample in family.samples:  # bounded label names only
            assert set(sample.labels) <= {"endpoint", "method", "code", "mechanism", "origin", "outcome",
                                          "reason", "scope", "measure", "arm", "part", "le"}, sample


def test_a_real_prometheus_scrapes_the_server(tmp_path: Path) -> None:
    prometheus = require_tool("prometheus")
    scenario = write_scenario(tmp_path, shoppers=2, rate=0.5, time_factor=20.0)
    server = ServerProcess(scenario, f"sqlite:///{tmp_path / 'live.db'}", cwd=tmp_path, cli=True,
                           measures_seconds=0.5)
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "flagship", "static_configs": [
            {"targets": [f"127.0.0.1:{server.port}"]}]}],
    }))
    prom_log = (tmp_path / "prometheus.log").open("wb")
    prom = subprocess.Popen([prometheus, f"--config.file={config}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=prom_log, stderr=subprocess.STDOUT)
    try:
        server.wait_ready()
        response = httpx.post(f"{server.url}/v1/shop/purchases", json={"offer": 120},
                              headers={**auth(), "Idempotency-Key": "prom-1"})
        assert response.status_code == 201
        api = f"http://127.0.0.1:{prom_port}/api/v1"
        deadline = time.monotonic() + 60
        found: dict[str, float] = {}
        while time.monotonic() < deadline and len(found) < 3:
            for query in ('flagship_trial_log_entries',
                          'flagship_actions_total{origin="http",outcome="accepted"}',
                          'flagship_measure_ux_ratio{arm="live",measure="sell_through"}'):
                try:
                    result = httpx.get(f"{api}/query", params={"query": query}, timeout=5).json()
                except httpx.HTTPError:
                    break
                if result.get("status") == "success" and result["data"]["result"]:
                    found[query] = float(result["data"]["result"][0]["value"][1])
            time.sleep(0.5)
        assert len(found) == 3, (found, (tmp_path / "prometheus.log").read_text()[-2000:])
        assert found['flagship_actions_total{origin="http",outcome="accepted"}'] == 1.0
        assert found["flagship_trial_log_entries"] >= 1
        targets = httpx.get(f"{api}/targets", timeout=5).json()["data"]["activeTargets"]
        assert [t["health"] for t in targets] == ["up"]
    finally:
        prom.terminate()
        prom.wait(timeout=30)
        prom_log.close()
        assert server.stop()


def test_exported_series_load_into_a_tsdb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    promtool = require_tool("promtool")
    scenario = tmp_path / "plain.toml"
    scenario.write_text('name = "shop"\nseed = 2\nduration = 120.0\n[mechanisms.posted_price]\nprice = 90\n'
                        '[populations.shoppers]\nmodel = "shoppers"\ncount = 5\n'
                        'arrival = { process = "poisson", rate = 0.2 }\n')
    db = tmp_path / "runs.db"
    with pytest.raises(SystemExit) as ran:
        main(["run", str(scenario), "--db", f"sqlite:///{db}", "--replications", "1", "--workers", "1",
              "--json"])
    assert ran.value.code == 0
    capsys.readouterr()
    with Store.open(f"sqlite:///{db}") as store:
        run_id = store.runs()[0].id
    with pytest.raises(SystemExit) as exported:
        main(["export-metrics", str(db), "--run", run_id[:10], "--epoch", "2026-01-01T00:00:00Z"])
    assert exported.value.code == 0
    text = capsys.readouterr().out
    families = {f.name: f for f in text_string_to_metric_families(text)}
    series = families["flagship_run_series"].samples
    stamps = [float(s.timestamp) for s in series]
    epoch = 1767225600.0  # 2026-01-01T00:00:00Z: sim time 0
    assert series and epoch <= min(stamps) and max(stamps) <= epoch + 120.0
    assert {s.labels["scope"] for s in series} >= {"posted_price"}
    assert "flagship_measure_ux_ratio" in families
    (tmp_path / "run.om").write_text(text)
    blocks = tmp_path / "blocks"
    created = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "run.om"),
                              str(blocks)], capture_output=True, text=True, check=False)
    assert created.returncode == 0, created.stdout + created.stderr
    assert list(blocks.glob("*/meta.json")), created.stdout

    trial_dir = tmp_path / "trial"
    trial_dir.mkdir()
    live = drive_session(trial_dir)
    trial_id = live.engine.trial.id
    live.store.close()
    with pytest.raises(SystemExit) as trial_export:
        main(["export-metrics", str(tmp_path / "trial" / "live.db"), "--trial", trial_id])
    assert trial_export.value.code == 0
    trial_text = capsys.readouterr().out
    assert trial_text.endswith("# EOF\n")
    names = {f.name for f in text_string_to_metric_families(trial_text)}
    assert "flagship_measure_robustness_ratio" in names


def _metric_names(expr: str) -> set[str]:
    """Metric names an expression reads: identifiers that are not functions, keywords or labels."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        following = expr[match.end():].lstrip()
        word = match.group(0)
        if following.startswith("(") or word in {"and", "or", "unless", "offset", "bool", "inf", "nan"}:
            continue
        names.add(word)
    return names


def _every_measure_family() -> LiveMetrics:
    """Live metrics with the family of every measure any installed mechanism or population declares."""
    metrics = LiveMetrics()
    declared = [(m["area"], m["unit"]) for m in catalogue(Kind.MEASURES)["measures"]]
    metrics.declare_measures(declared)
    CohortMetrics(metrics).declare(declared)  # what a trial with [live.cohorts] adds
    return metrics


def test_grafana_dashboards_are_importable_and_use_only_exported_metrics() -> None:
    exported = sample_names(_every_measure_family().registry)
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "flagship.yaml").read_text())
    assert providers["providers"][0]["type"] == "file"
    dashboards = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert dashboards
    used: set[str] = set()
    for path in dashboards:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["title"]
        # importable through the UI: one datasource input, mapped onto a datasource variable
        (source,) = dashboard["__inputs"]
        assert (source["name"], source["type"], source["pluginId"]) == (
            "DS_PROMETHEUS", "datasource", "prometheus")
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        datasource = variables["datasource"]
        assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
        assert variables["datasource"]["current"]["value"] == "${DS_PROMETHEUS}"
        for name in ("job", "instance"):
            assert variables[name]["type"] == "query" and variables[name]["includeAll"]
            query = re.fullmatch(r"label_values\((.*), (\w+)\)", variables[name]["query"]["query"])
            assert query is not None and query.group(2) == name
            assert _metric_names(query.group(1)) <= exported
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == "${datasource}", (path.name, panel["title"])
                assert panel["datasource"]["uid"] == "${datasource}", (path.name, panel["title"])
                expr = target["expr"]
                assert 'job=~"$job"' in expr and 'instance=~"$instance"' in expr, expr
                names = _metric_names(expr) | _regex_families(expr, exported)
                assert names, expr
                unknown = names - exported
                assert not unknown, f"{path.name} / {panel['title']}: {sorted(unknown)} are not exported"
                used |= names
    families = {name for name in exported if name.startswith(("flagship_measure_", "flagship_cohort_"))}
    assert families and families <= used  # every measure family and cohort gauge is on some panel


def _regex_families(expr: str, exported: set[str]) -> set[str]:
    """The exported names a ``{__name__=~"re", __name__!~"re"}`` selector reads (none: an error)."""
    matched: set[str] = set()
    for selector in re.findall(r"\{([^}]*)\}", expr):
        keep = re.findall(r'__name__=~"([^"]*)"', selector)
        drop = re.findall(r'__name__!~"([^"]*)"', selector)
        if not keep:
            continue
        names = {n for n in exported if all(re.fullmatch(k, n) for k in keep)
                 and not any(re.fullmatch(d, n) for d in drop)}
        assert names, f"{selector} matches no exported metric"
        matched |= names
    return matched


def test_the_metric_name_check_can_fail() -> None:
    assert _metric_names('sum by (le) (rate(flagship_x_bucket{a="b"}[5m])) / flagship_y') == \
        {"flagship_x_bucket", "flagship_y"}
    assert "flagship_nope" not in sample_names(LiveMetrics().registry)
    exported = sample_names(_every_measure_family().registry)
    with pytest.raises(AssertionError, match="matches no exported metric"):
        _regex_families('{__name__=~"flagship_measure_nothing_.*"}', exported)
    assert "flagship_measure_ux_seconds" in _regex_families(
        '{__name__=~"flagship_measure_ux(_.+)?",__name__!~"flagship_measure_ux_ratio"}', exported)
