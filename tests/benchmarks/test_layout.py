"""The benchmarks package has no import circle.

Rows register themselves in the one registry (``benchmarks.methods``), which imports the
modules that hold them by name when asked (``default_methods``); no module imports one
that imports it back.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "benchmarks"


def _graph() -> dict[str, set[str]]:
    modules = {f"benchmarks.{path.stem}" for path in PACKAGE.glob("*.py")}
    graph = {}
    for path in PACKAGE.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "benchmarks":
                imported |= {f"benchmarks.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        graph[f"benchmarks.{path.stem}"] = imported & modules
    return graph


def test_no_import_circle():
    graph = _graph()
    circles = []

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(graph[module]):
            if imported in path:
                circles.append(" -> ".join([*path[path.index(imported):], imported]))
            else:
                visit(imported, [*path, imported])

    for module in graph:
        visit(module, [module])
    assert not circles, circles
