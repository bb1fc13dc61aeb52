"""The sweep report: one self-contained HTML page, its figures as PNG and SVG, and a JSON of all numbers.

``write_report(store, sweep_id, out_dir, criteria=...)`` writes::

    out_dir/report.html        the page (Jinja2, autoescaped; figures inlined as base64 PNG)
    out_dir/report.json        every number on the page, the runs and the manifests
    out_dir/figures/*.png|svg  each figure, rendered with matplotlib's Agg/SVG backends

The page leads with the verdict and the scorecard, then shows each measure's
distribution per arm, time series of counters and gauges in sim time with 95%
bands, sweep response curves, and the manifests that reproduce every number.
Rendering is deterministic: the same store and criteria give byte-identical files
(fixed SVG hash salt, no dates in metadata, seeded jitter, no generation time).
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from matplotlib.figure import Figure

from flagship.mechanisms._canonical import canonical_json
from flagship.mechanisms._errors import InputError, Problem
from flagship.mechanisms._random import seed_sequence
from flagship.telemetry._bootstrap import Verdict
from flagship.telemetry._inference import Inference, Interval
from flagship.telemetry._registration import registration_check
from flagship.telemetry._scorecard import CriteriaFile, Evaluation, SweepData, cell_label, evaluate
from flagship.telemetry._stats import mean_ci
from flagship.telemetry._store_protocol import RunStore

__all__ = ["Report", "build_report", "render_figure", "write_report"]

_RC: dict[Any, Any] = {  # matplotlib types rc keys as literals; these are all valid
    "svg.hashsalt": "flagship",  # SVG element ids from a fixed salt, not a random one
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs everywhere
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f")
_VERDICT_COLORS = {Verdict.PASS: "#1a7f37", Verdict.FAIL: "#cf222e", Verdict.INCONCLUSIVE: "#9a6700"}
_MAX_SERIES = 6
_MAX_RESPONSE_MEASURES = 6


@dataclass
class FigureFile:
    """A rendered figure: its name, caption, PNG and SVG bytes."""

    name: str
    title: str
    caption: str
    png: bytes
    svg: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Report:
    """Everything the page shows: the evaluation, the figures and the page's JSON numbers."""

    evaluation: Evaluation
    figures: list[FigureFile]
    numbers: dict[str, Any]
    html: str


def render_figure(figure: Figure) -> tuple[bytes, bytes]:
    """PNG and SVG bytes of ``figure``, byte-identical from one render to the next."""
    with matplotlib.rc_context(_RC):
        png, svg = io.BytesIO(), io.BytesIO()
        figure.savefig(png, format="png", dpi=110, metadata={"Software": None})
        figure.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return png.getvalue(), svg.getvalue()


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


def _grid(count: int, columns: int = 3) -> tuple[int, int]:
    columns = max(1, min(columns, count))
    return math.ceil(count / columns), columns


def _arm_label(arm: str) -> str:
    return arm or "(single arm)"


# -- figures ------------------------------------------------------------------------------


def _scorecard_figure(evaluation: Evaluation) -> Figure | None:
    """Each criterion's deciding interval against its threshold, coloured by verdict."""
    rows = [c for c in evaluation.criteria if c.headline is not None]
    if not rows:
        return None
    with matplotlib.rc_context(_RC):
        figure = _figure(7.5, 0.55 * len(rows) + 1.0)
        axes = figure.subplots(len(rows), 1, squeeze=False)[:, 0]
        for ax, result in zip(axes, rows, strict=True):
            part = result.headline
            if part is None:  # pragma: no cover - filtered above
                continue
            threshold = result.criterion.threshold if result.criterion.effect is None else \
                result.criterion.effect.min
            color = _VERDICT_COLORS[result.verdict]
            ci = part.interval
            if math.isfinite(ci.low):
                ax.plot([ci.low, ci.high], [0, 0], color=color, linewidth=4, solid_capstyle="butt")
            if math.isfinite(ci.estimate):
                ax.plot([ci.estimate], [0], "o", color="black", markersize=4)
            if threshold is not None:
                ax.axvline(threshold, color="#555555", linestyle="--", linewidth=1)
            ax.set_yticks([])
            ax.set_ylim(-1, 1)
            ax.grid(False, axis="y")
            ax.set_title(f"{result.label}   [{result.verdict.value}]", loc="left", fontsize=8,
                         color=color)
    return figure


