"""Static checks are part of the test suite: ruff and mypy --strict on every package."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["sandbox", "mechanisms", "markets", "democracy", "agents", "telemetry"]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; install the test extra: pip install -e '.[test]'")
    return found


def test_ruff_is_clean() -> None:
    result = subprocess.run([_tool("ruff"), "check", *PACKAGES, "tests", "benchmarks"], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def typecheck_tree() -> Path:
    """``build/typecheck/flagship/<package>``: links to the folders, so mypy sees the import names.

    The folders install as ``flagship.<package>`` (``package-dir`` in pyproject.toml); mypy
    names a module after the folders it sits in, so it checks them through this tree.
    """
    root = REPO / "build" / "typecheck" / "flagship"
    root.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        link = root / package
        if not link.is_symlink():
            link.symlink_to(REPO / package, target_is_directory=True)
    return root.parent


def test_mypy_strict_is_clean() -> None:
    typecheck_tree()
    result = subprocess.run([_tool("mypy"), "--strict", "-p", "flagship"], cwd=REPO, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues found" in result.stdout and "source files" in result.stdout, result.stdout


def test_every_package_is_typed() -> None:
    for package in PACKAGES:
        assert (REPO / package / "py.typed").is_file(), package


def test_ci_runs_the_readme_commands() -> None:
    readme = (REPO / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^```(?:sh|bash|console)?\n(.*?)\n```", quickstart, re.S | re.M)
    lines = [line for block in commands for line in block.splitlines() if line.strip()]
    assert len(lines) == 2, lines  # exactly two commands
    ci = (REPO / ".ci" / "run").read_text()
    assert lines[1] in ci, "the Quickstart test command must be what .ci/run runs"


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` or ``from … import`` statement names (absolute imports)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.extend([(node.lineno, node.module)])
    return found


def _python_files() -> list[Path]:
    folders = [*PACKAGES, "tests", "benchmarks", "examples", "docs"]
    return sorted(path for folder in folders for path in (REPO / folder).rglob("*.py")
                  if "__pycache__" not in path.parts)


def test_nothing_imports_a_bare_package_name() -> None:
    """Our packages are imported as ``flagship.<package>``: a bare ``agents`` is somebody else's."""
    bare = [f"{path.relative_to(REPO)}:{line}: {module}" for path in _python_files()
            for line, module in _imported_modules(path)
            if module.partition(".")[0] in PACKAGES]
    assert bare == []


def test_wings_never_import_each_other() -> None:
    wings = ["markets", "democracy", "agents"]
    for wing in wings:
        for path in (REPO / wing).rglob("*.py"):
            text = path.read_text()
            for other in [*wings, "sandbox"]:
                if other == wing:
                    continue
                pattern = rf"^\s*(from|import)\s+{other}\b"
                assert not re.search(pattern, text, re.M), f"{path} imports {other}"


def test_core_knows_no_mechanism_by_name() -> None:
    for package in ("sandbox", "mechanisms", "telemetry"):
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text()
            for wing in ("markets", "democracy", "agents"):
                assert not re.search(rf"^\s*(from|import)\s+{wing}\b", text, re.M), \
                    f"{path} imports {wing}"
