"""The democracy package's shape: reason codes and their HTTP statuses, no import cycles, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from flagship.democracy import EmergencyVote, VoteReason
from flagship.mechanisms import CommonReason

PACKAGE = Path(__file__).resolve().parents[2] / "democracy"
NAME = "flagship.democracy"

STATUS = {
    "UNKNOWN_VOTE": 404, "UNKNOWN_DECISION": 404,
    "NOT_REGISTERED": 403, "NOT_CONVENED": 403,
    "BALLOT_MALFORMED": 422, "BALLOT_EMPTY": 422, "BALLOT_UNKNOWN_CANDIDATE": 422,
    "BALLOT_DUPLICATE_CANDIDATE": 422,
    "ALREADY_REGISTERED": 409, "DUPLICATE_IDENTITY": 409, "BALLOT_NOT_OPEN": 409, "BALLOT_CLOSED": 409,
    "SECOND_BALLOT": 409, "ALREADY_APPEALED": 409,
}


@pytest.mark.parametrize("reason", list(VoteReason))
def test_every_reason_code_has_the_status_the_live_routes_answered_with(reason: VoteReason) -> None:
    assert EmergencyVote.status_of(reason) == STATUS[reason.value]


def test_the_common_codes_keep_the_contract_defaults() -> None:
    assert EmergencyVote.status_of(CommonReason.INVALID_PAYLOAD) == 422
    assert EmergencyVote.status_of(CommonReason.NOT_PERMITTED) == 403
    assert set(EmergencyVote.reason_status) <= set(VoteReason)  # declares only its own codes


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = [p for p in path.relative_to(PACKAGE).with_suffix("").parts if p != "__init__"]
        found[".".join([NAME, *parts])] = path
    return found


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package that ``module`` imports, TYPE_CHECKING imports included."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{alias.name}" for alias in node.names} & set(modules)
            found |= submodules or ({target} & set(modules))
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names} & set(modules)
    return found - {module}


def test_no_module_of_the_package_imports_itself_back() -> None:
    modules = _modules()
    graph = {module: _imports(module, path, modules) for module, path in modules.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                cycles.append([*path[path.index(imported):], imported])
            elif imported not in state:
                visit(imported, path)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert cycles == []


def test_no_module_is_over_600_lines() -> None:
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 600} == {}
