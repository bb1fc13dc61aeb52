"""Run manifests: everything needed to reproduce a run exactly."""

from __future__ import annotations

import platform
import subprocess
import sys
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["environment", "git_commit", "package_version"]

_DEPENDENCIES = ("simpy", "numpy", "pydantic", "sqlalchemy", "alembic", "prometheus-client",
                 "httpx", "typer", "rich", "cryptography", "http-message-signatures")


def package_version() -> str:
    """The installed flagship-sandbox version (``0+unknown`` when run from a bare checkout)."""
    try:
        return version("flagship-sandbox")
    except PackageNotFoundError:
        return "0+unknown"


@cache
def git_commit() -> str | None:
    """The git commit of the source tree Flagship runs from, with ``+dirty`` if modified; or None."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return f"{commit}+dirty" if dirty.stdout.strip() else commit


@cache
def environment() -> dict[str, Any]:
    """Package, Python, platform and dependency versions."""
    deps: dict[str, str | None] = {}
    for name in _DEPENDENCIES:
        try:
            deps[name] = version(name)
        except PackageNotFoundError:
            deps[name] = None
    return {
        "flagship_version": package_version(),
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "dependencies": deps,
    }
