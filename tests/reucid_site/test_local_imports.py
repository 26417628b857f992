"""Function-local imports in the apps, the benchmarks and the scripts say why they are local.

A dependency belongs at the top of the module, where a reader sees it. An import stays
inside a function only for a reason: a real import cycle, a heavy or optional package
(torch where the module otherwise does without it, matplotlib, bm3d, hyperspy,
rosettasciio, abTEM, playwright, psutil), or Django that must be set up first — and
then a comment on its line or just above it says which. The numerical core has its own,
stricter check (``tests/denoiser/reucid/test_layout.py``: no function-local core import).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("denoiser", "survey", "training", "reucid_site", "benchmarks", "scripts")
#: A comment this many lines above the import (or on its line) explains it; this covers
#: ``import matplotlib``, a blank line, ``matplotlib.use("Agg")``, ``import matplotlib.pyplot``.
WHY_WITHIN_LINES = 4


def unexplained_local_imports(path: Path) -> list[int]:
    """Line numbers of imports inside functions with no comment saying why."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            above = lines[max(0, node.lineno - 1 - WHY_WITHIN_LINES):node.lineno - 1]
            if "#" in lines[node.lineno - 1] or any(
                    line.strip().startswith("#") for line in above):
                continue
            found.append(node.lineno)
    return sorted(set(found))


def _checked_files():
    for folder in CHECKED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if not relative.startswith("denoiser/reucid/") and "/migrations/" not in relative:
                yield relative, path


def test_every_function_local_import_says_why():
    unexplained = []
    for relative, path in _checked_files():
        lines = unexplained_local_imports(path)
        if lines:
            unexplained.append(f"{relative}: lines {lines}")
    assert not unexplained, ("move these imports to the top of the module, or say in a "
                             "comment why they must stay local:\n" + "\n".join(unexplained))


def test_the_count_sees_local_imports_and_their_comments(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os\n"
        "def a():\n    import json\n"
        "def b():\n    # matplotlib is heavy: only when drawing\n    import matplotlib\n"
        "    matplotlib.use('Agg')\n    import matplotlib.pyplot as plt\n"
        "def c():\n    from . import x  # a real cycle: x imports this module\n")
    assert unexplained_local_imports(probe) == [3]
