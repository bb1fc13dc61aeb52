"""What triggers an emergency vote: incidents, from the bus.

An ``IncidentRaised`` event, or a ``ShockFired`` whose ``kind`` is in ``shock_kinds`` (its
``payload["severity"]`` is required), with severity at least ``min_severity``, convenes a
vote. While a vote is open, further incidents are *merged* into it (listed in its
``incident_ids``; its severity is the maximum): the open vote answers all of them, and no
second vote is queued. An incident id seen before is ignored; a shock without an
``incident_id`` is numbered ``<mechanism>-incident-<n>``.
"""

from __future__ import annotations

from flagship.democracy._config import EmergencyVoteConfig
from flagship.democracy._proceedings import Convene, Proceedings
from flagship.mechanisms import Context, ContractError
from flagship.mechanisms.events import IncidentRaised, ShockFired

__all__ = ["Incidents"]


class Incidents:
    """Turns incidents into votes: convenes one, or merges into the open vote (see the module doc)."""

    def __init__(
        self, config: EmergencyVoteConfig, ctx: Context, proceedings: Proceedings, convene: Convene
    ) -> None:
        self.config = config
        self.ctx = ctx
        self._proceedings = proceedings
        self._convene = convene
        # -- state (in the snapshot) --
        self.seen: list[str] = []
        self._seen_ids: set[str] = set()  # membership only (the list keeps the order): O(1) per incident
        self.incident_seq = 0

    def subscribe(self) -> None:
        """Listen to the triggers the config names (at the mechanism's start)."""
        if self.config.listen_incidents:
            self.ctx.subscribe(IncidentRaised, self.on_incident)
        if self.config.shock_kinds:
            self.ctx.subscribe(ShockFired, self.on_shock)

    def on_shock(self, event: ShockFired) -> None:
        """A scenario shock: an incident if its kind is one of ``shock_kinds``."""
        if event.kind not in self.config.shock_kinds:
            return
        payload = event.payload
        severity = payload.get("severity")
        incident_id = payload.get("incident_id")
        if not isinstance(incident_id, str) or not incident_id:
            self.incident_seq += 1
            incident_id = f"{self.ctx.name}-incident-{self.incident_seq}"
        self._incident(incident_id, severity, f"ShockFired(kind={event.kind!r}).payload.severity")

    def on_incident(self, event: IncidentRaised) -> None:
        """An incident another participant raised."""
        self._incident(event.incident_id, event.severity, f"{event.source}: IncidentRaised.severity")

    def _incident(self, incident_id: str, severity: object, where: str) -> None:
        if (
            isinstance(severity, bool)
            or not isinstance(severity, int | float)
            or not 0.0 <= float(severity) <= 1.0
        ):
            raise ContractError(f"{where}: expected a number in [0, 1], got {severity!r}")
        level = float(severity)
        recorder = self.ctx.recorder
        if level < self.config.min_severity:
            recorder.count("incidents_below_threshold")
            return
        if incident_id in self._seen_ids:
            recorder.count("incidents_repeated")
            return
        self.seen.append(incident_id)
        self._seen_ids.add(incident_id)
        now = self.ctx.now
        vote = self._proceedings.open
        if vote is not None:  # merged: the open vote answers this incident too
            vote.incidents.append((incident_id, now))
            vote.severity = max(vote.severity, level)
            recorder.count("incidents_merged")
            return
        self._convene("incident", None, [(incident_id, now)], level)
