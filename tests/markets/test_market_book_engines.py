"""The two order book engines: which one runs, how to get the other, and that they agree on bad input.

The compiled engine (mypyc, built by setup.py) checks argument types at its boundary unless a
parameter is typed ``object``; the book's public methods take ``object`` and check by
themselves, so a wrong type gets the pure engine's answer (an OrderRejected with its reason, an
InputError, or False from cancel), never a TypeError of the compiled one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flagship import markets
from flagship.markets import OrderBook, OrderRejected
from flagship.markets._engine import PURE_ENV, engine_of, load_pure_book, pure_forced
from flagship.mechanisms._errors import InputError
from tests.markets.conftest import book_class


def test_the_package_reports_its_engine() -> None:
    assert markets.ENGINE in ("compiled", "pure")
    assert engine_of(sys.modules["flagship.markets._book"]) == markets.ENGINE
    assert markets.OrderBook is sys.modules["flagship.markets._book"].OrderBook


def test_the_pure_engine_is_the_source_whichever_is_installed() -> None:
    pure = load_pure_book()
    assert engine_of(pure) == "pure" and pure.__file__.endswith("_book.py")
    assert load_pure_book() is pure  # loaded once
    assert pure.OrderBook.__module__ != OrderBook.__module__  # its own copy, beside the installed one
    # It shares the package's records and errors, so results and rejections compare across engines.
    assert pure.Fill is markets.Fill and pure.OrderRejected is OrderRejected


def test_the_environment_variable_forces_the_pure_engine() -> None:
    script = (
        "import sys, flagship.markets as m; from flagship.markets import _desk, _book;"
        "print(m.ENGINE, _book.__file__.endswith('.py'), _desk.OrderBook is m.OrderBook)"
    )
    env = {**os.environ, PURE_ENV: "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["pure", "True", "True"]


SPELLINGS = [("true", True), (" YES ", True), ("1", True), ("no", False), ("false", False), ("", False)]


@pytest.mark.parametrize(("value", "pure"), SPELLINGS)
def test_the_variable_reads_the_usual_spellings(monkeypatch: pytest.MonkeyPatch, value: str,
                                                pure: bool) -> None:
    monkeypatch.setenv(PURE_ENV, value)
    assert pure_forced() is pure


def test_any_other_value_is_refused_naming_the_variable() -> None:
    # "maybe" used to mean "pure" (any value but "" and "0" did): a typo must not pick an engine.
    scenario = Path(__file__).resolve().parents[2] / "examples" / "full_stack_pilot.toml"
    script = "import sys; from flagship.sandbox.cli import main; main(sys.argv[1:])"
    out = subprocess.run([sys.executable, "-c", script, "validate", str(scenario)],
                         env={**os.environ, PURE_ENV: "maybe"}, capture_output=True, text=True, check=False)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"{PURE_ENV}: expected 1 (the pure-Python engine) or 0 (the compiled one), got 'maybe'"]


# Requests of the wrong type or value, and the kind of answer the pure engine gives each.
BAD_REQUESTS: list[tuple[str, Callable[[Any], Any], str]] = [
    ("cancel an unhashable id", lambda book: book.cancel([1, 2]), "ok"),
    ("cancel a float id", lambda book: book.cancel(1.5), "ok"),
    ("cancel None", lambda book: book.cancel(None), "ok"),
    ("limit with a float price", lambda book: book.limit(9, "buy", 100.0, 1), "rejected"),
    ("limit with a str qty", lambda book: book.limit(9, "buy", 100, "1"), "rejected"),
    ("limit with a list id", lambda book: book.limit([9], "buy", 100, 1), "rejected"),
    ("limit with a bytes side", lambda book: book.limit(9, b"buy", 100, 1), "rejected"),
    ("limit with an int owner", lambda book: book.limit(9, "buy", 100, 1, 7), "rejected"),
    ("limit with a str priority", lambda book: book.limit(9, "buy", 100, 1, priority="1"), "rejected"),
    ("limit with a post_only of 1", lambda book: book.limit(9, "buy", 100, 1, post_only=1), "rejected"),
    ("limit with a tif of 3", lambda book: book.limit(9, "buy", 100, 1, tif=3), "rejected"),
    ("market with a float qty", lambda book: book.market(9, "sell", 1.0), "rejected"),
    ("market with an int stp", lambda book: book.market(9, "sell", 1, stp=1), "rejected"),
    ("modify a list id", lambda book: book.modify([1], qty=2), "rejected"),
    ("modify with a str qty", lambda book: book.modify(1, qty="2"), "rejected"),
    ("modify with a float price", lambda book: book.modify(1, price=99.5), "rejected"),
    ("depth of a str", lambda book: book.depth("3"), "input error"),
    ("order of a dict", lambda book: book.order({}), "ok"),
    ("orders of an int owner", lambda book: book.orders_of(3), "ok"),
    ("a band of strs", lambda book: book.set_price_band(("1", "2")), "input error"),
    ("a band of one int", lambda book: book.set_price_band(5), "input error"),
    ("numpy ints", lambda book: book.limit(np.int64(9), "sell", np.int32(100), np.uint8(1)), "ok"),
]


def _outcome(engine: str, request: Callable[[Any], Any]) -> tuple[Any, ...]:
    book = book_class(engine)()
    book.limit(1, "buy", 100, 2, "a")
    try:
        result = request(book)
    except OrderRejected as exc:
        return ("rejected", exc.reason, book.snapshot())
    except InputError as exc:
        return ("input error", str(exc), book.snapshot())
    return ("ok", result, book.snapshot())


@pytest.mark.parametrize(
    ("request_", "kind"), [(r, k) for _, r, k in BAD_REQUESTS], ids=[name for name, _, _ in BAD_REQUESTS]
)
def test_engines_answer_bad_input_alike(request_: Callable[[Any], Any], kind: str) -> None:
    pure = _outcome("pure", request_)
    assert pure[0] == kind
    assert _outcome("compiled", request_) == pure  # skips (fails under CI) without the compiled engine


@pytest.mark.parametrize("engine", ["compiled", "pure"])
def test_bad_configuration_is_an_input_error_naming_the_field(engine: str) -> None:
    cls = book_class(engine)
    cases = (({"tick_size": 1.0}, "tick_size"), ({"stp": 1}, "stp"), ({"price_band": 3}, "price_band"))
    for kwargs, field in cases:
        with pytest.raises(InputError, match=field):
            cls(**kwargs)
