"""An independent verifier of Flagship trial logs (chain format 2), written from docs/live.md alone.

It imports nothing of Flagship: the standard library, ``rfc8785`` (RFC 8785 canonical JSON)
and ``cryptography`` (Ed25519). It reads a SQLite trial database::

    python verify_chain.py pilot.db [--trial ID_PREFIX] [--public-key HEX]

and prints one line per trial: ``trial ID: ok (N entries, M signed checkpoints)``, or
``trial ID: FAILED at seq S: WHY``. Exit 0: every format-2 trial verifies and is signed to its
end; 1: one fails; 3: every trial verifies but one ends in entries no checkpoint covers.
Format-1 trials (before chain format 2) hash orjson's encoding; this script skips them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS_DOMAIN = b"flagship-trial-v2\n"
CHECKPOINT_DOMAIN = b"flagship-trial-checkpoint-v2\n"
LINK_DOMAIN = b"flagship-trial-checkpoint-link-v2\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def genesis(trial: sqlite3.Row) -> str:
    header = {"id": trial["id"], "scenario": json.loads(trial["scenario"]), "epoch": float(trial["epoch"]),
              "time_factor": float(trial["time_factor"]), "seed": str(int(trial["seed"])),
              "public_key": trial["public_key"], "chain_format": 2}
    return sha256(GENESIS_DOMAIN + rfc8785.dumps(header))


def entry_body(trial_id: str, row: sqlite3.Row) -> dict[str, object]:
    clock = row["clock"]
    return {"trial_id": trial_id, "seq": int(row["seq"]), "time": float(row["time"]),
            "mechanism": row["mechanism"], "actor": row["actor"], "kind": row["kind"],
            "payload": row["payload"], "accepted": bool(row["accepted"]), "reason": row["reason"],
            "effects": row["effects"], "origin": row["origin"], "idempotency_key": row["idempotency_key"],
            "request_hash": row["request_hash"], "response": row["response"],
            "clock": None if clock is None else float(clock), "state_hash": row["state_hash"]}


def signed(key: Ed25519PublicKey | None, trial_id: str, cp: sqlite3.Row) -> bool:
    message = CHECKPOINT_DOMAIN + rfc8785.dumps(
        {"trial": trial_id, "size": int(cp["size"]), "head": cp["head_hash"], "time": float(cp["time"])})
    try:
        if key is None:
            return False
        key.verify(bytes.fromhex(cp["signature"]), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify(db: sqlite3.Connection, trial: sqlite3.Row,
           pinned: str | None) -> tuple[int | None, str, int, int]:
    """(first bad seq or None, problem or "", entries, checkpoints)."""
    trial_id = trial["id"]
    cps = {int(cp["size"]): cp for cp in db.execute(
        "SELECT * FROM trial_checkpoints WHERE trial_id = ? ORDER BY size", (trial_id,))}
    try:
        key: Ed25519PublicKey | None = Ed25519PublicKey.from_public_bytes(
            bytes.fromhex(pinned or trial["public_key"]))
    except ValueError:
        key = None
    prev = genesis(trial)
    size = 0
    for row in db.execute("SELECT * FROM trial_log WHERE trial_id = ? ORDER BY seq", (trial_id,)):
        if int(row["seq"]) != size:
            return size, f"entry {size} is missing", size, len(cps)
        link = prev
        if size > 0 and size in cps:  # a checkpoint is a link of the chain
            cp = cps[size]
            link = sha256(LINK_DOMAIN + bytes.fromhex(prev) + rfc8785.dumps(
                {"trial": trial_id, "size": size, "head": prev, "time": float(cp["time"]),
                 "signature": cp["signature"]}))
        if row["prev_hash"] != link:
            return size, "prev_hash is not the previous link (entry or checkpoint removed)", size, len(cps)
        if sha256(bytes.fromhex(link) + rfc8785.dumps(entry_body(trial_id, row))) != row["hash"]:
            return size, "hash does not match the entry (altered)", size, len(cps)
        prev = row["hash"]
        size += 1
        if size in cps and cps[size]["head_hash"] != prev:
            return size - 1, f"the checkpoint at size {size} signed another head", size, len(cps)
    good = {cp_size for cp_size, cp in cps.items() if signed(key, trial_id, cp)}
    if any(cp_size > size for cp_size in good):
        return size, f"log truncated: a signed checkpoint covers {max(good)} entries, the log has {size}", \
            size, len(cps)
    if len(good) < len(cps):
        return None, f"the checkpoint at size {min(set(cps) - good)} has a bad signature", size, len(cps)
    return None, "", size, len(cps)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", help="SQLite file of a Flagship store")
    parser.add_argument("--trial", default="", help="only trials whose id starts with this")
    parser.add_argument("--public-key", help="expected Ed25519 public key (hex), instead of the stored one")
    args = parser.parse_args(argv)
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    worst = 0
    for trial in db.execute("SELECT * FROM trials WHERE id LIKE ? ORDER BY created_at", (args.trial + "%",)):
        if trial["chain_format"] != 2:
            print(f"trial {trial['id']}: skipped (chain format {trial['chain_format']})")
            continue
        pinned = args.public_key
        if pinned is not None and pinned.lower() != trial["public_key"].lower():
            print(f"trial {trial['id']}: FAILED: the trial's public key is not the pinned key")
            worst = 1
            continue
        bad, problem, size, checkpoints = verify(db, trial, pinned)
        if problem:
            where = "" if bad is None else f" at seq {bad}"
            print(f"trial {trial['id']}: FAILED{where}: {problem}")
            worst = 1
            continue
        print(f"trial {trial['id']}: ok ({size} entries, {checkpoints} signed checkpoints)")
        covered = max((s for s in _sizes(db, trial["id"]) if s <= size), default=0)
        if covered < size:
            print(f"  warning: the last {size - covered} entries (seq {covered} to {size - 1}) are unsigned")
            worst = max(worst, 3)
    return worst


def _sizes(db: sqlite3.Connection, trial_id: str) -> set[int]:
    rows = db.execute("SELECT size FROM trial_checkpoints WHERE trial_id = ?", (trial_id,))
    return {int(row[0]) for row in rows}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
