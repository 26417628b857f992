"""Adding survey images and making their candidates from one decomposition."""
from __future__ import annotations

import io
from pathlib import PurePosixPath

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.db.models import RestrictedError
from PIL import Image

import survey.services.images as images_service
from survey.arrays import load_decomposition
from survey.models import Candidate, SurveyImage
from survey.services.answers import present_image, presented_candidates, submit_answer
from survey.services.images import SurveyImageError, add_survey_image, generate_candidates
from survey.tasks import generate_candidates_task
from tests.survey.factories import lattice_image, make_ready_image, make_respondent, toy_decompose

pytestmark = pytest.mark.django_db


def _png(candidate: Candidate) -> np.ndarray:
    with default_storage.open(candidate.png.name, "rb") as handle:
        return np.asarray(Image.open(io.BytesIO(handle.read())))


def test_candidates_for_every_k_plus_the_raw_image(survey):
    image = make_ready_image(survey)
    assert image.status == SurveyImage.Status.READY
    ks = list(image.candidates.filter(kind="reconstruction").values_list("k", flat=True))
    assert ks == list(range(1, survey.k_max + 1))
    assert image.candidates.filter(kind="noisy", k__isnull=True).count() == 1
    stored = load_decomposition(image.decomposition_file.name)
    assert stored.eigenpatches.shape == (survey.k_max, 5, 5)
    assert stored.eigenvalues.shape == (survey.k_max,)
    assert np.all(np.diff(stored.eigenvalues) <= 0)
    assert image.patch_size == 5 and image.n_components == survey.k_max


def test_candidates_share_the_noisy_images_intensity_scale(survey):
    image = make_ready_image(survey)
    noisy, _ = lattice_image(seed=0)
    low, high = np.percentile(noisy, [0.5, 99.5])
    assert (image.display_low, image.display_high) == pytest.approx((low, high))
    decomposition = toy_decompose(noisy, n_components=survey.k_max, seed=0)
    k3 = image.candidates.get(k=3)
    expected = np.clip(np.rint((decomposition.reconstruct(3) - low) * 255 / (high - low)),
                       0, 255)
    assert np.abs(_png(k3).astype(int) - expected).max() <= 1
    # Smoother candidates use a narrower part of the same scale, not their own full range.
    assert _png(image.candidates.get(k=1)).max() < 255


def test_candidate_urls_and_files_do_not_reveal_k(survey):
    image = make_ready_image(survey)
    folders = set()
    for candidate in image.candidates.all():
        # the file has a random name of its own, in a folder shared by all candidates: no
        # part of the path is derived from k, the candidate's token or the image's public
        # token (a random name may contain "k3" by chance, so the test looks at structure)
        path = PurePosixPath(candidate.png.name)
        assert path.suffix == ".png" and len(path.stem) >= 20
        assert candidate.token not in path.name and image.public_token not in str(path)
        assert path.parts[:2] == ("survey", "candidates")
        folders.add(path.parent)
        assert len(candidate.token) >= 20
    assert len(folders) == 1
    assert len(set(image.candidates.values_list("token", flat=True))) == survey.k_max + 1


@pytest.mark.parametrize(("array", "message"), [
    (np.zeros((64,)), "2-D"),
    (np.zeros((8, 64)), "at least 32"),
    (np.full((40, 40), np.nan), "NaN"),
    (np.ones((40, 40)), "constant"),
    (np.zeros((40, 3000)), "at most 2048"),
    (np.zeros((40, 40), dtype=complex), "real numbers"),
])
def test_bad_images_get_clear_errors_and_nothing_is_stored(survey, array, message):
    with pytest.raises(SurveyImageError, match=message):
        add_survey_image(survey=survey, noisy=array, title="bad", make_candidates=False)
    assert not SurveyImage.objects.exists()


