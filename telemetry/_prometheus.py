"""Prometheus: the live server's metrics, their exposition, and OpenMetrics export of stored runs.

Conventions (https://prometheus.io/docs/practices/naming/): every name starts with
``flagship_``; base units in the name (``_seconds``, ``_bytes``, ``_ratio``);
counters end in ``_total``; latencies are histograms; labels are bounded sets only
(route templates, mechanism and population names, outcomes, reason codes, arms) and
never carry agent, order, request or run ids.

``/metrics`` negotiates the format: OpenMetrics 1.0 when the scraper accepts
``application/openmetrics-text`` (Prometheus does), else the text format 0.0.4.

:func:`openmetrics_for_run` writes a stored run's sim-time series and final measures
as an OpenMetrics file whose timestamps are ``epoch + sim time``, which ``promtool
tsdb create-blocks-from openmetrics`` turns into TSDB blocks.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import exposition as text_format
from prometheus_client.openmetrics import exposition as openmetrics_format

from flagship.mechanisms._measures import Area
from flagship.telemetry._recorder import MeasureValue, SeriesPoint

__all__ = [
    "OPENMETRICS_CONTENT_TYPE",
    "TEXT_CONTENT_TYPE",
    "LiveMetrics",
    "negotiate",
    "openmetrics_for_run",
    "render",
    "sample_names",
    "unit_suffix",
]

_AREAS = frozenset(area.value for area in Area)

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZE_BUCKETS = (64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0)
_COUNT_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)


_UNIT_SLUG = re.compile(r"[^a-z0-9]+")


def unit_suffix(unit: str) -> str:
    """``_<unit>`` for a metric name (``_seconds``, ``_ratio``, ``_ticks``); a plain count has none."""
    slug = _UNIT_SLUG.sub("_", unit.lower()).strip("_")
    return "" if slug in ("", "count") else f"_{slug}"


def measure_metric(area: str, unit: str) -> str:
    """The gauge family of one area's measures in one unit: ``flagship_measure_ux_seconds``,
    ``flagship_measure_legitimacy_ratio``, ``flagship_measure_robustness`` (counts). A family
    never mixes units: Prometheus names carry their unit."""
    return f"flagship_measure_{area}{unit_suffix(unit)}"


_MAX_CHILDREN = 4096
"""Most labelled children :class:`LiveMetrics` keeps at hand per metric (beyond: looked up)."""


class LiveMetrics:
    """Every metric the live server exports, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "flagship_http_requests", "HTTP requests answered, by route template, method and status code",
            ["endpoint", "method", "code"], registry=registry)
        self.http_duration = Histogram(
            "flagship_http_request_duration_seconds", "Time from request start to response, by route",
            ["endpoint", "method"], buckets=_LATENCY_BUCKETS, registry=registry)
        self.http_request_size = Histogram(
            "flagship_http_request_size_bytes", "Request body sizes, by route", ["endpoint"],
            buckets=_SIZE_BUCKETS, registry=registry)
        self.http_problems = Counter(
            "flagship_http_problems", "problem+json responses sent by the server's own checks, by reason",
            ["endpoint", "reason"], registry=registry)
        self.idempotent_replays = Counter(
            "flagship_idempotent_replays", "Retries answered from the stored outcome of their key",
            ["endpoint"], registry=registry)
        self.actions = Counter(
            "flagship_actions", "Actions applied and committed, by mechanism, origin (http or sim), "
            "outcome and reason code", ["mechanism", "origin", "outcome", "reason"], registry=registry)
        self.unlogged_rejections = Counter(
            "flagship_unlogged_rejections", "Rejected actions answered but not written to the durable log "
            "(their mechanism declares them traceless), by mechanism and reason code",
            ["mechanism", "reason"], registry=registry)
        self.ack_latency = Histogram(
            "flagship_action_ack_seconds", "Time from handing an action to the engine to its committed "
            "outcome", ["mechanism"], buckets=_LATENCY_BUCKETS, registry=registry)
        self.queue_wait = Histogram(
            "flagship_engine_queue_wait_seconds", "Time an action waited in the engine queue",
            buckets=_LATENCY_BUCKETS, registry=registry)
        self.commit_entries = Histogram(
            "flagship_engine_commit_entries", "Log entries written per database transaction",
            buckets=_COUNT_BUCKETS, registry=registry)
        self.engine_cpu = Counter(
            "flagship_engine_cpu_seconds", "CPU seconds of the single writer, by part: apply (the loop's "
            "share of a batch: clock, mechanisms, entries, answers; the read view replays a commit "
            "when next read, outside it) and commit (the "
            "database write, in its thread); the serial part of the cost of an action", ["part"],
            registry=registry)
        self.commit_duration = Histogram(
            "flagship_store_commit_duration_seconds", "Time to write and commit one batch of the log",
            buckets=_LATENCY_BUCKETS, registry=registry)
        self.commit_failures = Counter(
            "flagship_store_commit_failures", "Batches whose commit failed (answered 503, no effect)",
            registry=registry)
        self.queue_depth = Gauge(
            "flagship_engine_queue_depth", "Actions waiting for the engine", registry=registry)
        self.ready = Gauge(
            "flagship_ready", "1 when the server takes actions (recovered, store reachable)",
            registry=registry)
        self.sim_time = Gauge(
            "flagship_trial_sim_time_seconds", "Simulated time of the trial", registry=registry)
        self.time_factor = Gauge(
            "flagship_trial_time_factor_ratio", "Simulated seconds per wall-clock second",
            registry=registry)
        self.log_entries = Gauge(
            "flagship_trial_log_entries", "Entries in the trial's durable log", registry=registry)
        self.checkpoint_time = Gauge(
            "flagship_trial_checkpoint_timestamp_seconds", "Wall-clock time of the last signed "
            "checkpoint", registry=registry)
        self.recovery_duration = Gauge(
            "flagship_recovery_duration_seconds", "How long the last rebuild from the log took",
            registry=registry)
        self.measures_refresh = Gauge(
            "flagship_measures_refresh_duration_seconds", "How long the last measure refresh took "
            "(a replay of the log per arm)", registry=registry)
        self.guardrail_crossed = Gauge(
            "flagship_guardrail_crossed", "1 when a guardrail is crossed, 0 while it holds, -1 before it "
            "is judged (too little data); one series per guardrail the scenario declares", ["guardrail"],
            registry=registry)
        self.guardrail_value = Gauge(
            "flagship_guardrail_value", "The value of a guardrail's measure when it was last judged",
            ["guardrail"], registry=registry)
        self.measures: dict[str, Gauge] = {}
        self._measures_lock = threading.Lock()
        # Labelled children of the per-request and per-action metrics, by their labels: a
        # labels() lookup costs more than the increment itself, and these run for every
        # request and every committed entry (label values are bounded: route templates,
        # statuses, mechanisms, reason codes; the caches stop growing at _MAX_CHILDREN anyway).
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._action_children: dict[tuple[str, str, bool, str], Any] = {}
        self._ack_children: dict[str, Any] = {}

    def measure_gauge(self, area: str, unit: str) -> Gauge:
        """The gauge family of ``area`` measures in ``unit``, registered when first needed."""
        name = measure_metric(area, unit)
        with self._measures_lock:
            gauge = self.measures.get(name)
            if gauge is None:
                gauge = self.measures[name] = Gauge(
                    name, f"Current value of the declared {area} measures in {unit}, by scope "
                          f"(mechanism or population), measure and arm (live or shadow)",
                    ["scope", "measure", "arm"], registry=self.registry)
        return gauge

    def declare_measures(self, declared: Iterable[tuple[str, str]]) -> None:
        """Register the families of these (area, unit) pairs now, so they are listed before the
        first refresh."""
        for area, unit in declared:
            self.measure_gauge(area, unit)

    # -- recording -------------------------------------------------------------------------

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float,
                        size: int) -> None:
        """Count one answered request and its latency and body size."""
        key = (endpoint, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.http_requests.labels(endpoint, method, str(status)),
                        self.http_duration.labels(endpoint, method), self.http_request_size.labels(endpoint))
            if len(self._request_children) < _MAX_CHILDREN:
                self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        children[2].observe(size)

    def count_action(self, mechanism: str, origin: str, accepted: bool, reason: str) -> None:
        """Count one committed log entry (``flagship_actions_total``)."""
        key = (mechanism, origin, accepted, reason)
        child = self._action_children.get(key)
        if child is None:
            child = self.actions.labels(mechanism, origin, "accepted" if accepted else "rejected", reason)
            if len(self._action_children) < _MAX_CHILDREN:
                self._action_children[key] = child
        child.inc()

    def observe_ack(self, mechanism: str, seconds: float) -> None:
        """Observe one acknowledged action's latency from its arrival at the writer."""
        child = self._ack_children.get(mechanism)
        if child is None:
            child = self.ack_latency.labels(mechanism)
            if len(self._ack_children) < _MAX_CHILDREN:
                self._ack_children[mechanism] = child
        child.observe(seconds)

    def problem(self, endpoint: str, reason: str) -> None:
        """Count one problem response from the server's own checks."""
        self.http_problems.labels(endpoint, reason).inc()

    def idempotent_replay(self, endpoint: str) -> None:
        """Count one retry answered from its key's stored outcome."""
        self.idempotent_replays.labels(endpoint).inc()

    def set_measures(self, arm: str, measures: Iterable[MeasureValue]) -> None:
        """Publish the current measures of ``arm``; undefined ones (``None``) are removed."""
        for m in measures:
            if m.area not in _AREAS:
                continue
            gauge = self.measure_gauge(m.area, m.unit)
            if m.value is None or not math.isfinite(m.value):
                with contextlib.suppress(KeyError):  # never set: nothing to remove
                    gauge.remove(m.scope, m.name, arm)
            else:
                gauge.labels(m.scope, m.name, arm).set(m.value)

    def bind(self, *, sim_time: Callable[[], float], log_entries: Callable[[], float],
             queue_depth: Callable[[], float], ready: Callable[[], float]) -> None:
        """Read these gauges from the engine at scrape time."""
        self.sim_time.set_function(sim_time)
        self.log_entries.set_function(log_entries)
        self.queue_depth.set_function(queue_depth)
        self.ready.set_function(ready)

    # -- exposition -------------------------------------------------------------------------

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition in the format ``accept`` asks for, and its content type."""
        return render(self.registry, accept)


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """``registry``'s exposition in the format ``accept`` asks for, and its content type."""
    if negotiate(accept) == "openmetrics":
        body: bytes = openmetrics_format.generate_latest(registry)  # type: ignore[no-untyped-call]
        return body, OPENMETRICS_CONTENT_TYPE
    return text_format.generate_latest(registry), TEXT_CONTENT_TYPE


