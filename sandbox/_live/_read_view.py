"""The read view of a live trial: a second host that holds exactly the committed state.

The single writer (:mod:`flagship.sandbox._live._sequencer`) applies a batch to its own host,
then commits it; between the two, for as long as the database takes (a stalled disk: seconds),
the writer's host holds state the log may never hold. So nothing that answers a client reads
the writer's host. Reads (GET routes, pages, authenticators, ``/v1/trial``, ``/v1/operator``)
answer from a :class:`ReadView`: a host of the same scenario and seed that only ever moves by
a commit that succeeded, replayed exactly as recovery replays the log (clients' and
operators' actions fed at their recorded time, simulated participants acting again from the
same seeded streams). A read never waits on the writer and never sees an uncommitted action.

Lifecycle: :func:`replayed_view` builds the view with the writer's host at recovery (a second
replay of the verified log) -> :meth:`ReadView.follow` after each durable commit, before the
commit's callers are answered -> :meth:`ReadView.advance` after a writer step that committed
nothing (timers fire in both hosts alike; nothing unlogged is uncommitted) -> replaced whole
when the writer reloads the log (a commit that landed after all). A failed commit never reaches
the view: it stays at the last durable state while the writer's host is rebuilt.

``follow`` and ``advance`` only queue what to replay: the view catches up, in commit order, when
it is next read (every reading accessor does first), so a client still reads its own
acknowledged writes, while the replay, which needs nothing of the writer's state, leaves the
single writer's serial path (about a quarter of its work per action) for the reader's
coroutine. The writer catches the view up itself once :data:`MAX_PENDING` commits wait unread
(memory stays bounded when nobody reads). A replay that diverges from what was committed breaks
the view: every later read raises, and ``on_diverged`` (the engine) stops the writer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flagship.mechanisms import ContractError, Mechanism, Problem, UnknownNameError
from flagship.sandbox._host import Host
from flagship.sandbox._live._recovery import new_host
from flagship.sandbox._replay import Commit, advance, replay
from flagship.sandbox._scenario import ResolvedScenario
from flagship.sandbox._trial_control import TrialControl
from flagship.telemetry._trial_log import Trial

__all__ = ["MAX_PENDING", "ReadView", "replayed_view"]


MAX_PENDING = 64
"""Commits (and clock advances) the view holds unreplayed before the writer replays them itself."""


class ReadView:
    """The committed state of a live trial, for every reader; only the single writer moves it."""

    def __init__(self, host: Host, state_hash: str | None = None, *,
                 on_diverged: Callable[[ContractError], None] | None = None) -> None:
        if host.log is None:
            raise ContractError("a read view needs a host that keeps its action log")
        self.host = host
        self._log = host.log
        # (sim time, hash) of the last snapshot hash known: a snapshot costs O(state), so it is
        # computed on read and kept until the view moves (or taken from a checkpointed commit).
        self._state_hash = None if state_hash is None else (float(host.env.now), state_hash)
        self._pending: list[Commit | float] = []  # durable commits and clock advances, not replayed yet
        self._broken: ContractError | None = None
        self.on_diverged = on_diverged

    @property
    def control(self) -> TrialControl:
        """The trial's committed operator state (running, paused or closed; live parameters set)."""
        return self.current().control

    @property
    def state_hash(self) -> str:
        """SHA-256 of every mechanism's snapshot in the committed state, at the view's clock."""
        host = self.current()
        now = float(host.env.now)
        if self._state_hash is None or self._state_hash[0] != now:
            self._state_hash = (now, host.state_sha256())
        return self._state_hash[1]

    def mechanism(self, name: str) -> Mechanism[Any]:
        """The committed state of mechanism ``name`` (read-only: only the writer's commits move it)."""
        mechanisms = self.current().mechanisms
        if name not in mechanisms:
            raise UnknownNameError([Problem("mechanism", f"no mechanism {name!r} in this trial")])
        return mechanisms[name]

    def current(self) -> Host:
        """The view's host with every durable commit replayed (what each read starts with)."""
        if self._pending:
            self._catch_up()
        if self._broken is not None:
            raise self._broken
        return self.host

    def follow(self, commit: Commit) -> None:
        """Queue ``commit``, now durable, for the view (the writer calls it before acknowledging)."""
        self._pending.append(commit)
        if len(self._pending) >= MAX_PENDING:
            self._catch_up()

    def advance(self, clock: float) -> None:
        """Queue a run of the view's environment to ``clock`` (a writer step that logged nothing)."""
        self._pending.append(clock)
        if len(self._pending) >= MAX_PENDING:
            self._catch_up()

    def _catch_up(self) -> None:
        pending, self._pending = self._pending, []
        if self._broken is not None:
            return
        try:
            for step in pending:
                if isinstance(step, Commit):
                    self._replay(step)
                else:
                    advance(self.host, step)
        except Exception as exc:  # a mechanism raised in the replay: as much a divergence
            broken = exc if isinstance(exc, ContractError) else ContractError(
                f"the read view's replay raised {type(exc).__name__}: {exc}")
            self._broken = broken
            if self.on_diverged is not None:
                self.on_diverged(broken)

    def _replay(self, commit: Commit) -> None:
        """Replay ``commit`` onto the view.

        The writer's host applied these very actions; the view produces the same log entries
        or the process is not deterministic, which breaks the view (and stops the engine)
        rather than answer reads from a state the log does not hold. Entries are counted, not
        compared field by field: recovery compares them, and this runs on the event loop.
        """
        host, log = self.host, self._log
        start = host.committed  # not len(log): participants acting at the start log before any commit
        advance(host, commit.clock)  # as replay() does, without its closing O(state) snapshot hash
        for recorded in commit.entries:
            if recorded.external:
                host.submit(recorded.mechanism, recorded.action)
        host.committed = len(log)
        if len(log) - start != len(commit.entries):
            seq = commit.entries[0].seq if commit.entries else -1
            raise ContractError(f"the read view diverged from the writer at the commit from seq {seq}: "
                                f"{len(log) - start} entries replayed, {len(commit.entries)} committed")
        self._state_hash = None if commit.state_hash is None else (float(host.env.now), commit.state_hash)


def replayed_view(resolved: ResolvedScenario, trial: Trial, history: Sequence[Commit],
                  state_hash: str | None = None) -> ReadView:
    """A read view replayed from the trial's verified ``history`` (its own host, not the writer's)."""
    host = new_host(resolved, trial.seed)
    replay(host, history, check=False)
    return ReadView(host, state_hash)
