"""Receipts and witnessed heads: signed statements about a trial's log that live outside its store.

A checkpoint row in the store proves nothing once the store itself is the suspect: whoever
can rewrite the log can delete the checkpoint rows too. Two kinds of evidence are kept
elsewhere, both signed with the trial's Ed25519 key over domain-separated canonical JSON
(the encoding the chain hashes):

* a **receipt**, given to a client with every acknowledged state-changing request: the log
  entry ``seq`` that recorded its action has hash ``entry``, and the log had ``size``
  entries ending in ``head`` when the receipt was signed;
* a **witnessed head**, appended by the server to a witness (a file, or a URL it POSTs to)
  after each checkpoint: a copy of the checkpoint itself (trial, size, head, time,
  signature) that the operator of the database cannot take back.

:func:`audit_trial` checks a trial's chain and checkpoints (:func:`verify_chain`) and then
every receipt and witnessed head against it, one finding per piece of evidence that does not
hold: a missing entry (a cut tail, a deletion), another hash at that place (a rewrite, a
fork), a bad signature. It also says how much of the log no signature covers (the unsigned
tail): entries past the largest size a checkpoint, receipt or witnessed head vouches for.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from flagship.mechanisms._canonical import canonical_bytes
from flagship.mechanisms._errors import InputError, Problem
from flagship.telemetry._trial_log import (
    Checkpoint,
    CheckpointKey,
    LogEntry,
    Trial,
    Verification,
    checkpoint_message,
    verify_chain,
)

__all__ = [
    "RECEIPT_HEADER",
    "Audit",
    "Receipt",
    "WitnessedHead",
    "audit_trial",
    "load_receipts",
    "load_witness",
    "receipt_message",
    "sign_receipt",
    "witness_findings",
]

RECEIPT_HEADER = "Flagship-Receipt"
"""The response header carrying a receipt: base64url (no padding) of its canonical JSON."""

_RECEIPT_DOMAIN = b"flagship-trial-receipt-v1\n"
_HEX64 = frozenset("0123456789abcdef")


def receipt_message(trial_id: str, seq: int, entry: str, size: int, head: str, time: float) -> bytes:
    """The bytes a receipt's signature covers (domain-separated canonical JSON)."""
    return _RECEIPT_DOMAIN + canonical_bytes(
        {"trial": trial_id, "seq": seq, "entry": entry, "size": size, "head": head, "time": time})


