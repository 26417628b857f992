"""Run every benchmark: ``python -m benchmarks [--quick] [--report PATH] [--plots DIR]``.

The quality, speed and real-image benchmarks run one after the other, each rewriting
its section of the report (a failing benchmark does not stop the others; the exit
status says whether all succeeded).
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from benchmarks.report import ABOUT, DEFAULT_REPORT, PLOTS_DIR, replace_section


def main(argv: Sequence[str] | None = None) -> int:
    """Run the three benchmarks; returns 0 when all of them succeeded."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the ~2-minute version")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--plots", type=Path, default=PLOTS_DIR)
    parser.add_argument("--only", choices=("quality", "speed", "real"), action="append",
                        help="run only these benchmarks (repeatable)")
    options = parser.parse_args(argv)
    from benchmarks import quality, real, speed

    replace_section("about", ABOUT, path=options.report)
    common = ["--report", str(options.report), "--plots", str(options.plots)]
    if options.quick:
        common.append("--quick")
    status = 0
    for name, module in (("quality", quality), ("speed", speed), ("real", real)):
        if options.only and name not in options.only:
            continue
        start = time.perf_counter()
        try:
            module.main(common)
        except Exception:  # noqa: BLE001 - keep the other benchmarks running
            traceback.print_exc()
            status = 1
        print(f"[benchmarks] {name} took {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
