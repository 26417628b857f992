"""The issue-9 rows are registered and run through denoise() options."""
from __future__ import annotations

import numpy as np

from benchmarks.methods import MethodContext, default_methods
from denoiser.reucid.anscombe import PoissonGaussianNoise

ROWS = ("REUCID + GAT (paper stacks), MP", "REUCID beyond, noise-edge",
        "REUCID beyond, classifier", "REUCID beyond, true noise model")


def test_variant_rows_are_registered_and_available():
    methods = default_methods()
    for name in ROWS:
        assert name in methods
        assert methods[name].available() is None
    assert methods["REUCID beyond, true noise model"].needs_ground_truth


def test_a_variant_row_denoises_a_small_lattice():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:64, :64]
    clean = 20 * (0.05 + np.exp(-(((x % 10) - 5.0) ** 2 + ((y % 10) - 5.0) ** 2) / 8))
    noisy = rng.poisson(clean) + rng.normal(0.0, 1.0, clean.shape)
    before = noisy.copy()
    context = MethodContext(noise=PoissonGaussianNoise(gain=1.0, sigma=1.0), clean=clean)
    estimate = default_methods()["REUCID beyond, true noise model"].run(noisy, context=context)
    np.testing.assert_array_equal(noisy, before)
    assert np.mean((estimate - clean) ** 2) < 0.1 * np.mean((noisy - clean) ** 2)
