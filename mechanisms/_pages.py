"""The page seam: how a wing shows people (citizens, traders) server-rendered HTML pages.

A mechanism sets ``Mechanism.pages`` to a :class:`PageSet`: where its Jinja2 templates
live in its package and a :class:`PagesFactory` that, given the mechanism's name and a
:class:`PageSite`, returns a FastAPI ``APIRouter`` whose paths start with ``/pages/``.
The server (``sandbox``) owns everything that is the same for every wing: the layout and
stylesheet the templates extend, gettext catalogues (Babel) for every visible string,
the session cookie that carries the participant's credential, CSRF and form idempotency
keys, the security headers. A form handler produces ordinary actions through
``site.gateway.act`` under the same authentication, rate limits, idempotency and trial
log as the JSON routes; the core has no special case for any wing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["PAGES_PREFIX", "PageSet", "PageSite", "PagesFactory"]

PAGES_PREFIX = "/pages/"
"""Every page route's path starts with this (the server checks)."""


class PageSite(Protocol):
    """What the live server offers a wing's page routes."""

    @property
    def gateway(self) -> Any:
        """The server's :class:`~flagship.mechanisms.Gateway` (acts, reads, principal)."""
        ...

    def render(self, request: Any, template: str, context: dict[str, Any], *, status: int = 200) -> Any:
        """An HTML response of ``template`` in the participant's language, inside the shared layout.

        Templates get ``_``/``ngettext`` (the catalogues), ``form_guard()`` (the hidden CSRF
        and idempotency fields every form must include) and ``static(path)``; the layout they
        extend has the macros ``receipt_panel`` and ``problem_panel`` (a form's receipt, a refusal).
        """
        ...

    def sign_in(self, response: Any, credential: str) -> None:
        """Set the session cookie holding ``credential`` (a bearer token of the scenario's
        authenticators): later page requests are authenticated with it, as if the browser
        had sent ``Authorization: Bearer <credential>``."""
        ...

    def committed_entry(self, request: Any) -> tuple[int, str] | None:
        """The log sequence number and entry hash the current form request committed, if any."""
        ...


class PagesFactory(Protocol):
    """Builds a wing's page router for mechanism ``name``."""

    def __call__(self, name: str, site: PageSite) -> Any:
        ...


@dataclass(frozen=True, slots=True)
class PageSet:
    """A mechanism's pages: its templates (``package``/``folder``) and its routes."""

    package: str
    """The importable package holding the templates, e.g. ``"flagship.democracy"``."""
    folder: str
    """The templates' folder inside ``package`` (they extend ``"layout.html"``)."""
    routes: PagesFactory
    entry: str = ""
    """The path of the set's start page, linked from every page's navigation ("": not linked)."""
    label: str = ""
    """The navigation link's text (English; translated through the catalogues)."""
    sign_in: str = ""
    """The path of the page that signs a browser in (``site.sign_in``): the session cookie is not
    presented there, so a stale cookie cannot get a fresh invitation refused."""
