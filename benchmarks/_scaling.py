"""What the scaling benchmarks share: one sandbox run per child process, and the growth-exponent fit.

Lifecycle of one measurement (:func:`measure`): the parent forks a child per run; the child
builds the scenario for that size, records its peak resident set so far (``ru_maxrss``: the
interpreter and the imports), runs it through :func:`flagship.sandbox.run` exactly as
``flagship run`` would, and sends back wall seconds, CPU seconds (``time.process_time``), the
peak resident set before and after and the number of actions. A fresh process per run, so the
high-water mark is that run's alone; the memory fitted is the increment (peak after minus peak
before), what the run itself added.

The fit (:func:`fit`): ``cost = a * size**b`` by least squares on the logs
(:func:`scipy.stats.linregress`), with a 95 % confidence interval for ``b`` from the slope's
standard error and Student's t with ``n - 2`` degrees of freedom (few points: the interval is
wide, and it is printed so that it is not mistaken for more than it is). The verdict is the
interval's, so that a noisy fit cannot pass or fail by luck: PASS when the whole interval is at
most :data:`TARGET` (the growth is shown to be linear enough), FAIL when the whole interval is
above it (shown to grow faster), INCONCLUSIVE when it straddles the target (more sizes, more
repeats or a quieter machine would decide). The point estimate and the last-step slope (between
the two largest sizes) are printed beside it, the latter because fixed costs flatten a fit over
small sizes.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from flagship.sandbox import ResolvedScenario

TARGET = 1.1
"""The growth exponent a cost may have against the size it should grow linearly with."""


@dataclass(frozen=True)
class Fit:
    """The growth exponent ``b`` of ``cost = a * size**b`` and its 95 % confidence interval."""

    slope: float
    low: float
    high: float
    last_step: float

    @property
    def outcome(self) -> str:
        """PASS (interval at most :data:`TARGET`), FAIL (interval above it) or INCONCLUSIVE."""
        if self.high <= TARGET:
            return PASS
        return FAIL if self.low > TARGET else INCONCLUSIVE

    def verdict(self) -> str:
        return (
            f"{self.slope:5.2f}  95% CI [{self.low:5.2f}, {self.high:5.2f}]  last step "
            f"{self.last_step:5.2f}  {self.outcome} ({_MEANING[self.outcome]})"
        )


PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
_MEANING = {
    PASS: f"interval <= {TARGET}",
    FAIL: f"interval > {TARGET}",
    INCONCLUSIVE: f"interval spans {TARGET}",
}


def summary(outcomes: Sequence[str]) -> str:
    """The last line of a scaling benchmark: how many exponents each verdict got."""
    counts = {word: sum(1 for outcome in outcomes if outcome == word) for word in (PASS, FAIL, INCONCLUSIVE)}
    return (f"exponents against {TARGET}: {counts[PASS]} pass, {counts[FAIL]} fail, "
            f"{counts[INCONCLUSIVE]} inconclusive of {len(outcomes)}")


def fit(sizes: Sequence[float], costs: Sequence[float]) -> Fit:
    """Least squares of log(cost) on log(size), a t interval on the slope (n - 2 degrees of freedom)."""
    x, y = np.log(np.asarray(sizes, dtype=float)), np.log(np.maximum(np.asarray(costs, dtype=float), 1e-9))
    if np.ptp(y) == 0:  # a constant cost: linregress's correlation (and so its stderr) is undefined
        return Fit(0.0, 0.0, 0.0, 0.0)
    result = stats.linregress(x, y)
    dof = len(x) - 2
    half = float(stats.t.ppf(0.975, dof) * result.stderr) if dof > 0 else float("inf")
    last = float((y[-1] - y[-2]) / (x[-1] - x[-2]))
    return Fit(float(result.slope), float(result.slope) - half, float(result.slope) + half, last)


@dataclass(frozen=True)
class Run:
    """One child's figures for one size (medians over repeats)."""

    size: int
    wall: float
    cpu: float
    peak_mib: float
    added_mib: float
    actions: int


def _child(resolved: ResolvedScenario, conn: Connection) -> None:
    """In the forked child: run ``resolved``, send the figures back."""
    from flagship.sandbox import run

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, started_cpu = time.perf_counter(), time.process_time()
    result = run(resolved)
    cpu = time.process_time() - started_cpu
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if result.status != "completed":
        raise SystemExit(f"run failed: {result.error}")
    conn.send(
        {
            "wall": wall,
            "cpu": cpu,
            "peak_kib": after,
            "added_kib": after - before,
            "actions": result.n_actions,
        }
    )
    conn.close()


def measure(size: int, build: Callable[[], dict[str, Any]], repeats: int) -> Run:
    """Run the scenario ``build()`` returns ``repeats`` times, each in a forked child; the medians.

    The parent resolves the scenario (which imports the mechanisms and populations it names);
    the child is forked, not spawned, so it starts with all that imported (a smoke run of a few
    small sizes would otherwise pay the imports at every size), and the high-water mark of its
    resident set starts where the parent's resident set is, so the increment is the run's.
    """
    from flagship.sandbox import resolve

    resolved = resolve(build())  # in the parent: the children inherit the imported plug-ins
    context = multiprocessing.get_context("fork")
    rows = []
    for _ in range(repeats):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(resolved, sender))
        child.start()
        sender.close()
        try:
            rows.append(receiver.recv())
        except EOFError:
            child.join()
            raise SystemExit(f"the run of size {size} failed (exit code {child.exitcode})") from None
        child.join()

    def median(key: str) -> float:
        return float(statistics.median(row[key] for row in rows))

    return Run(
        size,
        median("wall"),
        median("cpu"),
        median("peak_kib") / 1024,
        median("added_kib") / 1024,
        int(rows[-1]["actions"]),
    )


def report(title: str, label: str, runs: Sequence[Run], against: Sequence[float] | None = None) -> list[str]:
    """Print the runs and the fitted exponents of CPU time and added memory; their two outcomes."""
    sizes = [r.size for r in runs] if against is None else list(against)
    print(f"{title}:")
    for run in runs:
        print(
            f"  {label} {run.size:>9,}: {run.actions:>9,} actions  wall {run.wall:8.2f} s  CPU "
            f"{run.cpu:8.2f} s ({run.cpu * 1e6 / max(1, run.actions):6.1f} us/action)  peak RSS "
            f"{run.peak_mib:7.1f} MiB (+{run.added_mib:7.1f} MiB by the run)"
        )
    outcomes = []
    print(
        f"  growth exponent of wall time:    {fit(sizes, [r.wall for r in runs]).verdict()}  "
        "(for reference: the machine is shared)"
    )
    for what, costs in (("CPU time", [r.cpu for r in runs]), ("added memory", [r.added_mib for r in runs])):
        result = fit(sizes, costs)
        outcomes.append(result.outcome)
        print(f"  growth exponent of {what + ':':<14} {result.verdict()}")
    print(f"  (for reference: exponent of the actions {fit(sizes, [r.actions for r in runs]).slope:.2f})")
    return outcomes
