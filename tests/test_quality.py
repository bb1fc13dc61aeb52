"""Static checks are part of the test suite: ruff and mypy --strict on every package."""

from __future__ import annotations

import ast
import importlib
import re
import shutil
import subprocess
import sys
import tomllib
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


def test_import_linter_contracts_hold() -> None:
    """Layers, independent wings, wings on the contract only, no cycles: pyproject.toml's contracts."""
    result = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=REPO, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout or "broken" not in result.stdout.split("Contracts:")[-1], result.stdout


def test_every_core_module_sits_in_a_layer() -> None:
    """A new module of the core must be placed in the layers contract, or nothing checks it."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in re.split(r"[:|]", layer)}
    unplaced = []
    for package in ("sandbox", "telemetry", "mechanisms"):
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if "migrations" in parts or parts[-1] == "__init__" or "__pycache__" in parts:
                continue
            module = "flagship." + ".".join(parts)
            if not any(module == p or module.startswith(p + ".") for p in placed):
                unplaced.append(module)
    assert unplaced == []


def test_help_and_validate_start_without_the_heavy_parts() -> None:
    """``flagship --help`` and ``validate`` import no web server, plotting or live-server code."""
    probe = (
        "import sys\n"
        "from flagship.sandbox.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "heavy = ('fastapi', 'uvicorn', 'starlette', 'matplotlib')\n"
        "live = 'flagship.sandbox._live'  # the server (a package), not its CLI (_live_cli)\n"
        "print(sorted({m for m in sys.modules if m.partition('.')[0] in heavy or m == live\n"
        "              or m.startswith(live + '.')}))\n"
    )
    for args in (["--help"], ["validate", str(REPO / "examples" / "posted_price.toml")]):
        result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                                check=False, cwd=REPO)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "[]", (args, result.stdout[-500:])
    # --help needs only Typer and Rich: not even the contract (NumPy, pydantic) or the store
    lean = probe.replace("'matplotlib')", "'matplotlib', 'numpy', 'pydantic', 'sqlalchemy', 'simpy')")
    help_only = subprocess.run([sys.executable, "-c", lean, "--help"], capture_output=True, text=True,
                               check=False, cwd=REPO)
    assert help_only.stdout.strip().splitlines()[-1] == "[]", help_only.stdout[-500:]


def test_pytest_is_not_a_runtime_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("pytest")]
    assert any(d.startswith("pytest") for d in project["optional-dependencies"]["test"])


@pytest.mark.parametrize("package", ["flagship.sandbox", "flagship.sandbox._live", "flagship.telemetry"])
def test_lazy_exports_match_all(package: str) -> None:
    """These packages load their names on first use: each one in ``__all__`` resolves to the
    object its module defines, and an unknown name is an AttributeError."""
    module = importlib.import_module(package)
    assert sorted(module._EXPORTS) == sorted(module.__all__)
    for name in module.__all__:
        home = importlib.import_module(f"{package}.{module._EXPORTS[name]}")
        assert getattr(module, name) is getattr(home, name)
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        _ = module.nonsense


def test_the_cli_names_the_default_store_without_importing_it() -> None:
    from flagship.sandbox._cli_app import DEFAULT_STORE_URL
    from flagship.telemetry import DEFAULT_URL

    assert DEFAULT_STORE_URL == DEFAULT_URL


def test_importing_the_packages_pays_for_no_heavy_library() -> None:
    """``import flagship.telemetry`` / ``flagship.sandbox._live`` / the survey load neither the
    store's SQLAlchemy and Alembic, FastAPI, nor ``scipy.stats``: each costs a CLI command
    hundreds of milliseconds to seconds (``benchmarks/bench_cli_startup.py`` measures them)."""
    probe = (
        "import sys, flagship.telemetry, flagship.sandbox._live\n"
        "import flagship.democracy._survey._reliability as r\n"
        "r._t_quantile(0.975, 5.0)\n"
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'fastapi', 'scipy.stats') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_every_exception_class_is_in_the_errors_module() -> None:
    """One exception tree, drawn in one docstring: no exception class is defined anywhere else."""
    import flagship.mechanisms._errors as errors_module
    from flagship.mechanisms import FlagshipError

    tree_doc = errors_module.__doc__ or ""
    outside = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if path.name == "_errors.py" or "__pycache__" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    bases = [ast.unparse(base) for base in node.bases]
                    if any(re.search(r"(Error|Exception|Rejected|Exit|Interrupt)\b", base) for base in bases):
                        where = f"{path.relative_to(REPO)}:{node.lineno}"
                        outside.append(f"{where}: {node.name}({', '.join(bases)})")
    assert outside == []
    classes = [cls for cls in vars(errors_module).values()
               if isinstance(cls, type) and issubclass(cls, BaseException)]
    assert all(issubclass(cls, FlagshipError) for cls in classes)
    assert [cls.__name__ for cls in classes if cls.__name__ not in tree_doc] == []


WING_SKELETON = ("_config.py", "_reasons.py", "_mechanism.py", "_populations", "_http.py")


def test_every_wing_has_the_same_skeleton() -> None:
    """A reader who knows one wing knows all: config, reasons (with HTTP statuses), the thin
    mechanism, its populations and its routes live under the same names in every wing."""
    for wing in ("markets", "democracy", "agents"):
        missing = [name for name in WING_SKELETON if not (REPO / wing / name).exists()]
        assert missing == [], wing
        assert (REPO / wing / "_populations" / "__init__.py").is_file(), wing


def test_no_package_module_is_over_600_lines() -> None:
    paths = [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))
             if "versions" not in path.parts]
    sizes = {path: len(path.read_text().splitlines()) for path in paths}
    assert [f"{path.relative_to(REPO)}: {n}" for path, n in sizes.items() if n > 600] == []
