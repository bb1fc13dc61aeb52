"""A second language without code changes: a Babel catalogue in a folder of FLAGSHIP_LOCALE_DIRS.

The test writes a small French catalogue (``.po``, compiled to ``.mo`` with Babel), points
the server at its folder, and a browser asking for French (``Accept-Language``) gets the
translated strings while one asking for English, or for a language nobody shipped, gets the
templates' English.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from flagship.sandbox._live._pages import LOCALE_DIRS_ENV
from tests.live.test_votes_api import Clock, pilot
from tests.pages.test_page_safety import signed_in

FRENCH = {
    "Emergency vote on an AI incident": "Vote d'urgence sur un incident d'IA",
    "Cast my ballot": "Déposer mon bulletin",
    "position %(n)s": "rang %(n)s",
}


def write_catalogue(folder: Path, locale: str, messages: dict[str, str]) -> None:
    catalog = Catalog(locale=locale, domain="flagship")
    for english, translated in messages.items():
        catalog.add(english, translated)
    target = folder / locale / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "flagship.mo").open("wb") as mo:
        write_mo(mo, catalog)


def test_a_catalogue_in_a_configured_folder_translates_the_pages(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write_catalogue(tmp_path / "locales", "fr", FRENCH)
    monkeypatch.setenv(LOCALE_DIRS_ENV, str(tmp_path / "locales"))
    clock = Clock()
    with pilot(f"sqlite:///{tmp_path / 'live.db'}", tmp_path, clock) as p:
        _, token = p.register("person-0")
        clock.sim(160.0)
        with signed_in(str(p.client.base_url), token) as browser:
            french = browser.get("/pages/votes", headers={"Accept-Language": "fr-CA, en;q=0.5"}).text
            assert '<html lang="fr">' in french
            assert "<h1>Vote d'urgence sur un incident d'IA</h1>" in french
            assert "Déposer mon bulletin" in french
            assert "rang 1" in french and "position 1" not in french
            assert "Timetable" in french  # untranslated strings fall back to English
            for asked in ("en-GB", "de", ""):
                english = browser.get("/pages/votes", headers={"Accept-Language": asked}).text
                assert "Emergency vote on an AI incident" in english and "Déposer" not in english
