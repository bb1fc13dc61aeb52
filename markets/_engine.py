"""Which order book engine runs: the mypyc-compiled one, or the pure-Python source.

``pip install .`` compiles ``_book_state.py`` and ``_book.py`` with mypyc when it can (setup.py)
and installs them as extension modules next to their sources; without a C compiler it installs
the sources alone.  Both engines are the same code and must behave identically (the book's
tests run on both, see :func:`load_pure_book`).

Lifecycle: ``flagship.markets`` calls :func:`select_engine` first, before any module of the
package imports the book.  With ``FLAGSHIP_PURE_PYTHON=1`` (``true``/``yes`` too; ``0``, ``false``,
``no`` or unset keep the compiled engine; any other value is refused with an InputError) it
loads the two sources under their own names, so every importer gets the pure engine even where
a compiled one is installed; so it does when a compiled module is older than its source (an
editable install edited since: ``pip install -e .`` again rebuilds it).  :data:`ENGINE`
(re-exported as ``flagship.markets.ENGINE``) then says which engine the package uses.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from flagship.mechanisms._errors import InputError, Problem

__all__ = ["ENGINE", "PURE_ENV", "engine_of", "load_pure_book", "pure_forced", "select_engine"]

PURE_ENV = "FLAGSHIP_PURE_PYTHON"
_PACKAGE = __name__.rpartition(".")[0]  # flagship.markets
_HERE = Path(__file__).resolve().parent
_ENGINE_MODULES = ("_book_state", "_book")  # dependency order: _book imports _book_state
_PURE_PACKAGE = f"{_PACKAGE}._pure_engine"  # where load_pure_book puts its copies


# The values setup.py accepts too: a typo must not silently pick an engine.
_PURE_YES = ("1", "true", "yes")
_PURE_NO = ("", "0", "false", "no")


def pure_forced() -> bool:
    """True when the environment asks for the pure-Python engine (InputError on any other value)."""
    value = os.environ.get(PURE_ENV, "").strip().lower()
    if value in _PURE_YES:
        return True
    if value in _PURE_NO:
        return False
    raise InputError(Problem(PURE_ENV, f"expected 1 (the pure-Python engine) or 0 (the compiled one), "
                                       f"got {os.environ[PURE_ENV]!r}"))


def _exec_source(name: str, stem: str) -> ModuleType:
    """Import ``<stem>.py`` from this folder as module ``name`` (never its compiled twin)."""
    path = _HERE / f"{stem}.py"
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:  # pragma: no cover - a file location always gives a spec
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def select_engine() -> str:
    """Load the pure sources under the real names if :data:`PURE_ENV` asks for it; return the
    engine the package now uses, ``"compiled"`` or ``"pure"``."""
    real = f"{_PACKAGE}._book"
    if real not in sys.modules and (pure_forced() or _stale_build()):
        for stem in _ENGINE_MODULES:
            _exec_source(f"{_PACKAGE}.{stem}", stem)
    module = importlib.import_module(real)
    return engine_of(module)


# pip writes a wheel's files one after another; a source newer than its compiled twin by more
# than this was edited (or checked out) after the build.
_STALE_AFTER_SECONDS = 2.0


def _stale_build() -> bool:
    """True if a compiled engine module is older than its source: an editable install's build
    that a later edit or checkout has outdated.  The source is then the engine that runs."""
    for stem in _ENGINE_MODULES:
        spec = importlib.util.find_spec(f"{_PACKAGE}.{stem}")
        origin = spec.origin if spec is not None else None
        if origin is None or not origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            continue
        source = _HERE / f"{stem}.py"
        if source.stat().st_mtime > Path(origin).stat().st_mtime + _STALE_AFTER_SECONDS:
            return True
    return False


def engine_of(module: ModuleType) -> str:
    """``"compiled"`` if ``module`` is an extension module, else ``"pure"``."""
    filename = getattr(module, "__file__", None) or ""
    compiled = filename.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    return "compiled" if compiled else "pure"


def load_pure_book() -> ModuleType:
    """The pure-Python ``_book`` module, loaded from source under ``flagship.markets._pure_engine``
    (once; later calls return the same module) whichever engine the package uses.

    Its ``OrderBook`` shares the package's records and errors (``Fill``, ``OrderRejected``...),
    so the two engines' results compare equal and tests catch the same exceptions.
    """
    book_name = f"{_PURE_PACKAGE}._book"
    loaded = sys.modules.get(book_name)
    if loaded is not None:
        return loaded
    package = ModuleType(_PURE_PACKAGE)
    package.__path__ = []  # a package with nothing to find: its modules are placed below
    sys.modules[_PURE_PACKAGE] = package
    # The engine's relative imports of the package's other modules resolve to those modules.
    for shared in ("_reasons", "_records"):
        sys.modules[f"{_PURE_PACKAGE}.{shared}"] = importlib.import_module(f"{_PACKAGE}.{shared}")
    module = package
    for stem in _ENGINE_MODULES:
        module = _exec_source(f"{_PURE_PACKAGE}.{stem}", stem)
    return module


ENGINE = select_engine()
