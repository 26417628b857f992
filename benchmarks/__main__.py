"""Run the benchmarks: ``python -m benchmarks [NAME ...] [--quick] [--report PATH]``.

The quality, speed, real-image and fidelity benchmarks (:data:`BENCHMARKS`) run one
after the other, each rewriting its section of the report (a failing benchmark does
not stop the others; the exit status says whether all succeeded). Name some to run
only those: ``python -m benchmarks fidelity``. The issue-9 ablation
(:data:`ON_REQUEST`: ``python -m benchmarks beyond``) and the survey loop (``python -m
benchmarks loop``: a simulated crowd's votes retrain the default method, issue 19) and
the default's quality against the code before the speed work (``python -m benchmarks
speed_quality``, issue 17) run only when named. Every
command takes its rows from the one registry (:mod:`benchmarks.methods`).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from benchmarks.report import ABOUT, DEFAULT_REPORT, PLOTS_DIR, replace_section

#: Benchmark name -> module with ``main(argv)``; every command is registered here.
BENCHMARKS: dict[str, str] = {
    "quality": "benchmarks.quality",
    "speed": "benchmarks.speed",
    "real": "benchmarks.real",
    "fidelity": "benchmarks.fidelity",
}
#: Benchmarks run only when named (they print tables rather than a report section).
ON_REQUEST: dict[str, str] = {
    "beyond": "benchmarks.beyond",
    "loop": "benchmarks.loop",
    "speed_quality": "benchmarks.speed_quality",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks (all, or those named); returns 0 when all of them succeeded."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the ~2-minute version")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--plots", type=Path, default=PLOTS_DIR)
    known = {**BENCHMARKS, **ON_REQUEST}
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"run only these benchmarks ({', '.join(known)})")
    parser.add_argument("--only", choices=tuple(known), action="append",
                        help="run only these benchmarks (repeatable)")
    options = parser.parse_args(argv)
    unknown = [n for n in options.names if n not in known]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(known)}")
    chosen = set(options.names) | set(options.only or ())

    replace_section("about", ABOUT, path=options.report)
    common = ["--report", str(options.report), "--plots", str(options.plots)]
    if options.quick:
        common.append("--quick")
    status = 0
    for name, module_name in known.items():
        wanted = name in chosen if chosen else name in BENCHMARKS
        if not wanted:
            continue
        start = time.perf_counter()
        try:
            importlib.import_module(module_name).main(common)
        except Exception:  # noqa: BLE001 - keep the other benchmarks running
            traceback.print_exc()
            status = 1
        print(f"[benchmarks] {name} took {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
