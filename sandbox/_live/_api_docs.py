"""The API docs pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served offline from the package.

FastAPI's default docs pages load their JavaScript and CSS from a CDN, so a pilot on a
closed network saw a blank page. The assets are vendored in ``static/`` (byte for byte as
published on npm, with their licences): ``swagger-ui-dist`` 5.36.0 (``swagger-ui-bundle.js``,
``swagger-ui.css``, the favicon; Apache-2.0) and ``redoc`` 2.5.4 (``redoc.standalone.js``;
MIT). To update them: ``npm pack swagger-ui-dist@5 redoc@2``, copy the same files over and
change the versions here.

Lifecycle: :func:`install_api_docs` runs once in the app factory, before the request
pipeline is installed, so the two pages and the assets' mount pass through it like every
route: labelled for the metrics (the assets under :data:`ASSETS_PATH`), never signed, and
exempt from the rate limits (:data:`~flagship.sandbox._live._limits.EXEMPT_ENDPOINTS`):
loading the docs is reading, not acting. A missing asset is a problem+json 404 like any
other; an asset is served with a day's ``Cache-Control`` and its ``ETag``/``Last-Modified``
(a changed package changes both, so a browser revalidates after an upgrade at the latest a
day later). Nothing the pages need comes from elsewhere; the one request that still leaves is
ReDoc's cosmetic footer logo (see :func:`install_api_docs`).
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["ASSETS_CACHE_CONTROL", "ASSETS_DIR", "ASSETS_PATH", "DocAssets", "install_api_docs"]

ASSETS_DIR = Path(__file__).resolve().parent / "static"
"""The vendored assets in the installed package (``swagger-ui/`` and ``redoc/``)."""
ASSETS_PATH = "/docs/assets"
"""Where the assets are served (under ``/docs`` so the pages and their assets are one prefix)."""
ASSETS_CACHE_CONTROL = "public, max-age=86400"
"""A day: the files change only with the package, and ``ETag`` revalidates them after that."""


class DocAssets(StaticFiles):
    """The vendored files, read-only, with a cache lifetime and ``nosniff`` on every answer."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = ASSETS_CACHE_CONTROL
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install_api_docs(app: FastAPI) -> None:
    """Serve ``/docs``, ``/docs/oauth2-redirect`` and ``/redoc`` with the package's assets.

    ``app`` must be created with ``docs_url=None`` and ``redoc_url=None`` (FastAPI's own
    pages point at the CDN); its ``openapi_url`` is what the pages load.
    """
    openapi_url = app.openapi_url or "/openapi.json"
    swagger = f"{ASSETS_PATH}/swagger-ui"
    title = app.title
    app.router.routes.append(Mount(ASSETS_PATH, app=DocAssets(directory=ASSETS_DIR), name="doc_assets"))

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    async def swagger_ui() -> HTMLResponse:
        """Swagger UI over this server's OpenAPI document."""
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title} - Swagger UI",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{swagger}/swagger-ui-bundle.js", swagger_css_url=f"{swagger}/swagger-ui.css",
            swagger_favicon_url=f"{swagger}/favicon-32x32.png",
            # no badge from validator.swagger.io: it would hand the spec's URL to a third party
            swagger_ui_parameters={"validatorUrl": None})

    @app.get("/docs/oauth2-redirect", include_in_schema=False, response_class=HTMLResponse)
    async def swagger_ui_redirect() -> HTMLResponse:
        """Swagger UI's OAuth2 redirect page (FastAPI's own, which loads nothing)."""
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False, response_class=HTMLResponse)
    async def redoc() -> HTMLResponse:
        """ReDoc over this server's OpenAPI document (system fonts: no Google Fonts offline).

        ReDoc 2 always tries its "API docs by Redocly" logo from ``cdn.redoc.ly`` and drops
        the image when that fails, so offline the menu's footer link shows its text only.
        """
        return get_redoc_html(openapi_url=openapi_url, title=f"{title} - ReDoc",
                              redoc_js_url=f"{ASSETS_PATH}/redoc/redoc.standalone.js",
                              redoc_favicon_url=f"{swagger}/favicon-32x32.png", with_google_fonts=False)
