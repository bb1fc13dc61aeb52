"""The full-stack pilot (examples/full_stack_pilot.toml): what one replication of each arm costs.

Prints, per arm (full_stack, gate_only, regulator_only, neither), over a few seeds run one
after another in this process:

- actions per replication (gate applications and answers, orders, cancels, ballots...);
- the simulation phase (``env.run``: arrivals, mechanisms, bus events, telemetry), in
  simulated actions per second;
- wall time per replication end to end (``flagship.sandbox.run``: build, simulate, finish,
  serialise and hash the action log), mean and range;

and the simulation phase's rate as a share of bare SimPy's event rate on the same machine,
measured in this process (``_common.bare_simpy``: 1,000 processes with exponential timeouts);
then the whole default batch as ``flagship run`` runs it (every arm x the scenario's
replications on a process pool of all cores, each run stored in a fresh SQLite file),
in seconds.

    python benchmarks/bench_full_stack.py
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python benchmarks/bench_full_stack.py --only run [--arm ARM]

``--only run`` builds, starts and simulates the arm's first 3 seeds and prints nothing;
``--only setup`` builds and starts them without simulating (``env.run``).  Under valgrind the difference
of the two instruction counts is the simulation phase's, a figure that other processes on a
shared machine do not disturb (wall time here is mostly theirs); a fixed ``PYTHONHASHSEED``
keeps string hashing, and so the count, the same from run to run.

``--instructions`` counts that phase directly, for every arm (or ``--arm``) of the pilot or of
``--scenario``: a child under callgrind builds and starts the arm's first 3 seeds, then runs
their ``env.run`` through ``operator.call``, the only part counted (``_callgrind``: two
children at a time), and the parent prints instructions and actions; bare SimPy's pattern is
counted the same way, and ``x bare`` is its instructions per event over the arm's per action
(the ratio of rates at equal instructions per second: the ratio above without the noise). The
count moves with the interpreter's own layout too: compare trees checked out at paths of the
same length.

    python benchmarks/bench_full_stack.py --instructions [--arm ARM] [--scenario examples/gode_sunder.toml]

``--cpu [ROUNDS]`` (default 7 rounds) times the simulation phase in CPU seconds of this process
instead of wall seconds (other processes on a shared machine disturb it far less): each round
measures bare SimPy's events per CPU second, then every arm's 3 seeds (in an order reversed every
other round), each after a full collection of the previous run's garbage; it prints, per arm,
the medians over the rounds of simulated actions per CPU second and of their ratio to that
round's bare SimPy (``x bare``), with that ratio's range.

    python benchmarks/bench_full_stack.py --cpu [ROUNDS] [--scenario examples/gode_sunder.toml]
"""

from __future__ import annotations

import argparse
import gc
import operator
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _callgrind
from _common import bare_simpy, bare_simpy_model, best_of

from flagship.sandbox import build_host, load_scenario, run
from flagship.sandbox._gc import quiet_gc
from flagship.sandbox._runner import run_batch
from flagship.sandbox._scenario import ResolvedScenario
from flagship.telemetry import Store

PILOT = Path(__file__).resolve().parent.parent / "examples" / "full_stack_pilot.toml"
SEEDS = 3


def simulate(armed: ResolvedScenario, seed: int,
             clock: Callable[[], float] = time.perf_counter) -> tuple[int, float]:
    """(actions, seconds by ``clock``: wall by default) of the simulation phase alone."""
    host = build_host(armed, seed)
    host.start()
    with quiet_gc():
        started = clock()
        host.env.run(until=armed.scenario.duration)
        elapsed = clock() - started
    host.finish()
    return host.n_actions, elapsed


def only(phase: str, arm: str) -> None:
    """Build and start (and with ``phase == "run"`` simulate) the arm's seeds; no output."""
    # No collection anywhere: a run's state left for the next build to scan would count against
    # the simulation (the pilot's own phase collects nothing under quiet_gc either).
    gc.disable()
    pilot = load_scenario(PILOT)
    armed = pilot.with_arm(arm)
    for seed in range(pilot.scenario.seed, pilot.scenario.seed + SEEDS):
        host = build_host(armed, seed)
        host.start()
        if phase == "run":
            with quiet_gc():
                host.env.run(until=armed.scenario.duration)


