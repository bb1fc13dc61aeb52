"""The live pilot's durable record: trials, their hash-chained action log, signed checkpoints.

A *trial* is one live run of a scenario. Everything that happened in it is an entry
of its log (``trial_log``): every action of a client or a simulated participant, in
the order the single writer applied it, with its outcome and, for client actions,
the idempotency key, the request hash and the outcome the client was given.

The log is hash-chained: ``hash = SHA-256(prev_hash bytes + canonical bytes of the
entry without its hashes)``; the first entry's ``prev_hash`` is the trial's genesis
hash (the SHA-256 of its header: id, scenario, epoch, time factor, seed, public key),
so the header cannot be altered either. Every so often the writer adds a checkpoint
(size, head hash, wall time) signed with the trial's Ed25519 key, so a truncated log
is caught too; in chain format 2 each checkpoint is also a link of the chain, so deleting one
breaks it (:mod:`flagship.telemetry._chain_format`). :func:`verify_chain` names the first bad
sequence number. Checkpoint rows live
in the same database as the log, so evidence that survives its operator is kept outside it:
receipts and witnessed heads (:mod:`flagship.telemetry._receipts`).

The private checkpoint key is not in the database: it is a PEM file
(:func:`key_path`) next to the SQLite file, or in a directory the operator chooses;
the database keeps only the public key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.signing import SigningKey
from sqlalchemy.engine import Connection

from flagship.mechanisms._errors import (
    InputError,
    Problem,
    StoreError,
    UnknownNameError,
)
from flagship.telemetry import _sqlite
from flagship.telemetry._chain_format import checkpoint_link, encode, genesis_bytes
from flagship.telemetry._schema import trial_checkpoints, trial_log, trials
from flagship.telemetry._store import Store
from flagship.telemetry._store_guard import Guard

__all__ = [
    "LOG_COLUMNS",
    "Checkpoint",
    "CheckpointKey",
    "LogEntry",
    "Trial",
    "TrialLog",
    "Verification",
    "chain_hash",
    "checkpoint_message",
    "key_path",
    "make_entry",
    "next_prev_hash",
    "verify_chain",
]

_CHECKPOINT_DOMAINS = {1: b"flagship-trial-checkpoint-v1\n", 2: b"flagship-trial-checkpoint-v2\n"}
_READ_BATCH = 2_000


@dataclass(frozen=True)
class Trial:
    """A live trial as recorded: its scenario, its clock mapping and its checkpoint key."""

    id: str
    scenario: dict[str, Any]
    scenario_sha256: str
    epoch: float
    time_factor: float
    seed: int
    public_key: str
    created_at: dt.datetime
    status: str
    chain_format: int = 1
    """How the chain is encoded (:mod:`flagship.telemetry._chain_format`); fixed for the trial's life."""

    def genesis_hash(self) -> str:
        """The ``prev_hash`` of entry 0: SHA-256 over the trial's header."""
        header = {"id": self.id, "scenario": self.scenario, "epoch": self.epoch,
                  "time_factor": self.time_factor, "seed": self.seed, "public_key": self.public_key}
        return hashlib.sha256(genesis_bytes(self.chain_format, header)).hexdigest()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of a trial log (a row of ``trial_log``); JSON fields hold canonical JSON text.

    ``origin`` is ``"http"`` for a client's action and ``"sim"`` for a simulated
    participant's. ``clock`` is set on the last entry of each commit: the sim time the
    writer had run to. ``state_hash``, the SHA-256 of every mechanism's snapshot after
    the commit, is set there too on commits that carry a checkpoint (a snapshot costs
    O(state), too much for every commit); recovery and replay check against each one.
    """

    seq: int
    time: float
    mechanism: str
    actor: str
    kind: str
    payload: str
    accepted: bool
    reason: str | None
    effects: str
    origin: str
    idempotency_key: str | None
    request_hash: str | None
    response: str | None
    clock: float | None
    state_hash: str | None
    prev_hash: str
    hash: str

    def body(self, trial_id: str) -> dict[str, Any]:
        """The hashed content: every column except the two hashes."""
        return {
            "trial_id": trial_id, "seq": self.seq, "time": self.time, "mechanism": self.mechanism,
            "actor": self.actor, "kind": self.kind, "payload": self.payload,
            "accepted": self.accepted, "reason": self.reason, "effects": self.effects,
            "origin": self.origin, "idempotency_key": self.idempotency_key,
            "request_hash": self.request_hash, "response": self.response, "clock": self.clock,
            "state_hash": self.state_hash,
        }

    def row(self, trial_id: str) -> dict[str, Any]:
        """The entry as a ``trial_log`` row."""
        return {**self.body(trial_id), "prev_hash": self.prev_hash, "hash": self.hash}

    def values(self, trial_id: str) -> tuple[Any, ...]:
        """The entry as a ``trial_log`` row in the table's column order (:data:`LOG_COLUMNS`)."""
        return (trial_id, self.seq, self.time, self.mechanism, self.actor, self.kind, self.payload,
                self.accepted, self.reason, self.effects, self.origin, self.idempotency_key,
                self.request_hash, self.response, self.clock, self.state_hash, self.prev_hash, self.hash)


