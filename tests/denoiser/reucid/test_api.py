"""denoise(): one entry, two methods; every option is honoured by its method or refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from denoiser.reucid import (
    ClassifierOutputError,
    GroupedResult,
    PaperResult,
    PoissonGaussianNoise,
    denoise,
    denoise_series,
    iter_denoise,
    method_options,
)
from denoiser.reucid.grouped import pipeline as grouped_pipeline
from denoiser.reucid.grouped.local_means import restore_local_means
from denoiser.reucid.noise import VarianceStabilizer

from ._images import gaussian_lattice


def _noisy_lattice(dose: float = 20.0, seed: int = 0, shape=(96, 96)):
    clean = dose * (0.05 + gaussian_lattice(shape, 10.0, 2.0, offset=(5.0, 5.0)))
    rng = np.random.default_rng(seed)
    return rng.poisson(clean) + rng.normal(0.0, 0.05 * clean.max(), shape), clean


PAPER_ONLY = {"n_stacks": 2, "mode": "reference", "memory_budget": 10**9, "sample_size": 500,
              "backend": "numpy", "workers": 1, "svd_method": "gram"}
BEST_ONLY = {"n_groups": 4, "passes": 1, "pilot": None, "aggregation": "weighted",
             "centre": True, "destripe": False,
             "stabilize": False, "noise_model": PoissonGaussianNoise(gain=1.0, sigma=2.0)}


def test_each_method_has_its_own_options_and_result_type():
    assert set(PAPER_ONLY) <= set(method_options("paper"))
    assert set(BEST_ONLY) <= set(method_options("best"))
    assert not set(PAPER_ONLY) & set(method_options("best"))
    assert not set(BEST_ONLY) & set(method_options("paper"))
    noisy, _ = _noisy_lattice(shape=(48, 48))
    assert isinstance(denoise(noisy, "mp", variant="paper", patch_size=5), PaperResult)
    assert isinstance(denoise(noisy, patch_size=5), GroupedResult)


@pytest.mark.parametrize("name", sorted(PAPER_ONLY))
def test_options_of_the_paper_method_are_refused_by_the_default(name):
    noisy, _ = _noisy_lattice(shape=(32, 32))
    with pytest.raises(ValueError, match=f"option '{name}' is not used by the default method"):
        denoise(noisy, **{name: PAPER_ONLY[name]})


@pytest.mark.parametrize("name", sorted(BEST_ONLY))
def test_options_of_the_default_method_are_refused_by_the_paper_method(name):
    noisy, _ = _noisy_lattice(shape=(32, 32))
    with pytest.raises(ValueError, match=f"option '{name}' is not used by the paper"):
        denoise(noisy, "mp", variant="paper", **{name: BEST_ONLY[name]})


@pytest.mark.parametrize("variant", ["best", "paper"])
def test_unknown_options_are_a_type_error_naming_them(variant):
    with pytest.raises(TypeError, match="unknown option 'sharpen'"):
        denoise(np.ones((32, 32)), variant=variant, sharpen=True)


@pytest.mark.parametrize("variant", ["fastest", "", "BM3D", None])
def test_unknown_variants_are_refused(variant):
    with pytest.raises(ValueError, match="variant"):
        denoise(np.ones((32, 32)), variant=variant)


# --- the paper method honours each of its options --------------------------------------

def _paper(noisy, **options):
    return denoise(noisy, options.pop("classifier", "k=3"), variant="paper",
                   patch_size=options.pop("patch_size", 5), **options)


def test_paper_n_stacks_seed_and_n_components_are_honoured():
    noisy, _ = _noisy_lattice(shape=(48, 48))
    assert _paper(noisy, n_stacks=3).n_stacks == 3
    assert len(_paper(noisy, n_stacks=3).stacks) == 3
    assert _paper(noisy, n_components=7).n_components == 7
    assert len(_paper(noisy, n_components=7).stacks[0].eigenvalues) == 7
    a, b = _paper(noisy, n_stacks=2, seed=1), _paper(noisy, n_stacks=2, seed=2)
    assert not np.array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.image, _paper(noisy, n_stacks=2, seed=1).image)


def test_paper_mode_sample_size_and_svd_method_are_honoured():
    noisy, _ = _noisy_lattice(shape=(64, 64))
    assert _paper(noisy, mode="reference").mode == "reference"
    assert _paper(noisy, n_stacks=1, sample_size=300).stacks[0].sample_size == 300
    gram = _paper(noisy, n_stacks=1, svd_method="gram")
    randomized = _paper(noisy, n_stacks=1, svd_method="randomized")
    np.testing.assert_allclose(gram.image, randomized.image, rtol=1e-3, atol=1e-2)
    with pytest.raises(ValueError, match="svd_method"):
        _paper(noisy, svd_method="lanczos")


def test_paper_memory_budget_chooses_the_number_of_stacks_and_is_refused_beside_it():
    noisy, _ = _noisy_lattice(shape=(64, 64))
    assert _paper(noisy, memory_budget=60 * 60 * 25 * 4 // 3).n_stacks >= 3
    assert _paper(noisy, memory_budget=10**9).n_stacks == 1
    with pytest.raises(ValueError, match="memory_budget"):
        _paper(noisy, memory_budget=10**9, n_stacks=2)


def test_paper_backend_workers_and_device_are_honoured_or_refused():
    noisy, _ = _noisy_lattice(shape=(48, 48))
    numpy_run = _paper(noisy, backend="numpy", workers=1)
    torch_run = _paper(noisy, backend="torch")
    assert numpy_run.options["backend"] == "numpy" and torch_run.options["backend"] == "torch"
    np.testing.assert_allclose(numpy_run.image, torch_run.image, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="workers"):
        _paper(noisy, backend="torch", workers=2)
    with pytest.raises(ValueError, match="does not use device"):
        _paper(noisy, mode="reference", device="cuda")
    with pytest.raises(ValueError, match="does not use .*sample_size"):
        _paper(noisy, mode="reference", sample_size=100)
    with pytest.raises(ValueError, match="backend='numpy'"):
        _paper(noisy, backend="numpy", device="cuda")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            _paper(noisy, device="cuda")


# --- the default method honours each of its options ------------------------------------

def test_the_default_method_runs_by_default_and_records_what_it_did():
    noisy, _ = _noisy_lattice(shape=(48, 48), seed=7)
    default = denoise(noisy)
    np.testing.assert_array_equal(default.image, denoise(noisy, variant="best").image)
    assert default.method == "best" and default.classifier == "noise-edge"
    assert default.options["pilot"] == "coarse" and default.passes == 2
    assert default.pilot["kind"] == "coarse" and default.pilot["patch_size"] == 7
    assert default.noise_model.gain > 0
    meta = json.loads(json.dumps(default.to_metadata()))
    assert meta["noise_model"]["slope"] == pytest.approx(default.noise_model.gain)
    assert meta["n_groups"] == len(meta["groups"]) == default.n_groups


def test_default_n_groups_passes_and_pilot_are_honoured():
    noisy, _ = _noisy_lattice(shape=(64, 64), seed=4)
    assert denoise(noisy, patch_size=5, n_groups=6).n_groups == 6
    one = denoise(noisy, patch_size=5, passes=1)
    assert one.passes == 1 and len(one.groups) == len(one.pass_images) == 1
    assert denoise(noisy, patch_size=5, pilot=None).pilot is None
    assert not np.array_equal(one.image, denoise(noisy, patch_size=5).image)


def test_default_aggregation_stabilize_and_seed_change_the_output():
    noisy, _ = _noisy_lattice(shape=(64, 64), seed=4)
    base = denoise(noisy, patch_size=5)
    assert not np.array_equal(base.image, denoise(noisy, patch_size=5, aggregation="weighted").image)
    assert not np.array_equal(base.image, denoise(noisy, patch_size=5, stabilize=False).image)
    assert not np.array_equal(base.image, denoise(noisy, patch_size=5, seed=3).image)


def test_default_destripe_removes_scan_line_offsets_and_can_be_turned_off():
    noisy, clean = _noisy_lattice(dose=60.0, seed=5, shape=(128, 128))
    lines = np.random.default_rng(1).normal(0.0, 3.0, 128)
    striped = noisy + lines[:, None]
    on, off = denoise(striped, patch_size=7), denoise(striped, patch_size=7, destripe=False)
    assert on.scan_lines.detected and off.scan_lines is None
    assert on.options["destripe"] is True and off.options["destripe"] is False
    # what is left of the line offsets in the output
    left = lambda image: np.std(np.median(image - clean, axis=1))
    assert left(on.image) < 0.6 * left(off.image)
    assert not denoise(noisy, patch_size=7).scan_lines.detected


def test_default_noise_model_is_used_as_given():
    noisy, _ = _noisy_lattice(shape=(48, 48), seed=2)
    model = PoissonGaussianNoise(gain=1.0, sigma=2.0)
    assert denoise(noisy, patch_size=5, noise_model=model).noise_model == model
    with pytest.raises(TypeError, match="PoissonGaussianNoise"):
        denoise(noisy, patch_size=5, noise_model=(1.0, 4.0))


def test_the_default_method_refuses_a_device_it_cannot_use():
    noisy, _ = _noisy_lattice(shape=(32, 32))
    with pytest.raises(ValueError, match="device='cuda'"):
        denoise(noisy, device="cuda")
    assert denoise(noisy, patch_size=5, device="cpu").options["device"] == "cpu"


@pytest.mark.parametrize("options", [
    {"passes": 3}, {"passes": True}, {"pilot": "fine"}, {"aggregation": "median"},
    {"stabilize": "anscombe"}, {"n_groups": 0}, {"n_components": 0}, {"centre": "yes"},
    {"destripe": 1},
])
def test_bad_default_options_are_refused_before_any_work(options, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(grouped_pipeline, "coarse_pilot", no_work)
    monkeypatch.setattr(grouped_pipeline, "estimate_noise_model", no_work)
    noisy, _ = _noisy_lattice(shape=(32, 32))
    with pytest.raises(ValueError):
        iter_denoise(noisy, patch_size=5, **options)


def test_keeping_everything_is_exact_in_the_stabilised_domain():
    noisy, _ = _noisy_lattice(shape=(40, 44), seed=1)
    model = PoissonGaussianNoise.from_affine_variance(slope=1.0, intercept=4.0)
    groups = denoise(noisy, "k=all", patch_size=5, passes=1, pilot=None, aggregation="flat",
                     noise_model=model, local_means=False)
    stabilizer = VarianceStabilizer(model)
    expected = stabilizer.inverse(stabilizer.forward(noisy))
    np.testing.assert_allclose(groups.image, expected, rtol=1e-5, atol=1e-4)
    # with the data's local means (the default) the coarse scales are the data's own,
    # never below zero counts
    result = denoise(noisy, "k=all", patch_size=5, passes=1, pilot=None, aggregation="flat",
                     noise_model=model)
    np.testing.assert_allclose(
        result.image, restore_local_means(expected, noisy, patch_size=5, floor=model.offset),
        rtol=1e-5, atol=1e-4)


def test_without_stabilising_keeping_everything_gives_the_input_back():
    noisy, _ = _noisy_lattice(shape=(40, 44), seed=2)
    result = denoise(noisy, "k=all", patch_size=5, passes=1, pilot=None, stabilize=False,
                     n_groups=6)
    np.testing.assert_allclose(result.image, noisy, rtol=1e-5, atol=1e-3)


def test_the_default_beats_the_paper_method():
    noisy, clean = _noisy_lattice()
    paper = denoise(noisy, "mp", patch_size=7, variant="paper")
    best = denoise(noisy, patch_size=7)
    error = lambda image: float(np.mean((image - clean) ** 2))
    assert error(best.image) < 0.5 * error(paper.image)


class _Scribbler:
    """Ruins the arrays it is given and keeps the first three components."""

    def select(self, eigenpatches, eigenvalues, context=None):
        eigenpatches[...] = 1e9
        eigenvalues[...] = np.nan
        return np.arange(len(eigenvalues)) < 3


@pytest.mark.parametrize("pilot", ["coarse", None])
def test_a_mutating_classifier_changes_nothing_in_the_default(pilot):
    noisy, _ = _noisy_lattice(shape=(48, 48), seed=3)
    hostile = denoise(noisy, _Scribbler(), patch_size=5, pilot=pilot)
    honest = denoise(noisy, "k=3", patch_size=5, pilot=pilot)
    assert hostile.pilot == honest.pilot
    np.testing.assert_allclose(hostile.image, honest.image, rtol=1e-6, atol=1e-6)
    for a, b in zip(hostile.last_pass, honest.last_pass):
        np.testing.assert_array_equal(a.eigenpatches, b.eigenpatches)
        np.testing.assert_array_equal(a.kept, b.kept)


@pytest.mark.parametrize("garbage", [np.full(25, 0.5), np.ones(3, bool), None, "all"])
def test_a_garbage_selection_is_refused_in_the_default(garbage):
    class Garbage:
        def select(self, eigenpatches, eigenvalues, context=None):
            return garbage

    noisy, _ = _noisy_lattice(shape=(48, 48), seed=9)
    with pytest.raises(ClassifierOutputError):
        denoise(noisy, Garbage(), patch_size=5, n_groups=4)


def test_progress_is_reported_pass_by_pass_and_group_by_group():
    noisy, _ = _noisy_lattice(shape=(64, 64), seed=4)
    reports = list(iter_denoise(noisy, patch_size=5, n_groups=8))
    steps = [r.step for r in reports]
    assert steps == sorted(steps) and steps[-1] == reports[-1].n_steps == 16
    assert reports[-1].final is not None and all(r.final is None for r in reports[:-1])
    assert reports[-1].stage.startswith("pass 2 of 2")
    assert all(np.isfinite(r.image).all() for r in reports)


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
    result = denoise(noisy, recorder, patch_size=7, n_components=20)
    assert recorder.shown == {20}
    assert all(len(g.kept) == 49 and not g.kept[20:].any() for g in result.last_pass)


def test_images_too_small_for_a_pilot_run_without_one():
    noisy, _ = _noisy_lattice(shape=(29, 40), seed=8)
    result = denoise(noisy, patch_size=5)
    assert result.options["pilot"] == "coarse" and result.pilot is None
    assert np.isfinite(result.image).all() and result.image.shape == noisy.shape
    assert denoise(_noisy_lattice(shape=(30, 40), seed=8)[0], patch_size=5).pilot["patch_size"] == 5


def test_a_series_shares_one_noise_model():
    rng = np.random.default_rng(0)
    frames = rng.poisson(30.0, (3, 40, 40)).astype(float)
    results = denoise_series(frames, patch_size=5, n_groups=4)
    assert len({r.noise_model for r in results}) == 1
    with pytest.raises(ValueError, match="3D"):
        denoise_series(frames[0])
    with pytest.raises(ValueError, match="option 'mode'"):
        denoise_series(frames, mode="fast")


def test_a_group_rule_is_told_which_pass_it_decides_in():
    seen = set()

    class PassRecorder:
        def select(self, eigenpatches, eigenvalues, context=None):
            seen.add((context.pass_index, context.n_passes, context.centred))
            return np.arange(len(eigenvalues)) < 2

    noisy, _ = _noisy_lattice(shape=(48, 48), seed=6)
    denoise(noisy, PassRecorder(), patch_size=5, n_groups=4)
    assert seen == {(0, 2, False), (1, 2, False)}


def test_a_series_reuses_the_grouping_of_its_first_frame(monkeypatch):
    fits = []
    real_fit = grouped_pipeline.fit_grouping

    def counting_fit(*args, **kwargs):
        fits.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(grouped_pipeline, "fit_grouping", counting_fit)
    first, clean = _noisy_lattice(dose=30.0, seed=11)
    second, _ = _noisy_lattice(dose=30.0, seed=12)
    # the same field drifted by two pixels: labelling by content still finds the sites
    drifted = np.roll(second, 2, axis=1)
    results = denoise_series(np.stack([first, second, drifted]))
    assert len(fits) == 2  # the first frame's two passes; nothing fitted afterwards
    assert results[2].grouping == results[1].grouping == results[0].grouping
    assert [r.options["reused_grouping"] for r in results] == [False, True, True]
    assert len({r.patch_size for r in results}) == 1
    mse = lambda image, truth: float(np.mean((image - truth) ** 2))  # noqa: E731
    # each later frame, denoised with frame 1's grouping, is as good as on its own
    for result, frame, truth in ((results[1], second, clean),
                                 (results[2], drifted, np.roll(clean, 2, axis=1))):
        alone = denoise(frame, seed=0)
        assert mse(result.image, truth) < 1.1 * mse(alone.image, truth)
        assert mse(result.image, truth) < 0.5 * mse(frame, truth)
