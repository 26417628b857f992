"""Ablation of the issue-9 variants: ``python -m benchmarks.beyond [--quick] [--materials ...]``.

Every step of ``denoiser.reucid.variants.BEST`` on and off, the selection rules per
group, the true against the estimated noise model, and BM3D + GAT, on the shared
abTEM sets (``../shared/data/sim``): PSNR / SSIM / residual correlation per dose and
the CPU seconds (``time.process_time``, run it with ``OMP_NUM_THREADS=1``). Prints a
markdown table per material (the tables of ``docs/beyond_the_paper.md``).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.data import SimulatedCase, shared_simulated_cases
from benchmarks.metrics import psnr, residual_correlation, ssim

__all__ = ["ROWS", "ablation_rows", "main", "markdown_tables", "run_ablation"]

Estimate = Callable[[NDArray[np.float64], SimulatedCase], NDArray[np.float64]]


def _denoise(noisy: NDArray[np.float64], classifier: Any, **options: Any) -> NDArray[np.float64]:
    from denoiser.reucid import denoise

    return np.asarray(denoise(noisy, classifier, **options).image, dtype=np.float64)


def _bm3d(noisy: NDArray[np.float64], case: SimulatedCase) -> NDArray[np.float64]:
    import bm3d

    from denoiser.reucid.anscombe import generalized_anscombe, inverse_generalized_anscombe

    stabilised = generalized_anscombe(noisy, noise=case.noise)
    return inverse_generalized_anscombe(bm3d.bm3d(stabilised, sigma_psd=1.0), noise=case.noise)


def ablation_rows() -> dict[str, Estimate]:
    """Row label -> ``estimate(noisy, case)``.

    Examples
    --------
    >>> "BEST (noise-edge)" in ablation_rows()
    True
    """
    from denoiser.reucid.variants import BEST

    best = BEST.to_metadata()
    stabilised = {"stabilize": "anscombe"}
    grouped = {"stabilize": "anscombe", "grouping": "similar"}
    return {
        "paper, MP": lambda x, c: _denoise(x, "mp"),
        "paper, GD": lambda x, c: _denoise(x, "gd"),
        "paper + GAT, MP": lambda x, c: _denoise(x, "mp", **stabilised),
        "GAT + groups, 1 pass, flat": lambda x, c: _denoise(x, "noise-edge", **grouped),
        "GAT + groups, 2 passes, flat": lambda x, c: _denoise(x, "noise-edge", **grouped,
                                                               passes=2),
        "BEST (noise-edge)": lambda x, c: _denoise(x, "noise-edge", **best),
        "BEST, GD per group": lambda x, c: _denoise(x, "gd", **best),
        "BEST, MP per group": lambda x, c: _denoise(x, "mp", **best),
        "BEST, shipped CNN per group": lambda x, c: _denoise(x, None, **best),
        "BEST, true noise model": lambda x, c: _denoise(x, "noise-edge", **best,
                                                         noise_model=c.noise),
        "groups without GAT": lambda x, c: _denoise(x, "noise-edge", **dict(
            best, stabilize=None)),
        "BM3D + GAT, true noise model": _bm3d,
    }


ROWS: tuple[str, ...] = ("paper, MP", "paper, GD", "paper + GAT, MP",
                         "GAT + groups, 1 pass, flat", "GAT + groups, 2 passes, flat",
                         "BEST (noise-edge)", "BEST, GD per group", "BEST, MP per group",
                         "BEST, shipped CNN per group", "BEST, true noise model",
                         "groups without GAT", "BM3D + GAT, true noise model")


def run_ablation(cases: Sequence[SimulatedCase], rows: Sequence[str] = ROWS
                 ) -> list[dict[str, Any]]:
    """One record per (case, row): material, dose, row, psnr, ssim, r, cpu_s."""
    estimators = ablation_rows()
    records = []
    for case in cases:
        for row in rows:
            tick = time.process_time()
            estimate = estimators[row](np.array(case.noisy, dtype=np.float64), case)
            seconds = time.process_time() - tick
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


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the ablation tables."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.beyond", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="SrTiO3 only, doses 100 and 10000, no CNN/GD/MP rows")
    parser.add_argument("--materials", nargs="*", default=None,
                        help="e.g. SrTiO3_001 Si_110 (default: all four)")
    options = parser.parse_args(argv)
    materials = ["SrTiO3_001"] if options.quick else options.materials
    doses = (100, 10000) if options.quick else (100, 500, 1000, 10000)
    cases = shared_simulated_cases(materials=materials, doses=doses)
    if not cases:
        print("no shared simulated images (../shared/data/sim): nothing to do",
              file=sys.stderr)
        return 0
    rows = [r for r in ROWS if not options.quick or "per group" not in r]
    print(markdown_tables(run_ablation(cases, rows)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
