"""scripts/junit_totals.py: the closing line of scripts/test.sh adds up both passes."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "junit_totals.py"


def report(path, *, tests, failures=0, errors=0, skipped=0):
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites>'
        f'<testsuite name="pytest" tests="{tests}" failures="{failures}" errors="{errors}" '
        f'skipped="{skipped}" time="1.0"></testsuite></testsuites>'
    )
    return path


def run(*arguments):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, timeout=60
    )


def test_adds_up_both_passes(tmp_path):
    first = report(tmp_path / "a.xml", tests=10, failures=1, errors=1, skipped=2)
    second = report(tmp_path / "b.xml", tests=5, skipped=1)

    completed = run(f"embedded={first}", f"services={second}")

    assert completed.returncode == 0
    assert completed.stdout.splitlines() == [
        "embedded: 6 passed, 2 failed, 2 skipped",
        "services: 4 passed, 0 failed, 1 skipped",
        "total: 10 passed, 2 failed, 3 skipped",
    ]


def test_a_pass_without_report_is_named(tmp_path):
    first = report(tmp_path / "a.xml", tests=3)

    completed = run(f"embedded={first}", f"services={tmp_path / 'missing.xml'}")

    assert "services: no report (the pass did not run to the end)" in completed.stdout
    assert completed.stdout.splitlines()[-1] == "total: 3 passed, 0 failed, 0 skipped"
