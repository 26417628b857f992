"""Small inputs for the benchmark harness tests, made by the project itself."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.data import SimulatedCase
from denoiser.reucid.noise import PoissonGaussianNoise
from tests.benchmarks.images import lattice


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
