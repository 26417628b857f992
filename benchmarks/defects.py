"""Defect benchmark: does a denoiser keep rare defects? ``python -m benchmarks.defects``.

The abTEM sets tile one perfect unit cell, the best case for methods that pool similar
patches. Here the training simulator (:func:`denoiser.reucid.simulation.simulate_haadf`) makes
a lattice rotated by 7° (so no patch repeats exactly on the pixel grid), 0.2 Å per
pixel, 256x256, with 3 % partial vacancies (a column loses 30–100 % of its weight) and
3 % substitutions (a heavier dopant), and — from the same seed — the same lattice
without them. The background drift is off so that the difference of the two is exactly
the defects. Noise: the paper's model (``Poisson(clean) + Normal(0, 0.05 max(clean))``,
clean in expected counts) at 100 / 1000 / 10000 e/Å².

Measured per (material, dose, method), against the defective ground truth ``clean``
and the defect-free one ``perfect`` (``defect = clean − perfect``):

* PSNR (data range = max − min of ``clean``) and r = Pearson(noisy − estimate, clean);
* *defect retained* = ⟨estimate − perfect, defect⟩ / ⟨defect, defect⟩: 1 when the
  defects' contrast survives, 0 when the estimate is the perfect lattice (a method that
  averages the unit cell), negative when it moves the wrong way;
* *PSNR at defects*: the same PSNR over the pixels where ``|defect|`` is at least
  :data:`DEFECT_PIXEL_FRACTION` of the data range;
* CPU seconds (``time.process_time``; run with ``OMP_NUM_THREADS=1``).

Everything is seeded: one seed gives the same lattices, defects and noise.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from denoiser.reucid.metrics import psnr, residual_correlation
from benchmarks.baselines import bm3d_gat
from benchmarks.runner import cpu_timed
from denoiser.reucid.noise import PoissonGaussianNoise

__all__ = [
    "DEFECT_PIXEL_FRACTION",
    "DOSES",
    "MATERIALS",
    "ROWS",
    "DefectCase",
    "defect_case",
    "defect_metrics",
    "defect_rows",
    "main",
    "markdown_table",
    "run_defects",
]

MATERIALS: tuple[str, ...] = ("SrTiO3_001", "Si_110")
DOSES: tuple[float, ...] = (100.0, 1000.0, 10000.0)
ROTATION_DEG = 7.0
PIXEL_SIZE_A = 0.2
VACANCY_FRACTION = 0.03
SUBSTITUTION_FRACTION = 0.03
DETECTOR_NOISE = 0.05
SEED = 5
#: A pixel counts as "at a defect" where the defect changes the clean image by at least
#: this fraction of its data range (the detector noise alone is 5 % of the maximum).
DEFECT_PIXEL_FRACTION = 0.02

Estimate = Callable[[NDArray[np.float64], "DefectCase"], NDArray[np.float64]]


@dataclass(frozen=True)
class DefectCase:
    """One noisy defective lattice with its ground truths.

    Attributes
    ----------
    material : str
    dose : float
        Electrons per Å².
    clean : numpy.ndarray
        Expected counts of the defective lattice (float64).
    perfect : numpy.ndarray
        Expected counts of the same lattice without defects.
    noisy : numpy.ndarray
        One noisy realisation of ``clean``.
    noise : PoissonGaussianNoise
        The true noise model.
    parameters : dict
        The simulator's parameters of the defective image.
    """

    material: str
    dose: float
    clean: NDArray[np.float64]
    perfect: NDArray[np.float64]
    noisy: NDArray[np.float64]
    noise: PoissonGaussianNoise
    parameters: dict[str, Any]

    @property
    def defect(self) -> NDArray[np.float64]:
        """``clean − perfect``: what the defects add to the image."""
        return self.clean - self.perfect


def defect_case(material: str, dose: float, *, size: int = 256, seed: int = SEED,
                noise_seed: int | None = None) -> DefectCase:
    """Simulate one defective lattice, its defect-free twin and a noisy image.

    Parameters
    ----------
    material : str
        A key of ``denoiser.reucid.simulation.CRYSTALS`` (e.g. ``"SrTiO3_001"``).
    dose : float
        Electrons per Å².
    size : int, optional
        Image side in pixels.
    seed : int, optional
        Seed of the lattice (thickness, probe, offset) and of the defects.
    noise_seed : int, optional
        Seed of the noise (default: derived from ``seed`` and ``dose``).

    Returns
    -------
    DefectCase

    Examples
    --------
    >>> case = defect_case("SrTiO3_001", 1000, size=64)
    >>> case.noisy.shape, bool(np.abs(case.defect).max() > 0)
    ((64, 64), True)
    """
    from denoiser.reucid.simulation import add_dose_noise, expected_counts, simulate_haadf

    common = dict(shape=(size, size), pixel_size_A=PIXEL_SIZE_A, rotation_deg=ROTATION_DEG,
                  environment="bulk", background=0.0, rng=seed)
    # same seed, same draws up to the defects: the same lattice, probe and offset
    defective = simulate_haadf(material, vacancy_fraction=VACANCY_FRACTION,
                               substitution_fraction=SUBSTITUTION_FRACTION, **common)
    perfect = simulate_haadf(material, vacancy_fraction=0.0, substitution_fraction=0.0,
                             **common)
    clean = expected_counts(defective.clean, dose, PIXEL_SIZE_A).astype(np.float64)
    perfect_counts = expected_counts(perfect.clean, dose, PIXEL_SIZE_A).astype(np.float64)
    if noise_seed is None:
        noise_seed = seed * 1000 + int(round(np.log10(dose) * 10))
    noisy = add_dose_noise(defective.clean, dose, PIXEL_SIZE_A, detector_noise=DETECTOR_NOISE,
                           rng=noise_seed).astype(np.float64)
    noise = PoissonGaussianNoise(gain=1.0, sigma=DETECTOR_NOISE * float(clean.max()))
    return DefectCase(material=material, dose=float(dose), clean=clean,
                      perfect=perfect_counts, noisy=noisy, noise=noise,
                      parameters=dict(defective.parameters))


def defect_metrics(clean: ArrayLike, perfect: ArrayLike, noisy: ArrayLike,
                   estimate: ArrayLike) -> dict[str, float]:
    """PSNR, r, defect retained and PSNR at defects of one estimate.

    Parameters
    ----------
    clean, perfect, noisy, estimate : array_like
        Defective ground truth, defect-free ground truth, input and output (same shape).

    Returns
    -------
    dict of str to float
        ``psnr``, ``r``, ``retained``, ``psnr_defects`` and ``defect_pixels`` (how many
        pixels the defect PSNR covers).

    Examples
    --------
    >>> perfect = np.tile([[0.0, 10.0], [10.0, 0.0]], (8, 8))
    >>> clean = perfect.copy(); clean[4, 5] = 4.0
    >>> noisy = clean + np.random.default_rng(0).normal(size=clean.shape)
    >>> defect_metrics(clean, perfect, noisy, clean)["retained"]
    1.0
    >>> defect_metrics(clean, perfect, noisy, perfect)["retained"]
    0.0
    """
    x = np.asarray(clean, dtype=np.float64)
    base = np.asarray(perfect, dtype=np.float64)
    y = np.asarray(estimate, dtype=np.float64)
    defect = x - base
    energy = float(np.sum(defect * defect))
    if energy == 0:
        raise ValueError("the clean and perfect images are equal: there is no defect")
    data_range = float(x.max() - x.min())
    at_defects = np.abs(defect) >= DEFECT_PIXEL_FRACTION * data_range
    if not at_defects.any():  # tiny defects: take the strongest pixels instead
        at_defects = np.abs(defect) >= 0.5 * np.abs(defect).max()
    error = float(np.mean((y[at_defects] - x[at_defects]) ** 2))
    return {
        "psnr": psnr(x, y),
        "r": residual_correlation(x, noisy, y),
        "retained": float(np.sum((y - base) * defect) / energy),
        "psnr_defects": float("inf") if error == 0 else float(
            10.0 * np.log10(data_range**2 / error)),
        "defect_pixels": int(at_defects.sum()),
    }


def _denoise(noisy: NDArray[np.float64], classifier: Any, **options: Any) -> NDArray[np.float64]:
    from denoiser.reucid import denoise

    return np.asarray(denoise(noisy, classifier, seed=0, **options).image, dtype=np.float64)


def _bm3d(noisy: NDArray[np.float64], case: DefectCase) -> NDArray[np.float64]:
    return bm3d_gat(noisy, case.noise)


def defect_rows() -> dict[str, Estimate]:
    """Row label -> ``estimate(noisy, case)``.

    Examples
    --------
    >>> list(defect_rows()) == list(ROWS)
    True
    """
    return {
        "paper, GD (auto p)": lambda x, c: _denoise(x, "gd", variant="paper"),
        "paper, MP, p = 11": lambda x, c: _denoise(x, "mp", variant="paper", patch_size=11),
        "paper, GD, p = 41": lambda x, c: _denoise(x, "gd", variant="paper", patch_size=41),
        "BM3D + GAT (true noise)": _bm3d,
        "default (BEST: coarse pilot, noise-edge)": lambda x, c: _denoise(x, None),
        "BEST without coarse pilot": lambda x, c: _denoise(x, None, pilot=None),
    }


ROWS: tuple[str, ...] = (
    "paper, GD (auto p)", "paper, MP, p = 11", "paper, GD, p = 41", "BM3D + GAT (true noise)",
    "default (BEST: coarse pilot, noise-edge)", "BEST without coarse pilot")


def run_defects(cases: Sequence[DefectCase], rows: Sequence[str] = ROWS, *,
                progress: bool = False) -> list[dict[str, Any]]:
    """One record per (case, row): material, dose, row, the metrics and ``cpu_s``.

    The input images are never modified (each row gets its own copy).
    """
    estimators = defect_rows()
    unknown = [r for r in rows if r not in estimators]
    if unknown:
        raise ValueError(f"unknown row(s) {unknown}; known: {list(estimators)}")
    records = []
    for case in cases:
        for row in rows:
            estimate, seconds = cpu_timed(estimators[row], case.noisy, case)
            records.append({"material": case.material, "dose": case.dose, "row": row,
                            **defect_metrics(case.clean, case.perfect, case.noisy, estimate),
                            "cpu_s": seconds})
            if progress:
                last = records[-1]
                print(f"[defects] {case.material} {case.dose:g} {row}: {last['psnr']:.2f} dB, "
                      f"retained {last['retained']:.2f} ({seconds:.1f} s)", file=sys.stderr)
    return records


def markdown_table(records: Sequence[dict[str, Any]]) -> str:
    """The defect table of ``docs/beyond_the_paper.md``.

    Examples
    --------
    >>> print(markdown_table([{"material": "X", "dose": 100.0, "row": "a", "psnr": 30.0,
    ...     "r": 0.01, "retained": 0.9, "psnr_defects": 25.0, "cpu_s": 1.0}]))
    | material | dose (e/Å²) | method | PSNR | r | defect retained | PSNR at defects | CPU s |
    |---|---|---|---|---|---|---|---|
    | X | 100 | a | 30.00 | 0.010 | 0.90 | 25.00 | 1.00 |
    """
    lines = ["| material | dose (e/Å²) | method | PSNR | r | defect retained | PSNR at defects "
             "| CPU s |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['material']} | {r['dose']:g} | {r['row']} | {r['psnr']:.2f} | "
                     f"{r['r']:.3f} | {r['retained']:.2f} | {r['psnr_defects']:.2f} | "
                     f"{r['cpu_s']:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the defect table (and save the records with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.defects", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="SrTiO3 at 1000 e/Å² only, 128x128")
    parser.add_argument("--materials", nargs="*", default=None,
                        help=f"default: {' '.join(MATERIALS)}")
    parser.add_argument("--doses", nargs="*", type=float, default=None,
                        help=f"e/Å² (default: {' '.join(f'{d:g}' for d in DOSES)})")
    parser.add_argument("--size", type=int, default=None, help="image side (default 256)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--rows", default=None,
                        help="rows to run, separated by '|' (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="also save the records here")
    options = parser.parse_args(argv)
    materials = options.materials or (["SrTiO3_001"] if options.quick else list(MATERIALS))
    doses = options.doses or ([1000.0] if options.quick else list(DOSES))
    size = options.size or (128 if options.quick else 256)
    rows = ROWS if options.rows is None else tuple(
        r.strip() for r in options.rows.split("|") if r.strip())
    cases = [defect_case(m, d, size=size, seed=options.seed) for m in materials for d in doses]
    try:
        records = run_defects(cases, rows, progress=True)
    except ValueError as error:
        parser.error(str(error))
    if options.json is not None:
        options.json.write_text(json.dumps(records, indent=1))
    print(markdown_table(records))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
