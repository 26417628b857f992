"""Ablation of the issue-9 variants: ``python -m benchmarks.beyond [--quick] [--materials ...]``.

Every step of ``denoise()``'s default method (``denoiser.reucid.grouped``: GAT, coarse
pilot, similar-patch groups, two passes, weighted aggregation, noise-edge rule) on and
off, the selection rules per group, the true against the estimated noise model, the
paper's pipeline (``variant="paper"``) and BM3D + GAT, on the shared abTEM sets
(``../shared/data/sim``): PSNR / SSIM / residual correlation per dose and the CPU
seconds (``time.process_time``, run it with ``OMP_NUM_THREADS=1``). Prints a summary
(default against BM3D) and a markdown table per material (the tables of
``docs/beyond_the_paper.md``); ``--json PATH`` also saves the records.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.data import SimulatedCase, shared_simulated_cases
from denoiser.reucid.metrics import psnr, residual_correlation, ssim
from benchmarks.baselines import bm3d_gat
from benchmarks.runner import cpu_timed

__all__ = ["BM3D_ROW", "DEFAULT_ROW", "NO_PILOT_ROW", "QUICK_ROWS", "ROWS", "ablation_rows",
           "main", "markdown_tables", "run_ablation", "summary_table"]

Estimate = Callable[[NDArray[np.float64], SimulatedCase], NDArray[np.float64]]

#: Labels the summary compares.
DEFAULT_ROW = "default (BEST: coarse pilot, noise-edge)"
NO_PILOT_ROW = "BEST without coarse pilot"
BM3D_ROW = "BM3D + GAT, true noise model"


def _denoise(noisy: NDArray[np.float64], classifier: Any, **options: Any) -> NDArray[np.float64]:
    from denoiser.reucid import denoise

    return np.asarray(denoise(noisy, classifier, **options).image, dtype=np.float64)


def _bm3d(noisy: NDArray[np.float64], case: SimulatedCase) -> NDArray[np.float64]:
    return bm3d_gat(noisy, case.noise)


def _oracle_k(noisy: NDArray[np.float64], case: SimulatedCase) -> NDArray[np.float64]:
    from benchmarks.reucid_methods import oracle_rank

    return oracle_rank(noisy, case.clean)[1]


def ablation_rows() -> dict[str, Estimate]:
    """Row label -> ``estimate(noisy, case)``.

    Every REUCID row names its variant and options explicitly,
    except :data:`DEFAULT_ROW`, which is ``denoise(noisy)`` exactly as a user calls it.

    Examples
    --------
    >>> DEFAULT_ROW in ablation_rows() and NO_PILOT_ROW in ablation_rows()
    True
    """
    def variant(**changes: Any) -> dict[str, Any]:
        return {"variant": "best", **changes}

    paper = {"variant": "paper"}
    grouped = dict(pilot=None, aggregation="flat")
    return {
        "paper, MP": lambda x, c: _denoise(x, "mp", **paper),
        "paper, GD": lambda x, c: _denoise(x, "gd", **paper),
        "paper, shipped CNN": lambda x, c: _denoise(x, "cnn", **paper),
        "paper, oracle k": _oracle_k,
        "GAT + groups, 1 pass, flat": lambda x, c: _denoise(x, "noise-edge", **variant(
            **grouped, passes=1)),
        "GAT + groups, 2 passes, flat": lambda x, c: _denoise(x, "noise-edge", **variant(
            **grouped, passes=2)),
        NO_PILOT_ROW: lambda x, c: _denoise(x, "noise-edge", **variant(pilot=None)),
        "coarse pilot + groups, 1 pass": lambda x, c: _denoise(x, "noise-edge", **variant(
            passes=1)),
        "default, flat aggregation": lambda x, c: _denoise(x, "noise-edge", **variant(
            aggregation="flat")),
        DEFAULT_ROW: lambda x, c: _denoise(x, None),
        "default, GD per group": lambda x, c: _denoise(x, "gd", **variant()),
        "default, MP per group": lambda x, c: _denoise(x, "mp", **variant()),
        "default, shipped CNN per group": lambda x, c: _denoise(x, "cnn", **variant()),
        "default, true noise model": lambda x, c: _denoise(x, "noise-edge", **variant(),
                                                            noise_model=c.noise),
        "default without GAT": lambda x, c: _denoise(x, "noise-edge", **variant(
            stabilize=False)),
        BM3D_ROW: _bm3d,
    }


ROWS: tuple[str, ...] = (
    "paper, MP", "paper, GD", "paper, shipped CNN", "paper, oracle k",
    "GAT + groups, 1 pass, flat", "GAT + groups, 2 passes, flat", NO_PILOT_ROW,
    "coarse pilot + groups, 1 pass", "default, flat aggregation", DEFAULT_ROW,
    "default, GD per group", "default, MP per group", "default, shipped CNN per group",
    "default, true noise model", "default without GAT", BM3D_ROW)
#: ``--quick``: the rows that show each step, without the slow or per-group-rule ones.
QUICK_ROWS: tuple[str, ...] = (
    "paper, GD", "GAT + groups, 2 passes, flat", NO_PILOT_ROW,
    DEFAULT_ROW, BM3D_ROW)


def run_ablation(cases: Sequence[SimulatedCase], rows: Sequence[str] = ROWS
                 ) -> list[dict[str, Any]]:
    """One record per (case, row): material, dose, row, psnr, ssim, r, cpu_s."""
    estimators = ablation_rows()
    records = []
    for case in cases:
        for row in rows:
            estimate, seconds = cpu_timed(estimators[row], case.noisy, case)
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