BARE = "bare SimPy"
"""The ``--phase-child`` that runs bare SimPy's pattern (``_common.bare_simpy_model``) instead of an arm."""


def phase_counted(scenario: Path, arm: str) -> None:
    """What an ``--instructions`` child runs: build and start the arm's seeds, hand over, run
    their simulation phase through ``operator.call`` (the only part callgrind counts), print the
    actions it took; for :data:`BARE`, bare SimPy's 300 simulated seconds and its events."""
    gc.disable()
    if arm == BARE:
        env, events = bare_simpy_model()
        _callgrind.handshake()
        operator.call(env.run, 300.0)
        print(events())
        return
    loaded = load_scenario(scenario)
    armed = loaded.with_arm(arm) if arm else loaded
    hosts = []
    for seed in range(loaded.scenario.seed, loaded.scenario.seed + SEEDS):
        host = build_host(armed, seed)
        host.start()
        hosts.append(host)
    _callgrind.handshake()

    def phase() -> None:
        for host in hosts:
            host.env.run(until=armed.scenario.duration)

    operator.call(phase)
    print(sum(len(host.log) if host.log is not None else host.n_actions for host in hosts))


def instructions(scenario: Path, arm: str | None) -> None:
    """The simulation phase's instructions per arm (callgrind), with actions and their ratio."""
    loaded = load_scenario(scenario)
    arms = [arm] if arm is not None else loaded.arm_names()

    def count(name: str) -> tuple[int, str]:
        return _callgrind.count_with_output(Path(__file__), ["--phase-child", name or "-", "--scenario",
                                                             str(scenario)], f"arm {name or '-'}")

    with ThreadPoolExecutor(max_workers=2) as pool:  # instruction counts do not mind sharing cores
        counted = list(pool.map(count, [BARE, *arms]))
    bare_instructions, bare_printed = counted[0]
    per_event = bare_instructions / int(bare_printed.split()[-1])
    print(f"{scenario.name}: the simulation phase of {SEEDS} seeds per arm, counted by callgrind; "
          f"bare SimPy: {per_event:,.0f} instructions per event")
    print(f"{'arm':<16}{'instructions':>16}{'actions':>10}{'per action':>12}{'x bare':>8}")
    for name, (counted_instructions, printed) in zip(arms, counted[1:], strict=True):
        actions = int(printed.split()[-1])
        per_action = counted_instructions / actions
        print(f"{name or '-':<16}{counted_instructions:>16,}{actions:>10,}{per_action:>12,.0f}"
              f"{per_event / per_action:>8.3f}")


def cpu_phase(armed: ResolvedScenario, seed: int) -> tuple[int, float]:
    """(actions, CPU seconds) of one seed's simulation phase, after collecting earlier garbage."""
    gc.collect()
    return simulate(armed, seed, time.process_time)


def bare_cpu() -> float:
    """Bare SimPy's events per CPU second, on ``_common.bare_simpy``'s pattern and duration."""
    env, events = bare_simpy_model()
    gc.collect()
    with quiet_gc():
        started = time.process_time()
        env.run(until=300.0)
        elapsed = time.process_time() - started
    return events() / elapsed


def cpu_mode(scenario: Path, rounds: int) -> None:
    """Per arm, medians over ``rounds`` of actions per CPU second and of x bare (see the docstring)."""
    loaded = load_scenario(scenario)
    arms = loaded.arm_names()
    rates: dict[str, list[float]] = {arm: [] for arm in arms}
    ratios: dict[str, list[float]] = {arm: [] for arm in arms}
    for round_index in range(rounds):
        bare = bare_cpu()
        for arm in arms if round_index % 2 == 0 else arms[::-1]:
            armed = loaded.with_arm(arm) if arm else loaded
            phases = [cpu_phase(armed, loaded.scenario.seed + i) for i in range(SEEDS)]
            rate = sum(n for n, _ in phases) / sum(t for _, t in phases)
            rates[arm].append(rate)
            ratios[arm].append(rate / bare)
    plural = "" if rounds == 1 else "s"
    print(f"{scenario.name}: the simulation phase in CPU seconds of this process, {SEEDS} seeds per arm, "
          f"medians of {rounds} round{plural} (x bare: over bare SimPy's events per CPU second in the "
          f"same round)")
    print(f"{'arm':<16}{'actions/CPU s':>15}{'x bare':>8}{'x bare range':>16}")
    for arm in arms:
        low, high = min(ratios[arm]), max(ratios[arm])
        print(f"{arm or '-':<16}{statistics.median(rates[arm]):>15,.0f}{statistics.median(ratios[arm]):>8.3f}"
              f"{f'{low:.3f}-{high:.3f}':>16}")


