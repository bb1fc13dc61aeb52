"""Recovery of a live trial: its mechanisms rebuilt from the durable log, verified as they are replayed.

Lifecycle: before the server takes a request, :func:`recover_trial` verifies the trial's
hash chain and checkpoint signatures, then replays the log on a fresh host
(:mod:`flagship.sandbox._replay`): clients' actions are fed at their recorded times;
simulated participants act again from the same seeded streams and must reproduce their
recorded actions and each commit's state hash, or the server refuses to start. It also
rebuilds the idempotency index from the log. While serving, :func:`rebuild_host` replays
the in-memory history again whenever memory must be brought back to the log (a failed
commit, a mechanism that raised mid-batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from flagship.mechanisms import ContractError, StoreError
from flagship.sandbox._gc import FrozenHeap
from flagship.sandbox._host import Host
from flagship.sandbox._live._idempotency import IdempotencyIndex, store_lookup
from flagship.sandbox._replay import Commit, commits_from_entries, replay
from flagship.sandbox._runner import build_host
from flagship.sandbox._scenario import ResolvedScenario
from flagship.telemetry._receipts import WitnessedHead, witness_findings
from flagship.telemetry._trial_log import Checkpoint, Trial, TrialLog, verify_chain

__all__ = ["Recovered", "new_host", "rebuild_host", "recover_trial"]


@dataclass(frozen=True)
class Recovered:
    """A trial rebuilt from its log: the host at the last commit and what the writer resumes from."""

    host: Host
    history: list[Commit]
    size: int
    head: str | None
    state_sha256: str
    index: IdempotencyIndex
    last_checkpoint: Checkpoint | None


def new_host(resolved: ResolvedScenario, seed: int) -> Host:
    """A started host of the scenario, as a run builds it, keeping its action log."""
    host = build_host(resolved, seed)
    if host.log is None:
        raise ContractError("a live trial needs keep_actions = true")
    host.start()
    return host


def recover_trial(resolved: ResolvedScenario, trial: Trial, log: TrialLog, heap: FrozenHeap, *,
                  witnessed: Sequence[WitnessedHead] = (),
                  idempotency_window: int | None = None) -> Recovered:
    """Verify the trial's chain (and its witnessed heads) and rebuild every mechanism by replaying its log.

    The key index holds the newest ``idempotency_window`` keys (None: all), reading older
    ones back from ``log``. ``heap`` is thawed before the replay: the state this replaces may
    be frozen, and the collector must be able to reclaim it. A log shorter than a witnessed head, or with
    another hash at a witnessed size, is refused like a broken chain.
    """
    trial_id = trial.id
    entries = list(log.entries(trial_id))
    checkpoints = log.checkpoints(trial_id)
    verification = verify_chain(trial, entries, checkpoints)
    if not verification.ok:
        where = "" if verification.first_bad is None else f" at seq {verification.first_bad}"
        raise StoreError(f"trial {trial_id}: the log fails verification{where}: {verification.problem}")
    if witnessed:
        hashes = {entry.seq: entry.hash for entry in entries}
        contradictions = witness_findings(hashes, verification, witnessed,
                                          Ed25519PublicKey.from_public_bytes(bytes.fromhex(trial.public_key)),
                                          chain_format=trial.chain_format)
        if contradictions:
            raise StoreError(f"trial {trial_id}: the log contradicts its witness: {contradictions[-1]}")
    commits = commits_from_entries(entries, trial_id=trial_id)
    heap.thaw()
    host = new_host(resolved, trial.seed)
    report = replay(host, commits, check=True, max_divergences=1)
    if not report.exact:
        raise ContractError(f"trial {trial_id}: replaying the log does not reproduce it "
                            f"({report.divergences[0]}); a mechanism or population is not "
                            "deterministic, or its code changed since the trial started")
    index = IdempotencyIndex.from_entries(entries, trial_id=trial_id, window=idempotency_window,
                                          older=store_lookup(log, trial_id))
    return Recovered(host=host, history=commits, size=len(entries),
                     head=entries[-1].hash if entries else None, state_sha256=report.state_sha256,
                     index=index,
                     last_checkpoint=checkpoints[-1] if checkpoints else None)


def rebuild_host(resolved: ResolvedScenario, trial: Trial, history: Sequence[Commit]) -> Host:
    """A fresh host replayed from the in-memory durable ``history``; ContractError if it diverges."""
    host = new_host(resolved, trial.seed)
    report = replay(host, history, check=True, max_divergences=1)
    if not report.exact:
        raise ContractError(f"rebuilding trial {trial.id} from its log diverges: {report.divergences[0]}")
    return host
