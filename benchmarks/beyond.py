"""Ablation of the issue-9 variants: ``python -m benchmarks beyond`` or
``python -m benchmarks.beyond [--quick] [--materials ...]``.

Every step of ``denoise()``'s default method (``denoiser.reucid.grouped``: GAT, coarse
pilot, similar-patch groups, two passes, aggregation, noise-edge rule) on and off, the
selection rules per group, the true against the estimated noise model, the paper's
pipeline (``variant="paper"``) and BM3D + GAT, on the shared abTEM sets
(``../shared/data/sim``): PSNR / SSIM / residual correlation per dose and the CPU
seconds (``time.process_time``, run it with ``OMP_NUM_THREADS=1``). Prints a summary
(default against BM3D) and a markdown table per material (the tables of
``docs/beyond_the_paper.md``); ``--json PATH`` also saves the records.

The rows are registry rows (:mod:`benchmarks.methods`), chosen by name: the everyday
REUCID, oracle and baseline rows and the ``ablation`` family of
:mod:`benchmarks.variants`.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import SimulatedCase, shared_simulated_cases
from benchmarks.methods import MethodContext, select_methods
from benchmarks.reucid_methods import PAPER_CNN, PAPER_GD, PAPER_MP, PAPER_ORACLE_K
from benchmarks.runner import cpu_timed
from benchmarks.variants import ABLATION_OPTIONS, DEFAULT, DEFAULT_CNN, DEFAULT_TRUE_NOISE
from benchmarks.variants import NO_PILOT as NO_PILOT_ROW
from denoiser.reucid.metrics import psnr, residual_correlation, ssim

__all__ = ["BM3D_ROW", "DEFAULT_ROW", "NO_PILOT_ROW", "QUICK_ROWS", "ROWS", "main",
           "markdown_tables", "run_ablation", "summary_table"]

#: Labels the summary compares.
DEFAULT_ROW = DEFAULT
BM3D_ROW = "BM3D + GAT"

#: The registry rows of the ablation, in table order.
ROWS: tuple[str, ...] = (
    PAPER_MP, PAPER_GD, PAPER_CNN, PAPER_ORACLE_K,
    "GAT + groups, 1 pass, flat", "GAT + groups, 2 passes, flat", NO_PILOT_ROW,
    "coarse pilot + groups, 1 pass", "default, weighted aggregation", DEFAULT_ROW,
    "default, GD per group", "default, MP per group", DEFAULT_CNN,
    DEFAULT_TRUE_NOISE, "default without GAT", BM3D_ROW)
assert set(ABLATION_OPTIONS) <= set(ROWS)
#: ``--quick``: the rows that show each step, without the slow or per-group-rule ones.
QUICK_ROWS: tuple[str, ...] = (
    PAPER_GD, "GAT + groups, 2 passes, flat", NO_PILOT_ROW, DEFAULT_ROW, BM3D_ROW)


def run_ablation(cases: Sequence[SimulatedCase], rows: Sequence[str] = ROWS, *,
                 seed: int = 0) -> list[dict[str, Any]]:
    """One record per (case, row): material, dose, row, psnr, ssim, r, cpu_s.

    Each row runs with the case's true noise model and ground truth in its context (the
    oracle rows use them) and the shipped classifier.
    """
    methods = select_methods(rows)
    records = []
    for case in cases:
        context = MethodContext(noise=case.noise, clean=case.clean, seed=seed)
        for row in rows:
            method = methods[row]
            output, seconds = cpu_timed(
                lambda noisy, ctx, method=method: method.run(noisy, context=ctx),
                case.noisy, context)
            estimate = np.asarray(output[0] if isinstance(output, tuple) else output,
                                  dtype=np.float64)
            records.append({
                "material": case.name, "dose": case.dose, "row": row,
                "psnr": psnr(case.clean, estimate), "ssim": ssim(case.clean, estimate),
                "r": residual_correlation(case.clean, case.noisy, estimate), "cpu_s": seconds,
            })
    return records


def markdown_tables(records: Sequence[dict[str, Any]]) -> str:
    """A table per material: rows x doses of ``PSNR / SSIM / r`` and mean CPU seconds.

    Examples
    --------
    >>> print(markdown_tables([{"material": "X", "dose": 100, "row": "a", "psnr": 30.0,
    ...                         "ssim": 0.9, "r": 0.01, "cpu_s": 1.0}]))
    #### X
    <BLANKLINE>
    | method | D=100: PSNR / SSIM / r | CPU s |
    |---|---|---|
    | a | 30.00 / 0.900 / 0.010 | 1.00 |
    """
    out = []
    for material in dict.fromkeys(r["material"] for r in records):
        mine = [r for r in records if r["material"] == material]
        doses = list(dict.fromkeys(r["dose"] for r in mine))
        out += [f"#### {material}", "",
                "| method | " + " | ".join(f"D={d:g}: PSNR / SSIM / r" for d in doses)
                + " | CPU s |", "|---|" + "---|" * (len(doses) + 1)]
        for row in dict.fromkeys(r["row"] for r in mine):
            cells = {r["dose"]: r for r in mine if r["row"] == row}
            text = [f"{c['psnr']:.2f} / {c['ssim']:.3f} / {c['r']:.3f}" if (c := cells.get(d))
                    else "–" for d in doses]
            seconds = np.mean([c["cpu_s"] for c in cells.values()])
            out.append(f"| {row} | " + " | ".join(text) + f" | {seconds:.2f} |")
        out.append("")
    return "\n".join(out).rstrip()


def summary_table(records: Sequence[dict[str, Any]], *, row: str = DEFAULT_ROW,
                  against: str = BM3D_ROW) -> str:
    """Material x dose: ``row`` against ``against`` (PSNR, r, CPU s), and the PSNR gap.

    Examples
    --------
    >>> records = [{"material": "X", "dose": 100, "row": r, "psnr": p, "ssim": 0.9,
    ...             "r": 0.01, "cpu_s": 1.0} for r, p in ((DEFAULT_ROW, 31.0), (BM3D_ROW, 30.0))]
    >>> print(summary_table(records).splitlines()[-1])
    | X | 100 | **31.00** | 30.00 | +1.00 | 0.010 / 0.010 | 1.00 / 1.00 |
    """
    lines = [f"| material | dose | {row} | {against} | difference | r: {row} / {against} "
             "| CPU s, same order |", "|---|---|---|---|---|---|---|"]
    keyed = {(r["material"], r["dose"], r["row"]): r for r in records}
    for material, dose in dict.fromkeys((r["material"], r["dose"]) for r in records):
        mine, theirs = keyed.get((material, dose, row)), keyed.get((material, dose, against))
        if mine is None or theirs is None:
            continue
        gap = mine["psnr"] - theirs["psnr"]
        text = f"{mine['psnr']:.2f}"
        lines.append(
            f"| {material} | {dose:g} | {f'**{text}**' if gap >= 0 else text} | "
            f"{theirs['psnr']:.2f} | {gap:+.2f} | {mine['r']:.3f} / {theirs['r']:.3f} | "
            f"{mine['cpu_s']:.2f} / {theirs['cpu_s']:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the summary and the ablation tables."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.beyond", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="SrTiO3 only, doses 100 and 10000, the rows of QUICK_ROWS")
    parser.add_argument("--materials", nargs="*", default=None,
                        help="e.g. SrTiO3_001 Si_110 (default: all four)")
    parser.add_argument("--json", type=Path, default=None, help="also save the records here")
    # given by ``python -m benchmarks``; the ablation prints its tables instead of a section
    parser.add_argument("--report", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--plots", type=Path, default=None, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    materials = ["SrTiO3_001"] if options.quick else options.materials
    doses = (100, 10000) if options.quick else (100, 500, 1000, 10000)
    cases = shared_simulated_cases(materials=materials, doses=doses)
    if not cases:
        print("no shared simulated images (../shared/data/sim): nothing to do",
              file=sys.stderr)
        return 0
    records = run_ablation(cases, QUICK_ROWS if options.quick else ROWS)
    if options.json is not None:
        options.json.write_text(json.dumps(records, indent=1))
    print(summary_table(records), "", markdown_tables(records), sep="\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
