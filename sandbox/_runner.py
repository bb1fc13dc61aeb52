"""Running scenarios: one seeded run, or many replications on an executor.

A run is a pure function of (resolved scenario, seed): :func:`run` builds a
:class:`~flagship.sandbox._host.Host`, wires the scenario's mechanisms, populations and
shocks, runs to the duration and returns a :class:`RunResult`. :func:`run_jobs`
fans jobs out over any ``concurrent.futures.Executor`` (a local process pool by
default); a job that raises comes back as a failed result with its traceback,
so one bad replication never loses the others.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flagship.sandbox._gc import quiet_gc
from flagship.sandbox._host import action_rows, build_host, log_digest
from flagship.sandbox._interrupt import ignore_interrupts
from flagship.sandbox._manifest import environment
from flagship.sandbox._rehearsal import rehearse
from flagship.sandbox._scenario import ResolvedScenario, load_scenario, resolve
from flagship.telemetry import ActionRow, RunResult, RunStore

__all__ = [
    "Batch",
    "RunJob",
    "build_host",
    "default_executor",
    "execute",
    "failed_result",
    "jobs_for",
    "run",
    "run_batch",
    "run_jobs",
    "stream_results",
]


def run(scenario: ResolvedScenario | str | Path, seed: int | None = None, *, replication: int = 0,
        run_id: str | None = None) -> RunResult:
    """Run ``scenario`` once with ``seed`` (default: the scenario's seed). Errors propagate."""
    resolved = scenario if isinstance(scenario, ResolvedScenario) else load_scenario(scenario)
    seed = resolved.scenario.seed if seed is None else seed
    started = time.perf_counter()
    host = build_host(resolved, seed)
    rehearse(host, resolved)  # the scenario's guardrails, judged in simulated time (if any)
    with quiet_gc():
        host.start()
        host.env.run(until=resolved.scenario.duration)
        telemetry = host.finish()
    rows: list[ActionRow] | None = None
    log_hash: str | None = None
    if host.log is not None:
        rows = action_rows(host.log)
        log_hash = log_digest(rows)
    return RunResult(
        run_id=run_id or uuid.uuid4().hex,
        scenario=resolved.scenario.name,
        arm=resolved.arm,
        seed=seed,
        replication=replication,
        status="completed",
        manifest=_manifest(resolved, seed, host.streams.names),
        wall_seconds=time.perf_counter() - started,
        sim_time=float(host.env.now),
        telemetry=telemetry,
        actions=rows,
        n_actions=host.n_actions,
        action_log_sha256=log_hash,
        state_sha256=host.state_sha256(),
        events=dict(sorted(host.bus.counts.items())),
    )


def _manifest(resolved: ResolvedScenario, seed: int, streams: Sequence[str]) -> dict[str, Any]:
    return {
        "scenario_file": resolved.source,
        "scenario_sha256": resolved.source_sha256,
        "overrides": list(resolved.overrides),
        "arm": resolved.arm,
        "seed": seed,
        "streams": list(streams),
        "scenario": resolved.data,
        **environment(),
    }


# -- many runs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunJob:
    """One replication to run somewhere: plain data, so it pickles to any worker."""

    data: dict[str, Any]
    seed: int
    replication: int
    arm: str | None = None
    source: str = ""
    source_sha256: str = ""
    overrides: tuple[str, ...] = ()
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    sweep_id: str | None = None
    cell: str | None = None


def jobs_for(resolved: ResolvedScenario, *, seed: int | None = None,
             replications: int | None = None, sweep_id: str | None = None,
             cell: str | None = None, seeds: Sequence[int] | None = None) -> list[RunJob]:
    """Every (arm, replication) job of a scenario; every arm gets the same seeds.

    Replication ``i`` runs with seed ``seed + i`` unless ``seeds`` is given.
    """
    base = resolved.scenario.seed if seed is None else seed
    count = resolved.scenario.replications if replications is None else replications
    seed_list = list(seeds) if seeds is not None else [base + i for i in range(count)]
    jobs = []
    for arm in resolved.arm_names():
        armed = resolved.with_arm(arm)
        for index, run_seed in enumerate(seed_list):
            jobs.append(RunJob(armed.data, run_seed, index, arm, resolved.source,
                               resolved.source_sha256, resolved.overrides, sweep_id=sweep_id,
                               cell=cell))
    return jobs


def failed_result(job: RunJob, *, wall_seconds: float = 0.0) -> RunResult:
    """A failed result for ``job`` carrying the traceback being handled (or the executor's loss)."""
    return RunResult(
        run_id=job.run_id, scenario=str(job.data.get("name", "")), arm=job.arm, seed=job.seed,
        replication=job.replication, status="failed",
        manifest={"scenario": job.data, "seed": job.seed, "arm": job.arm,
                  "scenario_file": job.source, "scenario_sha256": job.source_sha256,
                  "overrides": list(job.overrides), **environment()},
        wall_seconds=wall_seconds, error=traceback.format_exc(), sweep_id=job.sweep_id, cell=job.cell,
    )


def execute(job: RunJob) -> RunResult:
    """Run one job; never raises: a failure becomes a failed result carrying the traceback."""
    started = time.perf_counter()
    try:
        resolved = resolve(job.data, source=job.source, source_sha256=job.source_sha256,
                           overrides=job.overrides, arm=job.arm)
        result = run(resolved, job.seed, replication=job.replication, run_id=job.run_id)
    except Exception:
        return failed_result(job, wall_seconds=time.perf_counter() - started)
    result.sweep_id = job.sweep_id
    result.cell = job.cell
    return result


def default_executor(n_jobs: int, workers: int | None = None) -> Executor:
    """A process pool on all local cores (or ``workers``), never larger than the job count."""
    size = max(1, min(n_jobs, workers or os.cpu_count() or 1))
    # forkserver: workers start from a clean interpreter, not a copy of a driver that may
    # hold database connections, threads or a live progress display.
    return ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("forkserver"),
                               initializer=ignore_interrupts)


