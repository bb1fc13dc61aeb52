"""People's pages on the live server: templates, catalogues, session, CSRF and security headers.

Lifecycle: :func:`mount_pages` runs in ``create_app`` after the JSON routes are mounted. It
builds one :class:`PageServer` (the :class:`~flagship.mechanisms.PageSite` every wing's
:class:`~flagship.mechanisms.PageSet` gets), includes each wing's page router, serves the
shared static assets under ``/pages/static`` and returns the page routes, which the app
then puts behind :class:`PageGuardMiddleware` and the same request pipeline as the JSON
routes: so a form is authenticated, rate limited, idempotent and logged exactly like a
JSON request, and refused with the same problem codes.

Translation: every visible string goes through gettext. English is the templates' own
text; other languages are Babel catalogues (``<dir>/<locale>/LC_MESSAGES/flagship.mo``)
found in the package's ``pages/locale`` and in the folders of ``FLAGSHIP_LOCALE_DIRS``
(``os.pathsep``-separated), chosen by the browser's ``Accept-Language``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from babel import Locale, negotiate_locale
from babel.support import NullTranslations, Translations
from fastapi import APIRouter, FastAPI
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flagship.mechanisms import PAGES_PREFIX, ContractError, PageSet
from flagship.sandbox._live._gateway import LiveGateway
from flagship.sandbox._live._middleware import (
    BodyLimitMiddleware,
    RouteStack,
    live_request,
    refuse,
    replaying,
)
from flagship.sandbox._live._served import ServedTrial
from flagship.telemetry._prometheus import LiveMetrics

__all__ = ["CSRF_FIELD", "KEY_FIELD", "LOCALE_DIRS_ENV", "SECURITY_HEADERS", "SESSION_COOKIE",
           "PageGuardMiddleware", "PageServer", "install_page_stacks", "mount_pages"]

SESSION_COOKIE = "flagship_session"
CSRF_FIELD = "csrf_token"
KEY_FIELD = "idempotency_key"
LOCALE_DIRS_ENV = "FLAGSHIP_LOCALE_DIRS"
DOMAIN = "flagship"
_CSRF_PURPOSE = "page_csrf"
_FORM_CAP = 64 * 1024
SECURITY_HEADERS: dict[str, str] = {
    # no inline script or style anywhere: the pages load /pages/static files only; the static
    # script may fetch a page of the same origin (the trader's book refreshing itself)
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    # the invitation link carries a token: never let a URL leave in a Referer header
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
_HERE = Path(__file__).parent / "pages"


def _locale_dirs() -> list[Path]:
    extra = [Path(part) for part in os.environ.get(LOCALE_DIRS_ENV, "").split(os.pathsep) if part]
    return [_HERE / "locale", *extra]


class PageServer:
    """The :class:`~flagship.mechanisms.PageSite` of one app: renders, signs in, guards forms."""

    def __init__(self, engine: ServedTrial, gateway: LiveGateway, sets: Sequence[PageSet]) -> None:
        self._engine = engine
        self._gateway = gateway
        loaders = [PackageLoader("flagship.sandbox._live", "pages/templates"),
                   *(PackageLoader(s.package, s.folder) for s in sets)]
        self.env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape(default=True),
                               extensions=["jinja2.ext.i18n"], auto_reload=False)
        self.entries = [(s.label, s.entry) for s in sets if s.entry]
        self._catalogues: dict[str, NullTranslations] = {"en": NullTranslations()}
        for folder in _locale_dirs():
            if not folder.is_dir():
                continue
            for entry in sorted(folder.iterdir()):
                if (entry / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file():
                    self._catalogues[entry.name] = Translations.load(str(folder), [entry.name], DOMAIN)

    @property
    def gateway(self) -> LiveGateway:
        return self._gateway

    def language(self, request: Request) -> str:
        """The best catalogue for the browser's ``Accept-Language`` (English when none fits)."""
        wanted = []
        for part in request.headers.get("accept-language", "").split(","):
            tag = part.split(";", 1)[0].strip()
            if tag and tag != "*":
                wanted.append(tag.replace("-", "_"))
        return negotiate_locale(wanted, sorted(self._catalogues), sep="_") or "en"

    def csrf_token(self, request: Request) -> str:
        """The CSRF token bound to this browser's session cookie (empty without a session)."""
        session = request.cookies.get(SESSION_COOKIE, "")
        return _csrf_for(self._gateway.secret(_CSRF_PURPOSE), session) if session else ""

    def render(self, request: Request, template: str, context: dict[str, Any], *,
               status: int = 200) -> Response:
        language = self.language(request)
        translations = self._catalogues[language]
        csrf = self.csrf_token(request)

        def form_guard() -> Markup:
            key = secrets.token_urlsafe(18)  # one per rendered form: a resubmission is applied once
            return Markup('<input type="hidden" name="{}" value="{}"><input type="hidden" name="{}" '
                          'value="{}">').format(CSRF_FIELD, csrf, KEY_FIELD, key)

        # Rendering is synchronous on the event loop: installing this request's catalogue
        # cannot interleave with another request's render.
        self.env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        body = self.env.get_template(template).render(
            **context, form_guard=form_guard, static=lambda path: f"{PAGES_PREFIX}static/{path}",
            lang=str(Locale.parse(language)).replace("_", "-"), entries=self.entries)
        return HTMLResponse(body, status_code=status)

    def sign_in(self, response: Response, credential: str) -> None:
        response.set_cookie(SESSION_COOKIE, credential, httponly=True, samesite="lax", path="/pages",
                            max_age=60 * 60 * 24 * 90)

    def committed_entry(self, request: Request) -> tuple[int, str] | None:
        context = live_request(request.scope).idempotency
        if context is None:
            return None
        record = self._engine.lookup(context.base_key)
        return None if record is None else record.last_entry