def test_deleting_an_image_takes_its_answers_but_a_chosen_candidate_stays(survey):
    image = make_ready_image(survey)
    respondent = make_respondent()
    shown = presented_candidates(present_image(respondent, image))[0]
    chosen = shown.candidate
    submit_answer(respondent, image, candidate_token=shown.token)
    with pytest.raises(RestrictedError):
        chosen.delete()
    image.delete()
    assert not Candidate.objects.exists() and not respondent.responses.exists()


def test_ground_truth_must_match_the_noisy_shape(survey):
    noisy, clean = lattice_image()
    with pytest.raises(SurveyImageError, match="ground truth"):
        add_survey_image(survey=survey, noisy=noisy, clean=clean[:-1], title="x",
                         make_candidates=False)


def test_inputs_are_not_modified(survey):
    noisy, clean = lattice_image()
    before = noisy.copy()
    add_survey_image(survey=survey, noisy=noisy, clean=clean, title="x", make_candidates=False)
    assert np.array_equal(noisy, before)


def test_candidates_are_queued_after_commit_and_made_by_the_task(
        survey, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(images_service, "_core_decompose", toy_decompose)
    noisy, _ = lattice_image()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        image = add_survey_image(survey=survey, noisy=noisy, title="queued")
    assert image.status == SurveyImage.Status.PENDING and len(callbacks) == 1
    callbacks[0]()  # the worker (eager in tests) runs survey.generate_candidates
    image.refresh_from_db()
    assert image.status == SurveyImage.Status.READY


def test_a_failing_decomposition_marks_the_image_failed(survey):
    noisy, _ = lattice_image()
    image = add_survey_image(survey=survey, noisy=noisy, title="x", make_candidates=False,
                             candidate_method="paper")

    def broken(*args, **kwargs):
        raise ValueError("patch size does not fit")

    with pytest.raises(ValueError):
        generate_candidates(image.id, decompose=broken)
    image.refresh_from_db()
    assert image.status == SurveyImage.Status.FAILED and "patch size" in image.error
    assert not image.candidates.exists()


def test_task_records_failure_without_raising(survey, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(images_service, "_core_decompose", broken)
    noisy, _ = lattice_image()
    image = add_survey_image(survey=survey, noisy=noisy, title="x", make_candidates=False,
                             candidate_method="paper")
    assert generate_candidates_task.apply(args=[image.id]).get() == "failed"
    image.refresh_from_db()
    assert image.status == SurveyImage.Status.FAILED
    assert generate_candidates_task.apply(args=[image.id + 100]).get() == "missing"


def test_candidates_with_answers_are_never_remade(survey):
    image = make_ready_image(survey)
    respondent = make_respondent()
    shown = presented_candidates(present_image(respondent, image))[0]
    chosen = shown.candidate
    submit_answer(respondent, image, candidate_token=shown.token)
    with pytest.raises(SurveyImageError, match="already has answers"):
        generate_candidates(image.id, decompose=toy_decompose)
    assert Candidate.objects.filter(token=chosen.token).exists()


def test_remaking_candidates_replaces_them(survey):
    image = make_ready_image(survey)
    respondent = make_respondent()
    present_image(respondent, image)  # shown, not answered
    old_tokens = set(image.candidates.values_list("token", flat=True))
    image = generate_candidates(image.id, decompose=toy_decompose)
    assert not old_tokens & set(image.candidates.values_list("token", flat=True))
    assert image.candidates.count() == survey.k_max + 1
    assert len(presented_candidates(present_image(respondent, image))) == survey.k_max


def test_the_real_core_decomposition_makes_candidates(survey):
    pytest.importorskip("denoiser.reucid.paper.decomposition")
    noisy, _ = lattice_image(size=48)
    image = add_survey_image(survey=survey, noisy=noisy, title="core", make_candidates=False,
                             candidate_method="paper")
    image = generate_candidates(image.id)
    assert image.status == SurveyImage.Status.READY
    assert image.n_components == survey.k_max
    stored = load_decomposition(image.decomposition_file.name)
    assert stored.eigenpatches.shape[1:] == (image.patch_size, image.patch_size)
