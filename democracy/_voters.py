"""The emergency vote's electorate: who is registered, under which person and strata, with which credential.

Lifecycle: voters ``register`` once, at any time, with a per-person identity key
(``person``) and their strata, optionally binding a credential by its SHA-256
(``token_sha256``; see :mod:`flagship.democracy._tokens`; only the hash is ever stored).
A second registration of a person under another actor id (a sybil) is rejected with
``DUPLICATE_IDENTITY`` (``dedupe_identities = false`` turns the check off, only to measure
the threat; the attacker populations score how much of their attack was blocked, since only
they know what they attempted). The panel draws from the roll at each convening; the ballot box and the
appeals check membership against it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flagship.democracy._config import EmergencyVoteConfig, text
from flagship.democracy._reasons import VoteReason
from flagship.mechanisms import Action, CommonReason, Outcome

__all__ = ["Voter", "VoterRoll"]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(slots=True)
class Voter:
    """A registered voter: the person behind the actor id, and the strata cell it is drawn from."""

    person: str
    cell: tuple[str, ...]


class VoterRoll:
    """The registered voters (action ``register``), one per person, and their credentials' hashes."""

    def __init__(self, config: EmergencyVoteConfig) -> None:
        self.config = config
        # -- state (in the snapshot) --
        self.voters: dict[str, Voter] = {}  # actor -> voter, in registration order
        self.persons: dict[str, str] = {}  # person -> first actor registered for it
        self.tokens: dict[str, str] = {}  # credential SHA-256 -> the voter it authenticates

    def register(self, action: Action) -> Outcome:
        """The ``register`` action: checks the payload, then one voter per actor, person and credential."""
        payload = action.payload
        person = text(payload.get("person"))
        strata = payload.get("strata")
        if person is None:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, "person: expected a non-empty string")
        if not isinstance(strata, Mapping) or set(strata) != set(self.config.strata):
            return Outcome.reject(
                CommonReason.INVALID_PAYLOAD,
                f"strata: expected exactly the keys {sorted(self.config.strata)}",
            )
        cell = tuple(strata[key] for key in self.config.strata)
        if not all(text(value) is not None for value in cell):
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, "strata: values must be non-empty strings")
        token = payload.get("token_sha256")
        if token is not None and not (isinstance(token, str) and _SHA256_HEX.fullmatch(token)):
            return Outcome.reject(CommonReason.INVALID_PAYLOAD,
                                  "token_sha256: expected 64 lowercase hex digits")
        actor = action.actor
        if actor in self.voters:
            return Outcome.reject(VoteReason.ALREADY_REGISTERED)
        if token is not None and token in self.tokens:
            # One credential, one voter: otherwise a token would name two people.
            return Outcome.reject(CommonReason.INVALID_PAYLOAD,
                                  "token_sha256: this credential is bound to another voter")
        first = self.persons.get(person)
        if first is not None and self.config.dedupe_identities:
            return Outcome.reject(VoteReason.DUPLICATE_IDENTITY, "this person is registered already")
        self.voters[actor] = Voter(person, cell)
        self.persons.setdefault(person, actor)
        if token is not None:
            self.tokens[token] = actor
        return Outcome.accept({"registered": len(self.voters), "voter": actor})

    def strata_of(self, actor: str) -> dict[str, str] | None:
        """A registered voter's strata (``None`` if not registered)."""
        voter = self.voters.get(actor)
        return None if voter is None else dict(zip(self.config.strata, voter.cell, strict=True))

    def snapshot_voters(self) -> dict[str, Any]:
        """The voters in the mechanism's snapshot: actor -> [person, cell]."""
        return {actor: [v.person, list(v.cell)] for actor, v in self.voters.items()}
