"""The live-pilot seam: how a wing exposes its mechanism over HTTP without knowing the server.

The server (``sandbox``) owns the mechanisms on a single writer. A wing contributes
routes by setting ``Mechanism.http`` to a :class:`RoutesFactory`: given the
mechanism's name in the scenario and a :class:`Gateway`, it returns a FastAPI
``APIRouter``. Route handlers never mutate mechanism state: they ``await
gateway.act(...)`` and get the accepted :class:`~flagship.mechanisms.Outcome` once the
action is applied and durably committed (a rejection is raised as
:class:`~flagship.mechanisms.ActionRejected` with the status the mechanism declares in
``Mechanism.reason_status``, and the server answers it as problem+json), or read state
through ``gateway.mechanism(name)``.

Authentication is plugged in the same way: a wing provides an
:class:`Authenticator` (registered in the entry-point group
``flagship.authenticators``); ``gateway.principal(request)`` asks the scenario's
authenticators in order and returns who is calling, so a market route never
imports the agents wing to know which agent signed a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flagship.mechanisms._action import Outcome
from flagship.mechanisms._base import Mechanism, RoutesFactory
from flagship.mechanisms._errors import AuthError

__all__ = ["AUTHENTICATOR_GROUP", "AuthError", "Authenticator", "Gateway", "Principal", "RoutesFactory"]

AUTHENTICATOR_GROUP = "flagship.authenticators"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an actor id and how they proved it (``"web_bot_auth"``, ``"voter_token"``)."""

    actor: str
    scheme: str
    admitted: bool = True
    """False for a caller the server authenticates but has not admitted yet (a first application):
    its requests are charged to its client address and the server's unadmitted-work budget."""
    operator: str | None = None
    """Who runs the caller (Web Bot Auth's signed ``Signature-Agent``): its identities share
    one rate-limit budget."""



class Authenticator(Protocol):
    """Turns a request into a :class:`Principal`, or ``None`` when its scheme is absent."""

    scheme: str

    async def authenticate(self, request: Any, body: bytes) -> Principal | None:
        """Return the caller, ``None`` if this scheme's headers are absent, or raise AuthError."""
        ...


class Gateway(Protocol):
    """What the live server offers a wing's routes."""

    @property
    def now(self) -> float:
        """Current simulated time of the trial."""
        ...

    @property
    def started_at(self) -> float:
        """Wall-clock unix seconds when this server process started serving the trial.

        An authenticator that remembers nonces in memory refuses signatures created before
        it, since the process before a restart may have accepted them already.
        """
        ...

    async def submit(self, mechanism: str, kind: str, payload: Mapping[str, Any], *,
                     actor: str) -> Outcome:
        """Hand an action to the single writer; returns its outcome once it is committed."""
        ...

    async def act(self, mechanism: str, kind: str, payload: Mapping[str, Any], *,
                  actor: str) -> Outcome:
        """:meth:`submit`, then an accepted outcome, or :class:`ActionRejected` with the
        mechanism's declared HTTP status for a rejected one (the route need not look)."""
        ...

    def mechanism(self, name: str) -> Mechanism[Any]:
        """Read-only access to a mechanism's state (for GET routes; never mutate it)."""
        ...

    async def principal(self, request: Any) -> Principal:
        """The authenticated caller; raises AuthError (401) when nobody could be authenticated.

        A FastAPI dependency: ``principal: Annotated[Principal, Depends(gateway.principal)]``.
        """
        ...

    def secret(self, purpose: str) -> bytes:
        """32 secret bytes for ``purpose``, stable for the trial's life (across restarts).

        Derived from the trial's private key and never stored: a wing that issues
        credentials (voter tokens, say) derives them from it, so a retried request
        gets the same credential and the database holds only its hash.
        """
        ...

