"""Survey candidates of the default method: a threshold ladder from one run, labels for the
group classifier, and the loop from votes to what the next default upload returns."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from denoiser.reucid import denoise
from denoiser.reucid.grouped.group_pca import run_group_pass
from denoiser.reucid.patches.patch_set import PatchSet
from denoiser.reucid.patches.similarity import group_positions
from denoiser.reucid.selection import resolve_classifier
from denoiser.reucid.selection.group_cnn import GroupClassifier
from survey.arrays import load_group_decomposition
from survey.models import Response, SurveyImage
from survey.selectors import iter_group_survey_labels, iter_survey_labels
from training import services
from training.group_labels import survey_group_examples
from training.models import TrainingRun

from tests.recording_classifier import RecordingClassifier

from .factories import lattice_image, make_ready_image, make_respondent, make_survey

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey():
    return make_survey(k_max=6)


def _vote(image: SurveyImage, k: int, expertise: str = "expert") -> Response:
    respondent = make_respondent(expertise)
    return Response.objects.create(respondent=respondent, image=image,
                                   candidate=image.candidates.get(k=k), chosen_k=k,
                                   shown_ks=[k], expertise_at_answer=expertise)


def test_candidates_are_the_default_method_at_every_level_of_the_ladder(survey):
    image = make_ready_image(survey, candidate_method="best", size=48)
    assert image.status == SurveyImage.Status.READY
    ks = sorted(image.candidates.filter(kind="reconstruction").values_list("k", flat=True))
    assert ks == [1, 2, 3, 4, 5, 6]
    groups = load_group_decomposition(image.decomposition_file.name)
    assert groups["eigenpatches"].ndim == 4 and list(groups["levels"]) == ks
    # level k keeps k components per group on average, each group its own count
    assert groups["kept"].shape == (6, groups["eigenpatches"].shape[0])
    assert groups["kept"].sum(axis=1).tolist() == [k * groups["kept"].shape[1] for k in ks]
    assert np.all(np.diff(groups["thresholds"]) < 0)
    assert len(groups["n_patches"]) == groups["eigenpatches"].shape[0] >= 1
    # a paper-CNN reader never takes a default-method image for one of its own
    _vote(image, 3)
    assert list(iter_survey_labels()) == []


def test_experts_and_non_experts_stay_apart_in_group_labels(survey):
    image = make_ready_image(survey, candidate_method="best", size=48)
    for k in (2, 2, 2):
        _vote(image, k, "expert")
    for k in (6, 6):
        _vote(image, k, "non_expert")
    experts = list(iter_group_survey_labels(respondents="experts"))
    others = list(iter_group_survey_labels(respondents="non-experts"))
    everyone = list(iter_group_survey_labels())
    assert [(x.mean_k, x.n_responses) for x in experts] == [(2.0, 3)]
    assert [(x.mean_k, x.n_responses) for x in others] == [(6.0, 2)]
    assert everyone[0].n_responses == 5 and everyone[0].provenance["mean_k_expert"] == 2.0
    # the label's provenance says how the groups' labels follow from the mean
    assert "threshold" in everyone[0].provenance["rule"]
    assert "1..round" not in everyone[0].provenance["rule"]
    examples = survey_group_examples(experts)
    n_groups = experts[0].groups["eigenpatches"].shape[0]
    per_group = experts[0].groups["eigenpatches"].shape[1]
    assert len(examples) == n_groups * per_group
    assert examples.labels.sum() == 2 * n_groups
    with pytest.raises(ValueError):
        list(iter_group_survey_labels(respondents="everybody"))


def test_staff_image_page_shows_vote_utilities_beside_the_model(survey, admin_client):
    image = make_ready_image(survey, candidate_method="best", size=48)
    for k in (1, 3, 3, 5):
        _vote(image, k)
    html = admin_client.get(f"/survey/staff/images/{image.pk}/").content.decode()
    assert 'data-test="staff-utilities"' in html
    # per component: the share of (vote, group) pairs whose level keeps it there
    groups = load_group_decomposition(image.decomposition_file.name)
    kept, levels = groups["kept"], list(groups["levels"])
    counts = np.concatenate([kept[levels.index(k)] for k in (1, 3, 3, 5)])
    for component in (1, 4):
        assert f"<td>{component}</td><td>{np.mean(counts >= component):.2f}</td>" in html


def test_different_survey_labels_give_a_different_model_a_different_output_still_data_only(
        survey, settings):
    """Issue 15, done when: retraining from survey answers changes the next default upload."""
    settings.REUCID_GROUP_TRAINING_RUN_DEFAULTS = {
        "epochs": 40, "batch_size": 64, "held_out_crystals": 1, "held_out_size": 64,
        "held_out_scenes": False}
    images = [make_ready_image(survey, candidate_method="best", size=48, seed=s)
              for s in (0, 1)]
    upload, _ = lattice_image(size=48, seed=7)

    def retrain(k: int) -> GroupClassifier:
        """Votes for k everywhere, then the site's own retraining run from the survey."""
        Response.objects.all().delete()
        for image in images:
            for _ in range(3):
                _vote(image, k)
        run = services.execute_training_run(services.create_training_run(
            source="survey", options={"kind": "group"}).pk)
        assert run.status == TrainingRun.Status.SUCCEEDED, run.error
        assert run.result.kind == "group" and run.result.training_summary["sources"] == [
            "survey"]
        return resolve_classifier(Path(run.result.file.path))

    few, many = retrain(1), retrain(6)
    out_few = denoise(upload, classifier=few)
    out_many = denoise(upload, classifier=many)
    kept_few = np.mean([g.n_kept for g in out_few.last_pass])
    kept_many = np.mean([g.n_kept for g in out_many.last_pass])
    assert kept_many > kept_few + 1
    assert not np.allclose(out_few.image, out_many.image)
    for result in (out_few, out_many):
        for group in result.last_pass:
            # weights in [0, 1], zero where the model dropped the eigenpatch
            assert np.all(group.mean_weight >= 0)
            assert np.all(group.mean_weight <= group.kept + 1e-12)
    # data-only: one pass with the trained model is the groups' own mean plus their own
    # selected eigenpatches, whatever the model answered
    rng = np.random.default_rng(0)
    patches = PatchSet(np.asarray(upload, np.float64), 5)
    labels = rng.integers(0, 3, patches.n_patches)
    for model in (few, many):
        recorder = RecordingClassifier(model)
        out, _ = run_group_pass(patches, labels, selector=recorder, aggregation="flat",
                                noise_variance=1.0)
        total, count = np.zeros(patches.image.shape), np.zeros(patches.image.shape)
        for positions, mask in zip(group_positions(labels), recorder.masks):
            rows = patches.gather(positions)
            centre = rows.mean(axis=0)
            _, _, vt = np.linalg.svd(rows - centre, full_matrices=True)
            basis = vt[: len(mask)][mask].T
            for position, estimate in zip(positions, centre + (rows - centre) @ basis @ basis.T):
                r, c = divmod(int(position), patches.grid_shape[1])
                total[r:r + 5, c:c + 5] += estimate.reshape(5, 5)
                count[r:r + 5, c:c + 5] += 1
        np.testing.assert_allclose(out, total / count, atol=1e-8)
