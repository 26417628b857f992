"""The issue-9 rows and the paper rows call denoise() with the variant they are named after."""
from __future__ import annotations

import numpy as np
import pytest

import denoiser.reucid
from benchmarks import variants
from benchmarks.methods import MethodContext, default_methods
from denoiser.reucid.noise import PoissonGaussianNoise

ROWS = (variants.DEFAULT, variants.DEFAULT_CNN, variants.DEFAULT_TRUE_NOISE,
        variants.NO_PILOT)
PAPER_ROWS = ("REUCID paper, CNN classifier", "REUCID paper, MP-PCA rank",
              "REUCID paper, Gavish–Donoho rank")


@pytest.fixture
def small_lattice():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:64, :64]
    clean = 20 * (0.05 + np.exp(-(((x % 10) - 5.0) ** 2 + ((y % 10) - 5.0) ** 2) / 8))
    noisy = rng.poisson(clean) + rng.normal(0.0, 1.0, clean.shape)
    context = MethodContext(noise=PoissonGaussianNoise(gain=1.0, sigma=1.0), clean=clean)
    return clean, noisy, context


@pytest.fixture
def recorded_calls(monkeypatch):
    """Every denoise() call's classifier and options, the call itself still made."""
    calls = []
    real = denoiser.reucid.denoise

    def recording(image, classifier=None, **options):
        calls.append({"classifier": classifier, **options})
        return real(image, classifier, **options)

    monkeypatch.setattr(denoiser.reucid, "denoise", recording)
    return calls


def test_variant_rows_are_registered_and_available():
    methods = default_methods()
    for name in ROWS:
        assert name in methods
        assert methods[name].available() is None
    assert methods[variants.DEFAULT_TRUE_NOISE].needs_ground_truth
    assert not methods[variants.DEFAULT].needs_ground_truth


def test_rows_ask_denoise_for_their_variant(small_lattice, recorded_calls):
    _, noisy, context = small_lattice
    methods = default_methods()
    for name in (*PAPER_ROWS, variants.DEFAULT, variants.NO_PILOT, variants.DEFAULT_CNN):
        methods[name].run(noisy, context=context)
    by_row = dict(zip((*PAPER_ROWS, variants.DEFAULT, variants.NO_PILOT, variants.DEFAULT_CNN),
                      recorded_calls))
    for name in PAPER_ROWS:
        assert by_row[name]["variant"] == "paper", name
    # the default row is denoise() exactly as a user calls it
    default = by_row[variants.DEFAULT]
    assert default["classifier"] is None and "variant" not in default and "pilot" not in default
    assert by_row[variants.NO_PILOT]["pilot"] is None
    assert by_row[variants.DEFAULT_CNN]["classifier"] == "cnn"


def test_the_default_row_denoises_a_small_lattice_without_touching_it(small_lattice):
    clean, noisy, context = small_lattice
    before = noisy.copy()
    for name in (variants.DEFAULT, variants.DEFAULT_TRUE_NOISE):
        estimate = default_methods()[name].run(noisy, context=context)
        np.testing.assert_array_equal(noisy, before)
        assert np.mean((estimate - clean) ** 2) < 0.1 * np.mean((noisy - clean) ** 2)
