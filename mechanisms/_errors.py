"""Flagship's exception tree.

Every error Flagship raises on purpose derives from :class:`FlagshipError`::

    FlagshipError
    ├── InputError              bad input from a person or a client: names the field
    │   ├── ScenarioError       a scenario file or override that does not validate
    │   └── UnknownNameError    a mechanism, population, run or rule that is not known
    ├── AuthError               a live request's credentials were refused (mechanisms._live)
    ├── ContractError           a mechanism or population broke the plug-in contract
    │   └── ConformanceError    found by the conformance kit, with a witness
    ├── StoreError              the SQL store cannot be opened, migrated, read or written
    │   └── RunNotFoundError    no run with that id in the store
    └── RunFailedError          a simulation run raised; carries the worker's traceback

Rejected *actions* are not exceptions: a mechanism answers them with a rejected
:class:`~mechanisms.Outcome` carrying a reason code.  Exceptions are for broken
inputs at the boundaries and for broken code.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConformanceError",
    "ContractError",
    "FlagshipError",
    "InputError",
    "Problem",
    "RunFailedError",
    "RunNotFoundError",
    "ScenarioError",
    "StoreError",
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