def _distribution_figure(data: SweepData, evaluation: Evaluation) -> Figure | None:
    """Each measure's per-run values per arm (all cells), with the mean and its interval."""
    keys = list(data.measures)
    if not keys:
        return None
    rows, columns = _grid(len(keys))
    rng = np.random.Generator(np.random.PCG64(seed_sequence(evaluation.seed, "report/jitter")))
    with matplotlib.rc_context(_RC):
        figure = _figure(3.2 * columns, 2.6 * rows)
        axes = figure.subplots(rows, columns, squeeze=False).ravel()
        for ax, key in zip(axes, keys, strict=False):
            info = data.measures[key]
            for position, arm in enumerate(data.arms):
                values = np.array(list(data.samples(key, arm).values()))
                color = _COLORS[position % len(_COLORS)]
                if values.size:
                    jitter = rng.uniform(-0.18, 0.18, values.size)
                    ax.plot(position + jitter, values, "o", color=color, alpha=0.35, markersize=3)
                ci = evaluation.pooled[key][arm]
                if math.isfinite(ci.estimate):
                    low = max(0.0, ci.estimate - ci.low) if math.isfinite(ci.low) else 0.0
                    high = max(0.0, ci.high - ci.estimate) if math.isfinite(ci.high) else 0.0
                    ax.errorbar([position + 0.3], [ci.estimate], yerr=[[low], [high]], fmt="s",
                                color="black", markersize=4, capsize=3)
            ax.set_xticks(range(len(data.arms)), [_arm_label(a) for a in data.arms])
            ax.set_xlim(-0.6, len(data.arms) - 0.4)
            ax.set_title(f"{info.qualified} ({info.unit}, {'↑' if info.higher_is_better else '↓'} better)",
                         fontsize=8)
        for ax in axes[len(keys):]:
            ax.set_visible(False)
    return figure


def _series_bands(data: SweepData, cell: str | None = None
                  ) -> dict[str, dict[str, list[dict[str, float | int | str | None]]]]:
    """series key -> arm -> [{time, mean, ci_low, ci_high, n}] across runs (95% t-interval), of
    every cell or of ``cell`` only.

    A counter exists only from its first increment on, so before that a run's counter is
    0, not missing: counters are filled in on every sample time of the run (carrying the
    last value forward), or the early means would leave out the runs that had not counted yet.
    Only runs that have the counter's scope (a mechanism or population in that arm) count:
    an arm without the mechanism has no band at all, not a flat zero. A counter's band
    stays at or above 0.
    """
    completed = [run for run in data.runs if run.status == "completed" and cell in (None, run.cell)]
    counters = {key for run in completed for key in run.counters}
    arm_of = {run.id: run.arm for run in completed}
    scopes_of = {run.id: {key.split(".", 1)[0] for key in (*run.measures, *run.counters)}
                 for run in completed}
    end_of = {run.id: run.sim_time for run in completed}
    grid: set[float] = set()  # every sample time of any run: a run that had not counted yet has no row
    points: dict[str, dict[str, dict[float, float]]] = {}
    for row in data.series:
        if cell is not None and row["run_id"] not in arm_of:
            continue
        key = f"{row['scope']}.{row['name']}"
        time = float(row["time"])
        grid.add(time)
        points.setdefault(key, {}).setdefault(row["run_id"], {})[time] = float(row["value"])
    bands: dict[str, dict[str, list[dict[str, float | int | str | None]]]] = {}
    for key in sorted(points):
        grouped: dict[str, dict[float, list[float]]] = {}
        scope = key.split(".", 1)[0]
        runs = (sorted(r for r in arm_of if scope in scopes_of[r]) if key in counters
                else sorted(points[key]))
        for run_id in runs:
            values = points[key].get(run_id, {})
            per_time = grouped.setdefault(arm_of.get(run_id, ""), {})
            last = 0.0
            end = end_of.get(run_id, 0.0)
            for time in sorted(t for t in grid if t <= end) if key in counters else sorted(values):
                last = values.get(time, last)
                per_time.setdefault(time, []).append(last)
        bands[key] = {arm: [{"time": time, **_nonnegative(mean_ci(values).to_dict(), key in counters)}
                            for time, values in sorted(grouped.get(arm, {}).items())]
                      for arm in data.arms}
    return bands


