"""The book's tests run on both order book engines: the installed one and the pure-Python source.

A book test module opts in with ``pytestmark = pytest.mark.usefixtures("book_engine")``: its
tests then run once per engine, the module's global ``OrderBook`` bound to that engine's class
(module scope, so hypothesis tests may use it).  ``compiled`` is the mypyc engine when the
install built it (``flagship.markets.ENGINE``); without it that half is skipped, except under CI,
where a missing compiled engine (with no ``FLAGSHIP_PURE_PYTHON``) fails instead.
``pure`` is the source loaded by ``flagship.markets._engine.load_pure_book`` even where the
compiled engine is installed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from flagship import markets
from flagship.markets import _engine

ENGINES = ("compiled", "pure")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "book_engine" in metafunc.fixturenames:
        metafunc.parametrize("book_engine", ENGINES, indirect=True, scope="module")


def book_class(engine: str) -> type[markets.OrderBook]:
    """The ``OrderBook`` class of ``engine`` (skips when the compiled one is not installed)."""
    if engine == "pure":
        pure: type[markets.OrderBook] = _engine.load_pure_book().OrderBook
        return pure
    if markets.ENGINE != "compiled":
        if os.environ.get("CI") and not _engine.pure_forced():
            pytest.fail("CI: the order book engine is not compiled (see setup.py's output)")
        pytest.skip("the compiled order book engine is not installed")
    return markets.OrderBook


@pytest.fixture(scope="module")
def book_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    engine: str = request.param
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys.modules[request.module.__name__], "OrderBook", book_class(engine))
        yield engine