LOG_COLUMNS = tuple(column.name for column in trial_log.columns)
"""``trial_log``'s columns in table order: the order of :meth:`LogEntry.values`."""


def chain_hash(prev_hash: str, trial_id: str, entry: LogEntry, *, chain_format: int = 1) -> str:
    """SHA-256 of the previous hash's bytes followed by the entry's canonical bytes."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + encode(chain_format, entry.body(trial_id))).hexdigest()


def make_entry(trial_id: str, prev_hash: str, *, seq: int, time: float, mechanism: str, actor: str,
               kind: str, payload: str, accepted: bool, reason: str | None, effects: str, origin: str,
               idempotency_key: str | None = None, request_hash: str | None = None,
               response: str | None = None, clock: float | None = None,
               state_hash: str | None = None, chain_format: int = 1) -> LogEntry:
    """A new entry chained after ``prev_hash`` (its ``hash`` computed here, in ``chain_format``)."""
    time = float(time)
    accepted = bool(accepted)
    clock = None if clock is None else float(clock)
    # The body hashed straight from the fields, as LogEntry.body lays it out: the live writer
    # makes one entry per action, and a frozen dataclass built twice (unsealed, then sealed)
    # cost it as much as the encoding (benchmarks/profile_live_writer.py).
    body = {
        "trial_id": trial_id, "seq": seq, "time": time, "mechanism": mechanism, "actor": actor,
        "kind": kind, "payload": payload, "accepted": accepted, "reason": reason, "effects": effects,
        "origin": origin, "idempotency_key": idempotency_key, "request_hash": request_hash,
        "response": response, "clock": clock, "state_hash": state_hash,
    }
    digest = hashlib.sha256(bytes.fromhex(prev_hash) + encode(chain_format, body)).hexdigest()
    return LogEntry(seq, time, mechanism, actor, kind, payload, accepted, reason, effects, origin,
                    idempotency_key, request_hash, response, clock, state_hash, prev_hash, digest)


# -- checkpoints ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement "the log of this trial had ``size`` entries ending in ``head_hash``"."""

    size: int
    head_hash: str
    time: float
    signature: str


def checkpoint_message(trial_id: str, size: int, head_hash: str, time: float, *,
                       chain_format: int = 1) -> bytes:
    """The bytes a checkpoint signature covers (domain-separated canonical JSON)."""
    body = encode(chain_format, {"trial": trial_id, "size": size, "head": head_hash, "time": time})
    return _CHECKPOINT_DOMAINS[chain_format] + body


def next_prev_hash(trial: Trial, size: int, head: str, checkpoint: Checkpoint | None) -> str:
    """The ``prev_hash`` of entry ``size``: ``head``, or in format 2 the link over its checkpoint."""
    if trial.chain_format >= 2 and checkpoint is not None and checkpoint.size == size and size > 0:
        return checkpoint_link(trial.id, size, head, checkpoint.time, checkpoint.signature)
    return head


def key_path(key_dir: Path, trial_id: str) -> Path:
    """Where the private checkpoint key of ``trial_id`` lives inside ``key_dir``."""
    return key_dir / f"flagship-trial-{trial_id}.key"


