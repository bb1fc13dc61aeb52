"""The page contract: the shipped English catalogue template, and what the server refuses of a wing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from fastapi import APIRouter, FastAPI

from flagship.mechanisms import ContractError, PageSet
from flagship.sandbox._live._pages import mount_pages

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = [*sorted((REPO / "sandbox/_live/pages/templates").glob("*.html")),
             *sorted((REPO / "democracy/pages").glob("*.html")),
             *sorted((REPO / "democracy/_survey/pages").glob("*.html")),
             *sorted((REPO / "markets/pages").glob("*.html")),
             *sorted((REPO / "agents/pages").glob("*.html"))]
PYTHON_SOURCES = [REPO / "markets/_pages.py"]  # sentences marked N_ (the market's reasons)


def test_the_shipped_catalogue_template_lists_every_string_of_the_templates() -> None:
    """A translator starts from locale/flagship.pot: regenerate it (babel.cfg) when a template changes."""
    found = {str(message[1]) for path in TEMPLATES
             for message in extract_from_file("jinja2", str(path), options={"extensions": "jinja2.ext.i18n"})}
    found |= {str(message[1]) for path in PYTHON_SOURCES
              for message in extract_from_file("python", str(path), keywords={"N_": None})}
    with (REPO / "sandbox/_live/pages/locale/flagship.pot").open("rb") as pot:
        shipped = {str(message.id) for message in read_po(pot) if message.id}
    assert len(TEMPLATES) == 6 and {"Cast my ballot", "Place the order", "Appeal this sanction"} <= found
    assert "Choose buy or sell." in found
    assert found == shipped


def _engine(page_set: PageSet) -> Any:
    mechanism = SimpleNamespace(pages=page_set)
    resolved = SimpleNamespace(mechanism_configs={"wing": {}}, mechanism_class=lambda _: mechanism)
    return SimpleNamespace(resolved=resolved)


@pytest.mark.parametrize("path", ["/v1/ballot", "/pages/static/x", "/elsewhere"])
def test_a_wing_page_outside_pages_is_refused(path: str) -> None:
    def routes(name: str, site: Any) -> APIRouter:
        router = APIRouter()

        @router.get(path)
        async def somewhere() -> None: ...

        return router

    with pytest.raises(ContractError, match="must start with /pages/"):
        mount_pages(FastAPI(), _engine(PageSet("flagship.democracy", "pages", routes)), gateway=Any)


def test_a_wing_must_return_a_router() -> None:
    with pytest.raises(ContractError, match="expected an APIRouter"):
        mount_pages(FastAPI(), _engine(PageSet("flagship.democracy", "pages", lambda n, s: object())),
                    gateway=Any)
