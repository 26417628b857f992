"""Small inputs for the benchmark harness tests, made by the project itself."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.data import SimulatedCase
from denoiser.reucid.anscombe import PoissonGaussianNoise


def lattice(shape: tuple[int, int] = (64, 64), *, spacing: float = 8.0, width: float = 1.6,
            peak: float = 60.0, background: float = 5.0) -> np.ndarray:
    """Expected counts of a square lattice of Gaussian atomic columns."""
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype(float)
    dr = (rows % spacing) - spacing / 2
    dc = (cols % spacing) - spacing / 2
    return background + peak * np.exp(-(dr**2 + dc**2) / (2 * width**2))


@pytest.fixture
def tiny_case() -> SimulatedCase:
    clean = lattice()
    rng = np.random.default_rng(3)
    sigma = 0.05 * clean.max()
    noisy = rng.poisson(clean) + rng.normal(0.0, sigma, clean.shape)
    return SimulatedCase(
        name="tiny lattice", source="test", dose=1000.0, dose_unit="e/Å²", clean=clean,
        noisy=noisy, noise=PoissonGaussianNoise(gain=1.0, sigma=sigma), pixel_size_A=(0.2, 0.2),
    )
