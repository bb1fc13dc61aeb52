"""The agents package's shape: small modules, no import cycles, one status map, old imports kept."""

from __future__ import annotations

import ast
from pathlib import Path

from flagship import agents
from flagship.agents import AgentGate, DecisionReason, GateReason
from flagship.agents._http import GATE_STATUS
from flagship.agents._reasons import REASON_STATUS
from flagship.mechanisms import CommonReason

PACKAGE = Path(agents.__file__).resolve().parent
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["flagship", "agents", *parts])


def _imports(path: Path) -> set[str]:
    """The flagship.agents modules ``path`` imports (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {module for module in found if module.startswith("flagship.agents")}


def test_no_module_is_over_600_lines() -> None:
    sizes = {str(path.relative_to(PACKAGE)): path.read_text().count("\n") for path in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_the_package_has_no_import_cycles() -> None:
    graph = {_module_name(path): _imports(path) for path in PACKAGE.rglob("*.py")}
    graph = {module: {dep for dep in deps if dep in graph} for module, deps in graph.items()}
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                cycles.append([*trail[trail.index(dep):], dep])
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_routes_do_not_import_the_gate() -> None:
    assert "flagship.agents._mechanism" not in _imports(PACKAGE / "_http.py")


def test_the_gate_declares_the_status_of_every_code() -> None:
    assert AgentGate.reason_status is REASON_STATUS and GATE_STATUS is REASON_STATUS
    for code in GateReason:
        assert AgentGate.status_of(code) == REASON_STATUS[code]
    assert AgentGate.status_of(DecisionReason.EXAM_FAILED) == 403
    assert AgentGate.status_of(CommonReason.INVALID_PAYLOAD) == 422
    assert AgentGate.status_of(GateReason.RATE_LIMITED) == 429

