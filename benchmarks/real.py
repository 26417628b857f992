"""Real-image benchmark: residual statistics and picture grids, no ground truth.

Usage::

    python -m benchmarks.real [--quick] [--report docs/benchmarks.md]

For every experimental image in ``../shared/data/real`` (never copied into the
repository; the pictures in ``docs/benchmarks/`` carry credit lines), the noise
model is estimated from the image itself, every method that needs no ground truth
runs on it, and the residual ``noisy - estimate`` is compared with what pure noise
would look like (see :mod:`benchmarks.residuals`).
"""
from __future__ import annotations

import argparse
import io
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from benchmarks.data import DEFAULT_SHARED_DATA, RealImage, estimate_noise, real_images
from benchmarks.methods import Method, MethodContext, method_names, select_methods
from benchmarks.quality import resolve_classifier_option
from benchmarks.report import (
    DEFAULT_REPORT,
    PLOTS_DIR,
    format_number,
    machine_description,
    markdown_table,
    replace_section,
    timestamp,
)
from benchmarks.residuals import residual_statistics
from benchmarks.runner import RowBudget
from denoiser.reucid.noise import PoissonGaussianNoise

__all__ = ["RealRecord", "central_crop", "main", "plot_grid", "render_real", "run_real"]

STATISTICS = (("mean_sigma", "Mean (σ)", 3), ("variance_ratio", "Var / expected", 2),
              ("acf_row", "ACF row", 3), ("acf_col", "ACF col", 3),
              ("corr_output", "Corr. with output", 3))
QUICK_IMAGES = ("statstem_CsPbBr3", "remworkflows_SrTiO3", "tkrem_unknown")
QUICK_CROP = 256
#: The full run denoises the central 384² of each image, to keep the run within its
#: time limit (BM3D takes tens of seconds per 1024² image here); 384² still holds
#: hundreds of atomic columns.
FULL_CROP = 384
GRID_CROP = 160


@dataclass
class RealRecord:
    """Everything measured on one real image."""

    image: RealImage
    noisy: NDArray[np.float64]
    noise: PoissonGaussianNoise
    estimates: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    statistics: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)


