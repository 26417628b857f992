"""Quality benchmark: PSNR, SSIM, IEF and residual correlation against ground truth.

Usage::

    python -m benchmarks.quality [--quick] [--report docs/benchmarks.md]

Runs every registered method on every simulated case (the shared abTEM set when
present, and the built-in simulator) and rewrites the ``quality`` section of the
report with tables and ``docs/benchmarks/quality_*.png``.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.data import (
    BUILTIN_SCENES,
    DEFAULT_SHARED_DATA,
    DOSES,
    SimulatedCase,
    builtin_simulated_cases,
    shared_simulated_cases,
)
from benchmarks.methods import Method, MethodContext, method_names, select_methods
from benchmarks.report import (
    DEFAULT_REPORT,
    FIGURE_DOSES,
    PLOTS_DIR,
    format_number,
    machine_description,
    markdown_table,
    replace_section,
    timestamp,
    write_figures,
)
from benchmarks.reucid_methods import (
    PAPER_CNN,
    PAPER_ORACLE_K,
    classifier_components,
    default_classifier_source,
)
from benchmarks.runner import RowBudget
from benchmarks.variants import DEFAULT
from denoiser.reucid.metrics import psnr, quality_metrics

__all__ = ["QualityRecord", "main", "quality_figures", "render_quality", "run_quality",
           "select_cases"]

#: Rows whose place the "at a glance" lines give: ``denoise()``'s default (the best
#: variant), the paper's pipeline with the CNN (the live path) and BM3D.
AT_A_GLANCE_FOCUS: tuple[str, ...] = (DEFAULT, PAPER_CNN, "BM3D + GAT")
METRICS = (("psnr", "PSNR (dB)", 2), ("ssim", "SSIM", 3), ("ief", "IEF", 1),
           ("rescorr", "Residual corr.", 3))


#: Keys of ``figures.json`` (:func:`benchmarks.report.write_figures`) -> quality rows.
FIGURE_ROWS = {"best": DEFAULT, "paper": PAPER_CNN, "bm3d": "BM3D + GAT"}
#: The cases the figures average over: the shared abTEM set (doses in electrons per pixel).
FIGURE_SOURCE = "shared abTEM"


@dataclass
class QualityRecord:
    """One (case, method) result."""

    case: str
    source: str
    dose: float
    dose_unit: str
    dose_e_per_A2: float
    method: str
    family: str
    status: str
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""


def select_cases(
    *, quick: bool, shared_root: Path | None = DEFAULT_SHARED_DATA, size: int = 256
) -> list[SimulatedCase]:
    """The simulated cases of a run: all doses and materials, or a small subset with ``quick``.

    Parameters
    ----------
    quick : bool
        SrTiO3 only, doses 100 and 1000.
    shared_root : pathlib.Path or None
        The shared data folder; ``None`` skips the shared set.
    size : int, optional
        Image size of the built-in cases.

    Returns
    -------
    list of SimulatedCase
        Ordered by dose, then source and image.
    """
    doses = (100, 1000) if quick else DOSES
    materials = ("SrTiO3_001",) if quick else None
    cases: list[SimulatedCase] = []
    if shared_root is not None:
        cases += shared_simulated_cases(shared_root, doses=doses, materials=materials)
    scenes = BUILTIN_SCENES[:1] if quick else BUILTIN_SCENES
    cases += builtin_simulated_cases(size=size, doses=doses, scenes=scenes)
    # Lowest dose first over every image: a row cut short by its time budget then still
    # covers every material at the doses it reached.
    return sorted(cases, key=lambda c: (doses.index(int(c.dose)), c.source, c.name))


def run_quality(
    cases: Sequence[SimulatedCase],
    methods: dict[str, Method],
    *,
    classifier: object = None,
    seed: int = 0,
    progress: bool = False,
    row_budget_s: float | None = None,
) -> list[QualityRecord]:
    """Run every method on every case and score it.

    Parameters
    ----------
    cases : sequence of SimulatedCase
    methods : dict of str to Method
    classifier : object, optional
        Passed to the REUCID rows (``None``: the shipped model).
    seed : int, optional
    progress : bool, optional
        Print one line per case to stderr.
    row_budget_s : float, optional
        Seconds a row may spend in total; later cases are "not run" for that row.

    Returns
    -------
    list of QualityRecord
        One per (case, method), in that order; the noisy input itself is scored too,
        as method ``"noisy input"``.
    """
    records = []
    budget = RowBudget(row_budget_s)
    for case in cases:
        base = {
            "case": case.name,
            "source": case.source,
            "dose": case.dose,
            "dose_unit": case.dose_unit,
            "dose_e_per_A2": case.dose_e_per_A2,
        }
        records.append(
            QualityRecord(
                **base, method="noisy input", family="input", status="ok", seconds=0.0,
                metrics=quality_metrics(case.clean, case.noisy, case.noisy),
            )
        )
        context = MethodContext(noise=case.noise, clean=case.clean, classifier=classifier,
                                seed=seed)
        for method in methods.values():
            outcome = budget.run(method, case.noisy, context)
            metrics = (
                quality_metrics(case.clean, case.noisy, outcome.estimate) if outcome.ok else {}
            )
            records.append(
                QualityRecord(**base, method=method.name, family=method.family,
                              status=outcome.status, seconds=outcome.seconds, metrics=metrics,
                              note=outcome.note)
            )
        if progress:
            done = [r for r in records if r.case == case.name and r.dose == case.dose]
            summary = ", ".join(
                f"{r.method}: {r.metrics['psnr']:.1f}" for r in done if r.metrics
            )
            print(f"[quality] {case.name} {case.dose:g} {case.dose_unit}: {summary}",
                  file=sys.stderr)
    return records


def quality_figures(records: Sequence[QualityRecord], cases: Sequence[SimulatedCase]) -> dict:
    """The PSNR part of ``figures.json``: each row's mean PSNR over the shared abTEM set.

    Only doses where the row ran on every abTEM image are given (``{}`` without the set).

    Examples
    --------
    >>> quality_figures([], [])
    {}
    """
    shared = [c for c in cases if c.source == FIGURE_SOURCE]
    if not shared:
        return {}
    methods: dict[str, dict] = {}
    for key, row in FIGURE_ROWS.items():
        for dose in FIGURE_DOSES:
            values = [r.metrics["psnr"] for r in records
                      if r.method == row and r.source == FIGURE_SOURCE and r.status == "ok"
                      and f"{r.dose:g}" == dose]
            expected = sum(1 for c in shared if f"{c.dose:g}" == dose)
            if values and len(values) == expected:
                methods.setdefault(key, {}).setdefault("psnr_db", {})[dose] = round(
                    float(np.mean(values)), 2)
    noisy = {dose: round(float(np.mean([psnr(c.clean, c.noisy) for c in shared
                                         if f"{c.dose:g}" == dose])), 2)
             for dose in FIGURE_DOSES if any(f"{c.dose:g}" == dose for c in shared)}
    materials = sorted({c.name.split(" ")[0] for c in shared})
    side = shared[0].clean.shape[0]
    return {"methods": methods, "noisy_psnr_db": noisy, "doses": list(FIGURE_DOSES),
            "dose_unit": shared[0].dose_unit,
            "quality_set": f"abTEM multislice {'/'.join(materials)} set, {side} x {side} px, "
                           f"mean over {len(materials)} materials"}


def _method_order(records: Sequence[QualityRecord]) -> list[str]:
    return list(dict.fromkeys(r.method for r in records))


def _summary_tables(records: Sequence[QualityRecord], source: str) -> str:
    chosen = [r for r in records if r.source == source]
    if not chosen:
        return ""
    unit = chosen[0].dose_unit
    doses = sorted({r.dose for r in chosen})
    materials = sorted({r.case for r in chosen})
    parts = [(f"Mean over {len(materials)} image(s): {', '.join(materials)}. "
             f"Doses in {unit}.")]
    for key, label, digits in METRICS:
        rows = []
        for method in _method_order(chosen):
            row = [method]
            for dose in doses:
                values = [r.metrics[key] for r in chosen
                          if r.method == method and r.dose == dose and r.metrics]
                statuses = {r.status for r in chosen if r.method == method and r.dose == dose}
                if values and len(values) == len(materials):
                    row.append(format_number(float(np.mean(values)), digits))
                elif values:
                    row.append(format_number(float(np.mean(values)), digits) + "*")
                else:
                    row.append(_short_status(statuses))
            rows.append(row)
        headers = [f"{label}"] + [f"{d:g} {unit}" for d in doses]
        parts.append(markdown_table(headers, rows))
    return "\n\n".join(parts)


def _at_a_glance(records: Sequence[QualityRecord], source: str,
                 focus: Sequence[str] = AT_A_GLANCE_FOCUS) -> str:
    """One line per dose: the best usable method by mean PSNR and where each ``focus`` stands."""
    chosen = [r for r in records if r.source == source and r.metrics
              and r.family not in ("oracle", "input")]
    lines = []
    n_images = len({r.case for r in records if r.source == source})
    for dose in sorted({r.dose for r in chosen}):
        means = {}
        for method in _method_order(chosen):
            values = [r.metrics["psnr"] for r in chosen if r.method == method and r.dose == dose]
            if len(values) == n_images:  # rows cut short are not ranked on part of the set
                means[method] = float(np.mean(values))
        if not means:
            continue
        ranking = sorted(means, key=means.get, reverse=True)
        best = ranking[0]
        text = f"- {dose:g} {chosen[0].dose_unit}: best {best} ({means[best]:.1f} dB)"
        shown = [name for name in focus if name in means and name != best]
        if best in focus and len(ranking) > 1 and not shown:
            text += f"; next {ranking[1]} ({means[ranking[1]]:.1f} dB)"
        for name in shown:
            text += (f"; {name} {means[name]:.1f} dB ({means[name] - means[best]:+.1f} dB, "
                     f"{ranking.index(name) + 1} of {len(ranking)})")
        lines.append(text)
    if not lines:
        return ""
    return "At a glance (mean PSNR, methods a user can run):\n\n" + "\n".join(lines)


def _short_status(statuses: set[str]) -> str:
    if any(s.startswith("not available") for s in statuses):
        return "n/a"
    if any(s.startswith("failed") for s in statuses):
        return "failed"
    if any(s.startswith("not run") for s in statuses):
        return "not run (time)"
    return "—"


def _per_case_table(records: Sequence[QualityRecord]) -> str:
    rows = []
    for r in records:
        if r.metrics:
            rows.append([r.case, f"{r.dose:g} {r.dose_unit}", r.method,
                         *(format_number(r.metrics[k], d) for k, _, d in METRICS),
                         format_number(r.seconds, 2), r.note])
    headers = ["Image", "Dose", "Method", *(label for _, label, _ in METRICS), "Time (s)",
               "Chosen"]
    return markdown_table(headers, rows)


def _problems(records: Sequence[QualityRecord]) -> list[str]:
    seen: dict[str, str] = {}
    for r in records:
        if r.status != "ok":
            seen.setdefault(r.method, r.status)
    return [f"- **{method}**: {status}" for method, status in seen.items()]


def render_quality(
    records: Sequence[QualityRecord],
    *,
    methods: dict[str, Method],
    classifier_note: str,
    seconds: float,
    plots: Sequence[Path] = (),
    report_dir: Path = DEFAULT_REPORT.parent,
    quick: bool = False,
) -> str:
    """The markdown of the quality section."""
    lines = [
        "## Quality on simulated images with ground truth",
        "",
        (f"Run {timestamp()}{' (quick: subset of cases)' if quick else ''}, "
        f"{seconds:.0f} s, on {machine_description()}. "
        f"The CNN rows (paper pipeline, and per group) use {classifier_note}."),
        "",
        ("**Conventions.** Noise model of the paper: `noisy = Poisson(clean) + "
        "Normal(0, 0.05 max(clean))`, clean in expected counts. "
        "PSNR = 10 log10(R² / MSE) with R = max(clean) − min(clean); SSIM from "
        "`skimage.metrics.structural_similarity` with the same data range (7x7 window); "
        "IEF = ‖noisy − clean‖² / ‖estimate − clean‖² (higher is better); "
        "residual correlation = Pearson(noisy − estimate, clean): 0 means only noise was "
        "removed, positive values mean image structure was removed too. "
        "Oracle rows use the ground truth to tune one parameter: they are ceilings, not "
        "methods a user can run. BM3D gets the true noise parameters here."),
        "",
        "A value marked `*` is a mean over fewer images (a method failed on some).",
        "",
    ]
    sources = list(dict.fromkeys(r.source for r in records))
    titles = {
        "shared abTEM": "### abTEM multislice set (`../shared/data/sim`, 256x256, dose in "
        "electrons per pixel, 0.24 Å pixels: 100 e/px ≈ 1700 e/Å²)\n\nEach image is one "
        "unit cell tiled, without defects: a method that pools similar patches from the "
        "whole image approaches unit-cell averaging here, which real crystals (and the "
        "built-in simulator's vacancies, substitutions and edges) do not allow.",
        "denoiser.reucid.simulation": "### Built-in simulator (`denoiser.reucid.simulation`, 256x256, "
        "0.2 Å pixels, dose in e/Å² as in the issue)",
    }
    for source in sources:
        lines += [titles.get(source, f"### {source}"), "", _at_a_glance(records, source), "",
                  _summary_tables(records, source), ""]
    if "shared abTEM" not in sources:
        lines += [("The shared abTEM set was not present on this machine: built-in "
                  "simulator only."), ""]
    for plot in plots:
        lines += [f"![{plot.stem}]({plot.relative_to(report_dir).as_posix()})", ""]
    oracle_ks = [int(r.note[2:]) for r in records
                 if r.method == PAPER_ORACLE_K and r.note.startswith("k=")]
    if oracle_ks:
        shown = classifier_components(default_classifier_source()[0])
        beyond = sum(k > shown for k in oracle_ks)
        lines += [(f"The oracle k ranged from {min(oracle_ks)} to {max(oracle_ks)} (per case "
                   f"in the table at the end); it exceeded the {shown} eigenpatches the "
                   f"pipeline computes for and shows the classifier in {beyond} of "
                   f"{len(oracle_ks)} cases: there, a classifier that only selects among "
                   f"those {shown} cannot reach the best truncation."), ""]
    problems = _problems(records)
    if problems:
        lines += ["Rows that did not run everywhere:", "", *problems, ""]
    lines += ["**Methods.**", ""]
    lines += [f"- **{m.name}** ({m.family}): {m.description}" for m in methods.values()]
    lines += ["", "<details><summary>Every case</summary>", "", _per_case_table(records), "",
              "</details>"]
    return "\n".join(lines)


def plot_quality(records: Sequence[QualityRecord], directory: Path) -> list[Path]:
    """PSNR and residual correlation against dose, one panel per image; returns the PNG paths."""
    # matplotlib (heavy, optional) only when a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    directory.mkdir(parents=True, exist_ok=True)
    for key, label, filename in (("psnr", "PSNR (dB)", "quality_psnr.png"),
                                 ("rescorr", "residual correlation", "quality_rescorr.png")):
        cases = list(dict.fromkeys((r.case, r.dose_unit) for r in records))
        if not cases:
            continue
        columns = min(3, len(cases))
        rows = int(np.ceil(len(cases) / columns))
        figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.3 * rows),
                                    squeeze=False)
        methods = _method_order(records)
        # tab10 without its grey, which marks the noisy input
        colours = [plt.get_cmap("tab10")(i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]
        for axis, (case, unit) in zip(axes.ravel(), cases):
            for index, method in enumerate(methods):
                points = sorted((r.dose, r.metrics[key]) for r in records
                                if r.case == case and r.method == method and r.metrics)
                if not points:
                    continue
                # colours repeat after nine rows: the line style tells those apart
                style = "--" if method == "noisy input" else ("-", "-.", ":")[
                    (index // len(colours)) % 3]
                axis.plot(*zip(*points), style, marker="o", markersize=3, label=method,
                          color=("grey" if method == "noisy input"
                                 else colours[index % len(colours)]))
            axis.set_xscale("log")
            axis.set_title(case, fontsize=9)
            axis.set_xlabel(f"dose ({unit})")
            axis.set_ylabel(label)
            axis.grid(alpha=0.3)
        for axis in axes.ravel()[len(cases):]:
            axis.axis("off")
        handles, labels = axes.ravel()[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)),
                      fontsize=8, frameon=False)
        figure.tight_layout(rect=(0, 0.08 if rows > 1 else 0.14, 1, 1))
        path = directory / filename
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(path)
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small subset of cases")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--plots", type=Path, default=PLOTS_DIR)
    parser.add_argument("--shared-data", type=Path, default=DEFAULT_SHARED_DATA,
                        help="folder holding sim/ and real/ (default ../shared/data)")
    parser.add_argument("--no-shared", action="store_true", help="built-in simulator only")
    parser.add_argument("--classifier", type=Path, default=None,
                        help="model file for the REUCID row (default: active, else shipped)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=256,
                        help="size of the built-in simulated images (default 256)")
    parser.add_argument("--row-budget-s", type=float, default=None,
                        help="seconds one row may spend over all cases (default 100, "
                        "quick 30)")
    parser.add_argument("--methods", type=method_names, default=None,
                        help="row names to run, separated by '|' (default: all registered)")
    return parser


def resolve_classifier_option(path: Path | None) -> tuple[object, str]:
    """The classifier for the REUCID row and a sentence describing it."""
    if path is not None:
        return path, f"the model file `{path.name}`"

    return default_classifier_source()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = build_parser()
    options = parser.parse_args(argv)
    try:
        methods = select_methods(options.methods)
    except ValueError as error:
        parser.error(str(error))
    start = time.perf_counter()
    shared = None if options.no_shared else options.shared_data
    cases = select_cases(quick=options.quick, shared_root=shared, size=options.size)
    classifier, note = resolve_classifier_option(options.classifier)
    row_budget = options.row_budget_s or (30.0 if options.quick else 100.0)
    records = run_quality(cases, methods, classifier=classifier, seed=options.seed,
                          progress=True, row_budget_s=row_budget)
    plots = plot_quality(records, options.plots)
    body = render_quality(records, methods=methods, classifier_note=note,
                          seconds=time.perf_counter() - start, plots=plots,
                          report_dir=options.report.parent, quick=options.quick)
    replace_section("quality", body, path=options.report)
    print(f"[quality] wrote {options.report} ({len(records)} results)", file=sys.stderr)
    figures = quality_figures(records, cases)
    if figures and not options.quick:  # the quick run's single material is no headline
        path = write_figures(figures, path=options.plots / "figures.json")
        print(f"[quality] wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
