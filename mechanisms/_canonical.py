"""Canonical JSON: the one byte encoding used for logs, snapshots and hashes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Set
from enum import Enum
from typing import Any

__all__ = ["canonical_json", "sha256_hex"]


def _default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Set):
        return sorted(value)
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, no NaN: equal data gives equal text on every machine."""
    return _ENCODER.encode(value)


def sha256_hex(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value``, in hex (a state or log fingerprint)."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
