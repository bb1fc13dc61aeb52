"""Prometheus metrics of a running sweep, served on a port for a dashboard to scrape.

Everything lives in a dedicated ``CollectorRegistry`` (never the process-global
one), so two sweeps in one process do not mix and tests see only their own metrics:

- ``flagship_sweep_runs_completed_total`` and ``flagship_sweep_runs_failed_total``;
- ``flagship_sweep_runs_planned`` and ``flagship_sweep_runs_skipped`` (gauges: the
  whole sweep, and the results already stored when this invocation started);
- ``flagship_sweep_run_wall_seconds``: a histogram of each run's wall time;
- one histogram per declared measure, ``flagship_sweep_measure_<area>_<name>``,
  observing each finished run's final value, labelled only by ``mechanism`` (the
  scope that declared it: a mechanism or a population) and ``arm``. Label values
  are bounded by the scenario's declarations; runs and seeds are never labels.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, push_to_gateway, start_http_server

from flagship.mechanisms._errors import InputError, Problem
from flagship.telemetry._prometheus import unit_suffix
from flagship.telemetry._run import RunResult

__all__ = ["SweepMetrics", "measure_buckets"]

_WALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                 600.0, 1800.0, 3600.0)
_RATIO_BUCKETS = tuple(round(0.05 * i, 2) for i in range(21))
_SECONDS_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0,
                    7200.0, 21600.0, 86400.0)
# Other units have no known scale: a signed 1-2-5 ladder over ten decades.
_MAGNITUDES = tuple(m * 10.0 ** e for e in range(-3, 7) for m in (1.0, 2.0, 5.0))
_GENERIC_BUCKETS = (*(-m for m in reversed(_MAGNITUDES)), 0.0, *_MAGNITUDES)
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def measure_buckets(unit: str, name: str) -> tuple[float, ...]:
    """Histogram buckets suited to a measure's unit (ratios in 0..1, seconds up to a day)."""
    if unit == "ratio" or name.endswith(("_ratio", "_rate", "_share", "_fraction")):
        return _RATIO_BUCKETS
    if unit == "seconds" or name.endswith("_seconds"):
        return _SECONDS_BUCKETS
    return _GENERIC_BUCKETS


class SweepMetrics:
    """The metrics of one sweep; :meth:`observe` each finished run, :meth:`serve` to expose them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.completed = Counter("flagship_sweep_runs_completed", "runs that completed",
                                 registry=self.registry)
        self.failed = Counter("flagship_sweep_runs_failed", "runs that failed (traceback stored)",
                              registry=self.registry)
        self.planned = Gauge("flagship_sweep_runs_planned", "runs in the whole sweep",
                             registry=self.registry)
        self.skipped = Gauge("flagship_sweep_runs_skipped",
                             "runs already completed in the store when this invocation started",
                             registry=self.registry)
        self.wall = Histogram("flagship_sweep_run_wall_seconds", "wall time of each run (seconds)",
                              buckets=_WALL_BUCKETS, registry=self.registry)
        self._measures: dict[str, Histogram] = {}
        self._lock = threading.Lock()  # observe() may race a scrape; creating metrics must not
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self, planned: int, skipped: int) -> None:
        """Set the sweep's size and how much of it was already done."""
        self.planned.set(planned)
        self.skipped.set(skipped)

    def observe(self, result: RunResult) -> None:
        """Count a finished run and observe its wall time and each of its final measures."""
        if not result.ok:
            self.failed.inc()
            return
        self.completed.inc()
        self.wall.observe(result.wall_seconds)
        if result.telemetry is None:
            return
        arm = result.arm or ""
        for m in result.telemetry.measures:
            if m.value is None:
                continue
            self._histogram(m.area, m.name, m.unit).labels(mechanism=m.scope, arm=arm).observe(m.value)

    def _histogram(self, area: str, name: str, unit: str) -> Histogram:
        suffix = unit_suffix(unit)
        metric = _INVALID.sub("_", f"flagship_sweep_measure_{area}_{name}"
                                   f"{'' if name.endswith(suffix.lstrip('_')) else suffix}")
        with self._lock:
            histogram = self._measures.get(metric)
            if histogram is None:
                histogram = Histogram(metric, f"final {area}.{name} of each run ({unit})",
                                      ["mechanism", "arm"], buckets=measure_buckets(unit, name),
                                      registry=self.registry)
                self._measures[metric] = histogram
        return histogram

    def push(self, gateway: str, sweep_id: str) -> None:
        """Push the current metrics to a Prometheus Pushgateway, grouped as job ``flagship_sweep``,
        ``sweep=<id>`` (one group per sweep, replaced at each push), so they outlive the sweep.
        A gateway that cannot be reached or refuses is an :class:`InputError` naming
        ``--pushgateway``; the sweep command pushes once before any run, so that is found first.
        """
        try:
            push_to_gateway(gateway, job="flagship_sweep", registry=self.registry,
                            grouping_key={"sweep": sweep_id}, timeout=10)
        except (OSError, ValueError) as exc:
            raise InputError([Problem("--pushgateway", f"cannot push to {gateway}: {exc}")]) from None

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on ``host:port`` in a daemon thread; returns the bound port.

        Port 0 picks a free port.
        """
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise InputError([Problem("--metrics-port", f"cannot listen on {host}:{port}: "
                                                        f"{exc.strerror or exc}")]) from None
        self._server, self._thread = server, thread
        return int(server.server_port)

    def stop(self) -> None:
        """Stop serving (the metrics stay readable from :attr:`registry`)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
