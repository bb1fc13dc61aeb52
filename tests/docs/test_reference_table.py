"""docs/markets.md's Gode-Sunder tables are what ``benchmarks/gode_sunder_table.py`` prints.

The tables are generated (900 seeded runs, about half a minute) and the document's copy is
compared with a fresh generation, so an edit by hand, a change of the schedules, the traders or
the market that moves a number, or a stale table fails here. Regenerate with
``.venv/bin/python benchmarks/gode_sunder_table.py --write``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._benchmarks import load_benchmark

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_documented_tables_are_a_fresh_generation() -> None:
    script = load_benchmark("gode_sunder_table")
    documented = script.document_block((REPO / "docs" / "markets.md").read_text(encoding="utf-8"))
    assert documented.strip(), "docs/markets.md has no generated Gode-Sunder tables"
    assert script.render(script.estimates()) == documented, (
        "docs/markets.md's Gode-Sunder tables are stale: run benchmarks/gode_sunder_table.py --write")


def test_an_edited_number_is_what_the_check_compares() -> None:
    script = load_benchmark("gode_sunder_table")
    text = (REPO / "docs" / "markets.md").read_text(encoding="utf-8")
    block = script.document_block(text)
    first_row = next(line for line in block.splitlines() if line.startswith("| 1 |"))
    cells = first_row.split(" | ")
    edited = block.replace(first_row, " | ".join([cells[0], "12.3", *cells[2:]]))
    assert edited != block and script.document_block(script.replace_block(text, edited)) == edited
