"""The house rules a newcomer relies on: no import circle between our modules (imports inside functions
count too) or between flows/' sub-packages, and no flows/ module longer than a reader holds in mind."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flows", "extractors", "warehouse", "alerts")
MAX_FLOWS_MODULE_LINES = 450


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "site" in path.relative_to(ROOT / package).parts[:2] and package == "flows":
                continue  # the demo site's data and its build script
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that `path` imports, anywhere in it."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and modules[name] != path:
                out.add(name)
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _group(module: str) -> str:
    """A module's unit: flows' sub-packages (flows.ingest, flows.cli, ...), else the top package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "flows" and len(parts) > 2 else parts[0]


def test_no_module_imports_itself_through_others():
    assert _cycle(_graph()) is None


def test_no_circle_between_packages_or_flows_subpackages():
    groups: dict[str, set[str]] = {}
    for module, deps in _graph().items():
        groups.setdefault(_group(module), set()).update(
            _group(d) for d in deps if _group(d) != _group(module)
        )
    assert _cycle(groups) is None


@pytest.mark.parametrize("path", sorted(p for p in _modules().values() if p.is_relative_to(ROOT / "flows")))
def test_flows_modules_stay_short(path: Path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_FLOWS_MODULE_LINES, f"{path.relative_to(ROOT)}: {lines} lines"
