"""The wheel installs one top-level import name, ``flagship``, and lives beside another ``agents``.

The repository keeps its top-level folders (``markets/``, ``agents/``, …); the build maps
them into ``flagship.*``. These tests build the real wheel and install it, with a fixture
distribution that ships a top-level ``agents`` package (as the OpenAI Agents SDK does),
into a fresh venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["sandbox", "mechanisms", "markets", "democracy", "agents", "telemetry"]
FIXTURE = REPO / "tests" / "fixtures" / "other_agents"

pytestmark = pytest.mark.slow


def _pip(python: Path | str, *args: str, cwd: Path | None = None) -> None:
    result = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", "-q", *args],
                            capture_output=True, text=True, check=False, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Our wheel and the fixture's, built as pip builds them (isolated build environments)."""
    out = tmp_path_factory.mktemp("wheels")
    _pip(sys.executable, "wheel", "--no-deps", "-w", str(out), str(REPO), str(FIXTURE))
    found = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    yield {"ours": found["flagship_sandbox"], "fixture": found["other_agents_fixture"]}


def test_the_wheel_has_exactly_one_top_level_import_name(wheels: dict[str, Path]) -> None:
    names = zipfile.ZipFile(wheels["ours"]).namelist()
    top = sorted({name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")})
    assert top == ["flagship"]
    # every module in the folders is shipped, under its flagship name
    sources = sorted(f"flagship/{path.relative_to(REPO).as_posix()}" for package in PACKAGES
                     for path in (REPO / package).rglob("*.py") if "__pycache__" not in path.parts)
    missing = [name for name in sources if name not in names]
    assert missing == []
    assert "flagship/telemetry/templates/report.html.j2" in names
    # /docs and /redoc work offline: the wheel carries every vendored asset, licences included
    static = REPO / "sandbox" / "_live" / "static"
    assets = sorted(f"flagship/sandbox/_live/static/{path.relative_to(static).as_posix()}"
                    for path in static.rglob("*") if path.is_file())
    assert {"flagship/sandbox/_live/static/swagger-ui/swagger-ui-bundle.js",
            "flagship/sandbox/_live/static/swagger-ui/LICENSE",
            "flagship/sandbox/_live/static/redoc/redoc.standalone.js",
            "flagship/sandbox/_live/static/redoc/LICENSE"} <= set(assets)
    assert [name for name in assets if name not in names] == []


def test_every_package_folder_is_mapped_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = sorted("flagship." + ".".join(path.parent.relative_to(REPO).parts) for package in PACKAGES
                     for path in (REPO / package).rglob("__init__.py") if "__pycache__" not in path.parts)
    assert sorted(config["packages"]) == folders
    assert config["package-dir"] == {f"flagship.{package}": package for package in PACKAGES}


def test_flagship_agents_and_another_agents_package_install_side_by_side(
        wheels: dict[str, Path], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # Our dependencies come from the test environment (no download); the packages under test
    # are installed into the fresh venv by pip, from the wheels.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _pip(python, "install", "--no-deps", str(wheels["ours"]), str(wheels["fixture"]))
    probe = """
import agents, flagship.agents, flagship.markets
from flagship.agents import AgentIdentity, WebBotAuth
print(agents.OWNER)
print(flagship.agents.__file__.startswith(sys.prefix), AgentIdentity.generate().agent_id != "")
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(python), "-c", "import sys" + probe], capture_output=True, text=True,
                            check=False, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["other-agents-fixture", "True", "True"]
    # Uninstalling the other distribution leaves ours whole (they share no folder).
    _pip(python, "uninstall", "-y", "other-agents-fixture")
    ours = subprocess.run([str(python), "-c", "from flagship.agents import WebBotAuth"], capture_output=True,
                          text=True, check=False, cwd=tmp_path, env=env)
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run([str(python), "-c", "import agents"], capture_output=True, text=True, check=False,
                            cwd=tmp_path, env=env)
    assert "No module named 'agents'" in theirs.stderr