def _csrf_for(secret: bytes, session: str) -> str:
    digest = hmac.new(secret, session.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class PageGuardMiddleware:
    """In front of the request pipeline for page routes: the browser's session and forms.

    Every answer gets :data:`SECURITY_HEADERS`. The session cookie becomes the request's
    ``Authorization: Bearer`` credential, except on the wings' sign-in pages (so the scenario's
    authenticators, rate limits and idempotency scopes are the JSON routes' own). A POST must be
    a form carrying the CSRF token of its session (else 403 ``CSRF_FAILED``) and an idempotency
    key, which becomes the ``Idempotency-Key`` header.
    """

    def __init__(self, app: ASGIApp, gateway: LiveGateway, metrics: LiveMetrics,
                 sign_in_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.sign_in_paths = sign_in_paths
        self.gateway = gateway
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        send = _secured(send)
        headers = Headers(scope=scope)
        session = Request(scope).cookies.get(SESSION_COOKIE)
        extra: list[tuple[bytes, bytes]] = []
        # a sign-in page replaces the session: a stale cookie must not get it refused (401)
        if session and "authorization" not in headers and scope["path"] not in self.sign_in_paths:
            extra.append((b"authorization", f"Bearer {session}".encode("latin-1", "replace")))
        if scope["method"] == "POST":
            body, too_big = await BodyLimitMiddleware._read(receive, _FORM_CAP)
            if too_big:
                await refuse(scope, receive, send, self.metrics, 413, "BODY_TOO_LARGE",
                             f"a form may have at most {_FORM_CAP} bytes")
                return
            fields = parse_qs(body.decode("utf-8", "replace"))
            sent = (fields.get(CSRF_FIELD) or [""])[0]
            expected = _csrf_for(self.gateway.secret(_CSRF_PURPOSE), session) if session else ""
            if not expected or not hmac.compare_digest(sent, expected):
                await refuse(scope, receive, send, self.metrics, 403, "CSRF_FAILED",
                             "this form was not served to this browser's session; reload the page")
                return
            key = (fields.get(KEY_FIELD) or [""])[0]
            extra.append((b"idempotency-key", key.encode("latin-1", "replace")))
            receive = replaying(body, receive)
        if extra:
            scope = {**scope, "headers": [*scope["headers"], *extra]}
        await self.app(scope, receive, send)


def _secured(send: Send) -> Send:
    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            added = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
            message = {**message, "headers": [*message.get("headers", []), *added]}
        await send(message)

    return secured


def mount_pages(app: FastAPI, engine: ServedTrial, gateway: LiveGateway
                ) -> tuple[list[BaseRoute], frozenset[str]]:
    """Include every mechanism's pages in ``app``; returns their routes (for the pipeline) and
    the sign-in paths the wings declared."""
    sets: list[tuple[str, PageSet]] = []
    for name in engine.resolved.mechanism_configs:
        declared = engine.resolved.mechanism_class(name).pages
        if declared is not None:
            sets.append((name, declared))
    if not sets:
        return [], frozenset()
    site = PageServer(engine, gateway, [s for _, s in sets])
    routes: list[BaseRoute] = []
    claimed: set[str] = set()
    for name, page_set in sets:
        router = page_set.routes(name, site)
        if not isinstance(router, APIRouter):
            raise ContractError(f"{name}.pages returned {type(router).__name__}, expected an APIRouter")
        for route in router.routes:
            path = str(getattr(route, "path", ""))
            if not path.startswith(PAGES_PREFIX) or path.startswith(f"{PAGES_PREFIX}static"):
                raise ContractError(f"{name}.pages: route {path!r} must start with {PAGES_PREFIX} "
                                    "(and not be under static/)")
            for method in sorted(getattr(route, "methods", None) or ()):
                if f"{method} {path}" in claimed:
                    raise ContractError(f"{name}.pages: {method} {path} is already served")
                claimed.add(f"{method} {path}")
        app.include_router(router, include_in_schema=False)
        routes.extend(router.routes)
    app.mount(f"{PAGES_PREFIX}static", StaticFiles(packages=[("flagship.sandbox._live", "pages/static")]),
              name="pages-static")
    return routes, frozenset(s.sign_in for _, s in sets if s.sign_in)


def install_page_stacks(routes: Sequence[BaseRoute], guarded: ASGIApp) -> None:
    """Put ``guarded`` (the page guard in front of the shared pipeline) before each page route."""
    for route in routes:
        if isinstance(route, Route):
            route.handle = RouteStack(route.handle, route.path, route.methods, guarded)  # type: ignore[method-assign]
