"""Fidelity benchmark (issue 14): ``python -m benchmarks.fidelity [--quick]``.

PSNR on tiled perfect crystals rewards averaging the lattice. This benchmark scores
what microscopists measure, on the scenes of :mod:`denoiser.reucid.simulation.scenes`
(rare vacancies and substitutions in a 2D material and a thick crystal, ±20 %
thickness steps, ±0.15 Å polar stripe domains, a grain/twin boundary, a particle on
amorphous carbon, scan jitter and drift, row-correlated noise) at 100 / 500 / 1000 /
10000 electrons per pixel, several seeds, with the metrics of
:mod:`denoiser.reucid.metrics.fidelity`: PSNR, defect contrast kept, per-column
integrated intensity (relative RMSE, within-species slope), column position error
from fitted 2D Gaussians, displacement slope, residual correlation, stripes.

Rows come from the one benchmark registry (:mod:`benchmarks.methods`): the noisy
input, ``BM3D + GAT`` (with the true noise model), the paper's pipeline with the
shipped CNN and ``denoise()``'s default. On every real image in
``../shared/data/real`` it also reports the residual's stripe anisotropy and its
correlation with the output for the default, the paper path and BM3D (noise model
estimated from the image).

From Python, score any method (a candidate default) against the stored BM3D rows::

    from benchmarks import fidelity
    rows = fidelity.evaluate(lambda noisy, noise: my_denoise(noisy), **fidelity.QUICK)
    print(fidelity.targets_met(rows))          # issue 14's targets, point by point

Command line: ``python -m benchmarks.fidelity --quick`` (all scenes at 100 and 1000
e/px, seed 0, 256²: about 2 minutes for the four rows),
``python -m benchmarks.fidelity --methods "REUCID default (best: coarse pilot + groups,
noise-edge)" --scenes row_noise --doses 100 --no-write`` for one cell, or ``python -m
benchmarks fidelity`` (the full run, written to ``docs/benchmarks.md`` and
``docs/benchmarks/fidelity.json``).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter

from benchmarks.data import DEFAULT_SHARED_DATA, estimate_noise, real_images
from benchmarks.methods import MethodContext, method_names, select_methods
from benchmarks.real import central_crop
from benchmarks.report import (
    DEFAULT_REPORT,
    PLOTS_DIR,
    machine_description,
    replace_section,
    timestamp,
)
from benchmarks.reucid_methods import PAPER_CNN
from benchmarks.runner import run_method
from benchmarks.variants import DEFAULT
from denoiser.reucid.metrics import pearson
from denoiser.reucid.metrics.fidelity import (
    fidelity_metrics,
    row_offset_ratio,
    stripe_anisotropy,
    voronoi_labels,
)
from denoiser.reucid.noise import PoissonGaussianNoise
from denoiser.reucid.simulation.scenes import DOSES, Scene, make_scene, scene_names

__all__ = [
    "BM3D",
    "DEFAULT",
    "FULL",
    "GROUND_TRUTH",
    "JSON_PATH",
    "METRICS",
    "NOISY",
    "PAPER",
    "QUICK",
    "ROWS",
    "TargetCheck",
    "aggregate",
    "estimate_noise",
    "evaluate",
    "main",
    "markdown_report",
    "plot_fidelity",
    "real_stripe_report",
    "reference_rows",
    "registry_method",
    "run_fidelity",
    "targets_met",
]

NOISY = "noisy input"
#: A row scored on the noise-free image itself: each metric's floor or ceiling.
GROUND_TRUTH = "ground truth"
BM3D = "BM3D + GAT"
PAPER = PAPER_CNN
#: The rows of the benchmark, in table order.
ROWS: tuple[str, ...] = (NOISY, BM3D, PAPER, DEFAULT)
#: Short column labels of the tables.
SHORT = {NOISY: "raw", BM3D: "BM3D", PAPER: "paper", DEFAULT: "default"}

SCENES: tuple[str, ...] = scene_names()
SEEDS: tuple[int, ...] = (0, 1)
SIZE = 256
#: Keyword arguments of :func:`evaluate` / :func:`run_fidelity`.
FULL: dict[str, Any] = {"scenes": SCENES, "doses": DOSES, "seeds": SEEDS, "size": SIZE}
#: The ``--quick`` subset: every scene at 100 and 1000 e/px, seed 0 (part of the full run,
#: so the stored BM3D rows serve as reference).
QUICK: dict[str, Any] = {"scenes": SCENES, "doses": (100.0, 1000.0), "seeds": (0,),
                         "size": SIZE}

JSON_PATH = PLOTS_DIR / "fidelity.json"
#: (key, label, format, better) of the reported metrics.
METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("psnr", "PSNR (dB)", "{:.2f}", "higher"),
    ("defect_contrast", "Defect contrast kept (median over defects)", "{:.2f}", "1"),
    ("intensity_rel_rmse", "Column intensity, relative RMSE", "{:.3f}", "lower"),
    ("intensity_slope", "Column intensity, slope of estimated on true (within species)",
     "{:.2f}", "1"),
    ("position_error_pm", "Column position error (RMS, pm)", "{:.1f}", "lower"),
    ("displacement_slope", "Displacement slope (polar domains)", "{:.2f}", "1"),
    ("residual_correlation", "Residual correlation r", "{:.3f}", "0"),
    ("error_stripes", "Stripe anisotropy of the error (estimate − clean)", "{:.1f}", "1"),
)
#: Real images: the central part that is denoised (BM3D takes tens of seconds per 1024²).
REAL_CROP = 384
QUICK_REAL_CROP = 256
REAL_ROWS: tuple[str, ...] = (BM3D, PAPER, DEFAULT)

Method = Callable[[NDArray[np.float64], PoissonGaussianNoise], NDArray[np.floating]]


def registry_method(name: str, *, seed: int = 0, classifier: Any = None) -> Method:
    """A registered benchmark row as ``method(noisy, noise) -> estimate``.

    A failing or unavailable row raises ``RuntimeError`` with its status.

    Examples
    --------
    >>> run = registry_method("Gaussian, sigma 1 px")
    >>> run(np.ones((8, 8)), PoissonGaussianNoise()).shape
    (8, 8)
    """
    method = select_methods([name])[name]

    def run(noisy: NDArray[np.float64], noise: PoissonGaussianNoise) -> NDArray[np.float64]:
        outcome = run_method(method, noisy, MethodContext(noise=noise, classifier=classifier,
                                                          seed=seed))
        if not outcome.ok:
            raise RuntimeError(f"{name}: {outcome.status}")
        return outcome.estimate

    run.__name__ = name
    return run


def _noise_of(scene: Scene) -> PoissonGaussianNoise:
    return PoissonGaussianNoise(gain=scene.noise_gain, sigma=scene.noise_sigma)


def run_fidelity(methods: dict[str, Method | None], *, scenes: Iterable[str] = SCENES,
                 doses: Iterable[float] = DOSES, seeds: Iterable[int] = SEEDS, size: int = SIZE,
                 progress: bool = False) -> list[dict[str, Any]]:
    """Every method on every (scene, dose, seed); one record per (point, method).

    Parameters
    ----------
    methods : dict
        Row name -> ``method(noisy, noise) -> estimate``; ``None`` means the noisy
        input itself (the ground truth's ``clean`` for the row :data:`GROUND_TRUTH`). The method gets a copy of the noisy image and the true
        Poisson–Gaussian model (gain 1, sigma = 5 % of the peak); the row-noise scene's
        line offsets are not in it.
    scenes, doses, seeds, size
        The grid (doses in electrons per pixel).
    progress : bool, optional
        Print one line per record to stderr.

    Returns
    -------
    list of dict
        ``scene``, ``material``, ``dose``, ``seed``, ``size``, ``method``, ``status``
        (``"ok"`` or the error), ``seconds`` and the metrics of
        :func:`denoiser.reucid.metrics.fidelity.fidelity_metrics` (``NaN`` where the
        method failed).
    """
    records: list[dict[str, Any]] = []
    for name in scenes:
        for seed in seeds:
            for dose in doses:
                scene = make_scene(name, float(dose), seed=int(seed), size=size)
                labels = voronoi_labels(scene.clean.shape, scene.truth.positions,
                                        max_radius=scene.truth.integration_radius_px)
                noise = _noise_of(scene)
                base = {"scene": name, "material": scene.material, "dose": float(dose),
                        "seed": int(seed), "size": int(size),
                        "pixel_size_A": round(scene.truth.pixel_size_A, 4)}
                for label, method in methods.items():
                    start = time.perf_counter()
                    status = "ok"
                    try:
                        if method is None:
                            estimate = (scene.clean if label == GROUND_TRUTH
                                        else scene.noisy).copy()
                        else:
                            estimate = np.asarray(method(scene.noisy.copy(), noise),
                                                  dtype=np.float64)
                        if estimate.shape != scene.noisy.shape or not np.all(
                                np.isfinite(estimate)):
                            raise ValueError("output has the wrong shape or non-finite values")
                    except Exception as error:  # noqa: BLE001 - one failure is one cell
                        estimate, status = None, f"failed: {type(error).__name__}: {error}"
                    seconds = time.perf_counter() - start
                    if estimate is None:
                        metrics = {key: float("nan") for key, *_ in METRICS}
                    else:
                        metrics = fidelity_metrics(scene.clean, scene.noisy, estimate,
                                                   scene.truth, perfect=scene.perfect,
                                                   labels=labels)
                    records.append({**base, "method": label, "status": status,
                                    "seconds": round(seconds, 3), **metrics})
                    if progress:
                        last = records[-1]
                        print(f"[fidelity] {name} seed {seed} {dose:g} e/px {label}: "
                              f"{last['psnr']:.2f} dB, contrast {last['defect_contrast']:.2f}, "
                              f"slope {last['intensity_slope']:.2f} ({seconds:.1f} s)",
                              file=sys.stderr)
    return records


def evaluate(method: Method, *, scenes: Iterable[str] = SCENES, doses: Iterable[float] = DOSES,
             seeds: Iterable[int] = SEEDS, size: int = SIZE, name: str = "candidate",
             progress: bool = False) -> list[dict[str, Any]]:
    """Score one method on the fidelity scenes (see :func:`run_fidelity`).

    Parameters
    ----------
    method : callable
        ``method(noisy, noise) -> estimate``, ``noise`` a ``PoissonGaussianNoise``.
    scenes, doses, seeds, size
        The grid; ``**QUICK`` or ``**FULL`` for the benchmark's own.
    name : str, optional
        The ``method`` field of the records.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> rows = evaluate(lambda noisy, noise: noisy, scenes=["vacancies_thick"],
    ...                 doses=[1000], seeds=[0], size=64, name="identity")
    >>> rows[0]["method"], rows[0]["scene"], rows[0]["residual_correlation"]
    ('identity', 'vacancies_thick', 0.0)
    """
    return run_fidelity({name: method}, scenes=scenes, doses=doses, seeds=seeds, size=size,
                        progress=progress)


def _key(row: dict[str, Any]) -> tuple[str, float, int, int]:
    return (row["scene"], float(row["dose"]), int(row["seed"]), int(row["size"]))


def reference_rows(rows: Sequence[dict[str, Any]], *, baseline: str = BM3D,
                   path: Path = JSON_PATH, compute: bool = True) -> list[dict[str, Any]]:
    """The ``baseline`` records at the points of ``rows``.

    Taken from ``rows`` themselves, else from the stored run (``path``, written by the
    full benchmark with this code), else computed (``compute=True``).

    Examples
    --------
    >>> reference_rows([], compute=False)
    []
    """
    wanted = {_key(r) for r in rows}
    found = {_key(r): r for r in rows if r["method"] == baseline}
    if path.is_file() and wanted - set(found):
        stored = json.loads(path.read_text()).get("rows", [])
        for r in stored:
            if r["method"] == baseline and _key(r) in wanted and _key(r) not in found:
                found[_key(r)] = r
    missing = sorted(wanted - set(found))
    if missing and compute:
        run = registry_method(baseline)
        for scene, dose, seed, size in missing:
            for r in run_fidelity({baseline: run}, scenes=[scene], doses=[dose], seeds=[seed],
                                  size=size):
                found[_key(r)] = r
    return [found[k] for k in sorted(found) if k in wanted]


def aggregate(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, float, str], dict[str, float]]:
    """Mean over seeds of every metric, per (scene, dose, method); NaN-aware.

    Examples
    --------
    >>> rows = [{"scene": "s", "dose": 100.0, "method": "m", "psnr": p} for p in (30.0, 32.0)]
    >>> aggregate(rows)[("s", 100.0, "m")]["psnr"]
    31.0
    """
    groups: dict[tuple[str, float, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["scene"], float(r["dose"]), r["method"]), []).append(r)
    out = {}
    for key, members in groups.items():
        values = {}
        for metric in {k for r in members for k, v in r.items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)}:
            column = np.array([float(r.get(metric, np.nan)) for r in members])
            finite = column[np.isfinite(column)]
            values[metric] = float(finite.mean()) if finite.size else float("nan")
        values["n_seeds"] = len(members)
        out[key] = values
    return out


@dataclass
class TargetCheck:
    """Issue 14's targets, checked point by point (truthy when all hold).

    Attributes
    ----------
    failures : list of str
        One line per missed target: scene, dose, what, the values.
    checked : int
        Targets checked.
    points : int
        (scene, dose) points checked.
    """

    failures: list[str] = field(default_factory=list)
    checked: int = 0
    points: int = 0

    def __bool__(self) -> bool:
        return not self.failures and self.checked > 0

    def __str__(self) -> str:
        if self:
            return f"all {self.checked} targets met at {self.points} points"
        head = (f"{len(self.failures)} of {self.checked} targets missed at {self.points} "
                "points:")
        return "\n".join([head, *("  " + f for f in self.failures)])


def targets_met(rows: Sequence[dict[str, Any]], *, method: str | None = None,
                baseline: str = BM3D, baseline_rows: Sequence[dict[str, Any]] | None = None,
                psnr_margin_db: float = 1.0, min_intensity_slope: float = 0.95,
                slope_from_dose: float = 500.0, compute: bool = True) -> TargetCheck:
    """Check issue 14's targets for ``method`` against ``baseline`` (seed means).

    At every (scene, dose): PSNR >= baseline + 1 dB; defect contrast kept,
    within-species intensity slope and displacement slope (where the scene has
    displacements) each >= the baseline's; intensity slope >= 0.95 at 500 e/px and
    above; position error <= the baseline's. The baseline's records come from ``rows``,
    ``baseline_rows``, the stored full run or are computed (:func:`reference_rows`).

    Parameters
    ----------
    rows : sequence of dict
        Records of :func:`evaluate` / :func:`run_fidelity`.
    method : str, optional
        The row to check (default: the only non-baseline, non-input row).

    Returns
    -------
    TargetCheck

    Examples
    --------
    >>> base = {"scene": "s", "dose": 1000.0, "seed": 0, "size": 64, "defect_contrast": 0.9,
    ...         "intensity_slope": 0.96, "displacement_slope": float("nan"),
    ...         "position_error_pm": 5.0}
    >>> rows = [dict(base, method="BM3D + GAT", psnr=30.0),
    ...         dict(base, method="mine", psnr=30.5)]
    >>> check = targets_met(rows, compute=False)
    >>> bool(check), check.failures
    (False, ['s 1000 e/px: PSNR 30.50 < BM3D + GAT 30.00 + 1 dB'])
    """
    names = {r["method"] for r in rows} - {baseline, NOISY, GROUND_TRUTH}
    if method is None:
        if len(names) != 1:
            raise ValueError(f"say which method to check: the rows hold {sorted(names)}")
        method = names.pop()
    mine = [r for r in rows if r["method"] == method]
    reference = list(baseline_rows) if baseline_rows is not None else reference_rows(
        mine, baseline=baseline, compute=compute) if not any(
            r["method"] == baseline for r in rows) else [
                r for r in rows if r["method"] == baseline]
    keys = {_key(r) for r in mine}
    reference = [r for r in reference if _key(r) in keys]
    covered = {_key(r) for r in reference}
    mine = [r for r in mine if _key(r) in covered]
    ours, theirs = aggregate(mine), aggregate(reference)
    check = TargetCheck()
    short = baseline
    for (scene, dose, _), value in sorted(ours.items()):
        other = theirs.get((scene, dose, baseline))
        if other is None:
            continue
        check.points += 1
        where = f"{scene} {dose:g} e/px"

        def need(ok: bool, text: str) -> None:
            check.checked += 1
            if not ok:
                check.failures.append(f"{where}: {text}")

        need(value["psnr"] >= other["psnr"] + psnr_margin_db,
             f"PSNR {value['psnr']:.2f} < {short} {other['psnr']:.2f} + {psnr_margin_db:g} dB")
        for metric, label in (("defect_contrast", "defect contrast"),
                              ("intensity_slope", "intensity slope"),
                              ("displacement_slope", "displacement slope")):
            a, b = value.get(metric, math.nan), other.get(metric, math.nan)
            if math.isnan(b):
                continue
            need(not math.isnan(a) and a >= b, f"{label} {a:.2f} < {short} {b:.2f}")
        if dose >= slope_from_dose and not math.isnan(value.get("intensity_slope", math.nan)):
            need(value["intensity_slope"] >= min_intensity_slope,
                 f"intensity slope {value['intensity_slope']:.2f} < {min_intensity_slope:g}")
        a, b = value["position_error_pm"], other["position_error_pm"]
        need(not math.isnan(a) and a <= b, f"position error {a:.1f} pm > {short} {b:.1f} pm")
    return check


# ----------------------------------------------------------------------------- real images


def real_stripe_report(methods: dict[str, Method], *, root: Path | None = None,
                       crop: int | None = REAL_CROP, progress: bool = False
                       ) -> list[dict[str, Any]]:
    """Residual stripes and residual-output correlation on every shared real image.

    Each image's central ``crop`` is denoised by each method with the estimated noise
    model; measured on the residual ``noisy - estimate``: :func:`stripe_anisotropy`
    (1: isotropic; above 1: the method removed row-constant noise, i.e. line offsets
    went into the residual rather than into the output), :func:`row_offset_ratio`, and
    Pearson(residual, output) (0: the residual holds no image structure). The input's
    own anisotropy (``input_stripes``, of the image after subtracting a 3x3 mean) says
    how stripy its noise is. Nothing when ``../shared`` is absent.

    Returns
    -------
    list of dict
        ``image``, ``method``, ``status``, ``seconds``, ``residual_stripes``,
        ``residual_row_offsets``, ``residual_output_r``, ``input_stripes``.
    """
    records = []
    for image in real_images(root):
        noisy = np.array(central_crop(image.image, crop), dtype=np.float64)
        high_pass = noisy - uniform_filter(noisy, 3)
        try:
            noise = estimate_noise(noisy)
        except Exception as error:  # noqa: BLE001 - one unreadable image is one row
            records.append({"image": image.name, "method": "-", "status": f"failed: {error}"})
            continue
        for label, method in methods.items():
            start = time.perf_counter()
            try:
                estimate = np.asarray(method(noisy.copy(), noise), dtype=np.float64)
                status = "ok"
            except Exception as error:  # noqa: BLE001
                estimate, status = None, f"failed: {type(error).__name__}: {error}"
            seconds = time.perf_counter() - start
            row = {"image": image.name, "shape": list(noisy.shape), "method": label,
                   "status": status, "seconds": round(seconds, 2),
                   "noise_gain": noise.gain, "noise_sigma": noise.sigma,
                   "input_stripes": stripe_anisotropy(high_pass)}
            if estimate is not None:
                residual = noisy - estimate
                row.update(residual_stripes=stripe_anisotropy(residual),
                           residual_row_offsets=row_offset_ratio(residual),
                           residual_output_r=pearson(residual, estimate))
            records.append(row)
            if progress:
                print(f"[fidelity] real {image.name} {label}: "
                      f"stripes {row.get('residual_stripes', float('nan')):.2f}, "
                      f"r {row.get('residual_output_r', float('nan')):.3f} ({seconds:.1f} s)",
                      file=sys.stderr)
    return records


# ----------------------------------------------------------------------------- report


def _cell(value: float, fmt: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else (
        fmt.format(value))


def markdown_report(rows: Sequence[dict[str, Any]], real: Sequence[dict[str, Any]] = (), *,
                    methods: Sequence[str] = ROWS, header: str = "") -> str:
    """The fidelity section of ``docs/benchmarks.md``: per metric, one table with the
    methods side by side (seed means), the target check of the default, the real
    images.

    Examples
    --------
    >>> rows = [{"scene": "s", "dose": 100.0, "seed": 0, "size": 64, "method": m,
    ...          "psnr": p} for m, p in (("noisy input", 20.0), ("BM3D + GAT", 30.0))]
    >>> "| s | 100 | 20.00 | 30.00 |" in markdown_report(rows, methods=("noisy input",
    ...                                                             "BM3D + GAT"))
    True
    """
    means = aggregate(rows)
    present = [m for m in methods if any(r["method"] == m for r in rows)]
    points = sorted({(r["scene"], float(r["dose"])) for r in rows},
                    key=lambda p: (SCENES.index(p[0]) if p[0] in SCENES else 99, p[1]))
    lines = [header] if header else []
    for key, label, fmt, better in METRICS:
        if not any(key in r for r in rows):
            continue
        values = {p: [means.get((p[0], p[1], m), {}).get(key, math.nan) for m in present]
                  for p in points}
        shown = [p for p in points if not all(math.isnan(v) for v in values[p])]
        if not shown:
            continue
        lines += ["", f"**{label}** (best: {better})", "",
                  "| scene | e/px | " + " | ".join(SHORT.get(m, m) for m in present) + " |",
                  "|---|--:|" + "--:|" * len(present)]
        for p in shown:
            lines.append(f"| {p[0]} | {p[1]:g} | "
                         + " | ".join(_cell(v, fmt) for v in values[p]) + " |")
    check = targets_met(rows, method=DEFAULT, compute=False) if DEFAULT in present else None
    if check is not None and check.points:
        lines += ["", f"**Issue-14 targets for the default** (against BM3D + GAT, seed "
                  f"means): {check.checked - len(check.failures)} of {check.checked} met at "
                  f"{check.points} points.", ""]
        by_point: dict[str, list[str]] = {}
        for failure in check.failures:
            where, what = failure.split(": ", 1)
            by_point.setdefault(where, []).append(what)
        if by_point:
            lines += ["| point | missed |", "|---|---|"]
            lines += [f"| {where} | {'; '.join(what)} |" for where, what in by_point.items()]
    if real:
        lines += ["", "**Real images** (central crop; noise model estimated from the image). "
                  "`stripes`: stripe anisotropy of the residual noisy − output (1: "
                  "isotropic; above 1: row-constant noise went into the residual, i.e. was "
                  "removed from the output); `rows`: row-offset ratio of the residual "
                  "(1 for white noise); `r`: Pearson(residual, output) (0: no image "
                  "structure in the residual); `input`: stripe anisotropy of the input "
                  "minus its 3x3 mean.", ""]
        labels = [m for m in REAL_ROWS if any(r.get("method") == m for r in real)]
        lines += ["| image | input | " + " | ".join(
            f"{SHORT.get(m, m)} stripes | {SHORT.get(m, m)} rows | {SHORT.get(m, m)} r"
            for m in labels) + " |", "|---|--:|" + "--:|--:|--:|" * len(labels)]
        for name in dict.fromkeys(r["image"] for r in real):
            mine = {r["method"]: r for r in real if r["image"] == name}
            first = next(iter(mine.values()))
            cells = []
            for m in labels:
                r = mine.get(m, {})
                cells += [_cell(r.get("residual_stripes", math.nan), "{:.2f}"),
                          _cell(r.get("residual_row_offsets", math.nan), "{:.2f}"),
                          _cell(r.get("residual_output_r", math.nan), "{:.3f}")]
            lines.append(f"| {name} | {_cell(first.get('input_stripes', math.nan), '{:.2f}')}"
                         f" | " + " | ".join(cells) + " |")
    return "\n".join(lines).strip() + "\n"


#: The panels of :func:`plot_fidelity`.
PLOTTED: tuple[str, ...] = ("psnr", "defect_contrast", "intensity_slope", "position_error_pm",
                            "displacement_slope", "residual_correlation")


def plot_fidelity(rows: Sequence[dict[str, Any]], path: Path,
                  methods: Sequence[str] = ROWS) -> Path | None:
    """One panel per metric against dose, every scene a thin line and the mean over
    scenes a thick one, the methods side by side in colour; returns the PNG path."""
    # matplotlib (heavy, optional) only when a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = aggregate(rows)
    present = [m for m in methods if any(r["method"] == m for r in rows)]
    if not present:
        return None
    labels = {key: label for key, label, *_ in METRICS}
    figure, axes = plt.subplots(2, 3, figsize=(13.5, 7.2))
    colours = {m: plt.get_cmap("tab10")(i) for i, m in enumerate((NOISY, BM3D, PAPER, DEFAULT))}
    for axis, key in zip(axes.ravel(), PLOTTED):
        for method in present:
            colour = colours.get(method, "black")
            per_dose: dict[float, list[float]] = {}
            for scene in dict.fromkeys(r["scene"] for r in rows):
                points = sorted((d, v[key]) for (s, d, m), v in means.items()
                                if s == scene and m == method and math.isfinite(v.get(key, math.nan)))
                for d, v in points:
                    per_dose.setdefault(d, []).append(v)
                if points:
                    axis.plot(*zip(*points), color=colour, alpha=0.25, linewidth=0.8)
            if per_dose:
                doses = sorted(per_dose)
                axis.plot(doses, [float(np.mean(per_dose[d])) for d in doses], color=colour,
                          linewidth=2.2, marker="o", label=SHORT.get(method, method))
        axis.set_xscale("log")
        axis.set_xlabel("dose (e/px)")
        axis.set_title(labels[key].split(" (")[0] if key != "intensity_slope"
                       else "Column intensity slope (within species)", fontsize=10)
        axis.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=9)
    figure.suptitle("Fidelity scenes: thin lines one scene (seed mean), thick the mean over "
                    "scenes", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _write_section(rows: Sequence[dict[str, Any]], real: Sequence[dict[str, Any]],
                   names: Sequence[str], header: str, report: Path, plots: Path) -> str:
    shown = [r for r in rows if r["method"] != GROUND_TRUTH]
    text = markdown_report(shown, real, methods=names, header=header)
    figure = plot_fidelity(shown, plots / "fidelity.png", names)
    picture = ""
    if figure is not None and figure.resolve().is_relative_to(report.resolve().parent):
        picture = (f"\n![Fidelity metrics against dose]"
                   f"({figure.resolve().relative_to(report.resolve().parent)})\n")
    replace_section("fidelity", _conventions() + picture + "\n" + text, path=report)
    return text


def _render_stored(options: argparse.Namespace) -> int:
    stored = json.loads(options.json.read_text())
    grid = stored.get("grid", {})
    header = stored.get("header") or (
        f"Stored run ({stored.get('seconds', float('nan')):.0f} s); grid {grid}.")
    stored_names = list(dict.fromkeys(r["method"] for r in stored["rows"]))
    names = [m for m in ROWS if m in stored_names] + [
        m for m in stored_names if m not in ROWS and m != GROUND_TRUTH]
    print(_write_section(stored["rows"], stored.get("real", []), names, header,
                         options.report, options.plots))
    return 0


def _conventions() -> str:
    return (
        "## Fidelity: what microscopists measure (issue 14)\n\n"
        "Scenes from `denoiser.reucid.simulation.scenes` (incoherent HAADF model, exact "
        "per-column ground truth; the seed draws material, rotation, offset, pixel size "
        "0.12–0.22 Å, probe and defects; the brightest column peaks at 20 % of the dose; "
        "noise `Poisson(clean) + Normal(0, 0.05 max(clean))`, plus line offsets and 1/f "
        "row noise in `row_noise`). Every scene holds rare point defects. Doses in "
        "electrons per pixel. Metrics from `denoiser.reucid.metrics.fidelity`: column "
        "intensity = sum over the column's Voronoi cell; *defect contrast kept* = median "
        "over defects of (defect minus the median of its 6 nearest same-species "
        "neighbours) in the estimate over the same in the truth; *intensity slope* = "
        "least squares of estimated on true intensity after removing each species' mean "
        "(1: differences between columns kept; 0: averaged away); *position error* = RMS "
        "distance of 2D-Gaussian fits (disc of 0.4 nearest-neighbour distances around "
        "the true position, failed fits count as that radius) to the true positions, "
        "visible columns only (not O beside heavy cations); *displacement slope* = "
        "fitted on true B-site displacement (±0.15 Å stripe domains); *stripe "
        "anisotropy* = power of the row-constant low frequencies (fx = 0, |f| ≤ 1/8) over "
        "the isotropic power at the same frequencies (1: none). BM3D gets the true "
        "Poisson–Gaussian parameters (not the row noise); the REUCID rows estimate their "
        "own. Values are means over seeds; every record (and the noise-free ground truth's "
        "own floor, row \"ground truth\") is in `docs/benchmarks/fidelity.json`. Rerun: "
        "`python -m benchmarks fidelity` (or `python -m benchmarks.fidelity --quick`).\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``python -m benchmarks.fidelity --help``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fidelity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="every scene at 100 and 1000 e/px, seed 0, no real images")
    parser.add_argument("--scenes", nargs="*", default=None, choices=SCENES)
    parser.add_argument("--doses", nargs="*", type=float, default=None, help="e/px")
    parser.add_argument("--seeds", nargs="*", type=int, default=None)
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--methods", type=method_names, default=None,
                        help='rows separated by "|" (default: the four rows)')
    parser.add_argument("--real", choices=("yes", "no", "only"), default=None,
                        help="the real-image stripe report (default: yes, no with --quick)")
    parser.add_argument("--real-crop", type=int, default=None)
    parser.add_argument("--shared-data", type=Path, default=DEFAULT_SHARED_DATA)
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--json", type=Path, default=JSON_PATH)
    parser.add_argument("--plots", type=Path, default=PLOTS_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true",
                        help="print the tables only (no report, no JSON)")
    parser.add_argument("--from-json", action="store_true",
                        help="rerun nothing: rewrite the section and figure from the JSON")
    options = parser.parse_args(argv)
    if options.from_json:
        return _render_stored(options)
    grid = dict(QUICK if options.quick else FULL)
    if options.scenes:
        grid["scenes"] = tuple(options.scenes)
    if options.doses:
        grid["doses"] = tuple(options.doses)
    if options.seeds:
        grid["seeds"] = tuple(options.seeds)
    grid["size"] = options.size
    names = options.methods or ROWS
    real_mode = options.real or ("no" if options.quick else "yes")
    started = time.perf_counter()
    methods: dict[str, Method | None] = {}
    for name in names:
        methods[name] = None if name == NOISY else registry_method(name)
    rows: list[dict[str, Any]] = []
    if real_mode != "only":
        rows = run_fidelity({**methods, GROUND_TRUTH: None}, progress=True, **grid)
    real: list[dict[str, Any]] = []
    if real_mode != "no":
        crop = options.real_crop or (QUICK_REAL_CROP if options.quick else REAL_CROP)
        real = real_stripe_report({m: f for m, f in methods.items()
                                   if m in REAL_ROWS and f is not None},
                                  root=options.shared_data, crop=crop, progress=True)
    seconds = time.perf_counter() - started
    header = (f"Run {timestamp()}, {seconds:.0f} s, on {machine_description()}. Grid: "
              f"{len(grid['scenes'])} scenes × doses {', '.join(f'{d:g}' for d in grid['doses'])}"
              f" e/px × seeds {', '.join(map(str, grid['seeds']))}, {grid['size']}² pixels.")
    if options.no_write:
        print(markdown_report([r for r in rows if r["method"] != GROUND_TRUTH], real,
                              methods=names, header=header))
        return 0
    options.json.parent.mkdir(parents=True, exist_ok=True)
    # keep the stored records of points this run did not redo: they are the
    # reference rows of targets_met() for runs on a subset
    stored = json.loads(options.json.read_text()) if options.json.is_file() else {}
    redone = {(*_key(r), r["method"]) for r in rows}
    kept = [r for r in stored.get("rows", []) if (*_key(r), r["method"]) not in redone]
    options.json.write_text(json.dumps(
        {"grid": {k: list(v) if isinstance(v, tuple) else v for k, v in grid.items()},
         "header": header, "seconds": round(seconds, 1), "rows": kept + rows,
         "real": real or stored.get("real", [])}, indent=1, default=float) + "\n")
    print(_write_section(rows, real, names, header, options.report, options.plots))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
