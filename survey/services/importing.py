"""Bulk-adding survey images: from a folder of files, or simulated by the training app."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from denoiser.reucid.simulation import add_dose_noise, expected_counts, simulate_haadf
from survey.arrays import read_image_file
from survey.models import Survey, SurveyImage
from survey.services.images import add_survey_image

IMAGE_SUFFIXES = {".tif", ".tiff", ".dm3", ".dm4", ".emd", ".ser", ".mrc", ".h5", ".hdf5",
                  ".hspy", ".npy", ".npz"}


@dataclass(frozen=True)
class ImageSource:
    """One image found in a file: the arrays and what to record about them."""

    key: str  # unique description of where it came from (path, array name)
    title: str
    noisy: np.ndarray
    clean: np.ndarray | None
    pixel_size: tuple[float, float] | None
    dose: float | None
    source: str
    material: str


def _npz_sources(path: Path, doses: Sequence[float] | None) -> Iterator[ImageSource]:
    """The shared simulation format (``noisy_D``/``clean_D``/``pixel_size_A``) or a plain
    ``noisy`` (+ ``clean``, ``pixel_size``) archive."""
    with np.load(path, allow_pickle=False) as data:
        names = set(data.files)
        pixel = None
        for key in ("pixel_size_A", "pixel_size"):
            if key in names:
                values = np.atleast_1d(data[key]).astype(float)
                pixel = (float(values[0]), float(values[-1]))
        material = path.stem.rsplit("_", 1)[0] if "_" in path.stem else path.stem
        if "noisy" in names:
            yield ImageSource(
                key=f"{path}", title=path.stem, noisy=data["noisy"],
                clean=data["clean"] if "clean" in names else None, pixel_size=pixel,
                dose=float(data["dose"]) if "dose" in names else None,
                source=SurveyImage.Source.SIMULATED if "clean" in names
                else SurveyImage.Source.EXPERIMENTAL, material=material)
            return
        found = sorted((float(n.split("_", 1)[1]), n) for n in names
                       if n.startswith("noisy_") and n.split("_", 1)[1].replace(".", "").isdigit())
        for dose, name in found:
            if doses and dose not in doses:
                continue
            clean_name = "clean_" + name.split("_", 1)[1]
            yield ImageSource(
                key=f"{path}#{name}", title=f"{path.stem} · dose {dose:g}",
                noisy=data[name], clean=data[clean_name] if clean_name in names else None,
                pixel_size=pixel, dose=dose, source=SurveyImage.Source.SIMULATED,
                material=material)


def find_image_sources(folder: Path, *, doses: Sequence[float] | None = None,
                       recursive: bool = False) -> Iterator[ImageSource]:
    """Every image in `folder` (microscope formats, ``.npy``, ``.npz`` simulations)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    paths = folder.rglob("*") if recursive else folder.iterdir()
    for path in sorted(p for p in paths if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        if path.suffix.lower() == ".npz":
            yield from _npz_sources(path, doses)
            continue
        noisy, pixel = read_image_file(path)
        yield ImageSource(key=str(path), title=path.stem, noisy=noisy, clean=None,
                          pixel_size=pixel, dose=None, source=SurveyImage.Source.EXPERIMENTAL,
                          material="")


def import_sources(survey: Survey, sources: Iterator[ImageSource], *,
                   make_candidates: bool = True) -> tuple[list[SurveyImage], list[str]]:
    """Add each source not already in the survey (same `key`); returns (added, skipped)."""
    added, skipped = [], []
    for item in sources:
        if survey.images.filter(source_detail=item.key[:500]).exists():
            skipped.append(item.key)
            continue
        added.append(add_survey_image(
            survey=survey, noisy=item.noisy, clean=item.clean, title=item.title,
            source=item.source, source_detail=item.key, material=item.material, dose=item.dose,
            pixel_size=item.pixel_size, make_candidates=make_candidates))
    return added, skipped


def simulated_sources(*, materials: Sequence[str], doses: Sequence[float],
                      shape: tuple[int, int] = (128, 128), seed: int = 0) -> Iterator[ImageSource]:
    """HAADF images from the training app's simulator, one per (material, dose), with
    ground truth (expected counts) and the Poisson + detector noise of the paper."""
    for index, material in enumerate(materials):
        simulated = simulate_haadf(material, shape=shape, rng=seed + index)
        for dose in doses:
            noise_seed = seed + 1000 * (index + 1) + int(dose)
            yield ImageSource(
                key=f"simulated:{material}:{shape[0]}x{shape[1]}:dose={dose:g}:seed={seed + index}",
                title=f"{material} · simulated · {dose:g} e/Å²",
                noisy=add_dose_noise(simulated.clean, dose, simulated.pixel_size_A,
                                     rng=noise_seed),
                clean=expected_counts(simulated.clean, dose, simulated.pixel_size_A),
                pixel_size=(simulated.pixel_size_A, simulated.pixel_size_A), dose=float(dose),
                source=SurveyImage.Source.SIMULATED, material=material)
