"""Flagship's exception tree.

Every error Flagship raises on purpose derives from :class:`FlagshipError`::

    FlagshipError
    ├── InputError                  bad input from a person or a client: names the field
    │   ├── ScenarioError           a scenario file or override that does not validate
    │   └── UnknownNameError        a mechanism, population, run or rule that is not known
    │       └── RunNotFoundError    no run with that id in the store (also a StoreError)
    ├── AuthError                   a live request's credentials were refused (401/403)
    ├── ActionRejected              a live action was refused with a reason code (4xx, no effect)
    ├── OrderRejected               the order book refused a request with a BookReason
    ├── TrialEndedError             the live trial has reached its duration (409)
    ├── ShuttingDownError           the live server is stopping (503)
    ├── ContractError               a mechanism or population broke the plug-in contract
    │   ├── ConformanceError        found by the conformance kit, with a witness
    │   └── MechanismFailedError    a mechanism raised while handling a live action (500)
    ├── StoreError                  the SQL store cannot be opened, migrated, read or written
    │   ├── StoreUnavailableError   a live action could not be committed (503, no effect)
    │   │   └── LeaseLostError      another server took the trial's lease: no commit meanwhile (503)
    │   ├── CommitOutcomeUnknownError  the answer to a commit was lost: it may have landed (503)
    │   ├── TrialServedError        ``serve`` of a trial another server holds the lease of (exit 1)
    │   └── RunNotFoundError
    └── RunFailedError              a simulation run raised; carries the worker's traceback

Rejected *actions* are not exceptions inside a mechanism: it answers them with a rejected
:class:`~flagship.mechanisms.Outcome` carrying a reason code.  Over HTTP,
``Gateway.act`` turns such an outcome into :class:`ActionRejected`, which the server
answers as ``application/problem+json`` with the mechanism's declared status.
Exceptions are for broken inputs at the boundaries and for broken code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

__all__ = [
    "ActionRejected",
    "AuthError",
    "CommitOutcomeUnknownError",
    "ConformanceError",
    "ContractError",
    "FlagshipError",
    "InputError",
    "LeaseLostError",
    "MechanismFailedError",
    "OrderRejected",
    "Problem",
    "RunFailedError",
    "RunNotFoundError",
    "ScenarioError",
    "ShuttingDownError",
    "StoreError",
    "StoreUnavailableError",
    "TrialEndedError",
    "TrialServedError",
    "UnknownNameError",
]


class FlagshipError(Exception):
    """Root of every error Flagship raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: where (a dotted field path) and what was expected."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InputError(FlagshipError):
    """Bad input from a person or a client.

    Carries one :class:`Problem` per field that is wrong, so a CLI can print one
    line per problem and an HTTP API can list them in a problem+json body.
    """

    def __init__(self, problems: list[Problem] | Problem | str, *, source: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per problem, each prefixed by the source (a file name) when known."""
        prefix = f"{self.source}: " if self.source else ""
        return [f"{prefix}{problem}" for problem in self.problems]


class ScenarioError(InputError):
    """A scenario file, or an override of one, does not validate."""


class UnknownNameError(InputError):
    """A mechanism, population, run, rule or other named thing is not known."""


class ContractError(FlagshipError):
    """A mechanism or population broke the plug-in contract (a bug in that plug-in)."""


class ConformanceError(ContractError):
    """The conformance kit found a contract violation; ``witness`` shows how to reproduce it."""

    def __init__(self, check: str, message: str, witness: object = None) -> None:
        self.check = check
        self.witness = witness
        super().__init__(f"{check}: {message}")


class StoreError(FlagshipError):
    """The SQL store cannot be opened, migrated, read or written."""


class RunNotFoundError(StoreError, UnknownNameError):
    """No run with that id in the store."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        UnknownNameError.__init__(self, [Problem("run", f"no run with id {run_id!r} in the store")])


class RunFailedError(FlagshipError):
    """A simulation run raised; ``traceback`` is the text captured where it ran."""

    def __init__(self, message: str, traceback: str = "") -> None:
        self.traceback = traceback
        super().__init__(message)


class AuthError(FlagshipError):
    """A live request's credentials were present but refused; ``reason`` is a code from a closed set."""

    def __init__(self, reason: str, detail: str = "", *, status: int = 401) -> None:
        self.reason = reason
        self.detail = detail
        self.status = status
        super().__init__(f"{reason}: {detail}" if detail else reason)


class ActionRejected(FlagshipError):  # noqa: N818 - it names what happened, as HTTP problems do
    """A live action was refused: ``reason`` from the mechanism's closed set, ``status`` its HTTP status.

    Raised by ``Gateway.act`` for a rejected :class:`~flagship.mechanisms.Outcome`; the
    action changed nothing.
    """

    def __init__(self, reason: str, detail: str = "", *, status: int = 409) -> None:
        self.reason = reason
        self.detail = detail
        self.status = status
        super().__init__(f"{reason}: {detail}" if detail else reason)


_Reason = TypeVar("_Reason", bound=StrEnum)


class OrderRejected(FlagshipError, Generic[_Reason]):  # noqa: N818 - the name is the public contract
    """The order book refused a request; ``reason`` (a ``BookReason``) says why and the book is unchanged."""

    def __init__(self, reason: _Reason, detail: str = "", order_id: object = None) -> None:
        self.reason = reason
        self.detail = detail
        self.order_id = order_id
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


class TrialEndedError(FlagshipError):
    """The trial's simulated time has reached the scenario's duration: no more actions (409)."""


class ShuttingDownError(FlagshipError):
    """The server is stopping and takes no new actions (503)."""


class MechanismFailedError(ContractError):
    """A mechanism raised while handling a live action: a bug in that mechanism (500, no effect)."""


class StoreUnavailableError(StoreError):
    """A live action could not be committed (database unreachable or refusing): 503, no effect."""

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class CommitOutcomeUnknownError(StoreError):
    """A commit was sent but its answer was lost (the connection dropped during COMMIT): it may
    have landed. 503 ``OUTCOME_UNKNOWN``; a retry with the same idempotency key returns the
    committed outcome if it landed, or acts if it did not."""

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class LeaseLostError(StoreUnavailableError):
    """While serving, another server took the trial's lease (after an outage of the lease's own
    connection): no commit until it is this server's again (503 ``STORE_UNAVAILABLE``, not ready)."""


class TrialServedError(StoreError):
    """``flagship serve`` of a trial whose lease another server holds: refused before anything is
    written (one line naming the trial and its holder, exit 1)."""
