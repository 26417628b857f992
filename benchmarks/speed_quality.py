"""Does speed work cost quality? The default method now against an earlier revision.

Usage::

    python -m benchmarks.speed_quality [--before REV] [--quick] [--report docs/benchmarks.md]

Issue 17 asks that the default method's speed work keep its quality within 0.05 dB of
the same code before it. This benchmark measures that in one run: the code at ``REV``
is exported with ``git archive`` into a temporary folder, and the default method
(``denoise(image)``, as a user calls it) runs on the same inputs with that code and
with this one, each in its own subprocess. It reports the PSNR of every image with
both, their mean difference (the target: at least -0.05 dB), and, as the yardstick of
what a difference means, how far the earlier code moves when only its seed changes
(the grouping's k-means start).

This code runs with :data:`NOW_OPTIONS`: the steps added since for fidelity, not for
speed (the data's own local means, issue 14), are turned off, so that the comparison
measures what the speed work changed and nothing else (``--now-options '{}'``: the
default as it is).

Inputs: the shared abTEM images (four materials at 256² and four doses, SrTiO3 at 1024²)
when ``../shared/data/sim`` is there, else the project's own simulated scenes. The
worker only calls ``denoiser.reucid.denoise``, which both revisions have.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.data import (
    DEFAULT_SHARED_DATA,
    REPO_ROOT,
    SimulatedCase,
    builtin_simulated_cases,
    shared_simulated_cases,
)
from benchmarks.report import (
    DEFAULT_REPORT,
    format_seconds,
    machine_description,
    markdown_table,
    replace_section,
    timestamp,
)
from denoiser.reucid.metrics import psnr

__all__ = ["QualityRow", "compare", "main", "quality_cases", "render"]

#: The last revision before the speed work of issue 17: what ``--before`` defaults to.
SPEED_WORK_BASE = "1c1ac89"
#: The most the mean PSNR may drop (dB).
TARGET_DROP_DB = 0.05
SECTION = "speed-quality"
#: ``denoise()`` options of this code's runs: the default without the fidelity steps
#: added after the speed work (``local_means``, issue 14), which change the output on
#: purpose.
NOW_OPTIONS: dict[str, object] = {"local_means": False}

# Run by each revision's interpreter with that revision first on sys.path: it reads
# the noisy images, denoises each with the default method and saves the outputs.
_WORKER = """
import json, sys, time
import numpy as np
from denoiser.reucid import denoise
cases = np.load(sys.argv[1])
seed = int(sys.argv[3])
options = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
outputs, seconds = {}, {}
for key in cases.files:
    start = time.perf_counter()
    outputs[key] = np.asarray(denoise(cases[key], seed=seed, **options).image,
                              dtype=np.float32)
    seconds[key] = time.perf_counter() - start
