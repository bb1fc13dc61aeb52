"""The byte encodings a trial's hash chain is built from, per chain format.

A trial records its chain format (``trials.chain_format``) when it is created and keeps it
for life, so a log is always re-hashed the way it was written:

* **format 1** (trials created before migration 0008): the canonical JSON of
  :mod:`flagship.mechanisms._canonical` (orjson, sorted keys). An auditor re-hashing such a
  log must reproduce orjson's number formatting.
* **format 2** (every new live trial): RFC 8785, the JSON Canonicalization Scheme
  (:func:`jcs_bytes`), which any language can reproduce; the seed enters the trial's
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
import json.encoder
import math
from collections.abc import Callable
from typing import Any

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
_MAX_EXACT = 2**53 - 1
_string: Callable[[str], str] = json.encoder.encode_basestring  # the C escaper, ensure_ascii off


def _number(value: float) -> str:
    """ECMAScript's Number::toString of a finite double (RFC 8785 section 3.2.2.3).

    ``repr`` already gives the shortest digits that round-trip (as ECMAScript requires);
    only their layout differs: ES6 writes 1e+21, 1e-7, 100 where Python writes 1e+21, 1e-07, 100.0.
    """
    if value == 0:
        return "0"  # -0 too
    text = repr(value)
    if "e" not in text:  # Python's fixed range (1e-4 <= |x| < 1e16) lies inside ES6's: same digits
        return text[:-2] if text.endswith(".0") else text
    text = repr(abs(value))
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    raw = whole + fraction
    digits = raw.lstrip("0")
    n = len(whole) + int(exponent or 0) - (len(raw) - len(digits))  # value = 0.DIGITS x 10**n
    digits = digits.rstrip("0")
    k = len(digits)
    sign = "-" if value < 0 else ""
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    return f"{sign}{digits[0]}{'.' + digits[1:] if k > 1 else ''}e{'+' if e >= 0 else '-'}{abs(e)}"


def _text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _string(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is float or isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not encodable as RFC 8785 JSON: {value}")
        return _number(float(value))  # a subclass (numpy's float64) has its own repr
    if isinstance(value, int):
        if abs(value) > _MAX_EXACT:
            raise ValueError(f"not encodable as RFC 8785 JSON: integer {value} is beyond 2**53 - 1")
        return str(int(value))
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        members = []
        for key, prefix in _key_order(value):
            # A log entry's body is flat (strings, None, a few numbers): its scalars, the whole of
            # the writer's encoding per entry, are written here rather than one call deeper, after
            # their key's escaped prefix, escaped once per key order.
            member = value[key]
            kind = type(member)
            if kind is str:
                members.append(prefix + _string(member))
            elif member is None:
                members.append(prefix + "null")
            elif kind is bool:
                members.append(prefix + ("true" if member else "false"))
            else:
                members.append(prefix + _text(member))
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_text(item) for item in value) + "]"
    raise ValueError(f"not encodable as RFC 8785 JSON: {type(value).__name__}")


_KEY_ORDERS: dict[tuple[str, ...], list[tuple[str, str]]] = {}
"""Sorted key lists (each key with its escaped ``"key":`` prefix) of the objects met so far, by
their keys in insertion order: every log entry's body has the same keys, so they are checked,
sorted and escaped once, not once per entry."""
_MAX_KEY_ORDERS = 1024


def _key_order(value: dict[Any, Any]) -> list[tuple[str, str]]:
    """``value``'s keys in RFC 8785 order, each with its ``"key":`` prefix (ValueError if one is
    not a string)."""
    inserted = tuple(value)
    known = _KEY_ORDERS.get(inserted)
    if known is not None:
        return known
    if not all(type(key) is str for key in inserted):
        raise ValueError("not encodable as RFC 8785 JSON: an object key is not a string")
    # RFC 8785 sorts keys by UTF-16 code units; for ASCII keys that is Python's order.
    ascii_only = all(key.isascii() for key in inserted)
    ordered = sorted(inserted) if ascii_only else sorted(inserted, key=_utf16_order)
    keys = [(key, _string(key) + ":") for key in ordered]
    if len(_KEY_ORDERS) < _MAX_KEY_ORDERS and len(inserted) <= 64:  # bounded: payloads' keys vary
        _KEY_ORDERS[inserted] = keys
    return keys


def _utf16_order(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def jcs_bytes(value: Any) -> bytes:
    """RFC 8785 canonical JSON of ``value``; ValueError for what JCS cannot encode exactly.

    JCS numbers are IEEE doubles: integers beyond 2**53 - 1 and non-finite floats are
    refused rather than rounded, so a hash never covers a value other than the stored one.
    Strings use the standard library's C escaper, whose escapes are exactly RFC 8785's
    (``\\"``, ``\\\\``, ``\\b \\t \\n \\f \\r``, other controls as lower-case ``\\u00xx``,
    everything else as UTF-8). The ``rfc8785`` package gives the same bytes (the tests check
    it on the RFC's vectors and on random data) but costs three to four times as much per entry
    (benchmarks/bench_chain_format.py), and the writer encodes every entry.
    """
    text = _text(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not encodable as RFC 8785 JSON: {exc.reason} (a lone surrogate)") from None


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
