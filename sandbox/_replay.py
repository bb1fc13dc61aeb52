"""Replaying a trial log: recovery after a crash, ``flagship replay``, counterfactuals, shadow measures.

A trial log is a list of *commits*: what the live single writer applied between two
database transactions. A commit ran the environment to its ``clock`` (simulated
participants acting on their own), then handled the clients' actions at that time.
:func:`replay` drives a fresh :class:`~flagship.sandbox.Host` through the same commits in the
same order (advance-then-submit, like :meth:`Host.run_feed`): only the clients'
actions are fed; the simulated participants act again by themselves, from the same
seeded streams. With ``check=True`` every regenerated entry and every commit's state
hash is compared with the record, so a replay either reproduces the trial byte for
byte or names the first entry where it diverged. With a changed scenario (``--set``
overrides) the same client actions at the same times give the counterfactual.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from flagship.mechanisms import Action, ContractError, Outcome, StoreError, canonical_json
from flagship.sandbox._host import Host, build_host
from flagship.sandbox._scenario import ResolvedScenario
from flagship.telemetry import RunTelemetry
from flagship.telemetry._trial_log import LogEntry

__all__ = [
    "Commit",
    "Divergence",
    "Recorded",
    "ReplayReport",
    "advance",
    "commits_from_entries",
    "replay",
    "replay_scenario",
]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded log entry, as the host saw it: who asked what of which mechanism, and the answer."""

    seq: int
    mechanism: str
    action: Action
    outcome: Outcome
    external: bool


@dataclass(frozen=True, slots=True)
class Commit:
    """What one database transaction of the live writer holds."""

    clock: float
    entries: tuple[Recorded, ...]
    state_hash: str | None


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where a replay's log differs from the record."""

    seq: int
    recorded: str
    replayed: str

    def __str__(self) -> str:
        return f"seq {self.seq}: recorded {self.recorded}, replayed {self.replayed}"


@dataclass
class ReplayReport:
    """What a replay did and, when checking, where it diverged from the record."""

    entries: int = 0
    external: int = 0
    commits: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    state_sha256: str = ""
    clock: float = 0.0

    @property
    def exact(self) -> bool:
        """True when every entry and every commit's state hash matched the record."""
        return not self.divergences


def _parse(text: str, trial_id: str, seq: int, column: str) -> Any:
    """A JSON column of a log entry; a stored text that is not JSON is a corrupt log, named."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        trial = f"trial {trial_id}: " if trial_id else ""
        raise StoreError(f"{trial}log entry seq {seq} holds invalid JSON in its {column} "
                         f"({exc}); the log is corrupt") from None


def commits_from_entries(entries: Iterable[LogEntry], *, trial_id: str = "") -> list[Commit]:
    """Group log rows into commits (a commit ends with the entry that carries ``clock``).

    A payload or effects column that is not JSON raises :class:`StoreError` naming the
    trial and the entry's sequence number (a hash chain can be consistent over garbage).
    """
    commits: list[Commit] = []
    pending: list[Recorded] = []
    last_seq = -1
    for entry in entries:
        last_seq = entry.seq
        payload = _parse(entry.payload, trial_id, entry.seq, "payload")
        effects = _parse(entry.effects, trial_id, entry.seq, "effects")
        outcome = Outcome(entry.accepted, entry.reason, effects)
        pending.append(Recorded(entry.seq, entry.mechanism,
                                Action(entry.time, entry.actor, entry.kind, payload), outcome,
                                entry.origin == "http"))
        if entry.clock is not None:
            commits.append(Commit(entry.clock, tuple(pending), entry.state_hash))
            pending = []
    if pending:
        raise ContractError(f"the trial log ends inside a commit (entry {last_seq} has no clock)")
    return commits


def advance(host: Host, clock: float) -> None:
    """Run the environment to ``clock``: every event before it happens; none at it yet."""
    if clock > float(host.env.now):
        host.env.run(until=clock)


def _describe(mechanism: str, action: Action, outcome: Outcome) -> str:
    return canonical_json({
        "mechanism": mechanism, "time": action.time, "actor": action.actor, "kind": action.kind,
        "payload": action.payload, "accepted": outcome.accepted,
        "reason": None if outcome.reason is None else str(outcome.reason),
        "effects": outcome.effects,
    })


def replay(host: Host, commits: Iterable[Commit], *, check: bool = True,
           max_divergences: int = 20) -> ReplayReport:
    """Drive a started ``host`` through ``commits``; compare with the record when ``check``.

    Divergences are collected (up to ``max_divergences``), not raised: the caller
    decides whether a diverging replay is fatal (recovery) or a finding (``flagship
    replay``). The host keeps running past a divergence so counterfactuals work.
    """
    log = host.log
    if log is None:
        raise ContractError("replay needs a host that keeps its action log")
    report = ReplayReport()
    for commit in commits:
        start = host.committed
        advance(host, commit.clock)
        for recorded in commit.entries:
            if recorded.external:
                host.submit(recorded.mechanism, recorded.action)
                report.external += 1
        report.commits += 1
        report.entries += len(log) - start
        host.committed = len(log)
        report.clock = float(host.env.now)
        if not check or len(report.divergences) >= max_divergences:
            continue
        _compare(log, start, commit, report, max_divergences)
        if commit.state_hash is not None and len(report.divergences) < max_divergences:
            state = host.state_sha256()
            if state != commit.state_hash:
                seq = commit.entries[-1].seq if commit.entries else -1
                report.divergences.append(Divergence(seq, f"state sha256 {commit.state_hash}",
                                                     f"state sha256 {state}"))
    report.state_sha256 = host.state_sha256()
    return report


def _compare(log: Any, start: int, commit: Commit, report: ReplayReport, limit: int) -> None:
    produced = len(log) - start
    for offset, recorded in enumerate(commit.entries):
        if len(report.divergences) >= limit:
            return
        if offset >= produced:
            report.divergences.append(Divergence(
                recorded.seq, _describe(recorded.mechanism, recorded.action, recorded.outcome),
                "nothing (the replay produced fewer entries)"))
            return
        index = start + offset
        mechanism, action, outcome = log.mechanisms[index], log.actions[index], log.outcomes[index]
        if action is recorded.action and outcome == recorded.outcome:
            continue  # an in-memory rebuild feeds the very same objects: equal by identity
        want = _describe(recorded.mechanism, recorded.action, recorded.outcome)
        got = _describe(mechanism, action, outcome)
        if want != got:
            report.divergences.append(Divergence(recorded.seq, want, got))
    if produced > len(commit.entries) and len(report.divergences) < limit:
        extra = start + len(commit.entries)
        last = commit.entries[-1].seq if commit.entries else -1
        report.divergences.append(Divergence(
            last + 1, "nothing (the record has fewer entries)",
            _describe(log.mechanisms[extra], log.actions[extra], log.outcomes[extra])))


def replay_scenario(resolved: ResolvedScenario, seed: int, commits: Sequence[Commit], *,
                    check: bool = True, finish: bool = False
                    ) -> tuple[Host, ReplayReport, RunTelemetry | None]:
    """Build the scenario's host, start it, replay ``commits``; optionally finish it for measures."""
    host = build_host(resolved, seed)
    if host.log is None:
        raise ContractError("replay needs keep_actions = true")
    host.start()
    report = replay(host, commits, check=check)
    telemetry = host.finish() if finish else None
    return host, report, telemetry
