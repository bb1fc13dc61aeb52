"""``flagship report``: a self-contained, autoescaped, deterministic page, checked in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import pytest

from flagship.sandbox.cli import main
from flagship.telemetry import Store
from flagship.telemetry._report import _series_bands, write_report
from flagship.telemetry._scorecard import SweepData, parse_criteria
from tests._cli import flagship
from tests.experiments.test_scorecard import FAILING

REPO = Path(__file__).resolve().parents[2]

CRITERIA = parse_criteria({
    "title": "<script>alert('x')</script> readiness",
    "criteria": [
        {"measure": "ux.sell_through", "arm": "sale", "op": ">=", "threshold": 0.5,
         "description": "sells <b>out</b>"},
        {"measure": "legitimacy.buyer_surplus_per_sale",
         "effect": {"treatment": "sale", "control": "list", "min": 5.0}, "cells": "pooled"},
        {"measure": "robustness.turned_away_ratio", "op": "<=", "threshold": 0.5, "arm": "sale"},
    ],
})


@pytest.fixture(scope="module")
def report_dir(stored_sweep: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    url, sweep_id = stored_sweep
    out = tmp_path_factory.mktemp("report")
    with Store.open(url) as store:
        write_report(store, sweep_id, out, CRITERIA)
    return out


def test_report_writes_page_figures_and_numbers(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    figures = sorted(p.name for p in (report_dir / "figures").iterdir())
    assert figures == ["distributions.png", "distributions.svg", "response_1.png", "response_1.svg",
                       "scorecard.png", "scorecard.svg", "series.png", "series.svg",
                       "series_by_cell.png", "series_by_cell.svg"]  # two cells: series per cell too
    assert (report_dir / "figures" / "series.png").read_bytes().startswith(b"\x89PNG")
    assert (report_dir / "figures" / "series.svg").read_text().lstrip().startswith("<?xml")
    # self-contained: every image inline, nothing fetched from anywhere
    assert html.count('src="data:image/png;base64,') == 5
    assert not re.search(r'(src|href)="(?!data:)', html)
    assert "<link" not in html and "<script" not in html
    # the verdict first, and why
    assert "Not ready" in html and "fails" in html
    for section in ("Scorecard", "Measures per arm", "Time series", "Response to populations.shoppers.count",
                    "Reproduce", "flagship sweep"):
        assert section in html, section
    numbers = json.loads((report_dir / "report.json").read_text())
    assert [c["verdict"] for c in numbers["criteria"]] == ["pass", "pass", "fail"]
    assert numbers["manifests"]["environment"]["dependencies"]["numpy"]
    assert len(numbers["manifests"]["runs"]) == 24
    assert set(numbers["response"]["populations.shoppers.count"]["measures"]) >= {
        "posted_price.sell_through"}
    assert numbers["series"]["posted_price.units_sold"]["sale"][0]["n"] == 12


def test_report_escapes_what_it_did_not_write(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; readiness" in html
    assert "sells &lt;b&gt;out&lt;/b&gt;" in html


def test_report_is_byte_identical_when_rendered_twice(stored_sweep: tuple[str, str], report_dir: Path,
                                                      tmp_path: Path) -> None:
    url, sweep_id = stored_sweep
    with Store.open(url) as store:
        write_report(store, sweep_id, tmp_path, CRITERIA)
    first = sorted(p.relative_to(report_dir) for p in report_dir.rglob("*") if p.is_file())
    second = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert first == second
    for relative in first:
        assert (report_dir / relative).read_bytes() == (tmp_path / relative).read_bytes(), relative


def test_report_command(tmp_path: Path, stored_sweep: tuple[str, str]) -> None:
    url, sweep_id = stored_sweep
    criteria = tmp_path / "c.toml"
    criteria.write_text(FAILING)
    result = flagship("report", url, "--sweep", sweep_id[:6], "--criteria", str(criteria), "--out",
                      str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "verdict fail" in result.stderr
    assert (tmp_path / "out" / "report.html").is_file()
    with Store.open(url) as store:
        bare = write_report(store, sweep_id, tmp_path / "bare")
    assert bare.evaluation.verdict is None
    assert "No criteria given" in (tmp_path / "bare" / "report.html").read_text()


def test_report_of_a_missing_store_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["report", str(tmp_path / "none.db"), "--sweep", "x", "--out", str(tmp_path / "o")])
    assert info.value.code == 2
    assert "expected a store URL or an existing SQLite file" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "o").exists()


# -- headless Chromium --------------------------------------------------------------------

_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell")
_CONTROL = """<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head>
<body><img src="https://example.invalid/x.png" alt=""></body></html>"""


def _chromium() -> str:
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    message = "headless Chromium is needed to check the report page (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)  # CI installs it: its absence is a broken CI, not a reason to skip
    pytest.skip(message)


def _render(chromium: str, page: Path, screenshot: Path) -> list[str]:
    """Screenshot ``page``; return the console messages Chromium logged while loading it."""
    profile = screenshot.parent / f"profile-{screenshot.stem}"
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}", "--window-size=1200,2400",
         f"--screenshot={screenshot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    # Chromium logs every console message of the page as ...:CONSOLE(line)] "text", source: ...
    return [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


def test_report_page_renders_in_headless_chromium_without_console_errors(report_dir: Path,
                                                                         tmp_path: Path) -> None:
    chromium = _chromium()
    control = tmp_path / "control.html"
    control.write_text(_CONTROL)
    # the check can fail: a page that breaks its own content policy shows up in the console
    assert _render(chromium, control, tmp_path / "control.png"), "console messages are not captured"
    shot = tmp_path / "report.png"
    messages = _render(chromium, report_dir / "report.html", shot)
    assert messages == []
    image = matplotlib.image.imread(str(shot))
    assert image.shape[0] >= 2000 and image.shape[1] >= 1000
    assert image[..., :3].std() > 0.05  # something was drawn, not a blank page
    red = ((image[..., 0] > 0.7) & (image[..., 1] < 0.3) & (image[..., 2] < 0.3)).mean()
    assert red > 0.001  # the "not ready" banner is on screen


def test_report_shows_methods_the_audit_and_the_analysis_plan(stored_sweep: tuple[str, str],
                                                              tmp_path: Path) -> None:
    url, sweep_id = stored_sweep
    text = "[[criteria]]\nmeasure = \"ux.sell_through\"\narm = \"sale\"\nop = \">=\"\nthreshold = 0.5\n" \
           "contrast = { arm = \"list\" }\n"
    criteria = parse_criteria(__import__("tomllib").loads(text))
    with Store.open(url) as store:
        report = write_report(store, sweep_id, tmp_path, criteria, criteria_text=text)
    html = report.html
    assert "Audit: can each criterion fail?" in html and "never fails" in html
    assert re.search(r"\] (t|wilson) @ 9\d(\.\d+)?%", html)  # each interval names its method and level
    assert "Analysis plan: criteria sha256" in html and "not preregistered" in html
    assert "Not shown: the audit flags criteria that cannot fail" in html  # it passes, for both prices
    numbers = json.loads((tmp_path / "report.json").read_text())
    assert numbers["criteria"][0]["audit"]["status"] == "never fails"
    assert numbers["registration"]["status"] == "not registered"


def test_an_arm_without_a_mechanism_has_no_band_and_counts_never_go_below_zero(tmp_path: Path) -> None:
    """The pilot's regulator_only and neither arms have no gate: its counters draw nothing there."""
    db = f"sqlite:///{tmp_path / 'pilot.db'}"
    ran = flagship("run", str(REPO / "examples" / "full_stack_pilot.toml"), "--replications", "2",
                   "--set", "duration=1200", "--db", db, cwd=tmp_path, timeout=600)
    assert ran.returncode == 0, ran.stderr
    with Store.open(db) as store:
        data = SweepData.load(store, store.sweep_ids()[0], with_series=True)
    bands = _series_bands(data)
    gate = [key for key in bands if key.startswith("agent_gate.")]
    assert gate, sorted(bands)
    for key in gate:
        assert bands[key]["regulator_only"] == [] and bands[key]["neither"] == []
    assert any(bands[key]["full_stack"] for key in gate)
    counters = {key for run in data.runs for key in run.counters}
    lows = [p["ci_low"] for key in counters & bands.keys() for arm in bands[key].values() for p in arm
            if p["ci_low"] is not None]
    assert lows and min(lows) >= 0.0


def test_a_series_with_band_gauges_gets_its_reference_band_and_the_ends_are_no_panels() -> None:
    from flagship.telemetry._report import _reference_bands

    keys = ["traders.trade_price", "traders.trade_price_band_low", "traders.trade_price_band_high",
            "traders.period_efficiency", "other.x_band_low"]
    assert _reference_bands(keys) == {
        "traders.trade_price": ("traders.trade_price_band_low", "traders.trade_price_band_high")}
    assert _reference_bands(["a.x_band_low"]) == {}  # half a band is no band