def _nonnegative(band: dict[str, Any], counter: bool) -> dict[str, Any]:
    """A counter's band clipped at 0: a count is never negative."""
    if counter and band.get("ci_low") is not None:
        band["ci_low"] = max(0.0, band["ci_low"])
    return band


def _reference_bands(keys: Sequence[str]) -> dict[str, tuple[str, str]]:
    """series key -> (low key, high key): gauges ``<series>_band_low`` and ``<series>_band_high`` of
    one scope are a reference band (an equilibrium price range, say) drawn behind ``<series>``."""
    present = set(keys)
    return {key[:-len("_band_low")]: (key, key[:-len("_low")] + "_high") for key in sorted(present)
            if key.endswith("_band_low") and key[:-len("_low")] + "_high" in present}


def _key_series(bands: dict[str, Any], evaluation: Evaluation, limit: int = _MAX_SERIES) -> list[str]:
    """Series of the scopes the criteria judge first, then the others, at most ``limit``; the ends of
    reference bands are drawn behind their series, not as series of their own."""
    scopes = {c.measure.scope for c in evaluation.criteria}
    ends = {key for pair in _reference_bands(list(bands)).values() for key in pair}
    ordered = sorted((k for k in bands if k not in ends), key=lambda k: (k.split(".", 1)[0] not in scopes, k))
    return ordered[:limit]


def _draw_band(ax: Any, bands: dict[str, Any], key: str) -> None:
    """``key``'s reference band, in grey (its ends' mean over runs, of the first arm with data)."""
    pair = _reference_bands(list(bands)).get(key)
    if pair is None:
        return
    for arm in bands[pair[0]]:
        low, high = bands[pair[0]][arm], bands[pair[1]].get(arm, [])
        if low and high:
            ax.fill_between([p["time"] for p in low], [p["mean"] for p in low], [p["mean"] for p in high],
                            step="post", color="#7f7f7f", alpha=0.3, linewidth=0.8, label="reference band")
            return


def _cell_series_figure(data: SweepData, evaluation: Evaluation) -> Figure | None:
    """With several cells: the judged scopes' series per cell (a column each), behind them their
    reference bands: a price path against its equilibrium band, for one."""
    if len(data.cells) < 2 or not data.series:
        return None
    cells = data.cells[:_MAX_SERIES]
    per_cell = [_series_bands(data, cell["key"]) for cell in cells]
    scopes = {c.measure.scope for c in evaluation.criteria}
    keys = [k for k in _key_series(per_cell[0], evaluation, limit=3) if k.split(".", 1)[0] in scopes]
    if not keys:
        return None
    with matplotlib.rc_context(_RC):
        figure = _figure(3.2 * len(cells), 2.6 * len(keys))
        axes = figure.subplots(len(keys), len(cells), squeeze=False)
        for column, (cell, bands) in enumerate(zip(cells, per_cell, strict=True)):
            for row, key in enumerate(keys):
                ax = axes[row][column]
                _draw_band(ax, bands, key)
                for position, arm in enumerate(data.arms):
                    points = bands.get(key, {}).get(arm, [])
                    if points:
                        ax.plot([p["time"] for p in points], [p["mean"] for p in points],
                                color=_COLORS[position % len(_COLORS)], linewidth=1.2, label=_arm_label(arm))
                ax.set_title(f"{key}\n{cell_label(cell['assignment']) or cell['key']}", fontsize=7)
                ax.set_xlabel("sim time (s)")
        axes[0][0].legend(fontsize=6, frameon=False)
    return figure


