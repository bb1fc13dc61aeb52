"""The byte encodings a trial's hash chain is built from, per chain format.

A trial records its chain format (``trials.chain_format``) when it is created and keeps it
for life, so a log is always re-hashed the way it was written:

* **format 1** (trials created before migration 0007): the canonical JSON of
  :mod:`flagship.mechanisms._canonical` (orjson, sorted keys). An auditor re-hashing such a
  log must reproduce orjson's number formatting.
* **format 2** (every new live trial): RFC 8785, the JSON Canonicalization Scheme (the
  ``rfc8785`` package), which any language can reproduce; the seed enters the trial's
  header as a decimal string (JCS numbers are IEEE doubles); and every signed checkpoint is
  a link of the chain itself: the entry that follows a checkpoint of size ``n`` has, as its
  ``prev_hash``, the checkpoint's link hash (:func:`checkpoint_link`), which covers entry
  ``n - 1``'s hash and the whole signed checkpoint. Deleting or altering a checkpoint row in
  the middle of the log therefore breaks the chain at the next entry.

docs/live.md ("The chain format") states the rules precisely enough to write an
independent verifier; docs/examples/verify_chain.py is one.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

from flagship.mechanisms._canonical import canonical_bytes
from flagship.mechanisms._errors import StoreError

__all__ = [
    "CHAIN_FORMATS",
    "CURRENT_CHAIN_FORMAT",
    "checkpoint_link",
    "encode",
    "genesis_bytes",
    "jcs_bytes",
]

CHAIN_FORMATS = (1, 2)
"""Every chain format this version reads."""

CURRENT_CHAIN_FORMAT = 2
"""The format new live trials are written in."""

_GENESIS_DOMAINS = {1: b"flagship-trial-v1\n", 2: b"flagship-trial-v2\n"}
_LINK_DOMAIN = b"flagship-trial-checkpoint-link-v2\n"


def jcs_bytes(value: Any) -> bytes:
    """RFC 8785 canonical JSON of ``value``; ValueError for what JCS cannot encode exactly.

    JCS numbers are IEEE doubles: integers beyond 2**53 - 1 and non-finite floats are
    refused rather than rounded, so a hash never covers a value other than the stored one.
    """
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"not encodable as RFC 8785 JSON: {exc}") from None


def encode(chain_format: int, value: Any) -> bytes:
    """The bytes format ``chain_format`` hashes and signs for ``value``."""
    if chain_format == 1:
        return canonical_bytes(value)
    if chain_format == 2:
        return jcs_bytes(value)
    raise StoreError(f"unknown chain format {chain_format!r}: this version reads formats "
                     f"{', '.join(map(str, CHAIN_FORMATS))}")


def genesis_bytes(chain_format: int, header: dict[str, Any]) -> bytes:
    """The domain-separated encoding of a trial's header that its genesis hash covers.

    ``header``: id, scenario, epoch, time_factor, seed (an int), public_key. Format 2 adds
    ``chain_format`` and writes the seed as a decimal string (seeds reach 2**63).
    """
    if chain_format == 2:
        header = {**header, "seed": str(header["seed"]), "chain_format": 2}
    domain = _GENESIS_DOMAINS.get(chain_format)
    if domain is None:
        encode(chain_format, None)  # raises the unknown-format StoreError
    return (domain or b"") + encode(chain_format, header)


def checkpoint_link(trial_id: str, size: int, head_hash: str, time: float, signature: str) -> str:
    """Format 2: the ``prev_hash`` of entry ``size`` when a checkpoint of that size was signed.

    ``SHA-256(domain ‖ head bytes ‖ JCS({trial, size, head, time, signature}))``: the link
    commits to the entry before it and to the whole signed checkpoint.
    """
    body = {"trial": trial_id, "size": size, "head": head_hash, "time": time, "signature": signature}
    return hashlib.sha256(_LINK_DOMAIN + bytes.fromhex(head_hash) + jcs_bytes(body)).hexdigest()
