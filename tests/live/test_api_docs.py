"""``/docs`` and ``/redoc`` work offline: a real ``flagship serve``, a real Chromium cut off from the network.

The browser may reach loopback only (Chromium's host resolver maps every other name to
nothing, and a Playwright route aborts and records any request that is not for the
server), so a page that still needed a CDN would stay blank, or the record would show it.
The assets are the package's own bytes, cached sensibly, and the docs are read, not acted
on: no signature, no rate limit, problem+json for what is not there.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.live._support import ServerProcess, problem, require_tool, write_scenario

ASSETS = ["swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css", "swagger-ui/favicon-32x32.png",
          "redoc/redoc.standalone.js"]
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# a burst of two a minute: a third action from the same caller is refused at once
TIGHT_LIMITS = "[live.limits]\nrate_per_second = 0.01\nburst = 2\n"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``flagship serve`` on loopback with a shop and bearer tokens, rate limited tightly."""
    tmp = tmp_path_factory.mktemp("api-docs")
    scenario = write_scenario(tmp, shoppers=0, limits=TIGHT_LIMITS)
    process = ServerProcess(scenario, f"sqlite:///{tmp / 'live.db'}", cwd=tmp, cli=True)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium whose resolver knows loopback only (never a downloaded browser)."""
    executable = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True,
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class OfflinePage:
    """A fresh page that may reach ``origin`` only; it records what else it tried and every error."""

    def __init__(self, browser: Any, origin: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.loaded: list[str] = []

        def gate(route: Any) -> None:
            url = route.request.url
            if url.startswith(origin + "/"):
                self.loaded.append(url.removeprefix(origin))
                route.continue_()
            else:
                self.blocked.append(url)
                route.abort("internetdisconnected")

        self.context.route("**/*", gate)
        self.page = self.context.new_page()
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def close(self) -> None:
        self.context.close()


def ink(png: bytes) -> tuple[float, int]:
    """The share of pixels that are not the background, and how many colours the image has."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    total = image.width * image.height
    colours = image.getcolors(maxcolors=total) or []
    background = max(count for count, _ in colours)
    return (total - background) / total, len(colours)


def test_swagger_ui_renders_the_operation_list_offline(server: ServerProcess, browser: Any,
                                                       tmp_path: Path) -> None:
    offline = OfflinePage(browser, server.url)
    try:
        page = offline.page
        page.goto(f"{server.url}/docs", wait_until="networkidle")
        page.wait_for_selector(".opblock", timeout=20_000)
        paths = page.locator(".opblock .opblock-summary-path").evaluate_all(
            "nodes => nodes.map(n => n.getAttribute('data-path'))")
        # the server's own routes and the mechanism's, each one operation block
        assert {"/healthz", "/readyz", "/v1/trial", "/v1/shop/purchases"} <= set(paths), paths
        assert "/docs" not in paths and "/docs/assets" not in paths  # the docs document the API only
        for method, path in [("get", "/v1/trial"), ("post", "/v1/shop/purchases")]:
            assert page.locator(f".opblock-{method} .opblock-summary-path[data-path='{path}']").count() == 1
        shot = page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
        share, colours = ink(shot)
        assert share > 0.05 and colours > 20, (share, colours)  # a blank page is one colour
        listing = page.locator(".opblock-tag-section").first.screenshot()
        assert ink(listing)[0] > 0.05
    finally:
        offline.close()
    assert offline.blocked == []  # nothing was even attempted beyond the server
    assert offline.errors == []
    assert {"/openapi.json", "/docs/assets/swagger-ui/swagger-ui-bundle.js",
            "/docs/assets/swagger-ui/swagger-ui.css"} <= set(offline.loaded)


def test_redoc_renders_offline(server: ServerProcess, browser: Any, tmp_path: Path) -> None:
    offline = OfflinePage(browser, server.url)
    try:
        page = offline.page
        page.goto(f"{server.url}/redoc", wait_until="networkidle")
        page.wait_for_selector("[data-section-id$='operation/trial_v1_trial_get']", timeout=20_000)
        assert page.locator("h1").first.inner_text().startswith("Flagship live pilot")
        share, colours = ink(page.screenshot(path=str(tmp_path / "redoc.png")))
        assert share > 0.05 and colours > 20, (share, colours)
    finally:
        offline.close()
    # No Google Fonts, no CDN: ReDoc 2 only tries its footer logo (hard-coded), whose image it drops
    # when that fails; the footer then reads "API docs by Redocly" in text.
    assert offline.blocked == [REDOCLY_LOGO]
    assert [error for error in offline.errors if "ERR_INTERNET_DISCONNECTED" not in error] == []
    assert "/docs/assets/redoc/redoc.standalone.js" in offline.loaded


@pytest.mark.parametrize("asset", ASSETS)
def test_the_assets_are_the_package_bytes_cached_sensibly(server: ServerProcess, asset: str) -> None:
    packaged = files("flagship.sandbox._live").joinpath("static", *asset.split("/")).read_bytes()
    response = httpx.get(f"{server.url}/docs/assets/{asset}")
    assert response.status_code == 200
    assert response.content == packaged
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert response.headers["x-content-type-options"] == "nosniff"
    expected = {"js": "text/javascript", "css": "text/css", "png": "image/png"}[asset.rsplit(".", 1)[1]]
    assert response.headers["content-type"].split(";")[0] in {expected, "application/javascript"}
    revalidated = httpx.get(f"{server.url}/docs/assets/{asset}",
                            headers={"If-None-Match": response.headers["etag"]})
    assert revalidated.status_code == 304 and revalidated.content == b""


def test_what_is_not_an_asset_is_a_problem(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        problem(client.get("/docs/assets/swagger-ui/missing.js"), 404, "NOT_FOUND")
        problem(client.get("/docs/assets/%2e%2e/_app.py"), 404, "NOT_FOUND")
        problem(client.post("/docs/assets/swagger-ui/swagger-ui.css"), 405,
                "METHOD_NOT_ALLOWED")
        problem(client.delete("/docs"), 405, "METHOD_NOT_ALLOWED")


def test_the_docs_are_read_without_credentials_or_rate_limits(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        # well beyond the burst of two: reading the docs is never refused
        for _ in range(5):
            for path in ["/docs", "/redoc", "/docs/oauth2-redirect", "/openapi.json",
                         "/docs/assets/swagger-ui/swagger-ui.css"]:
                assert client.get(path).status_code == 200, path
        # ...whereas a route of the API from the same caller is limited (the limit is real)
        statuses = [client.get("/v1/trial").status_code for _ in range(3)]
        assert 429 in statuses, statuses
        html = client.get("/docs").text
        assert "cdn.jsdelivr.net" not in html and "/docs/assets/swagger-ui/swagger-ui-bundle.js" in html
        assert '"validatorUrl": null' in html  # Swagger UI's badge would ask validator.swagger.io
        assert "fonts.googleapis.com" not in client.get("/redoc").text
        metrics = client.get("/metrics").text
    # the assets count under one bounded label (the browser tests of this module load them too)
    served = re.search(r'^flagship_http_requests_total\{code="200",endpoint="/docs/assets",method="GET"\} '
                       r'(\d+)\.0$', metrics, re.MULTILINE)
    assert served is not None and int(served.group(1)) >= 5, metrics
