"""Add up pytest's JUnit XML reports and print one closing line for all passes.

    python scripts/junit_totals.py LABEL=REPORT.xml [LABEL=REPORT.xml ...]

Prints one line per pass and then ``total: N passed, N failed, N skipped``.
"""
from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def count_outcomes(report: Path) -> dict[str, int]:
    """passed/failed/skipped counts of one JUnit XML file (errors count as failed)."""
    root = ElementTree.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failures = errors = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failures += int(suite.get("failures", 0))
        errors += int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    failed = failures + errors
    return {"passed": tests - failed - skipped, "failed": failed, "skipped": skipped}


def main(arguments: list[str]) -> int:
    total = {"passed": 0, "failed": 0, "skipped": 0}
    for argument in arguments:
        label, _, path = argument.partition("=")
        report = Path(path)
        if not report.is_file():
            print(f"{label}: no report (the pass did not run to the end)")
            continue
        counts = count_outcomes(report)
        print(f"{label}: {counts['passed']} passed, {counts['failed']} failed, "
              f"{counts['skipped']} skipped")
        for key, value in counts.items():
            total[key] += value
    print(f"total: {total['passed']} passed, {total['failed']} failed, "
          f"{total['skipped']} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
