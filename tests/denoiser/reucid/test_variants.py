"""denoise() options beyond the paper: same contract, better images, clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from denoiser.reucid import ClassifierOutputError, denoise, iter_denoise
from denoiser.reucid.noise_model import AffineVariance, VarianceStabilizer
from denoiser.reucid.variants import (
    BEST,
    FROM_VARIANT,
    PAPER,
    VariantOptions,
    resolve_variant,
)

from ._images import gaussian_lattice

BEST_OPTIONS = BEST.to_metadata()


def _noisy_lattice(dose: float = 20.0, seed: int = 0, shape=(96, 96)):
    clean = dose * (0.05 + gaussian_lattice(shape, 10.0, 2.0, offset=(5.0, 5.0)))
    rng = np.random.default_rng(seed)
    return rng.poisson(clean) + rng.normal(0.0, 0.05 * clean.max(), shape), clean


def test_the_paper_variant_is_the_papers_algorithm():
    noisy, _ = _noisy_lattice(shape=(48, 48))
    result = denoise(noisy, "mp", patch_size=5, variant="paper")
    assert PAPER.is_paper and result.options == {} and result.mode == "fast"
    assert len(result.stacks) == result.n_stacks


def test_the_default_is_the_best_variant_with_the_coarse_pilot():
    noisy, _ = _noisy_lattice(shape=(48, 48), seed=7)
    default = denoise(noisy)
    best = denoise(noisy, variant="best")
    np.testing.assert_array_equal(default.image, best.image)
    assert default.options == best.options
    assert default.options["variant"] == BEST_OPTIONS
    assert default.options["variant"]["pilot"] == "coarse"
    pilot = default.options["pilot"]
    assert pilot["kind"] == "coarse" and pilot["patch_size"] == 7 and pilot["n_kept"] >= 0
    assert default.mode == "grouped" and default.classifier == "noise-edge"
    assert json.loads(json.dumps(default.to_metadata(include_eigenpatches=False)))


def test_images_too_small_for_a_pilot_run_without_one():
    noisy, _ = _noisy_lattice(shape=(29, 40), seed=8)
    result = denoise(noisy, patch_size=5)
    assert result.options["variant"]["pilot"] == "coarse"  # asked for, not possible
    assert "pilot" not in result.options
    assert np.isfinite(result.image).all() and result.image.shape == noisy.shape
    wide_enough = denoise(_noisy_lattice(shape=(30, 40), seed=8)[0], patch_size=5)
    assert wide_enough.options["pilot"]["patch_size"] == 5


def test_the_best_variant_beats_the_paper_and_says_what_it_did():
    noisy, clean = _noisy_lattice()
    paper = denoise(noisy, "mp", patch_size=7, variant="paper")
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
    # one pass, flat average: the paper's pipeline with only these two steps changed
    result = denoise(noisy, "k=all", patch_size=5, variant="paper", stabilize="anscombe",
                     grouping=grouping, noise_model=model)
    stabilizer = VarianceStabilizer(model)
    expected = stabilizer.inverse(stabilizer.forward(noisy))
    np.testing.assert_allclose(result.image, expected, rtol=1e-5, atol=1e-4)


def test_without_stabilising_keeping_everything_gives_the_input_back():
    noisy, _ = _noisy_lattice(shape=(40, 44), seed=2)
    result = denoise(noisy, "k=all", patch_size=5, variant="paper", grouping="similar",
                     n_stacks=6)
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
    {"noise_model": AffineVariance(slope=1.0, intercept=1.0)}, {"pilot": "coarse"},
    {"pilot": "fine", "grouping": "similar"},
])
def test_bad_option_combinations_are_refused_before_any_work(options, monkeypatch):
    from denoiser.reucid import two_pass

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(two_pass, "coarse_pilot", no_work)
    noisy, _ = _noisy_lattice(shape=(32, 32))
    with pytest.raises(ValueError):
        iter_denoise(noisy, "mp", patch_size=5, variant="paper", **options)


@pytest.mark.parametrize("options", [
    {"passes": 3}, {"pilot": "fine"}, {"aggregation": "median"}, {"stabilize": "log"},
])
def test_bad_overrides_of_the_default_are_refused_when_called(options):
    noisy, _ = _noisy_lattice(shape=(32, 32))
    with pytest.raises(ValueError):
        iter_denoise(noisy, patch_size=5, **options)


def test_resolve_variant_names_and_overrides():
    assert resolve_variant() == BEST == resolve_variant("best") == resolve_variant(" Best ")
    assert resolve_variant("paper") == PAPER and resolve_variant("paper").is_paper
    assert resolve_variant(BEST) is BEST and resolve_variant(BEST_OPTIONS) == BEST
    assert resolve_variant("best", pilot=None) == VariantOptions(
        stabilize="anscombe", grouping="similar", passes=2, aggregation="weighted")
    assert resolve_variant("best", passes=1, pilot=FROM_VARIANT).passes == 1
    assert resolve_variant("paper", stabilize=FROM_VARIANT, grouping=FROM_VARIANT) == PAPER
    # a single option changes one step of the chosen variant and nothing else
    paper_grouped = resolve_variant("paper", grouping="similar")
    assert (paper_grouped.passes, paper_grouped.pilot, paper_grouped.stabilize) == (1, None, None)


def test_random_stacks_on_the_best_variant_drop_what_only_groups_can_do():
    options = resolve_variant("best", grouping="random")
    assert options == VariantOptions(stabilize="anscombe")
    assert resolve_variant("best", grouping="random", stabilize=None).is_paper


@pytest.mark.parametrize("variant", ["fastest", "", "BM3D"])
def test_unknown_variant_names_are_a_value_error(variant):
    with pytest.raises(ValueError, match="variant"):
        resolve_variant(variant)


def test_unknown_options_and_variant_types_are_a_type_error():
    with pytest.raises(TypeError, match="unknown variant options"):
        resolve_variant("best", sharpen=True)
    with pytest.raises(TypeError):
        resolve_variant(3)
    with pytest.raises(TypeError):
        denoise(np.ones((32, 32)), sharpen=True)


def test_the_coarse_pilot_needs_similar_patch_groups():
    with pytest.raises(ValueError, match="grouping='similar'"):
        resolve_variant("paper", pilot="coarse")


@pytest.mark.parametrize("garbage", [np.full(25, 0.5), np.ones(3, bool), None, "all"])
def test_with_the_pilot_a_garbage_selection_is_refused(garbage):
    class Garbage:
        def select(self, eigenpatches, eigenvalues, context=None):
            return garbage

    noisy, _ = _noisy_lattice(shape=(48, 48), seed=9)
    with pytest.raises(ClassifierOutputError):
        denoise(noisy, Garbage(), patch_size=5, n_stacks=4)


def test_with_the_pilot_a_mutating_classifier_changes_nothing():
    noisy, _ = _noisy_lattice(shape=(48, 48), seed=3)
    hostile = denoise(noisy, _Scribbler(), patch_size=5)
    honest = denoise(noisy, "k=3", patch_size=5)
    assert hostile.options["pilot"] == honest.options["pilot"]
    np.testing.assert_allclose(hostile.image, honest.image, rtol=1e-6, atol=1e-6)
    for a, b in zip(hostile.stacks, honest.stacks):
        np.testing.assert_array_equal(a.eigenpatches, b.eigenpatches)
        np.testing.assert_array_equal(a.kept, b.kept)


def test_the_command_line_runs_the_best_variant(tmp_path):
    from denoiser.reucid.cli import main
    from denoiser.reucid.io import read_image

    noisy, _ = _noisy_lattice(shape=(64, 64), seed=5)
    source = tmp_path / "in.npy"
    np.save(source, noisy)
    target = tmp_path / "out.tif"
    assert main(["denoise", str(source), "-o", str(target), "--classifier", "noise-edge",
                 "--best", "--quiet"]) == 0
    written = read_image(target)
    assert written.array.shape == noisy.shape
    assert written.metadata["reucid"]["options"]["variant"] == BEST_OPTIONS
    # two passes need groups: with the paper's random stacks that is a clear error
    assert main(["denoise", str(source), "-o", str(target), "--paper", "--passes", "2"]) == 2


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