def _series_figure(data: SweepData, bands: dict[str, Any], keys: Sequence[str]) -> Figure | None:
    if not keys:
        return None
    rows, columns = _grid(len(keys), 2)
    with matplotlib.rc_context(_RC):
        figure = _figure(4.6 * columns, 2.7 * rows)
        axes = figure.subplots(rows, columns, squeeze=False).ravel()
        for ax, key in zip(axes, keys, strict=False):
            _draw_band(ax, bands, key)
            for position, arm in enumerate(data.arms):
                points = bands[key].get(arm, [])
                if not points:
                    continue
                color = _COLORS[position % len(_COLORS)]
                times = [p["time"] for p in points]
                means = [p["mean"] for p in points]
                low = [p["ci_low"] if p["ci_low"] is not None else p["mean"] for p in points]
                high = [p["ci_high"] if p["ci_high"] is not None else p["mean"] for p in points]
                ax.fill_between(times, low, high, color=color, alpha=0.2, linewidth=0)
                ax.plot(times, means, color=color, linewidth=1.5, label=_arm_label(arm))
            ax.set_title(key, fontsize=8)
            ax.set_xlabel("sim time (s)")
            if len(data.arms) > 1:
                ax.legend(fontsize=7, frameon=False)
        for ax in axes[len(keys):]:
            ax.set_visible(False)
    return figure


def _response(data: SweepData, evaluation: Evaluation) -> dict[str, dict[str, Any]]:
    """path -> {values, measures: {key: {arm: [interval per value]}}}: marginal over other paths."""
    paths = [str(p) for p in data.sweep.spec.get("paths", [])]
    chosen = [c.measure.key for c in evaluation.criteria]
    measures = list(dict.fromkeys([*chosen, *data.measures]))[:_MAX_RESPONSE_MEASURES]
    curves: dict[str, dict[str, Any]] = {}
    inference = Inference(evaluation.confidence, seed=evaluation.seed, resamples=evaluation.resamples)
    for path in paths:
        by_value: dict[str, tuple[Any, list[str]]] = {}
        for cell in data.cells:
            if path in cell["assignment"]:
                value = cell["assignment"][path]
                by_value.setdefault(canonical_json(value), (value, []))[1].append(cell["key"])
        if len(by_value) < 2:
            continue
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v, _ in by_value.values())
        entries = sorted(by_value.values(), key=lambda e: e[0]) if numeric else list(by_value.values())
        curve: dict[str, Any] = {"values": [v for v, _ in entries], "numeric": numeric, "measures": {}}
        for key in measures:
            curve["measures"][key] = {}
            for arm in data.arms:
                intervals = []
                for value, cells in entries:
                    values = [v for cell in cells for v in data.samples(key, arm, cell).values()]
                    intervals.append(inference.interval(
                        values, stream=f"response/{path}/{key}/{arm}/{canonical_json(value)}",
                        proportion=data.is_proportion(key), bounds=data.measures[key].value_range()))
                curve["measures"][key][arm] = intervals
        curves[path] = curve
    return curves


def _response_figure(data: SweepData, path: str, curve: dict[str, Any]) -> Figure:
    keys = list(curve["measures"])
    rows, columns = _grid(len(keys))
    xs = curve["values"] if curve["numeric"] else list(range(len(curve["values"])))
    with matplotlib.rc_context(_RC):
        figure = _figure(3.3 * columns, 2.6 * rows)
        axes = figure.subplots(rows, columns, squeeze=False).ravel()
        for ax, key in zip(axes, keys, strict=False):
            for position, arm in enumerate(data.arms):
                intervals: list[Interval] = curve["measures"][key][arm]
                color = _COLORS[position % len(_COLORS)]
                means = [i.estimate for i in intervals]
                # a BCa interval need not hold the mean: an error bar cannot be negative
                low = [max(0.0, i.estimate - i.low) if math.isfinite(i.low) else 0.0 for i in intervals]
                high = [max(0.0, i.high - i.estimate) if math.isfinite(i.high) else 0.0 for i in intervals]
                ax.errorbar(xs, means, yerr=[low, high], color=color, marker="o", markersize=3,
                            capsize=2, linewidth=1.2, label=_arm_label(arm))
            if not curve["numeric"]:
                ax.set_xticks(xs, [json.dumps(v) for v in curve["values"]], rotation=30)
            info = data.measures[key]
            ax.set_title(info.qualified, fontsize=8)
            ax.set_xlabel(path, fontsize=7)
            if len(data.arms) > 1:
                ax.legend(fontsize=7, frameon=False)
        for ax in axes[len(keys):]:
            ax.set_visible(False)
    return figure


