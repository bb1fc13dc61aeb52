"""What the app serves: a trial's committed state and a way to act on it (:class:`ServedTrial`).

Two implementations: :class:`~._sequencer.Engine`, which is the single writer itself (a
one-process server), and :class:`~._replica.Replica`, a split server's worker, which holds a
replica of the committed state and hands actions to the sequencer process over its link
(:mod:`._split`). The app, the gateway, the pages and the operator routes depend on this
seam only, so both serve the same routes with the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flagship.mechanisms import Mechanism, Outcome
    from flagship.sandbox._host import Host
    from flagship.sandbox._live._guardrails import Guardrail
    from flagship.sandbox._live._idempotency import IdempotencyRecord
    from flagship.sandbox._live._read_view import ReadView
    from flagship.sandbox._scenario import ResolvedScenario
    from flagship.telemetry._prometheus import LiveMetrics
    from flagship.telemetry._trial_log import CheckpointKey, Trial

__all__ = ["ServedTrial"]


class ServedTrial(Protocol):
    """The trial as the app reads it (committed state only) and acts on it (through the writer)."""

    resolved: ResolvedScenario
    trial: Trial
    key: CheckpointKey
    metrics: LiveMetrics
    shadow: ResolvedScenario | None
    duration: float
    status: str
    recovered_entries: int
    recovered_state_hash: str

    @property
    def host(self) -> Host | None:
        """A host of the trial's scenario (which mechanisms it has; never read its state)."""

    @property
    def view(self) -> ReadView | None:
        """The committed state every reader answers from."""

    @property
    def ready(self) -> bool:
        """Taking actions now."""

    @property
    def size(self) -> int:
        """Entries in the durable log."""

    @property
    def head_hash(self) -> str:
        """Hash of the last durable entry."""

    @property
    def state_hash(self) -> str:
        """SHA-256 of every mechanism's snapshot in the committed state."""

    def sim_time(self) -> float:
        """The trial's simulated time now."""

    def lookup(self, base_key: str) -> IdempotencyRecord | None:
        """The committed record of an idempotency key."""

    async def find(self, base_key: str) -> IdempotencyRecord | None:
        """:meth:`lookup` off the event loop (an old key is read from the log)."""

    def receipt(self, base_key: str) -> str | None:
        """A signed receipt for the committed request under ``base_key``, if any."""

    def mechanism(self, name: str) -> Mechanism[Any]:
        """The committed state of mechanism ``name``."""

    async def submit(self, mechanism: str, kind: str, payload: Mapping[str, Any], actor: str, *,
                     key: str | None = None, base_key: str | None = None, index: int = 0,
                     request_hash: str | None = None) -> Outcome:
        """Hand an action to the single writer; its outcome once committed."""

    async def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The server's metrics in the format ``accept`` asks for, and its content type."""

    def install_guardrails(self, guardrails: Sequence[Guardrail]) -> None:
        """Judge ``guardrails`` after every measure refresh (where the measures are refreshed)."""

    async def start(self) -> None:
        """Start serving (the app's lifespan)."""

    async def stop(self) -> None:
        """Stop serving (the app's lifespan)."""