def _rounds(text: str) -> int:
    """``--cpu``'s argument: a whole number of rounds, at least 1."""
    try:
        rounds = int(text)
    except ValueError:
        rounds = 0
    if rounds < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of rounds >= 1, got {text!r}")
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["run", "setup"], help="for callgrind: one phase, no output")
    parser.add_argument("--arm", help="with --only (default full_stack) or --instructions: the arm")
    parser.add_argument("--instructions", action="store_true",
                        help="count the simulation phase's instructions under callgrind (valgrind)")
    parser.add_argument("--scenario", type=Path, default=PILOT,
                        help="with --instructions or --cpu: the scenario")
    parser.add_argument("--cpu", nargs="?", const=7, type=_rounds, metavar="ROUNDS",
                        help="time the simulation phase in CPU seconds, medians of ROUNDS rounds (default 7)")
    parser.add_argument("--phase-child", metavar="ARM", help="what an --instructions child runs")
    args = parser.parse_args()
    if args.phase_child is not None:
        phase_counted(args.scenario, "" if args.phase_child == "-" else args.phase_child)
        sys.stdout.flush()
        os._exit(0)  # no teardown: it is not counted, and under valgrind it is slow
    if args.instructions:
        instructions(args.scenario, args.arm)
        return
    if args.cpu is not None:
        cpu_mode(args.scenario, args.cpu)
        return
    if args.only:
        only(args.only, args.arm or "full_stack")
        return
    pilot = load_scenario(PILOT)
    base = pilot.scenario.seed
    print(f"{PILOT.name}: {pilot.scenario.duration:.0f} sim seconds per replication, "
          f"{SEEDS} seeds per arm in this process")
    bare = best_of(3, bare_simpy)
    print(f"bare SimPy in this process: {bare:,.0f} events/s")
    print(f"{'arm':<16}{'actions/rep':>12}{'sim actions/s':>15}{'x bare':>8}{'wall s/rep':>12}{'range':>16}")
    for arm in pilot.arm_names():
        armed = pilot.with_arm(arm)
        phases = [simulate(armed, base + i) for i in range(SEEDS)]
        walls = [run(armed, base + i).wall_seconds for i in range(SEEDS)]
        actions = statistics.mean(n for n, _ in phases)
        rate = sum(n for n, _ in phases) / sum(t for _, t in phases)
        print(f"{arm or '-':<16}{actions:>12,.0f}{rate:>15,.0f}{rate / bare:>8.3f}"
              f"{statistics.mean(walls):>12.2f}"
              f"{f'{min(walls):.2f}-{max(walls):.2f}':>16}")
    workers = os.cpu_count() or 1
    total = len(pilot.arm_names()) * pilot.scenario.replications
    with tempfile.TemporaryDirectory() as tmp, Store.open(f"sqlite:///{tmp}/bench.db") as store:
        started = time.perf_counter()
        batch = run_batch(pilot, store=store)
        elapsed = time.perf_counter() - started
    failed = len(batch.failed)
    note = f", {failed} FAILED" if failed else ""
    print(f"default batch as `flagship run` runs it: {total} runs ({len(pilot.arm_names())} arms x "
          f"{pilot.scenario.replications} replications) on {workers} workers, stored in SQLite: "
          f"{elapsed:.1f} s ({elapsed / total:.2f} s per replication{note})")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