# -- the page -----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


def _ci_text(interval: Interval, *, level: bool = False) -> str:
    """``estimate [low, high] method`` (and ``@ level``): every interval on the page names its method."""
    if interval.n == 0:
        return "no data"
    if not math.isfinite(interval.low):
        return f"{_fmt(interval.estimate)} (n={interval.n})"
    at = f" @ {interval.confidence * 100:.2f}".rstrip("0").rstrip(".") + "%" if level else ""
    return f"{_fmt(interval.estimate)} [{_fmt(interval.low)}, {_fmt(interval.high)}] {interval.method}{at}"


def _headline(evaluation: Evaluation) -> dict[str, str]:
    """The one sentence a reader needs: ready or not, and why."""
    verdict = evaluation.verdict
    if verdict is None:
        return {"status": "none", "title": "No criteria given",
                "text": "Estimates only: pass a criteria file to get a verdict."}
    counts = evaluation.counts
    total = len(evaluation.criteria)
    if verdict is Verdict.PASS:
        return {"status": "pass", "title": "Ready for the pilot",
                "text": f"All {total} criteria pass: every interval clears its threshold."}
    reasons = []
    for result in evaluation.criteria:
        if result.verdict is Verdict.FAIL:
            reasons.append(f"{result.label} fails")
        elif result.verdict is Verdict.INCONCLUSIVE:
            more = ("no estimate of the replications needed" if result.further is None
                    else f"a power estimate: about {result.further} more replications per cell")
            reasons.append(f"{result.label} is inconclusive ({more})")
        finding = evaluation.audit.get(result.index)
        if finding is not None and finding.blocks_pass:
            reasons.append(f"{result.label} cannot count as a pass "
                           f"(audit: {finding.status}, {finding.reason})")
    title = "Not ready" if verdict is Verdict.FAIL else "Not decided yet"
    if verdict is Verdict.INCONCLUSIVE and counts["pass"] == total:
        title = "Not shown: the audit flags criteria that cannot fail"
    return {"status": verdict.value, "title": title,
            "text": f"{counts['pass']} of {total} criteria pass; " + "; ".join(reasons) + "."}


def _manifests(data: SweepData) -> dict[str, Any]:
    """The resolved scenario of each (cell, arm), the environment, and every run's identity."""
    scenarios: dict[str, dict[str, Any]] = {}
    environment: dict[str, Any] = {}
    for run in data.runs:
        manifest = run.manifest
        scenarios.setdefault(f"{run.cell or '{}'} / {_arm_label(run.arm)}", manifest.get("scenario", {}))
        if not environment:
            environment = {k: manifest.get(k) for k in ("flagship_version", "git_commit", "python",
                                                          "implementation", "platform", "dependencies")}
    runs = [{"run_id": r.id, "cell": r.cell, "arm": r.arm, "seed": r.seed, "replication": r.replication,
             "status": r.status, "action_log_sha256": r.action_log_sha256,
             "state_sha256": r.state_sha256, "measures": r.measures,
             "error": (r.error or "").strip().splitlines()[-1] if r.error else None}
            for r in sorted(data.runs, key=lambda r: (r.cell, data.arms.index(r.arm)
                                                      if r.arm in data.arms else 0, r.replication))]
    return {"command": data.sweep.spec.get("command"), "spec": data.sweep.spec,
            "environment": environment, "scenarios": dict(sorted(scenarios.items())), "runs": runs}