def _hash(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX64:
        raise ValueError(f"{name}: expected 64 lower-case hex digits")
    return value


def _count(value: Any, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name}: expected an integer >= {least}")
    return value


def _signature(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 128 or not set(value) <= _HEX64:
        raise ValueError("signature: expected 128 lower-case hex digits")
    return value


def _time(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("time: expected a number")
    return float(value)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: expected a non-empty string")
    return value


@dataclass(frozen=True, slots=True)
class Receipt:
    """Signed: entry ``seq`` of ``trial`` has hash ``entry``; the log had ``size`` entries up to ``head``."""

    trial: str
    seq: int
    entry: str
    size: int
    head: str
    time: float
    signature: str

    def message(self) -> bytes:
        """The signed bytes."""
        return receipt_message(self.trial, self.seq, self.entry, self.size, self.head, self.time)

    def to_json(self) -> dict[str, Any]:
        """The receipt as a JSON object (what a client stores)."""
        return {"trial": self.trial, "seq": self.seq, "entry": self.entry, "size": self.size,
                "head": self.head, "time": self.time, "signature": self.signature}

    def header(self) -> str:
        """The value of the :data:`RECEIPT_HEADER` response header."""
        return base64.urlsafe_b64encode(canonical_bytes(self.to_json())).rstrip(b"=").decode("ascii")

    @classmethod
    def from_json(cls, data: Any) -> Receipt:
        """A receipt from its JSON object; ValueError naming the first bad field."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        unknown = set(data) - {"trial", "seq", "entry", "size", "head", "time", "signature"}
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        seq = _count(data.get("seq"), "seq", 0)
        size = _count(data.get("size"), "size", seq + 1)
        return cls(_text(data.get("trial"), "trial"), seq, _hash(data.get("entry"), "entry"), size,
                   _hash(data.get("head"), "head"), _time(data.get("time")),
                   _signature(data.get("signature")))

    @classmethod
    def from_header(cls, value: str) -> Receipt:
        """A receipt from a :data:`RECEIPT_HEADER` value; ValueError if it is not one."""
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            data = orjson.loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"not a receipt: {exc}") from None
        return cls.from_json(data)


def sign_receipt(key: CheckpointKey, trial_id: str, seq: int, entry: str, size: int, head: str,
                 time: float) -> Receipt:
    """A receipt for entry ``seq`` (hash ``entry``) of a log of ``size`` entries ending in ``head``."""
    signature = key.sign_message(receipt_message(trial_id, seq, entry, size, head, time))
    return Receipt(trial_id, seq, entry, size, head, time, signature)


@dataclass(frozen=True, slots=True)
class WitnessedHead:
    """A checkpoint as a witness holds it: the trial's log had ``size`` entries ending in ``head``."""

    trial: str
    size: int
    head: str
    time: float
    signature: str

    @classmethod
    def of(cls, trial_id: str, checkpoint: Checkpoint) -> WitnessedHead:
        """The witnessed copy of ``checkpoint``."""
        return cls(trial_id, checkpoint.size, checkpoint.head_hash, checkpoint.time, checkpoint.signature)

    def to_json(self) -> dict[str, Any]:
        """One line of a witness file."""
        return {"trial": self.trial, "size": self.size, "head": self.head, "time": self.time,
                "signature": self.signature}

    @classmethod
    def from_json(cls, data: Any) -> WitnessedHead:
        """A witnessed head from its JSON object; ValueError naming the first bad field."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return cls(_text(data.get("trial"), "trial"), _count(data.get("size"), "size", 1),
                   _hash(data.get("head"), "head"), _time(data.get("time")),
                   _signature(data.get("signature")))


def load_receipts(directory: Path) -> list[Receipt]:
    """Every ``*.json`` receipt in ``directory``; InputError naming each unreadable file."""
    if not directory.is_dir():
        raise InputError([Problem("--receipts", f"no such directory: {directory}")])
    receipts: list[Receipt] = []
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.json")):
        try:
            receipts.append(Receipt.from_json(orjson.loads(path.read_bytes())))
        except (OSError, ValueError) as exc:
            problems.append(Problem("--receipts", f"{path.name}: not a receipt: {exc}"))
    if problems:
        raise InputError(problems)
    return receipts


def load_witness(path: Path) -> list[WitnessedHead]:
    """Every head of a witness file (JSON lines); InputError naming each unreadable line."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise InputError([Problem("--witness", f"cannot read {path}: {exc.strerror}")]) from None
    heads: list[WitnessedHead] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            heads.append(WitnessedHead.from_json(orjson.loads(line)))
        except ValueError as exc:
            problems.append(Problem("--witness", f"{path.name} line {number}: not a witnessed head: {exc}"))
    if problems:
        raise InputError(problems)
    return heads


@dataclass(frozen=True)
class Audit:
    """A trial's chain verification, what its outside evidence says, and how much no signature covers."""

    chain: Verification
    findings: list[str] = field(default_factory=list)
    """One line per receipt or witnessed head that does not hold, naming its seq or size."""
    receipts: int = 0
    witnessed: int = 0
    covered: int = 0
    """The largest log size a verified checkpoint, receipt or witnessed head vouches for."""

    @property
    def unsigned(self) -> int:
        """Entries of an intact log past every signature (0 when the chain or evidence fails)."""
        if not self.chain.ok or self.findings:
            return 0
        return max(0, self.chain.size - self.covered)


def _verifier(hex_key: str) -> Ed25519PublicKey | None:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key))
    except ValueError:
        return None


def _signed(verifier: Ed25519PublicKey | None, signature: str, message: bytes) -> bool:
    if verifier is None:
        return False
    try:
        verifier.verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _at(hashes: dict[int, str], verification: Verification, seq: int, wanted: str) -> str:
    """Why the intact log does not hold ``wanted`` at ``seq`` ("" when it does)."""
    if seq >= verification.size:
        if verification.first_bad is not None and not verification.ok:
            return f"the chain is broken at seq {verification.first_bad}, before entry {seq}"
        return f"entry {seq} is missing: the log has {verification.size} entries (tail cut or deleted)"
    found = hashes.get(seq)
    if found != wanted:
        return f"entry {seq} has another hash ({(found or '?')[:16]}, signed {wanted[:16]}): rewritten"
    return ""


def witness_findings(hashes: dict[int, str], verification: Verification,
                     heads: Sequence[WitnessedHead], verifier: Ed25519PublicKey | None, *,
                     chain_format: int = 1) -> list[str]:
    """One line per witnessed head the log contradicts: truncated below it, or forked at it.

    ``chain_format``: the trial's (a witnessed head is a checkpoint, signed in that format).
    """
    findings: list[str] = []
    for head in heads:
        where = f"witnessed head at size {head.size}"
        if not _signed(verifier, head.signature,
                       checkpoint_message(head.trial, head.size, head.head, head.time,
                                          chain_format=chain_format)):
            findings.append(f"{where}: bad signature (not signed by the trial's key)")
        elif head.size > verification.size:
            broken = "" if verification.ok else f" (the chain breaks at seq {verification.first_bad})"
            findings.append(f"{where}: log truncated: it has {verification.size} entries{broken}")
        elif hashes.get(head.size - 1) != head.head:
            findings.append(f"{where}: fork: entry {head.size - 1} has hash "
                            f"{hashes.get(head.size - 1, '?')[:16]}, the witness holds {head.head[:16]}")
    return findings


def audit_trial(trial: Trial, entries: Iterable[LogEntry], checkpoints: Sequence[Checkpoint], *,
                receipts: Sequence[Receipt] = (), witnessed: Sequence[WitnessedHead] = (),
                public_key: str | None = None) -> Audit:
    """Verify the chain and checkpoints, then every receipt and witnessed head of this trial.

    Receipts and heads of other trials are ignored (a directory may hold several trials'
    receipts). The log is read once; only the hashes the evidence names are kept.
    """
    mine = [r for r in receipts if r.trial == trial.id]
    heads = [h for h in witnessed if h.trial == trial.id]
    wanted = {r.seq for r in mine} | {r.size - 1 for r in mine} | {h.size - 1 for h in heads}
    hashes: dict[int, str] = {}

    def tapped() -> Iterator[LogEntry]:
        for entry in entries:
            if entry.seq in wanted:
                hashes[entry.seq] = entry.hash
            yield entry

    verification = verify_chain(trial, tapped(), checkpoints, public_key=public_key)
    verifier = _verifier(public_key or trial.public_key)
    findings: list[str] = []
    covered = max((cp.size for cp in checkpoints if cp.size <= verification.size), default=0) \
        if verification.ok else 0
    for receipt in sorted(mine, key=lambda r: (r.seq, r.size)):
        where = f"receipt seq {receipt.seq}"
        if not _signed(verifier, receipt.signature, receipt.message()):
            findings.append(f"{where}: bad signature (not signed by the trial's key)")
            continue
        problem = _at(hashes, verification, receipt.seq, receipt.entry) or \
            _at(hashes, verification, receipt.size - 1, receipt.head)
        if problem:
            findings.append(f"{where}: {problem}")
        else:
            covered = max(covered, receipt.size)
    head_findings = witness_findings(hashes, verification, heads, verifier,
                                     chain_format=trial.chain_format)
    findings.extend(head_findings)
    if not head_findings:
        covered = max([covered, *(h.size for h in heads)])
    return Audit(verification, findings, len(mine), len(heads), covered)