class CheckpointKey:
    """A trial's Ed25519 checkpoint signing key (private; kept in a PEM file, never in the DB)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        # The same key in libsodium, which signs in two thirds of OpenSSL's time: the live server
        # signs a receipt per acknowledged request. Ed25519 signatures are deterministic, so
        # both produce the very same bytes.
        self._signer = SigningKey(private_key.private_bytes_raw())

    @classmethod
    def generate(cls) -> CheckpointKey:
        """A fresh random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> CheckpointKey:
        """Read a PKCS#8 PEM key; a missing or unreadable file is a :class:`StoreError`."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            raise StoreError(f"checkpoint key {path} not found (see --key-dir)") from None
        except (OSError, ValueError, TypeError) as exc:
            raise StoreError(f"cannot read checkpoint key {path}: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise StoreError(f"checkpoint key {path} is not an Ed25519 key")
        return cls(key)

    def save(self, path: Path) -> None:
        """Write the key as PKCS#8 PEM, readable by the owner only; never overwrites a file."""
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create checkpoint key {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())

    def derive(self, purpose: str) -> bytes:
        """32 bytes derived (HKDF-SHA256) from the private key for ``purpose``; never stored."""
        raw = self._key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                      serialization.NoEncryption())
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"flagship-trial-secret:" + purpose.encode()).derive(raw)

    @property
    def public_hex(self) -> str:
        """The raw 32-byte public key in hex (what the ``trials`` table stores)."""
        return self._key.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw).hex()

    def sign_message(self, message: bytes) -> str:
        """The hex Ed25519 signature of ``message``; callers domain-separate what they sign."""
        return self._signer.sign(message).signature.hex()

    def sign(self, trial_id: str, size: int, head_hash: str, time: float, *,
             chain_format: int = 1) -> Checkpoint:
        """A checkpoint over the first ``size`` entries."""
        message = checkpoint_message(trial_id, size, head_hash, time, chain_format=chain_format)
        return Checkpoint(size, head_hash, time, self.sign_message(message))