np.savez(sys.argv[2], **outputs)
print(json.dumps(seconds))
"""


@dataclass(frozen=True)
class QualityRow:
    """One image: PSNR with the earlier code (two seeds) and with this code."""

    name: str
    before_db: float
    before_other_seed_db: float
    now_db: float
    before_s: float
    now_s: float

    @property
    def difference_db(self) -> float:
        """This code minus the earlier code (same seed)."""
        return self.now_db - self.before_db

    @property
    def seed_spread_db(self) -> float:
        """How much the earlier code moves with another seed."""
        return self.before_other_seed_db - self.before_db


def quality_cases(*, shared_root: Path | None = None, quick: bool = False
                  ) -> list[tuple[str, SimulatedCase]]:
    """The images, with labels: the shared abTEM set when present, else built-in scenes."""
    doses = (100, 1000) if quick else (100, 500, 1000, 10000)
    root = Path(shared_root) if shared_root is not None else None
    cases: list[SimulatedCase] = []
    if root is not None and (root / "sim").is_dir():
        cases = shared_simulated_cases(root, size=256, doses=doses)
        if not quick:
            cases += shared_simulated_cases(root, size=1024, doses=(1000,),
                                            materials=["SrTiO3_001"])
    if not cases:
        cases = builtin_simulated_cases(size=256, doses=doses)
    return [(f"{c.name}, {c.clean.shape[0]}², {c.dose:g} {c.dose_unit}", c) for c in cases]


def _export(revision: str, folder: Path) -> None:
    """The tree of ``revision`` written under ``folder`` (git archive | tar)."""
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar",
                              revision], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)


def _run_worker(code_root: Path, inputs: Path, outputs: Path, seed: int,
                options: dict[str, object] | None = None
                ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(code_root)!r})\n"
         + _WORKER, str(inputs), str(outputs), str(seed), json.dumps(options or {})],
        cwd=code_root, check=True, capture_output=True, text=True)
    seconds = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(outputs) as saved:
        return {key: saved[key] for key in saved.files}, seconds


def compare(cases: Sequence[tuple[str, SimulatedCase]], *, before: str, seed: int = 0,
            now_root: Path = REPO_ROOT, now_options: dict[str, object] | None = None
            ) -> list[QualityRow]:
    """Denoise every case with the code at ``before`` (seeds ``seed``, ``seed + 1``) and now
    (with ``now_options``, default :data:`NOW_OPTIONS`)."""
    with tempfile.TemporaryDirectory(prefix="reucid-before-") as scratch:
        folder = Path(scratch)
        old_root = folder / "code"
        old_root.mkdir()
        _export(before, old_root)
        inputs = folder / "inputs.npz"
        np.savez(inputs, **{f"case{i}": case.noisy for i, (_, case) in enumerate(cases)})
        old, old_seconds = _run_worker(old_root, inputs, folder / "old.npz", seed)
        other, _ = _run_worker(old_root, inputs, folder / "other.npz", seed + 1)
        new, new_seconds = _run_worker(now_root, inputs, folder / "new.npz", seed,
                                       NOW_OPTIONS if now_options is None else now_options)
    rows = []
    for i, (name, case) in enumerate(cases):
        key = f"case{i}"
        rows.append(QualityRow(
            name=name, before_db=psnr(case.clean, old[key]),
            before_other_seed_db=psnr(case.clean, other[key]),
            now_db=psnr(case.clean, new[key]),
            before_s=float(old_seconds[key]), now_s=float(new_seconds[key])))
    return rows


def render(rows: Sequence[QualityRow], *, before: str, seconds: float, quick: bool,
           now_options: dict[str, object] | None = None) -> str:
    """The markdown section: per-image PSNR, mean difference, verdict."""
    table = [[r.name, f"{r.before_db:.2f}", f"{r.now_db:.2f}", f"{r.difference_db:+.3f}",
              f"{r.seed_spread_db:+.3f}", format_seconds(r.before_s),
              format_seconds(r.now_s)] for r in rows]
    mean = float(np.mean([r.difference_db for r in rows]))
    spread = float(np.mean(np.abs([r.seed_spread_db for r in rows])))
    largest = max(rows, key=lambda r: abs(r.difference_db))
    verdict = "met" if mean >= -TARGET_DROP_DB else "NOT met"
    now_options = NOW_OPTIONS if now_options is None else now_options
    now_call = "denoise(image" + "".join(f", {k}={v!r}" for k, v in now_options.items()) + ")"
    return "\n".join([
        "## Quality of the default after the speed work",
        "",
        f"Run {timestamp()}{' (quick)' if quick else ''}, {seconds:.0f} s, on "
        f"{machine_description()}. `python -m benchmarks.speed_quality --before {before}`: "
        f"the default method (`denoise(image)`) with the code at `{before}` and with this "
        f"code (`{now_call}`" + (": the fidelity steps added after the speed work turned "
                                 "off, so that only the speed work is compared"
                                 if now_options else "") + "), same inputs, each in its own "
        "subprocess; PSNR against the noise-free image.",
        "",
        markdown_table(["Image", f"PSNR at {before} (dB)", "PSNR now (dB)", "Now − before",
                        "Before, seed 1 − seed 0", "Time before (s)", "Time now (s)"], table),
        "",
        f"**Mean difference {mean:+.3f} dB** (target: no worse than −{TARGET_DROP_DB} dB: "
        f"{verdict}). Largest single change {largest.difference_db:+.3f} dB "
        f"({largest.name}); the earlier code itself moves by {spread:.3f} dB on average "
        "when only its seed changes (a different k-means start), the size of any one "
        "image's change.",
        "",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns 0 when the target is met."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed_quality",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=SPEED_WORK_BASE,
                        help=f"git revision of the earlier code (default {SPEED_WORK_BASE}, "
                        "the code before the speed work)")
    parser.add_argument("--quick", action="store_true", help="256² images at two doses")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--now-options", type=json.loads, default=None,
                        help="denoise() options of this code's runs, as JSON (default "
                        f"{json.dumps(NOW_OPTIONS)})")
    parser.add_argument("--shared-data", type=Path, default=DEFAULT_SHARED_DATA)
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--plots", type=Path, default=None, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    started = time.perf_counter()
    cases = quality_cases(shared_root=options.shared_data, quick=options.quick)
    rows = compare(cases, before=options.before, seed=options.seed,
                   now_options=options.now_options)
    text = render(rows, before=options.before, seconds=time.perf_counter() - started,
                  quick=options.quick, now_options=options.now_options)
    print(text)
    replace_section(SECTION, text, path=options.report)
    return 0 if np.mean([r.difference_db for r in rows]) >= -TARGET_DROP_DB else 1


if __name__ == "__main__":
    raise SystemExit(main())
