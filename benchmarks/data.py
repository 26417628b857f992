"""Benchmark inputs: simulated cases with ground truth, and real experimental images.

Simulated cases come from two sources, both with the paper's noise model
(``Poisson(clean) + Normal(0, 0.05 max(clean))``, clean in expected counts):

* the shared abTEM set in ``../shared/data/sim`` (doses in electrons per *pixel*,
  see its README), used when present;
* the project's own simulator, :mod:`denoiser.reucid.simulation` (doses in electrons per
  Å², as the issue asks), always available.

Real images are read from ``../shared/data/real`` (never copied into the repository).
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from denoiser.reucid import estimate_patch_size, read_image
from denoiser.reucid.grouped.pipeline import grouped_patch_size
from denoiser.reucid.noise import PoissonGaussianNoise, estimate_noise_model, noise_model_region
from denoiser.reucid.simulation import add_dose_noise, expected_counts, simulate_haadf

__all__ = [
    "DEFAULT_SHARED_DATA",
    "DOSES",
    "REAL_IMAGE_CREDITS",
    "RealImage",
    "SimulatedCase",
    "builtin_simulated_cases",
    "estimate_noise",
    "real_images",
    "shared_simulated_cases",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DOSES: tuple[int, ...] = (100, 500, 1000, 10000)
DETECTOR_NOISE = 0.05


@dataclass(frozen=True)
class SimulatedCase:
    """One noisy simulated image with its ground truth.

    Attributes
    ----------
    name : str
        Short label, e.g. ``"SrTiO3_001 (abTEM)"``.
    source : str
        ``"shared abTEM"`` or ``"denoiser.reucid.simulation"``.
    dose : float
        The dose, in ``dose_unit``.
    dose_unit : str
        ``"e/px"`` or ``"e/Å²"``.
    clean : numpy.ndarray
        Expected counts (float64).
    noisy : numpy.ndarray
        One noisy realisation (float64).
    noise : PoissonGaussianNoise
        The true noise model (gain 1, sigma = 5 % of the largest expected count).
    pixel_size_A : tuple of float
        (row, column) pixel size in Å.
    """

    name: str
    source: str
    dose: float
    dose_unit: str
    clean: NDArray[np.float64]
    noisy: NDArray[np.float64]
    noise: PoissonGaussianNoise
    pixel_size_A: tuple[float, float]

    @property
    def dose_e_per_A2(self) -> float:
        """The dose converted to electrons per Å²."""
        if self.dose_unit == "e/Å²":
            return float(self.dose)
        return float(self.dose) / (self.pixel_size_A[0] * self.pixel_size_A[1])


def _paper_noise(clean: NDArray[np.float64]) -> PoissonGaussianNoise:
    return PoissonGaussianNoise(gain=1.0, sigma=DETECTOR_NOISE * float(clean.max()), offset=0.0)


def shared_simulated_cases(
    root: Path | None = None,
    *,
    size: int = 256,
    doses: Sequence[int] = DOSES,
    materials: Sequence[str] | None = None,
) -> list[SimulatedCase]:
    """The shared abTEM images of one size, one case per (material, dose).

    Parameters
    ----------
    root : pathlib.Path, optional
        The shared data folder (holding ``sim/``); ``../shared/data`` by default.
    size : int, optional
        Image size to take (the doses other than 1000 exist at 256 only).
    doses : sequence of int, optional
        Doses in electrons per pixel; those missing from a file are skipped.
    materials : sequence of str, optional
        Restrict to these materials (e.g. ``["SrTiO3_001"]``).

    Returns
    -------
    list of SimulatedCase
        Empty when the shared set is absent.

    Examples
    --------
    >>> shared_simulated_cases(Path("/nonexistent"))
    []
    """
    sim = (root or DEFAULT_SHARED_DATA) / "sim"
    manifest_path = sim / "manifest.json"
    if not manifest_path.is_file():
        return []
    manifest = json.loads(manifest_path.read_text())
    cases = []
    for key, entry in sorted(manifest.items()):
        if tuple(entry.get("shape", ())) != (size, size):
            continue
        material = entry.get("material", key)
        if materials is not None and material not in materials:
            continue
        path = sim / f"{key}.npz"
        if not path.is_file():
            continue
        with np.load(path) as archive:
            pixel = tuple(float(v) for v in archive["pixel_size_A"])
            for dose in doses:
                if f"clean_{dose}" not in archive:
                    continue
                clean = archive[f"clean_{dose}"].astype(np.float64)
                cases.append(
                    SimulatedCase(
                        name=f"{material} (abTEM)",
                        source="shared abTEM",
                        dose=float(dose),
                        dose_unit="e/px",
                        clean=clean,
                        noisy=archive[f"noisy_{dose}"].astype(np.float64),
                        noise=_paper_noise(clean),
                        pixel_size_A=(pixel[0], pixel[1]),
                    )
                )
    return cases


# Built-in scenes: a bulk perovskite and a heavy-metal particle in vacuum (edges, vacuum
# and a very different column brightness), at a fixed pixel size so doses compare.
BUILTIN_SCENES: tuple[dict, ...] = (
    {"material": "SrTiO3_001", "environment": "bulk", "seed": 101},
    {"material": "Au_110", "environment": "particle", "seed": 202},
)
BUILTIN_PIXEL_SIZE_A = 0.2


def builtin_simulated_cases(
    *,
    size: int = 256,
    doses: Sequence[float] = DOSES,
    scenes: Sequence[dict] = BUILTIN_SCENES,
    seed: int = 0,
) -> list[SimulatedCase]:
    """Cases simulated by :mod:`denoiser.reucid.simulation`, doses in electrons per Å².

    Parameters
    ----------
    size : int, optional
        Square image size in pixels.
    doses : sequence of float, optional
        Doses in e/Å².
    scenes : sequence of dict, optional
        ``material``, ``environment`` and ``seed`` of each noise-free image.
    seed : int, optional
        Added to each scene's seed for the noise realisations.

    Returns
    -------
    list of SimulatedCase

    Examples
    --------
    >>> cases = builtin_simulated_cases(size=64, doses=[1000])
    >>> [c.name for c in cases]
    ['SrTiO3_001 bulk (built-in)', 'Au_110 particle (built-in)']
    """
    cases = []
    for scene in scenes:
        simulated = simulate_haadf(
            scene["material"],
            shape=(size, size),
            pixel_size_A=BUILTIN_PIXEL_SIZE_A,
            environment=scene["environment"],
            rng=scene["seed"],
        )
        pixel = float(simulated.pixel_size_A)
        for index, dose in enumerate(doses):
            clean = expected_counts(simulated.clean, dose, pixel).astype(np.float64)
            noisy = add_dose_noise(
                simulated.clean,
                dose,
                pixel,
                detector_noise=DETECTOR_NOISE,
                rng=seed + scene["seed"] * 100 + index,
            ).astype(np.float64)
            cases.append(
                SimulatedCase(
                    name=f"{scene['material']} {scene['environment']} (built-in)",
                    source="denoiser.reucid.simulation",
                    dose=float(dose),
                    dose_unit="e/Å²",
                    clean=clean,
                    noisy=noisy,
                    noise=_paper_noise(clean),
                    pixel_size_A=(pixel, pixel),
                )
            )
    return cases


@dataclass(frozen=True)
class RealImage:
    """An experimental image, as read.

    Attributes
    ----------
    name : str
        File name without extension.
    path : pathlib.Path
    image : numpy.ndarray
        2D float64 array.
    credit : str
        Where it comes from and under which licence.
    """

    name: str
    path: Path
    image: NDArray[np.float64]
    credit: str


# From shared/data/real/SOURCES.md: source repository and licence of each file.
REAL_IMAGE_CREDITS: dict[str, str] = {
    "tkrem_unknown-crystal_STEM-ADF_lowdose_1024x1024": "Ivanlh20/tk_r_em (GPL-3.0)",
    "ncempy_SrTiO3_TitanCubed-80kV_STEM-ADF_1024x1024": "ercius/openNCEM (GPL-3.0)",
    "ncempy_SrTiO3_TEAM05-200kV_STEM-ADF_1024x1024": "ercius/openNCEM (GPL-3.0)",
    "remworkflows_SrTiO3-100_Osiris-200kV_HAADF_512x512": "lukmuk/r_em_workflows (MIT)",
    "atomap_SrTiO3_ADF_summed_999x1012": "atomap-dev/atomap (GPL-3.0)",
    "statstem_PtIr-nanoparticle_HAADF_normalized_512x512": "quantitativeTEM/StatSTEM (GPL-3.0)",
    "statstem_CsPbBr3_HAADF_241x246": "quantitativeTEM/StatSTEM (GPL-3.0)",
    "temul_PbTiO3-SrRuO3_Titan-300kV_HAADF_224x1312": "PinkShnack/TEMUL (GPL-3.0)",
}
_READABLE_SUFFIXES = (".npy", ".tif", ".tiff", ".ser", ".emd", ".hdf5", ".hspy")


def estimate_noise(image: NDArray[np.float64], *, seed: int | None = 0
                   ) -> PoissonGaussianNoise:
    """The Poisson–Gaussian noise model of an image, estimated from the image alone.

    The core's one estimator (:func:`denoiser.reucid.noise.estimate_noise_model`), run as
    the default method runs it: at the image's estimated patch size capped for groups
    (:func:`grouped_patch_size`), on the central crop :func:`noise_model_region`.
    Raises ``ValueError`` for an image it cannot measure (not 2D, smaller than a
    patch, not finite, constant).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[:128, :128]
    >>> clean = 5 + 100 * np.exp(-(((x % 10) - 5.0) ** 2 + ((y % 10) - 5.0) ** 2) / 8)
    >>> noise = estimate_noise(rng.poisson(clean) + rng.normal(0.0, 3.0, clean.shape))
    >>> bool(0.8 < noise.gain < 1.2)
    True
    """
    data = np.asarray(image, dtype=np.float64)
    if data.ndim != 2 or min(data.shape) < 16:
        raise ValueError(f"Noise estimation needs a 2D image of at least 16x16, got {data.shape}.")
    if not np.all(np.isfinite(data)):
        raise ValueError("The image contains NaN or infinite values.")
    if float(np.ptp(data)) == 0.0:
        raise ValueError("The image is constant: there is no noise to measure.")
    patch_size = grouped_patch_size(data.shape, estimate_patch_size(data).patch_size)
    return estimate_noise_model(noise_model_region(data), patch_size=patch_size, seed=seed)


def _read_2d(path: Path) -> NDArray[np.float64]:
    if path.suffix == ".npy":
        array = np.load(path)
    else:
        array = read_image(path).array
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{path.name}: expected a 2D image, got shape {array.shape}.")
    return array


def real_images(root: Path | None = None) -> Iterator[RealImage]:
    """Read the shared experimental images (one per source; ``.npy`` preferred over ``.mat``).

    Parameters
    ----------
    root : pathlib.Path, optional
        The shared data folder (holding ``real/``); ``../shared/data`` by default.

    Yields
    ------
    RealImage
        Nothing when the folder is absent.

    Examples
    --------
    >>> list(real_images(Path("/nonexistent")))
    []
    """
    real = (root or DEFAULT_SHARED_DATA) / "real"
    if not real.is_dir():
        return
    for path in sorted(real.iterdir()):
        if path.suffix not in _READABLE_SUFFIXES:
            continue
        yield RealImage(
            name=path.stem,
            path=path,
            image=_read_2d(path),
            credit=REAL_IMAGE_CREDITS.get(path.stem, "see shared/data/real/SOURCES.md"),
        )
