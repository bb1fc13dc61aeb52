"""docs/markets.md's Gode-Sunder tables are what ``benchmarks/gode_sunder_table.py`` prints.

The tables are generated (900 seeded runs, about half a minute) and the document's copy is
compared with a fresh generation, so an edit by hand, a change of the schedules, the traders or
the market that moves a number, or a stale table fails here. Regenerate with
``.venv/bin/python benchmarks/gode_sunder_table.py --write``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _script() -> ModuleType:
    path = REPO / "benchmarks" / "gode_sunder_table.py"
    spec = importlib.util.spec_from_file_location("gode_sunder_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_documented_tables_are_a_fresh_generation() -> None:
    script = _script()
    documented = script.document_block((REPO / "docs" / "markets.md").read_text(encoding="utf-8"))
    assert documented.strip(), "docs/markets.md has no generated Gode-Sunder tables"
    assert script.render(script.estimates()) == documented, (
        "docs/markets.md's Gode-Sunder tables are stale: run benchmarks/gode_sunder_table.py --write")


def test_an_edited_number_is_what_the_check_compares() -> None:
    script = _script()
    text = (REPO / "docs" / "markets.md").read_text(encoding="utf-8")
    block = script.document_block(text)
    first_row = next(line for line in block.splitlines() if line.startswith("| 1 |"))
    cells = first_row.split(" | ")
    edited = block.replace(first_row, " | ".join([cells[0], "12.3", *cells[2:]]))
    assert edited != block and script.document_block(script.replace_block(text, edited)) == edited
