"""denoise() options beyond the paper: same contract, better images, clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from denoiser.reucid import denoise, iter_denoise
from denoiser.reucid.noise_model import AffineVariance, VarianceStabilizer
from denoiser.reucid.variants import BEST, PAPER

from ._images import gaussian_lattice

BEST_OPTIONS = BEST.to_metadata()


def _noisy_lattice(dose: float = 20.0, seed: int = 0, shape=(96, 96)):
    clean = dose * (0.05 + gaussian_lattice(shape, 10.0, 2.0, offset=(5.0, 5.0)))
    rng = np.random.default_rng(seed)
    return rng.poisson(clean) + rng.normal(0.0, 0.05 * clean.max(), shape), clean


def test_the_defaults_are_the_papers_algorithm():
    noisy, _ = _noisy_lattice(shape=(48, 48))
    result = denoise(noisy, "mp", patch_size=5)
    assert PAPER.is_paper and result.options == {} and result.mode == "fast"


def test_the_best_variant_beats_the_paper_and_says_what_it_did():
    noisy, clean = _noisy_lattice()
    paper = denoise(noisy, "mp", patch_size=7)
    best = denoise(noisy, "noise-edge", patch_size=7, **BEST_OPTIONS)
    assert best.image.dtype == np.float32 and best.image.shape == noisy.shape
    error = lambda image: float(np.mean((image - clean) ** 2))
    assert error(best.image) < 0.5 * error(paper.image)
    meta = json.loads(json.dumps(best.to_metadata(include_eigenpatches=False)))
    assert meta["options"]["variant"] == BEST_OPTIONS
    assert meta["options"]["noise_model"]["slope"] > 0
    assert meta["n_stacks"] == len(best.stacks) > 1


@pytest.mark.parametrize("grouping", ["random", "similar"])
def test_keeping_everything_is_exact_in_the_stabilised_domain(grouping):
    noisy, _ = _noisy_lattice(shape=(40, 44), seed=1)
    model = AffineVariance(slope=1.0, intercept=4.0)
    result = denoise(noisy, "k=all", patch_size=5, stabilize="anscombe", grouping=grouping,
                     noise_model=model)
    stabilizer = VarianceStabilizer(model)
    expected = stabilizer.inverse(stabilizer.forward(noisy))
    np.testing.assert_allclose(result.image, expected, rtol=1e-5, atol=1e-4)


def test_without_stabilising_keeping_everything_gives_the_input_back():
    noisy, _ = _noisy_lattice(shape=(40, 44), seed=2)
    result = denoise(noisy, "k=all", patch_size=5, grouping="similar", n_stacks=6)
    np.testing.assert_allclose(result.image, noisy, rtol=1e-5, atol=1e-3)


class _Scribbler:
    """Ruins the arrays it is given and keeps the first three components."""

    def select(self, eigenpatches, eigenvalues, context=None):
        eigenpatches[...] = 1e9
        eigenvalues[...] = np.nan
        return np.arange(len(eigenvalues)) < 3


def test_a_classifier_cannot_inject_pixels_into_the_grouped_path():
    noisy, _ = _noisy_lattice(shape=(48, 48), seed=3)
    options = dict(BEST_OPTIONS, passes=1)
    hostile = denoise(noisy, _Scribbler(), patch_size=5, **options)
    honest = denoise(noisy, "k=3", patch_size=5, **options)
    np.testing.assert_allclose(hostile.image, honest.image, rtol=1e-6, atol=1e-6)


def test_progress_is_reported_group_by_group():
    noisy, _ = _noisy_lattice(shape=(64, 64), seed=4)
    steps = list(iter_denoise(noisy, "noise-edge", patch_size=5, n_stacks=8, **BEST_OPTIONS))
    indices = [s.stack_index for s in steps]
    assert indices == sorted(indices) and indices[-1] == steps[-1].n_stacks - 1
    assert steps[-1].final is not None and all(s.final is None for s in steps[:-1])
    assert all(np.isfinite(s.image).all() for s in steps)


@pytest.mark.parametrize("options", [
    {"stabilize": "sqrt"}, {"grouping": "nearest"}, {"passes": 3}, {"passes": 2},
    {"aggregation": "weighted"}, {"aggregation": "median", "grouping": "similar"},
    {"noise_model": AffineVariance(slope=1.0, intercept=1.0)},
])
def test_bad_option_combinations_are_refused_before_any_work(options):
    noisy, _ = _noisy_lattice(shape=(32, 32))
    with pytest.raises(ValueError):
        iter_denoise(noisy, "mp", patch_size=5, **options)


def test_the_command_line_runs_the_best_variant(tmp_path):
    from denoiser.reucid.cli import main
    from denoiser.reucid.io import read_image

    noisy, _ = _noisy_lattice(shape=(64, 64), seed=5)
    source = tmp_path / "in.npy"
    np.save(source, noisy)
    target = tmp_path / "out.tif"
    assert main(["denoise", str(source), "-o", str(target), "--classifier", "noise-edge",
                 "--best", "--quiet"]) == 0
    assert read_image(target).array.shape == noisy.shape
    assert main(["denoise", str(source), "-o", str(target), "--passes", "2"]) == 2


class _Recorder:
    """Keeps the first component and remembers how many it was shown."""

    def __init__(self):
        self.shown = set()

    def select(self, eigenpatches, eigenvalues, context=None):
        self.shown.add(len(eigenvalues))
        return np.arange(len(eigenvalues)) < 1


def test_a_group_shows_the_classifier_its_leading_n_components_eigenpatches():
    noisy, _ = _noisy_lattice(shape=(48, 48), seed=6)
    recorder = _Recorder()
    result = denoise(noisy, recorder, patch_size=7, n_components=20, **BEST_OPTIONS)
    assert recorder.shown == {20}
    assert all(len(stack.kept) == 49 and not stack.kept[20:].any() for stack in result.stacks)
