"""Stabilise, group, two passes, weighted aggregation: better images from the same decomposition."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import InvalidImageError, denoise
from denoiser.reucid.grouped import pipeline
from denoiser.reucid.grouped.pilot import CoarsePilot, coarse_patch_size
from denoiser.reucid.grouped.pipeline import denoise_grouped
from denoiser.reucid.noise import PoissonGaussianNoise, VarianceStabilizer
from denoiser.reucid.paper.terrain import patch_terrain
from denoiser.reucid.selection import FixedRank, MarchenkoPastur, NoiseEdge

from .._images import gaussian_lattice


def _noisy_lattice(dose: float, seed: int = 0, shape=(96, 96)):
    clean = dose * (0.05 + gaussian_lattice(shape, 10.0, 2.0, offset=(5.0, 5.0)))
    rng = np.random.default_rng(seed)
    noisy = rng.poisson(clean) + rng.normal(0.0, 0.05 * clean.max(), shape)
    return noisy, clean


def _mse(estimate, clean):
    return float(np.mean((estimate - clean) ** 2))


def test_each_step_removes_noise_and_the_result_beats_the_paper_pipeline():
    noisy, clean = _noisy_lattice(20.0)
    outcome = denoise_grouped(noisy, patch_size=7, classifier=NoiseEdge(), pilot=None)
    first, second = (_mse(image, clean) for image in outcome.pass_images)
    paper = _mse(denoise(noisy, "mp", patch_size=7, variant="paper").image, clean)
    assert second < first < 0.2 * _mse(noisy, clean)
    assert second < 0.5 * paper


def test_stabilising_helps_at_low_dose():
    noisy, clean = _noisy_lattice(5.0, seed=1)
    stabilised = denoise_grouped(noisy, patch_size=7, classifier=NoiseEdge(), pilot=None)
    plain = denoise_grouped(noisy, patch_size=7, classifier=MarchenkoPastur(), stabilize=False, pilot=None)
    assert _mse(stabilised.image, clean) < _mse(plain.image, clean)


def _float32_rounding(data):
    """What float32 products over patches may leave of the identity: a few ulp of the data."""
    return 4e-6 * float(np.abs(data).max())


def test_keeping_everything_in_one_pass_is_the_identity_up_to_the_transform():
    noisy, _ = _noisy_lattice(20.0, seed=2, shape=(48, 56))
    model = PoissonGaussianNoise.from_affine_variance(slope=1.0, intercept=4.0)
    plain = denoise_grouped(noisy, patch_size=5, classifier=FixedRank("all"), passes=1,
                            stabilize=False, noise_model=model, pilot=None)
    # the default method works in float32 (WORKING_DTYPE): identity to its rounding (the
    # data's local means change nothing where the estimate is the data)
    np.testing.assert_allclose(plain.image, noisy, rtol=0, atol=_float32_rounding(noisy))
    stabilised = denoise_grouped(noisy, patch_size=5, classifier=FixedRank("all"), passes=1,
                                 noise_model=model, pilot=None, local_means=False)
    # exact in the stabilised domain; the unbiased inverse is meant for denoised values,
    # so the round trip to detector units goes through the algebraic inverse
    stabilizer = VarianceStabilizer(model)
    np.testing.assert_allclose(stabilised.image, stabilizer.inverse(stabilizer.forward(noisy)),
                               rtol=0, atol=_float32_rounding(noisy))


def test_input_untouched_and_results_reproducible():
    noisy, _ = _noisy_lattice(20.0, seed=3, shape=(64, 64))
    before = noisy.copy()
    first = denoise_grouped(noisy, patch_size=5, classifier=NoiseEdge(), seed=4, pilot=None)
    second = denoise_grouped(noisy, patch_size=5, classifier=NoiseEdge(), seed=4, pilot=None)
    np.testing.assert_array_equal(noisy, before)
    np.testing.assert_array_equal(first.image, second.image)
    assert len(first.groups) == 2 and first.noise_model.slope > 0


@pytest.mark.parametrize("options", [{"stabilize": "log"}, {"passes": 3},
                                     {"aggregation": "max"}])
def test_unknown_options_are_refused(options):
    noisy, _ = _noisy_lattice(20.0, shape=(32, 32))
    with pytest.raises(ValueError):
        denoise_grouped(noisy, patch_size=5, classifier=NoiseEdge(), **options, pilot=None)


@pytest.mark.parametrize("pilot", [None, "coarse"])
@pytest.mark.parametrize("aggregation", ["flat", "weighted"])
def test_pass_weights_lie_in_zero_one_and_bound_the_change_to_the_data(pilot, aggregation):
    # Keeping every eigenpatch, each patch estimate is  mean + V diag(w) V^T (x - mean)
    # with the group's own orthonormal basis V and w in [0, 1], so it moves from the
    # data patch x by at most |x - mean| (restoring outliers only shrinks that residual);
    # an average of such estimates with positive weights moves each pixel by at most a
    # convex combination of theirs.  Summed over the image, with the group's scatter
    # being the sum of its eigenvalues:
    #     sum_pixels coverage * (out - data)²  <=  sum_groups sum(eigenvalues)
    # with coverage = the overlap count for a flat average (1 is always a valid floor).
    noisy, _ = _noisy_lattice(20.0, seed=5, shape=(64, 72))
    outcome = denoise_grouped(noisy, patch_size=5, classifier=FixedRank("all"),
                              stabilize=False, passes=2, aggregation=aggregation,
                              n_groups=8, pilot=pilot)
    assert (outcome.pilot is None) == (pilot is None)
    for pass_index, (groups, image) in enumerate(zip(outcome.groups, outcome.pass_images)):
        weights = np.concatenate([g.mean_weight for g in groups])
        assert all(g.kept.all() for g in groups)
        assert weights.min() >= 0.0 and weights.max() <= 1.0 + 1e-6
        weighted = pass_index > 0 or pilot is not None
        # without a pilot the first pass keeps everything with weight one: the input back
        assert weighted == bool(weights.min() < 1.0 - 1e-6)
        if not weighted:
            np.testing.assert_allclose(image, noisy, rtol=0, atol=_float32_rounding(noisy))
        coverage = patch_terrain(np.ones((60, 68), bool), 5) if aggregation == "flat" else 1
        scatter = sum(float(g.eigenvalues.sum()) for g in groups)
        assert float(np.sum(coverage * (image - noisy) ** 2)) <= scatter * (1 + 1e-5)
        assert image.min() >= noisy.min() - np.sqrt(scatter)
        assert image.max() <= noisy.max() + np.sqrt(scatter)


def test_the_pilot_chooses_weights_but_never_enters_as_pixels(monkeypatch):
    noisy, _ = _noisy_lattice(20.0, seed=6, shape=(48, 52))
    rng = np.random.default_rng(0)
    seen = []

    def hostile_pilot(image, *, seed=0):
        seen.append(image.shape)
        # pixels 1e12 times brighter than the data, in a pattern it never had (so bright
        # that no coefficient of it on a group's eigenpatches is near the noise level)
        return CoarsePilot(image=1e12 * rng.normal(size=image.shape), patch_size=5, n_kept=1)

    monkeypatch.setattr(pipeline, "coarse_pilot", hostile_pilot)
    outcome = denoise_grouped(noisy, patch_size=5, classifier=FixedRank("all"),
                              stabilize=False, passes=2, n_groups=6, pilot="coarse")
    assert seen == [noisy.shape] and outcome.pilot["kind"] == "coarse"
    # in the first pass (the one the pilot serves) every weight ends near one, so every
    # patch is rebuilt from its own components alone: the data come back and nothing of
    # the pilot's pixels shows
    np.testing.assert_allclose(outcome.pass_images[0], noisy, atol=1e-6 * np.abs(noisy).max())
    assert min(g.mean_weight.min() for g in outcome.groups[0]) > 1.0 - 1e-6


def test_the_default_denoise_runs_this_with_the_coarse_pilot():
    noisy, clean = _noisy_lattice(20.0, seed=7)
    default = denoise(noisy)
    assert default.options["pilot"] == "coarse"
    assert default.pilot["patch_size"] == coarse_patch_size(noisy.shape)
    without = denoise(noisy, pilot=None)
    assert without.pilot is None and without.options["pilot"] is None
    paper = denoise(noisy, "mp", variant="paper")
    # on a perfect lattice: the default keeps each column's own intensity, so it beats the
    # paper's pipeline by less than a lattice average would
    assert _mse(default.image, clean) < 0.75 * _mse(paper.image, clean)


def test_reusing_the_grouping_of_the_same_image_changes_nothing():
    noisy, _ = _noisy_lattice(20.0, seed=9, shape=(64, 64))
    first = denoise_grouped(noisy, patch_size=5, n_groups=6)
    again = denoise_grouped(noisy, patch_size=5, n_groups=6, grouping=first.grouping)
    assert len(first.grouping) == 2 and again.grouping[1] is first.grouping[1]
    np.testing.assert_array_equal(again.image, first.image)
    # without a pilot the first pass groups on the data: reused the same way
    plain = denoise_grouped(noisy, patch_size=5, n_groups=6, pilot=None)
    replain = denoise_grouped(noisy, patch_size=5, n_groups=6, pilot=None,
                              grouping=plain.grouping)
    np.testing.assert_array_equal(replain.image, plain.image)


@pytest.mark.parametrize("bad", ["one pass only", "not a grouping", "other patch size"])
def test_a_grouping_that_does_not_fit_is_refused_before_any_work(bad, monkeypatch):
    noisy, _ = _noisy_lattice(20.0, seed=10, shape=(48, 48))
    earlier = denoise_grouped(noisy, patch_size=5, n_groups=4).grouping
    grouping, patch_size = {"one pass only": (earlier[:1], 5),
                            "not a grouping": (("x", "y"), 5),
                            "other patch size": (earlier, 7)}[bad]

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the grouping was checked")

    monkeypatch.setattr(pipeline, "coarse_pilot", no_work)
    monkeypatch.setattr(pipeline, "estimate_noise_model", no_work)
    with pytest.raises(ValueError, match="grouping"):
        denoise_grouped(noisy, patch_size=patch_size, n_groups=4, grouping=grouping)


def test_noise_below_the_working_precision_becomes_its_resolution():
    faint = np.add.outer(np.arange(41.0), np.arange(38.0)) * 1e-12
    resolution = float(np.finfo(np.float32).eps) * faint.max()
    # a noiseless image's estimate: no gain, a sigma far below float32's rounding
    raised = pipeline.resolvable_noise(PoissonGaussianNoise(gain=0.0, sigma=1e-150), faint)
    assert raised.gain == 0.0 and raised.sigma == pytest.approx(resolution)
    tiny_gain = pipeline.resolvable_noise(PoissonGaussianNoise(gain=1e-300), faint)
    assert tiny_gain.gain == 0.0 and tiny_gain.sigma == pytest.approx(resolution)
    # a Poisson part far below the read noise's resolution is dropped, the read noise kept
    counts = faint * 1e14
    read = pipeline.resolvable_noise(PoissonGaussianNoise(gain=1e-20, sigma=3.0, offset=2.0),
                                     counts)
    assert (read.gain, read.sigma, read.offset) == (0.0, 3.0, 2.0)
    # a detector's model is left as it is
    model = PoissonGaussianNoise(gain=1.5, sigma=0.5)
    assert pipeline.resolvable_noise(model, counts) is model


@pytest.mark.parametrize("model", [PoissonGaussianNoise(gain=0.0, sigma=1e-150),
                                   PoissonGaussianNoise(gain=1e-300, sigma=0.0)])
def test_a_noise_model_below_float32_gives_a_finite_output(model):
    faint = (np.add.outer(np.arange(41), np.arange(38)) * 1e-12).astype(np.float32)
    result = denoise(faint, noise_model=model, seed=0, patch_size=5)
    assert np.isfinite(result.image).all()
    assert result.noise_model.sigma > 0
    # nothing but the data's own values: within the input's range
    assert faint.min() - 1e-15 <= result.image.min() and result.image.max() <= faint.max() + 1e-15


@pytest.mark.parametrize("exponent", [100, -90])
def test_an_image_in_any_units_gives_the_same_image_in_those_units(exponent):
    # 1e30 or 1e-27: squares of such values leave float32, and the method used to stop
    # with "Eigenvalues did not converge"; a power of two changes no digit
    noisy, _ = _noisy_lattice(20.0, seed=8, shape=(64, 64))
    factor = 2.0**exponent
    model = PoissonGaussianNoise(gain=1.0, sigma=2.0)
    plain = denoise_grouped(noisy, noise_model=model)
    scaled = denoise_grouped(noisy * factor, noise_model=PoissonGaussianNoise(
        gain=factor, sigma=2.0 * factor))
    np.testing.assert_array_equal(scaled.image.astype(np.float64) / factor,
                                  plain.image.astype(np.float64))
    assert scaled.noise_model.gain == pytest.approx(factor)
    estimated = denoise_grouped(noisy * factor)
    reference = denoise_grouped(noisy)
    np.testing.assert_array_equal(estimated.image.astype(np.float64) / factor,
                                  reference.image.astype(np.float64))
    assert estimated.noise_model.gain == pytest.approx(reference.noise_model.gain * factor)


@pytest.mark.parametrize("factor", [1e40, 1e-33])
def test_values_float32_cannot_return_are_refused_clearly(factor):
    noisy, _ = _noisy_lattice(20.0, seed=8, shape=(48, 48))
    with pytest.raises(InvalidImageError, match="float32"):
        denoise_grouped(noisy * factor)