def build_report(store: RunStore, sweep_id: str, criteria: CriteriaFile | None = None, *,
                 criteria_source: str = "", criteria_text: str | None = None,
                 on_step: Callable[[str], None] = lambda step: None) -> Report:
    """Evaluate a stored sweep and render the page, figures and numbers (nothing written).

    ``on_step`` hears what is being done (reading, judging, drawing each figure), for progress.
    """
    on_step("reading the sweep")
    data = SweepData.load(store, sweep_id, with_series=True)
    if not data.runs:
        raise InputError([Problem("sweep", f"sweep {data.sweep.id} has no runs yet")])
    on_step(f"judging {len(data.runs)} runs")
    evaluation = evaluate(data, criteria, source=criteria_source)
    if criteria_text is not None:  # the analysis-plan check, printed beside the verdict
        evaluation.registration = registration_check(store, criteria_text, data.sweep.id)
    bands = _series_bands(data)
    series_keys = _key_series(bands, evaluation)
    curves = _response(data, evaluation)
    figures: list[FigureFile] = []

    def add(name: str, title: str, caption: str, figure: Figure | None) -> None:
        on_step(f"drawing {title.lower()}")
        if figure is not None:
            png, svg = render_figure(figure)
            figures.append(FigureFile(name, title, caption, png, svg))

    conf = f"{evaluation.confidence:.0%}"
    add("scorecard", "Scorecard", "Each criterion's deciding interval at its adjusted level (bar), its "
        "estimate (dot) and its threshold (dashed); green passes, red fails, amber is undecided.",
        _scorecard_figure(evaluation))
    add("distributions", "Measures per arm", f"Every run's final value (dots, all cells), and the mean "
        f"with its {conf} interval (black; t, Wilson or BCa as the data call for).",
        _distribution_figure(data, evaluation))
    add("series", "Time series", "Counters and gauges in sim time: mean across runs per arm, with a "
        "95% Student-t band.", _series_figure(data, bands, series_keys))
    add("series_by_cell", "Time series per cell", "The judged scopes' counters and gauges per cell: mean "
        "across runs per arm; grey, a series' reference band (gauges <series>_band_low and _band_high).",
        _cell_series_figure(data, evaluation))
    for index, (path, curve) in enumerate(curves.items()):
        add(f"response_{index + 1}", f"Response to {path}",
            f"Mean per value of {path} (marginal over the other swept paths), with {conf} intervals "
            "(t, Wilson or BCa).", _response_figure(data, path, curve))
    manifests = _manifests(data)
    numbers = {
        **evaluation.to_dict(),
        "series": {key: bands[key] for key in series_keys},
        "response": {path: {"values": curve["values"],
                            "measures": {key: {arm: [i.to_dict() for i in intervals]
                                               for arm, intervals in arms.items()}
                                         for key, arms in curve["measures"].items()}}
                     for path, curve in curves.items()},
        "figures": [{"name": f.name, "title": f.title, "caption": f.caption} for f in figures],
        "manifests": manifests,
    }
    html = _render_html(evaluation, figures, manifests)
    return Report(evaluation, figures, numbers, html)


