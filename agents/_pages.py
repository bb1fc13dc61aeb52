"""The agent operator's page of the gate (``AgentGate.pages``).

The person running an AI agent signs in with the operator token the agent's admission
answer carried (:mod:`flagship.agents._operator_tokens`): ``/pages/gate/sign-in?token=<token>``
moves the token into an HttpOnly session cookie and sends the browser on to ``/pages/gate``
(so the token leaves the address bar at once). The page shows the agent's admission status,
its last exam result, its strikes, the sanction in force with its appeal, and the explanation
of each gate decision behind the status: the gate's closed reason codes, in words, through
the catalogues.

It is read-only except for one form: *appeal the sanction*, which is
``gateway.act(name, "appeal", {}, actor=<agent id>)`` exactly as the agent's own
``POST /v1/gate/agents/{id}/appeals``: the same log entry and reason codes, shown in words
with the same HTTP status, and a receipt (the entry's sequence number and hash). The form
works without JavaScript; CSRF and idempotency are the page server's. No ``from __future__
import annotations``: FastAPI reads the handlers' annotations at runtime.
"""

from typing import TYPE_CHECKING, Annotated, Any, Protocol, cast

from flagship.agents._operator_tokens import agent_of_operator
from flagship.mechanisms import ActionRejected, PageSet, PagesFactory, PageSite

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.responses import Response

__all__ = ["PAGES"]


class _OperatorReader(Protocol):
    """What the page reads from the gate (``AgentGate.operator_view``)."""

    def operator_view(self, actor: str) -> dict[str, Any] | None: ...


def _routes(name: str, site: PageSite) -> "APIRouter":
    from fastapi import APIRouter, Query, Request  # noqa: PLC0415 - the server's deps
    from fastapi.responses import RedirectResponse  # noqa: PLC0415

    router = APIRouter(prefix="/pages/gate")
    gateway = site.gateway

    async def operated(request: Request) -> str:
        """The agent id the signed-in operator runs (403 ``NOT_AN_OPERATOR`` for anyone else)."""
        agent_id = agent_of_operator(await gateway.principal(request))
        if agent_id is None:
            raise ActionRejected("NOT_AN_OPERATOR", "this page is for an agent's operator (sign in with "
                                 "the operator token of the agent's admission)", status=403)
        return agent_id

    def page(request: Request, agent_id: str, *, status: int = 200, **extra: Any) -> "Response":
        view = cast(_OperatorReader, gateway.mechanism(name)).operator_view(agent_id)
        context: dict[str, Any] = {"agent_id": agent_id, "view": view, "now": gateway.now,
                                   "error": None, "receipt": None, **extra}
        return cast("Response", site.render(request, "operator.html", context, status=status))

    @router.get("/sign-in")
    async def sign_in(token: Annotated[str, Query(max_length=512)] = "") -> "Response":
        """Move the token from the link into the session cookie, then leave the token's URL."""
        response = RedirectResponse("/pages/gate", status_code=303)
        if token:
            site.sign_in(response, token)
        return response

    @router.get("")
    async def home(request: Request) -> "Response":
        return page(request, await operated(request))

    @router.post("/appeal")
    async def appeal(request: Request) -> "Response":
        agent_id = await operated(request)
        try:
            await gateway.act(name, "appeal", {}, actor=agent_id)
        except ActionRejected as refused:
            return page(request, agent_id, status=refused.status,
                        error={"reason": refused.reason, "detail": refused.detail})
        entry = site.committed_entry(request)
        receipt = None if entry is None else {"seq": entry[0], "hash": entry[1]}
        return page(request, agent_id, status=201, receipt=receipt)

    return router


routes: PagesFactory = _routes
PAGES = PageSet(package="flagship.agents", folder="pages", routes=routes, entry="/pages/gate",
                label="Your agent", sign_in="/pages/gate/sign-in")
"""``AgentGate.pages``."""
