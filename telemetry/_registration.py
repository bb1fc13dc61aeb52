"""The locked-analysis-plan check: were these criteria registered before the sweep's data?

``flagship preregister`` stores a criteria file's text and SHA-256 (:meth:`RunStore.preregister`);
:func:`registration_check` hashes the criteria an evaluation uses and compares the earliest
matching registration with the time the sweep's first run was stored.
"""

from __future__ import annotations

from typing import Any

from flagship.telemetry._criteria import criteria_sha256
from flagship.telemetry._store_protocol import RunStore

__all__ = ["registration_check"]


def registration_check(store: RunStore, criteria_text: str, sweep_id: str) -> dict[str, Any]:
    """Were these criteria registered before the sweep's first run was stored? (and which registration)"""
    sha = criteria_sha256(criteria_text)
    registrations = store.registrations(sha)
    first_run = store.first_run_stored(sweep_id)
    before = [r for r in registrations if first_run is None or r.created_at <= first_run]
    chosen = before[0] if before else (registrations[0] if registrations else None)
    if chosen is None:
        status, text = "not registered", f"criteria sha256 {sha[:12]} not preregistered in this store"
    elif before:
        status = "registered before the data"
        text = (f"criteria sha256 {sha[:12]} registered {chosen.created_at:%Y-%m-%d %H:%M:%S} UTC "
                f"(registration {chosen.id[:12]}), before the sweep's first run was stored")
    else:
        status = "registered after the data"
        text = (f"criteria sha256 {sha[:12]} registered {chosen.created_at:%Y-%m-%d %H:%M:%S} UTC "
                f"(registration {chosen.id[:12]}), AFTER the sweep's first run was stored")
    return {"status": status, "sha256": sha, "registration": chosen.id if chosen else None,
            "registered_at": chosen.created_at.isoformat() if chosen else None,
            "first_run_stored": first_run.isoformat() if first_run else None, "text": text}
