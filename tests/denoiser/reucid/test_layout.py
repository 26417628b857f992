"""The core's shape: no Django, no import circles, no local imports that hide one."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import denoiser.reucid as core
from denoiser.reucid import denoise_grouped, denoise_paper

CORE = Path(core.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in CORE.rglob("*.py"):
        parts = path.relative_to(CORE).with_suffix("").parts
        name = ".".join(("denoiser", "reucid", *parts))
        found[name.removesuffix(".__init__")] = path
    return found


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for _ in range(node.level - 1):
        package = package.rsplit(".", 1)[0]
    return f"{package}.{node.module}" if node.module else package


def _core_imports(module: str, path: Path, *, local: bool) -> set[str]:
    """Core modules imported at module level (``local=False``) or inside functions."""
    tree = ast.parse(path.read_text())
    top = set(tree.body)
    found = set()
    for node in ast.walk(tree):
        if (node in top) == local:
            continue
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            names = [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith("denoiser.reucid"):
                found.add(name)
    return found


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def test_importing_the_core_loads_no_django():
    code = ("import sys, denoiser.reucid, denoiser.reucid.cli, denoiser.reucid.metrics, "
            "denoiser.reucid.simulation; "
            "print([m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', "
            "'celery', 'survey', 'training', 'reucid_site')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert out == "[]"


def test_no_core_module_imports_another_from_inside_a_function():
    modules = _modules()
    local = {name: sorted(_core_imports(name, path, local=True))
             for name, path in modules.items()}
    assert {name: found for name, found in local.items() if found} == {}


def test_the_core_has_no_import_circles():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = {_owner(t, modules) for t in _core_imports(name, path, local=False)}
        # a package's __init__ re-exports its children; a child importing a sibling
        # through the package is still an edge to that package
        graph[name] = {t for t in targets if t and t != name
                       and not (name.startswith(t + ".") and t != "denoiser.reucid")}
    # edges from a module to the package that contains it are how packages re-export
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycle.extend(stack[stack.index(target):] + [node, target]
                             if target in stack else [node, target])
                return True
            if state.get(target) is None and visit(target, stack + [node]):
                return True
        state[node] = 2
        return False

    for node in sorted(graph):
        if state.get(node) is None and visit(node, []):
            break
    assert cycle == []


def test_the_two_methods_live_in_their_own_packages():
    assert denoise_paper.__module__ == "denoiser.reucid.paper.pipeline"
    assert denoise_grouped.__module__ == "denoiser.reucid.grouped.pipeline"
    # the paper's Algorithm 1 never depends on the default method
    paper = {name: path for name, path in _modules().items() if ".paper" in name}
    for name, path in paper.items():
        imported = _core_imports(name, path, local=False) | _core_imports(name, path, local=True)
        assert not any(".grouped" in target for target in imported), name