def _render_html(evaluation: Evaluation, figures: list[FigureFile], manifests: dict[str, Any]) -> str:
    data = evaluation.data
    environment = Environment(loader=PackageLoader("flagship.telemetry", "templates"),
                              autoescape=select_autoescape(["html", "j2"], default=True),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)
    template = environment.get_template("report.html.j2")
    areas: dict[str, list[dict[str, Any]]] = {}
    control = data.arms[0] if data.arms else ""
    for key, info in data.measures.items():
        areas.setdefault(info.area, []).append({
            "key": key, "qualified": info.qualified, "unit": info.unit,
            "better": "↑" if info.higher_is_better else "↓",
            "arms": [_ci_text(evaluation.pooled[key][arm]) for arm in data.arms],
            "differences": [_ci_text(evaluation.differences[key][f"{arm} - {control}"])
                            for arm in data.arms[1:]],
        })
    labels = {c["key"]: cell_label(c["assignment"]) or c["key"] for c in data.cells}
    criteria = [{
        "label": c.label, "target": c.target, "verdict": c.verdict.value,
        "estimate": _ci_text(c.headline.interval, level=True) if c.headline else "no data",
        "audit": evaluation.audit[c.index].status if c.index in evaluation.audit else "",
        "deciding": (f"{_arm_label(c.headline.arm)}"
                     + (f", {labels.get(c.headline.cell, c.headline.cell)}"
                        if c.headline and c.headline.cell else "")
                     if c.headline else ""),
        "further": ("—" if c.verdict is not Verdict.INCONCLUSIVE else
                    "unknown" if c.further is None else f"~{c.further}"),
        "description": c.criterion.description,
        "parts": [{"arm": _arm_label(p.arm),
                   "cell": labels.get(p.cell, p.cell) if p.cell else "all cells pooled",
                   "estimate": _ci_text(p.interval, level=True), "verdict": p.verdict.value,
                   "further": "—" if p.further == 0 else "unknown" if p.further is None else p.further}
                  for p in c.parts],
    } for c in evaluation.criteria]
    failed = [r for r in manifests["runs"] if r["status"] != "completed"]
    audit = [{"label": c.label, **evaluation.audit[c.index].to_dict()} for c in evaluation.criteria
             if c.index in evaluation.audit]
    return template.render(
        title=evaluation.title, scenario=data.sweep.scenario, sweep_id=data.sweep.id,
        created=data.sweep.created_at.strftime("%Y-%m-%d %H:%M UTC") if data.sweep.created_at else "",
        headline=_headline(evaluation), criteria=criteria, confidence=f"{evaluation.confidence:.0%}",
        audit=audit, registration=(evaluation.registration or {}).get("text", ""),
        correction=evaluation.correction,
        resamples=evaluation.resamples, seed=evaluation.seed,
        arms=[_arm_label(a) for a in data.arms], control=_arm_label(control),
        n_cells=len(data.cells), replications=data.replications,
        n_runs=len(data.runs), n_failed=len(failed), failed=failed[:50],
        areas=[(area, areas[area]) for area in sorted(areas, key=_area_order)],
        figures=figures, manifests=manifests,
        environment_json=json.dumps(manifests["environment"], indent=2, sort_keys=True),
        scenarios=[(name, json.dumps(s, indent=2, sort_keys=True))
                   for name, s in manifests["scenarios"].items()],
        paths=data.sweep.spec.get("paths", []),
    )


def _area_order(area: str) -> int:
    order = ("legitimacy", "ux", "robustness")
    return order.index(area) if area in order else len(order)


def write_report(store: RunStore, sweep_id: str, out_dir: str | Path,
                 criteria: CriteriaFile | None = None, *, criteria_source: str = "",
                 criteria_text: str | None = None,
                 on_step: Callable[[str], None] = lambda step: None) -> Report:
    """Build the report and write report.html, report.json and figures/*.png|svg under ``out_dir``."""
    report = build_report(store, sweep_id, criteria, criteria_source=criteria_source,
                          criteria_text=criteria_text, on_step=on_step)
    on_step("writing the files")
    out = Path(out_dir)
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
        for figure in report.figures:
            (out / "figures" / f"{figure.name}.png").write_bytes(figure.png)
            (out / "figures" / f"{figure.name}.svg").write_bytes(figure.svg)
        (out / "report.json").write_text(json.dumps(report.numbers, indent=2, sort_keys=True,
                                                    default=str) + "\n", encoding="utf-8")
        (out / "report.html").write_text(report.html, encoding="utf-8")
    except OSError as exc:
        raise InputError([Problem("--out", f"cannot write the report to {str(out)!r}: "
                                           f"{exc.strerror or exc}")]) from None
    return report
