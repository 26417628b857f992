"""Builders for survey tests: a small exact patch decomposition and ready-made images.

The survey tests build their own decomposition (plain SVD of all patches) so they stand on
their own and stay fast; one test in test_images.py runs the real core.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.utils import timezone

from survey.models import Respondent, Survey, SurveyImage
from survey.services.images import add_survey_image, generate_candidates


@dataclass
class ToyDecomposition:
    """Exact eigendecomposition of all p×p patches; overlap-add reconstructions."""

    image: np.ndarray
    patch_size: int
    n_components: int

    def __post_init__(self) -> None:
        p = self.patch_size
        windows = np.lib.stride_tricks.sliding_window_view(self.image.astype(np.float64),
                                                           (p, p))
        self._grid = windows.shape[:2]
        self._patches = windows.reshape(-1, p * p)
        # Eigenvectors of the small p²×p² scatter matrix = right singular vectors.
        values, vectors = np.linalg.eigh(self._patches.T @ self._patches)
        order = np.argsort(values)[::-1][: self.n_components]
        self._basis = vectors[:, order].T
        self.eigenvalues = (values[order] / len(self._patches)).astype(np.float32)
        self.eigenpatches = self._basis.reshape(-1, p, p).astype(np.float32)

    def reconstruct(self, k: int) -> np.ndarray:
        p = self.patch_size
        basis = self._basis[:k]
        projected = (self._patches @ basis.T) @ basis
        out = np.zeros(self.image.shape)
        terrain = np.zeros(self.image.shape)
        rows, cols = self._grid
        patches = projected.reshape(rows, cols, p, p)
        for dr in range(p):
            for dc in range(p):
                out[dr:dr + rows, dc:dc + cols] += patches[:, :, dr, dc]
                terrain[dr:dr + rows, dc:dc + cols] += 1
        return (out / terrain).astype(np.float32)


def toy_decompose(image, *, n_components: int, seed: int) -> ToyDecomposition:
    return ToyDecomposition(image=np.asarray(image), patch_size=5, n_components=n_components)


def lattice_image(*, size: int = 40, dose: float = 20.0, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian-column lattice and a Poisson-noisy copy of it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    clean = np.zeros((size, size))
    for r in range(3, size, 8):
        for c in range(3, size, 8):
            clean += np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * 1.5**2))
    clean = dose * (0.1 + clean)
    return rng.poisson(clean).astype(np.float32), clean.astype(np.float32)


def make_survey(**options) -> Survey:
    values = {"name": "Test survey", "slug": "test", "k_max": 8}
    values.update(options)
    return Survey.objects.create(**values)


def make_ready_image(survey: Survey, *, seed: int = 0, with_clean: bool = True,
                     title: str | None = None, candidate_method: str = "paper",
                     size: int = 40) -> SurveyImage:
    """A ready image: "paper" candidates from the toy decomposition (fast), or "best"
    candidates from a real run of the default method."""
    noisy, clean = lattice_image(seed=seed, size=size)
    image = add_survey_image(survey=survey, noisy=noisy, clean=clean if with_clean else None,
                             title=title or f"Lattice {seed}", source="simulated",
                             material="toy", dose=20.0, pixel_size=(0.2, 0.2),
                             make_candidates=False, candidate_method=candidate_method)
    return generate_candidates(image.id, decompose=toy_decompose)


def make_respondent(expertise: str = "expert", **options) -> Respondent:
    return Respondent.objects.create(consented_at=timezone.now(), expertise=expertise,
                                     **options)
