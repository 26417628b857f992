"""The Django apps use each other only through their public interfaces.

An app (``denoiser``, ``survey``, ``training``) or the project package
(``reucid_site``) may import another app's ``selectors`` (reading), ``services``
(writing), ``models`` (foreign keys) or ``tasks`` (queueing) — nothing else, so an
app's internals can change without breaking another. The numerical core
``denoiser.reucid`` is a library every part may import. The contracts themselves are
listed in ``docs/architecture.md`` ("Cross-app contracts").
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("denoiser", "survey", "training")
IMPORTERS = (*APPS, "reucid_site")
CORE = "denoiser.reucid"
PUBLIC = ("selectors", "services", "models", "tasks")
#: Imports still reaching into another app, each with what replaces it. Issue 15's
#: group labels are being written in survey/ and training/ now; when they settle these
#: go through training.selectors / training.services.
PENDING = {
}


def _imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every module a file imports (function-local ones too), as absolute dotted names."""
    package = list(path.relative_to(root).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if node.module is None or "." not in module:  # "from app import x": x may be a module
                found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
    return found


def _allowed(importer: str, module: str) -> bool:
    parts = module.split(".")
    if parts[0] not in APPS or parts[0] == importer or module.startswith(CORE):
        return True
    return len(parts) >= 2 and parts[1] in PUBLIC


def test_apps_import_each_other_only_through_public_modules():
    reaching_in = []
    for importer in IMPORTERS:
        for path in sorted((ROOT / importer).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith("denoiser/reucid/") or "/migrations/" in relative:
                continue
            for line, module in _imported_modules(path):
                if not _allowed(importer, module) and (relative, module) not in PENDING:
                    reaching_in.append(f"{relative}:{line} imports {module}")
    assert not reaching_in, ("import another app's selectors/services/models/tasks "
                             "instead:\n" + "\n".join(reaching_in))


def test_the_rule_reads_relative_and_function_local_imports(tmp_path):
    probe = tmp_path / "survey" / "probe.py"
    probe.parent.mkdir()
    probe.write_text("from training import trainer\n"
                     "def f():\n    from training.selectors import x\n    from .models import y\n")
    found = [module for _, module in _imported_modules(probe, tmp_path)]
    assert found == ["training.trainer", "training.selectors", "survey.models"]
    assert not _allowed("survey", "training.trainer") and _allowed("survey", "training.selectors")
    assert _allowed("survey", "survey.models") and _allowed("training", "denoiser.reucid.io")
