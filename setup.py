"""Build hook: compile the order book engine with mypyc when possible, else install it as pure Python.

Everything else about the package is declared in pyproject.toml.  The engine
(``markets/_book_state.py`` and ``markets/_book.py``, mypy --strict clean) is compiled to C
extension modules that sit next to their sources; ``flagship.markets.ENGINE`` reports which
engine runs.  The install never fails on the engine's account: without mypyc, without a C
compiler or Python's headers, or with ``FLAGSHIP_PURE_PYTHON=1``, it prints one line and
installs the pure-Python engine, which behaves identically (the book's tests run on both).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
ENGINE_SOURCES = ("_book_state.py", "_book.py")
PURE_ENV = "FLAGSHIP_PURE_PYTHON"
# mypyc sees the folders under their import names (as tests/test_quality.py lays them out for
# mypy), so the extensions are named flagship.markets._book_state and flagship.markets._book.
LAYOUT = ROOT / "build" / "mypyc-src"
MYPY_CONFIG = """\
[mypy]
python_version = {major}.{minor}
mypy_path = {layout}
explicit_package_bases = True
# Only the engine is compiled: the modules it imports are read for their types, quietly.
follow_imports = silent
ignore_missing_imports = True
"""


def _say(message: str) -> None:
    print(f"flagship-sandbox: {message}", file=sys.stderr, flush=True)


def _mypyc_extensions() -> list[Extension]:
    """The engine's extension modules, or [] (with a line saying why) to install it pure."""
    value = os.environ.get(PURE_ENV, "").strip().lower()
    if value not in ("", "0", "false", "no", "1", "true", "yes"):  # as flagship.markets._engine reads it
        sys.exit(f"flagship-sandbox: {PURE_ENV}: expected 1 (the pure-Python engine) or 0 (the compiled "
                 f"one), got {os.environ[PURE_ENV]!r}")
    if value in ("1", "true", "yes"):
        _say(f"{PURE_ENV} is set: installing the pure-Python order book engine")
        return []
    try:
        from mypyc.build import mypycify  # noqa: PLC0415  (optional: only a build that compiles needs it)
    except ImportError as exc:
        _say(f"mypyc is unavailable ({exc}): installing the pure-Python order book engine")
        return []
    package = LAYOUT / "flagship"
    package.mkdir(parents=True, exist_ok=True)
    for folder in ("markets", "mechanisms"):
        link = package / folder
        if not link.is_symlink():
            link.symlink_to(ROOT / folder, target_is_directory=True)
    config = LAYOUT / "mypy.ini"
    major, minor = sys.version_info[:2]
    config.write_text(MYPY_CONFIG.format(major=major, minor=minor, layout=LAYOUT))
    paths = [str(package / "markets" / name) for name in ENGINE_SOURCES]
    try:
        return list(
            mypycify(
                ["--config-file", str(config), *paths],
                opt_level="3",
                # the modules' shared library: flagship/markets/_book_engine__mypyc.*, inside the
                # package (the wheel has one top-level name, tests/test_packaging.py)
                group_name="flagship.markets._book_engine",
                target_dir=str(ROOT / "build" / "mypyc"),
            )
        )
    except (Exception, SystemExit) as exc:  # mypy's type errors end in SystemExit
        _say(f"mypyc could not translate the engine ({exc!r}): installing it as pure Python")
        return []


class OptionalBuildExt(build_ext):
    """``build_ext`` that installs the pure-Python engine instead of failing the install.

    All or nothing: the engine's modules share one compiled library, so if any extension fails
    to build, every extension already built is removed and the sources alone are installed.
    """

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # a missing compiler or header surfaces as several error types
            self._discard_outputs()
            detail = f"{type(exc).__name__}: {str(exc)[:80]}"
            _say(f"cannot compile the order book engine ({detail}...): installing it as pure Python")

    def _discard_outputs(self) -> None:
        for ext in self.extensions:
            target = Path(self.get_ext_fullpath(ext.name))
            if target.exists():
                target.unlink()
        self.extensions = []
        build_temp = Path(self.build_temp)
        if build_temp.is_dir():
            shutil.rmtree(build_temp, ignore_errors=True)

    def get_outputs(self) -> list[str]:
        return [path for path in super().get_outputs() if Path(path).exists()]


def _drop_stale_builds() -> None:
    """Remove compiled engine modules an earlier build left in build/lib* or, editable, beside
    the sources: a pure build would otherwise pack them into its wheel or import them."""
    for lib in [ROOT, *(ROOT / "build").glob("lib.*")]:  # ROOT: an editable install's build
        markets = lib / ("markets" if lib == ROOT else "flagship/markets")
        for stale in markets.glob("_book*.*"):  # the engine's modules and their library
            if stale.suffix != ".py":
                stale.unlink()


# The commands that build modules; pip also runs this file to read requirements and metadata,
# for which translating the engine (a mypy run, ~15 s) would be wasted.
BUILD_COMMANDS = frozenset({"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop"})


def _options() -> dict[str, Any]:
    if not BUILD_COMMANDS.intersection(sys.argv[1:]):
        return {}
    extensions = _mypyc_extensions()
    if not extensions:
        _drop_stale_builds()
        return {}
    return {"ext_modules": extensions, "cmdclass": {"build_ext": OptionalBuildExt}}


setup(**_options())