# -- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """The result of checking one trial's chain and checkpoints.

    ``first_bad`` is the first sequence number that is altered, missing, out of
    order or cut off (``None`` when the chain is intact, or when only a checkpoint
    row itself is bad); ``problem`` says what was found there.
    """

    trial_id: str
    ok: bool
    size: int
    checkpoints: int
    head_hash: str
    first_bad: int | None = None
    problem: str = ""


def _public_key(hex_key: str) -> Ed25519PublicKey | None:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key))
    except ValueError:
        return None


def verify_chain(trial: Trial, entries: Iterable[LogEntry], checkpoints: Sequence[Checkpoint], *,
                 public_key: str | None = None) -> Verification:
    """Check every entry's link and hash and every checkpoint's signature and head.

    Detects an altered entry (its hash no longer matches), a deleted one (a gap in
    the sequence numbers), reordered ones (a hash or link mismatch where they moved)
    and a truncated tail (a signed checkpoint covers more entries than remain; a
    tail cut after the last checkpoint cannot be detected here: receipts and witnessed heads,
    kept outside the store, catch it, see :mod:`flagship.telemetry._receipts`). ``public_key`` (hex)
    pins the expected signer instead of trusting the one stored with the trial.
    """
    findings: list[tuple[int, str]] = []
    key_problem = ""
    if public_key is not None and public_key.lower() != trial.public_key.lower():
        key_problem = "the trial's public key is not the pinned key"
    verifier = _public_key(public_key or trial.public_key)
    if verifier is None:
        key_problem = key_problem or "the trial's public key is not a valid Ed25519 key"
    by_size = {cp.size: cp for cp in checkpoints}
    chain_format = trial.chain_format
    try:
        prev = trial.genesis_hash()
    except ValueError as exc:  # a header altered into what the format cannot encode
        return Verification(trial.id, False, 0, len(checkpoints), "", 0, f"the trial's header: {exc}")
    expected = 0
    broken = False
    for entry in entries:
        link = next_prev_hash(trial, expected, prev, by_size.get(expected))
        if entry.seq != expected:
            what = "is missing" if entry.seq > expected else "is out of order"
            findings.append((expected, f"entry {expected} {what} (found {entry.seq} in its place)"))
            broken = True
            break
        if entry.prev_hash != link:
            findings.append((entry.seq, "prev_hash does not match the previous entry's hash "
                                        "(an entry was removed, inserted or moved here)" if chain_format < 2
                             else "prev_hash does not match the previous link of the chain (an entry, "
                                  "or the checkpoint signed before it, was removed, inserted or moved)"))
            broken = True
            break
        try:
            recomputed = chain_hash(link, trial.id, entry, chain_format=chain_format)
        except ValueError:
            recomputed = ""
        if recomputed != entry.hash:
            findings.append((entry.seq, "hash does not match the entry's content (altered)"))
            broken = True
            break
        prev = entry.hash
        expected += 1
        signed = by_size.get(expected)
        if signed is not None and signed.head_hash != prev:
            findings.append((entry.seq, f"the checkpoint at size {expected} signed another head: "
                                        "the log up to here was rewritten"))
            broken = True
            break
    size = expected
    for cp in sorted(checkpoints, key=lambda c: c.size):
        good = False
        if verifier is not None:
            try:
                verifier.verify(bytes.fromhex(cp.signature),
                                checkpoint_message(trial.id, cp.size, cp.head_hash, cp.time,
                                                   chain_format=chain_format))
                good = True
            except (InvalidSignature, ValueError):
                good = False
        if not good:
            key_problem = key_problem or f"the checkpoint at size {cp.size} has a bad signature"
        elif cp.size > size and not broken:
            findings.append((size, f"log truncated: a signed checkpoint covers {cp.size} entries, "
                                   f"the log has {size}"))
            broken = True
    findings.sort()
    if findings:
        first, problem = findings[0]
        return Verification(trial.id, False, size, len(checkpoints), prev, first, problem)
    if key_problem:
        return Verification(trial.id, False, size, len(checkpoints), prev, None, key_problem)
    return Verification(trial.id, True, size, len(checkpoints), prev)


# -- the store -------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _entry(row: Any) -> LogEntry:
    return LogEntry(int(row.seq), float(row.time), row.mechanism, row.actor, row.kind, row.payload,
                    bool(row.accepted), row.reason, row.effects, row.origin, row.idempotency_key,
                    row.request_hash, row.response, None if row.clock is None else float(row.clock),
                    row.state_hash, row.prev_hash, row.hash)


def _trial(row: Any) -> Trial:
    return Trial(row.id, dict(row.scenario), row.scenario_sha256, float(row.epoch),
                 float(row.time_factor), int(row.seed), row.public_key, row.created_at, row.status,
                 int(row.chain_format))


class TrialLog:
    """Trials, their logs and checkpoints in a :class:`~flagship.telemetry.Store`'s database.

    Every write is one transaction and raises :class:`StoreError` when the database
    refuses it or cannot be reached, so a caller can answer 503 and retry.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # -- trials --------------------------------------------------------------------------

    def create_trial(self, *, trial_id: str, scenario: dict[str, Any], scenario_sha256: str,
                     epoch: float, time_factor: float, seed: int, public_key: str,
                     chain_format: int = 1) -> Trial:
        """Record a new trial (status ``running``) whose chain is written in ``chain_format``.

        InputError if the header cannot be encoded in that format (RFC 8785, format 2, holds no
        integer beyond 2**53 - 1): the genesis hash must cover exactly what is stored.
        """
        trial = Trial(trial_id, scenario, scenario_sha256, float(epoch), float(time_factor), int(seed),
                      public_key, _now(), "running", chain_format)
        try:
            trial.genesis_hash()
        except ValueError as exc:
            raise InputError([Problem("scenario", f"cannot start a chain-format {chain_format} "
                                                  f"trial: its header is {exc}")]) from None
        with self._begin() as conn:
            conn.execute(trials.insert().values(
                id=trial.id, scenario=trial.scenario, scenario_sha256=trial.scenario_sha256,
                epoch=trial.epoch, time_factor=trial.time_factor, seed=trial.seed,
                public_key=trial.public_key, created_at=trial.created_at, status=trial.status,
                chain_format=trial.chain_format))
        return self.trial(trial_id)

    def trial(self, trial_id: str) -> Trial:
        """The trial with id (or unique id prefix) ``trial_id``."""
        with self._connect() as conn:
            rows = conn.execute(sa.select(trials).where(
                trials.c.id.startswith(trial_id, autoescape=True)).limit(2)).all()
        if not rows:
            raise UnknownNameError([Problem("trial", f"no trial with id {trial_id!r} in the store")])
        if len(rows) > 1:
            raise InputError([Problem("trial", f"{trial_id!r} matches several trials; "
                                               "give more characters")])
        return _trial(rows[0])

    def trials(self) -> list[Trial]:
        """Every trial, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(sa.select(trials).order_by(trials.c.created_at)).all()
        return [_trial(row) for row in rows]

    def find_resumable(self, scenario_sha256: str) -> Trial | None:
        """The newest running trial of this resolved scenario, if any."""
        with self._connect() as conn:
            row = conn.execute(sa.select(trials).where(
                trials.c.scenario_sha256 == scenario_sha256, trials.c.status == "running")
                .order_by(trials.c.created_at.desc()).limit(1)).first()
        return None if row is None else _trial(row)

    def set_status(self, trial_id: str, status: str) -> None:
        """Mark a trial ``running`` or ``finished``."""
        with self._begin() as conn:
            conn.execute(trials.update().where(trials.c.id == trial_id).values(status=status))

    # -- the log ---------------------------------------------------------------------------

    def append(self, trial_id: str, entries: Sequence[LogEntry], checkpoint: Checkpoint | None = None,
               *, timeout: float | None = None) -> None:
        """Write a commit's entries (and a checkpoint) in one transaction.

        ``timeout`` bounds how long the write may wait for locks, so an unavailable
        database fails the commit quickly instead of hanging the writer.
        """
        with self._begin(timeout) as conn:
            if entries and conn.dialect.name == "sqlite":
                # The driver's executemany of positional rows: SQLAlchemy's insert() looks up its
                # compiled form by cache key and binds each row's dict on every commit, a third of
                # the live writer's CPU per commit on SQLite (benchmarks/profile_live_writer.py).
                # The live writer commits a few entries at a time, the rest of the time is fsync.
                raw: Any = conn.connection.dbapi_connection
                try:
                    _sqlite.insert_rows(raw, "trial_log", LOG_COLUMNS,
                                        [entry.values(trial_id) for entry in entries])
                except conn.dialect.loaded_dbapi.Error as exc:  # the driver's own: Guard sees SQLAlchemy's
                    raise StoreError(f"store operation failed: {str(exc).strip()}") from exc
            elif entries:
                conn.execute(trial_log.insert(), [entry.row(trial_id) for entry in entries])
            if checkpoint is not None:
                self._insert_checkpoint(conn, trial_id, checkpoint)

    def write_checkpoint(self, trial_id: str, checkpoint: Checkpoint, *,
                         timeout: float | None = None) -> None:
        """Write a checkpoint on its own (at shutdown)."""
        with self._begin(timeout) as conn:
            self._insert_checkpoint(conn, trial_id, checkpoint)

    @staticmethod
    def _insert_checkpoint(conn: Connection, trial_id: str, checkpoint: Checkpoint) -> None:
        conn.execute(trial_checkpoints.insert().values(
            trial_id=trial_id, size=checkpoint.size, head_hash=checkpoint.head_hash,
            time=checkpoint.time, signature=checkpoint.signature))

    def entries(self, trial_id: str, *, start: int = 0) -> Iterator[LogEntry]:
        """The log from sequence number ``start`` on, in order, read in pages."""
        next_seq = start
        while True:
            with self._connect() as conn:
                page = conn.execute(sa.select(trial_log).where(
                    trial_log.c.trial_id == trial_id, trial_log.c.seq >= next_seq)
                    .order_by(trial_log.c.seq).limit(_READ_BATCH)).all()
            for row in page:
                yield _entry(row)
            if len(page) < _READ_BATCH:
                return
            next_seq = int(page[-1].seq) + 1

    def keyed_entries(self, trial_id: str, keys: Sequence[str]) -> list[LogEntry]:
        """The entries stored under any of the idempotency ``keys`` (exact keys), in log order."""
        with self._connect() as conn:
            rows = conn.execute(sa.select(trial_log).where(
                trial_log.c.trial_id == trial_id, trial_log.c.idempotency_key.in_(list(keys)))
                .order_by(trial_log.c.seq)).all()
        return [_entry(row) for row in rows]

    def checkpoints(self, trial_id: str) -> list[Checkpoint]:
        """Every checkpoint of a trial, smallest first."""
        with self._connect() as conn:
            rows = conn.execute(sa.select(trial_checkpoints).where(
                trial_checkpoints.c.trial_id == trial_id).order_by(trial_checkpoints.c.size)).all()
        return [Checkpoint(int(r.size), r.head_hash, float(r.time), r.signature) for r in rows]

    def head(self, trial_id: str) -> tuple[int, str | None]:
        """(number of entries, hash of the last one): what a writer appends after."""
        with self._connect() as conn:
            row = conn.execute(sa.select(trial_log.c.seq, trial_log.c.hash).where(
                trial_log.c.trial_id == trial_id).order_by(trial_log.c.seq.desc()).limit(1)).first()
        return (0, None) if row is None else (int(row.seq) + 1, row.hash)

    def verify(self, trial_id: str, *, public_key: str | None = None) -> Verification:
        """Check one trial's whole chain and its checkpoints (see :func:`verify_chain`)."""
        trial = self.trial(trial_id)
        return verify_chain(trial, self.entries(trial.id), self.checkpoints(trial.id),
                            public_key=public_key)

    # -- plumbing ----------------------------------------------------------------------------

    def _connect(self) -> Guard:
        # The factory, not engine.connect(): connecting (after an outage, reconnecting) can
        # fail too, and must fail inside the guard as a StoreError.
        return Guard(self.engine.connect)

    def _begin(self, timeout: float | None = None) -> Guard:
        return Guard(self.engine.begin, timeout, commits=True)
