"""An administrator in Chromium: logs in, exports the survey dataset from the admin and the
staff page, and starts a retraining run with one click and sees it finish.

The retraining is shrunk through ``REUCID_TRAINING_RUN_DEFAULTS`` (a few small scenes, two
epochs) so it runs in seconds; it goes through the same admin view, service and Celery task
(eager here) as a real one.
"""
from __future__ import annotations

import csv
import io
import json

import pytest

from survey.models import Respondent, Response, Survey, SurveyImage
from survey.services.answers import present_image, presented_candidates, submit_answer
from survey.services.images import add_survey_image
from survey.services.respondents import create_respondent, update_profile
from training.models import ClassifierModel, TrainingRun

from .test_survey_flow import lattice_image

pytestmark = pytest.mark.django_db(transaction=True)

TINY_TRAINING = {"n_scenes": 3, "epochs": 2, "evaluation_scenes": 1, "shape": [64, 64]}


@pytest.fixture
def answered_survey():
    """A survey with two images, each answered by two respondents, through the services."""
    survey = Survey.objects.create(name="Staff flow", slug="staff-flow", k_max=6)
    images = [
        add_survey_image(survey=survey, noisy=lattice_image(seed), title=f"Image {seed}",
                         clean=None, source=SurveyImage.Source.SIMULATED)
        for seed in range(2)
    ]
    for index in range(2):
        respondent = create_respondent(consent=True)
        update_profile(respondent, expertise=Respondent.Expertise.EXPERT if index else
                       Respondent.Expertise.NON_EXPERT, field="", years_experience=None)
        for image in images:
            image.refresh_from_db()
            assert image.status == SurveyImage.Status.READY, image.error
            shown = presented_candidates(present_image(respondent, image))
            reconstruction = next(c for c in shown if c.k is not None)
            submit_answer(respondent, image, candidate_token=reconstruction.token)
    return survey


def test_admin_exports_dataset_and_starts_retraining(
    page, screenshot, log_in, staff_user, answered_survey, settings, tmp_path
):
    settings.REUCID_TRAINING_RUN_DEFAULTS = TINY_TRAINING
    log_in(page, "curator", "curator-pass-123")
    screenshot(page, "1-admin-index")

    # Export from the admin: select the survey, pick the action, press Go.
    page.goto("/admin/survey/survey/")
    page.check(f"input[name=_selected_action][value='{answered_survey.pk}']")
    page.select_option("select[name=action]", "export_responses_csv")
    with page.expect_download() as download_info:
        page.click("button[name=index]")
    exported = tmp_path / "responses.csv"
    download_info.value.save_as(exported)
    rows = list(csv.DictReader(io.StringIO(exported.read_text())))
    assert len(rows) == Response.objects.count() == 4

    # Export from the staff page: the labelled eigenpatches as JSON.
    page.goto("/survey/staff/")
    screenshot(page, "2-survey-staff")
    link = page.locator("#staff-exports a", has_text="eigenpatches.json")
    with page.expect_download() as download_info:
        link.click()
    labelled = tmp_path / "eigenpatches.json"
    download_info.value.save_as(labelled)
    payload = json.loads(labelled.read_text())
    assert payload, "the JSON export is empty"

    # Retraining with one click on the admin's run list.
    active_before = list(ClassifierModel.objects.filter(is_active=True).values_list("pk", flat=True))
    page.goto("/admin/training/trainingrun/")
    screenshot(page, "3-training-runs-admin")
    page.select_option("form[action$='/start/'] select[name=source]", "auto")
    page.click("form[action$='/start/'] button[type=submit]")
    page.wait_for_url("**/admin/training/trainingrun/")
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.result is not None and run.history, "no model or no loss history recorded"
    assert list(
        ClassifierModel.objects.filter(is_active=True).values_list("pk", flat=True)
    ) == active_before, "a run without auto-activate changed the active model"
    screenshot(page, "4-training-run-finished")

    page.goto("/training/")
    row = page.locator(f"tr[data-run-id='{run.pk}']")
    assert row.is_visible()
    assert "Succeeded" in row.inner_text() or "succeeded" in row.inner_text().lower()
    screenshot(page, "5-training-page")