def negotiate(accept: str | None) -> str:
    """``"openmetrics"`` if the Accept header takes OpenMetrics with q > 0, else ``"text"``."""
    for part in (accept or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        if fields[0].lower() != "application/openmetrics-text":
            continue
        quality = 1.0
        for parameter in fields[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            return "openmetrics"
    return "text"


def sample_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name the registry can expose (``_total``, ``_bucket``... included)."""
    names: set[str] = set()
    for family in registry.collect():
        base = family.name
        if family.type == "counter":
            names.update({f"{base}_total", f"{base}_created"})
        elif family.type == "histogram":
            names.update({f"{base}_bucket", f"{base}_sum", f"{base}_count", f"{base}_created"})
        elif family.type == "summary":
            names.update({base, f"{base}_sum", f"{base}_count", f"{base}_created"})
        else:
            names.add(base)
    return names


# -- OpenMetrics export of a stored run -------------------------------------------------------

_SERIES_METRIC = "flagship_run_series"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in pairs) + "}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _timestamp(value: float) -> str:
    return f"{value:.3f}"  # millisecond resolution: what the TSDB stores


_NAME_OK = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def openmetrics_for_run(series: Iterable[SeriesPoint], measures: Iterable[MeasureValue], *,
                        epoch: float, final_time: float, arm: str = "") -> str:
    """A run's series and final measures as OpenMetrics text, at ``epoch + sim time``.

    Series points become ``flagship_run_series{scope, series, arm}`` gauges; final
    measures become the same ``flagship_measure_<area>[_<unit>]{scope, measure, arm}`` gauges
    the live server exports (at the run's final time), so one dashboard reads both.
    """
    lines: list[str] = [
        f"# HELP {_SERIES_METRIC} A counter or gauge recorded in simulated time by a mechanism "
        "or population",
        f"# TYPE {_SERIES_METRIC} gauge",
    ]
    grouped: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for point in series:
        grouped.setdefault((point.scope, point.name), []).append((point.time, point.value))
    for (scope, name), points in sorted(grouped.items()):
        labels = _labels([("arm", arm), ("scope", scope), ("series", name)])
        for time_, value in sorted(points):
            lines.append(f"{_SERIES_METRIC}{labels} {_number(value)} {_timestamp(epoch + time_)}")
    by_family: dict[tuple[str, str, str], list[MeasureValue]] = {}
    for m in measures:
        by_family.setdefault((measure_metric(m.area, m.unit), m.area, m.unit), []).append(m)
    for metric, area, unit in sorted(by_family):
        if not _NAME_OK.match(metric):
            continue
        lines.append(f"# HELP {metric} Final value of the declared {area} measures in {unit}")
        lines.append(f"# TYPE {metric} gauge")
        for m in sorted(by_family[(metric, area, unit)], key=lambda v: (v.scope, v.name)):
            if m.value is None or not math.isfinite(m.value):
                continue
            labels = _labels([("arm", arm), ("measure", m.name), ("scope", m.scope)])
            lines.append(f"{metric}{labels} {_number(m.value)} {_timestamp(epoch + final_time)}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