def run_jobs(jobs: Iterable[RunJob], executor: Executor | None = None, *,
             workers: int | None = None) -> Iterator[RunResult]:
    """Run jobs, yielding results as they complete. One job with no executor runs in-process."""
    job_list = list(jobs)
    if executor is None and (len(job_list) == 1 or workers == 1):
        for job in job_list:
            yield execute(job)
        return
    owned = executor is None
    pool = executor if executor is not None else default_executor(len(job_list), workers)
    try:
        yield from stream_results(job_list, pool)
    finally:
        if owned:
            pool.shutdown(wait=True, cancel_futures=True)


def stream_results(jobs: Iterable[RunJob], executor: Executor, *, window: int = 256
                   ) -> Iterator[RunResult]:
    """Run jobs on ``executor``, yielding each result once as it completes.

    At most ``window`` jobs are in flight, and each future is dropped once its result
    is handed over, so a sweep of any size holds only a window of results in memory.
    A job the executor loses (a broken pool, a worker that keeps dying) comes back as
    a failed result, like a job that raised.
    """
    pending: dict[Future[RunResult], RunJob] = {}
    source = iter(jobs)

    def fill() -> None:
        while len(pending) < window:
            job = next(source, None)
            if job is None:
                return
            pending[executor.submit(execute, job)] = job

    fill()
    try:
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    result = future.result()
                except Exception:
                    result = failed_result(job)
                yield result
            fill()
    except Exception:
        for future in pending:
            future.cancel()
        raise
    # Not on KeyboardInterrupt (Ctrl-C, SIGTERM) nor on the generator's close: the executor's
    # owner stops the pool (open_executor terminates the workers, and a process pool then fails
    # its pending jobs itself, which before Python 3.12 it cannot do to a job already cancelled).


@dataclass
class Batch:
    """The runs of one ``flagship run`` (every arm x replication), stored under ``sweep_id``."""

    sweep_id: str | None
    results: list[RunResult]

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.results if not r.ok]


def run_batch(resolved: ResolvedScenario, *, seed: int | None = None,
              replications: int | None = None, store: RunStore | None = None,
              executor: Executor | None = None, workers: int | None = None,
              on_result: Callable[[RunResult], None] | None = None) -> Batch:
    """Run every arm x replication of a scenario, storing each result as it arrives.

    Results come back ordered by (arm in declaration order, replication), whatever
    order the executor finished them in.
    """
    sweep_id = None
    if store is not None:
        sweep_id = store.create_sweep("run", resolved.scenario.name, {
            "scenario_file": resolved.source, "overrides": list(resolved.overrides),
            "seed": resolved.scenario.seed if seed is None else seed,
            "replications": resolved.scenario.replications if replications is None else replications,
        })
    jobs = jobs_for(resolved, seed=seed, replications=replications, sweep_id=sweep_id)
    results = []
    for result in run_jobs(jobs, executor, workers=workers):
        if store is not None:
            store.save_run(result)
        if on_result is not None:
            on_result(result)
        results.append(result)
    arm_order = {arm: i for i, arm in enumerate(resolved.arm_names())}
    results.sort(key=lambda r: (arm_order.get(r.arm, len(arm_order)), r.replication))
    return Batch(sweep_id, results)