def central_crop(image: NDArray[np.float64], size: int | None) -> NDArray[np.float64]:
    """The central ``size`` x ``size`` part (or the whole image when smaller or ``None``).

    Examples
    --------
    >>> central_crop(np.zeros((10, 20)), 4).shape
    (4, 4)
    """
    if size is None:
        return image
    m, n = image.shape
    top, left = max(0, (m - size) // 2), max(0, (n - size) // 2)
    return image[top:top + size, left:left + size]


def run_real(
    images: Sequence[RealImage],
    methods: dict[str, Method],
    *,
    crop: int | None = None,
    classifier: object = None,
    seed: int = 0,
    progress: bool = False,
    row_budget_s: float | None = None,
) -> list[RealRecord]:
    """Run the methods that need no ground truth on each image and measure the residuals.

    ``row_budget_s`` caps the seconds one row may spend over all images.
    """
    records = []
    budget = RowBudget(row_budget_s)
    usable = {k: m for k, m in methods.items() if not m.needs_ground_truth}
    for image in images:
        noisy = np.array(central_crop(image.image, crop), dtype=np.float64)
        try:
            noise = estimate_noise(noisy)
        except ValueError as error:
            # One unreadable noise level must not stop the other images: report it.
            record = RealRecord(image=image, noisy=noisy, noise=PoissonGaussianNoise())
            record.statuses = {name: f"failed: noise estimation: {error}" for name in usable}
            records.append(record)
            continue
        record = RealRecord(image=image, noisy=noisy, noise=noise)
        context = MethodContext(noise=noise, classifier=classifier, seed=seed)
        for name, method in usable.items():
            outcome = budget.run(method, noisy, context)
            record.statuses[name] = outcome.status
            record.seconds[name] = outcome.seconds
            if outcome.ok:
                record.estimates[name] = outcome.estimate
                record.statistics[name] = residual_statistics(noisy, outcome.estimate,
                                                              noise=noise)
        records.append(record)
        if progress:
            print(f"[real] {image.name} {noisy.shape}: " + ", ".join(
                f"{k}: {v['variance_ratio']:.2f}" for k, v in record.statistics.items()),
                file=sys.stderr)
    return records


def plot_grid(record: RealRecord, directory: Path, *, crop: int = GRID_CROP) -> Path:
    """Input, outputs and residuals of one image (central crop), with the credit line."""
    # matplotlib (heavy, optional) only when a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(record.estimates)
    columns = 1 + len(names)
    figure, axes = plt.subplots(2, columns, figsize=(2.0 * columns, 4.5), squeeze=False)
    shown = central_crop(record.noisy, crop)
    low, high = np.percentile(shown, [0.5, 99.5])
    sigma = float(np.sqrt(np.mean(record.noise.variance(shown))))
    axes[0, 0].imshow(shown, cmap="gray", vmin=low, vmax=high)
    axes[0, 0].set_title("input", fontsize=8)
    axes[1, 0].axis("off")
    axes[1, 0].text(0.0, 0.5, "residuals\n(input − output)\ngrey scale ±3σ\nof the fitted\n"
                    "noise model", fontsize=7, va="center")
    for column, name in enumerate(names, start=1):
        estimate = central_crop(record.estimates[name], crop)
        axes[0, column].imshow(estimate, cmap="gray", vmin=low, vmax=high)
        axes[0, column].set_title(textwrap.fill(name, 24), fontsize=7)
        axes[1, column].imshow(shown - estimate, cmap="gray", vmin=-3 * sigma, vmax=3 * sigma)
    for axis in axes[0].tolist() + axes[1, 1:].tolist():
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(f"{record.image.name} — data: {record.image.credit}; central "
                    f"{shown.shape[0]}x{shown.shape[1]} px", fontsize=8)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"real_{record.image.name}.png"
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=72)
    plt.close(figure)
    # Grey-scale pictures: an 8-bit grey PNG is a quarter of matplotlib's RGBA one.
    from PIL import Image

    buffer.seek(0)
    Image.open(buffer).convert("L").save(path, optimize=True)
    return path


def _noise_text(noise: PoissonGaussianNoise) -> str:
    return (f"fitted noise: variance = {noise.gain:.3g} × (mean − {noise.offset:.3g}) + "
            f"{noise.sigma:.3g}²")


