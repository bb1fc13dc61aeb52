"""deploy/prometheus/alerts.yml: promtool accepts it, its rules fire when they should, and they
read only metrics the server exports."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from flagship.telemetry._prometheus import LiveMetrics, sample_names
from tests.live._support import REPO_ROOT, require_tool
from tests.live.test_prometheus import _metric_names

ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"

_UNIT = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'flagship_guardrail_crossed{{job="pilot",instance="a:8000",guardrail="turned_away"}}'
        values: '-1 0 {crossed} {crossed}'
      - series: 'flagship_ready{{job="pilot",instance="a:8000"}}'
        values: '1x5'
    alert_rule_test:
      - eval_time: 3m
        alertname: FlagshipGuardrailCrossed
        exp_alerts:
          - exp_labels: {{severity: page, job: pilot, instance: "a:8000", guardrail: turned_away}}
      - eval_time: 3m
        alertname: FlagshipNotReady
        exp_alerts: []
"""


def test_promtool_checks_the_alerting_rules() -> None:
    promtool = require_tool("promtool")
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 3 rules found" in checked.stdout, checked.stdout


def test_a_crossed_guardrail_fires_its_alert_and_a_holding_one_does_not(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    results = {}
    for crossed in ("1", "0"):  # with 0 the expected alert is missing: the test can fail
        unit = tmp_path / f"unit-{crossed}.yml"
        text = yaml.safe_load(_UNIT.format(rules=ALERTS, crossed=crossed))
        text["tests"][0]["alert_rule_test"][0]["exp_alerts"][0]["exp_annotations"] = _annotations()
        unit.write_text(yaml.safe_dump(text))
        tested = subprocess.run([promtool, "test", "rules", str(unit)], capture_output=True, text=True,
                                check=False)
        results[crossed] = tested.returncode
    assert results == {"1": 0, "0": 1}


def _annotations() -> dict[str, str]:
    """FlagshipGuardrailCrossed's annotations as they render for the test's series."""
    (rule,) = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]
               if r["alert"] == "FlagshipGuardrailCrossed"]
    return {key: value.replace("{{ $labels.guardrail }}", "turned_away").replace(
        "{{ $labels.instance }}", "a:8000") for key, value in rule["annotations"].items()}


def test_the_alerts_read_only_exported_metrics() -> None:
    exported = sample_names(LiveMetrics().registry)
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    for rule in rules:
        names = _metric_names(rule["expr"])
        assert names and names <= exported, (rule["alert"], sorted(names - exported))