def render_real(records: Sequence[RealRecord], *, methods: dict[str, Method],
                classifier_note: str, seconds: float, grids: dict[str, Path],
                report_dir: Path = DEFAULT_REPORT.parent, quick: bool = False,
                crop: int | None = None) -> str:
    """The markdown of the real-image section."""
    lines = [
        "## Real experimental images (no ground truth)",
        "",
        f"Run {timestamp()}{' (quick: 3 images)' if quick else ''}, "
        + (f"central {crop}x{crop} crops (or the whole image where smaller), " if crop else "")
        + f"{seconds:.0f} s, on {machine_description()}. The CNN rows (paper pipeline, and "
        f"per group) use {classifier_note}.",
        "",
        ("**What is measured.** The noise model `variance = gain × (mean − offset) + σ²` is "
        "fitted on each image by the core's estimator, as the default method fits it "
        "(residuals of groups of similar patches, robust weighted line fit; "
        "`denoiser.reucid.noise.estimate_noise_model` via `benchmarks.data.estimate_noise`). "
        "BM3D uses it for its Anscombe transform. For each method's residual "
        "`r = input − output`: *Mean (σ)* = mean(r) in units of the expected noise σ "
        "(0 is unbiased); *Var / expected* = var(r) / mean(model variance at the output) "
        "(1: exactly the noise was removed; < 1: noise left in; > 1: signal removed too, "
        "or the model underestimates the noise); *ACF row/col* = lag-1 autocorrelation of "
        "r along rows (fast scan) and columns (0 for white noise; scan-line noise makes "
        "the row value positive even for a perfect denoiser); *Corr. with output* = "
        "Pearson(r, output) (0 when nothing of the image is in the residual)."),
        "",
    ]
    if not records:
        lines += [("The shared real images (`../shared/data/real`) are not present on this "
                  "machine: no rows."), ""]
        return "\n".join(lines)
    names = list(dict.fromkeys(n for r in records for n in r.statuses))
    summary = []
    for record in records:
        row = [record.image.name]
        for name in names:
            stats = record.statistics.get(name)
            row.append(format_number(stats["variance_ratio"], 2) if stats else
                       _short(record.statuses[name]))
        summary.append(row)
    lines += ["### Residual variance / expected noise variance (1 is ideal)", "",
              markdown_table(["Image"] + names, summary), ""]
    for record in records:
        shape = "x".join(str(s) for s in record.noisy.shape)
        lines += [f"### {record.image.name}", "",
                  (f"Data: {record.image.credit} (see `shared/data/real/SOURCES.md`). "
                  f"{shape} px{' (central crop)' if crop and shape != _full_shape(record) else ''}"
                  f"; {_noise_text(record.noise)}."),
                  ""]
        rows = []
        for name in names:
            stats = record.statistics.get(name)
            if stats is None:
                short = _short(record.statuses[name])
                rows.append([name, *([short] * len(STATISTICS)), "—"])
            else:
                rows.append([name, *(format_number(stats[k], d) for k, _, d in STATISTICS),
                             format_number(record.seconds[name], 2)])
        lines += [markdown_table(["Method", *(l for _, l, _ in STATISTICS), "Time (s)"], rows),
                  ""]
        grid = grids.get(record.image.name)
        if grid is not None:
            lines += [f"![{record.image.name}]({grid.relative_to(report_dir).as_posix()})", ""]
    problems = {n: s for r in records for n, s in r.statuses.items() if s != "ok"}
    if problems:
        lines += ["Rows that did not run everywhere:", "",
                  *(f"- **{n}**: {s}" for n, s in problems.items()), ""]
    return "\n".join(lines)


def _short(status: str) -> str:
    if status.startswith("not available"):
        return "n/a"
    if status.startswith("not run"):
        return "not run (time)"
    return "failed"


def _full_shape(record: RealRecord) -> str:
    return "x".join(str(s) for s in record.image.image.shape)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"{len(QUICK_IMAGES)} images, central {QUICK_CROP}² crops")
    parser.add_argument("--crop", type=int, default=None,
                        help=f"central crop size in pixels (default {FULL_CROP}, "
                        f"{QUICK_CROP} with --quick; 0: the whole image)")
    parser.add_argument("--shared-data", type=Path, default=DEFAULT_SHARED_DATA)
    parser.add_argument("--classifier", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--row-budget-s", type=float, default=None,
                        help="seconds one row may spend over all images (default 100, "
                        "quick 30)")
    parser.add_argument("--methods", type=method_names, default=None,
                        help="row names to run, separated by '|' (default: all registered)")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--plots", type=Path, default=PLOTS_DIR)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = build_parser()
    options = parser.parse_args(argv)
    try:
        methods = select_methods(options.methods)
    except ValueError as error:
        parser.error(str(error))
    start = time.perf_counter()
    images = list(real_images(options.shared_data))
    crop = options.crop
    if options.quick:
        images = [i for i in images if i.name.startswith(QUICK_IMAGES)] or images[:3]
    if crop is None:
        crop = QUICK_CROP if options.quick else FULL_CROP
    crop = crop or None
    classifier, note = resolve_classifier_option(options.classifier)
    row_budget = options.row_budget_s or (30.0 if options.quick else 100.0)
    records = run_real(images, methods, crop=crop, classifier=classifier, seed=options.seed,
                       progress=True, row_budget_s=row_budget)
    grids = {r.image.name: plot_grid(r, options.plots) for r in records if r.estimates}
    body = render_real(records, methods=methods, classifier_note=note,
                       seconds=time.perf_counter() - start, grids=grids,
                       report_dir=options.report.parent, quick=options.quick, crop=crop)
    replace_section("real", body, path=options.report)
    print(f"[real] wrote {options.report} ({len(records)} images)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
