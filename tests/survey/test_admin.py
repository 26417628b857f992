"""The survey admin: adding images by upload, actions, and pages that render."""
from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

import survey.services.images as images_service
from survey.models import Invitation, Respondent, SurveyImage
from tests.survey.factories import lattice_image, make_respondent, toy_decompose
from tests.survey.test_answers import answer

pytestmark = pytest.mark.django_db


def npy_upload(array: np.ndarray, name: str = "frame.npy") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/octet-stream")


def test_staff_add_an_image_by_upload_and_candidates_follow(
        staff_client, survey, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(images_service, "_core_decompose", toy_decompose)
    noisy, clean = lattice_image(size=48)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:survey_surveyimage_add"), {
            "survey": survey.id, "title": "Uploaded", "source": "simulated",
            "source_detail": "", "material": "STO", "dose": "", "pixel_size_row": "0.1",
            "pixel_size_col": "0.1", "decomposition_seed": "0", "is_active": "on",
            "upload": npy_upload(noisy), "ground_truth": npy_upload(clean, "clean.npy")})
    assert response.status_code == 302, response.content.decode()[:2000]
    image = SurveyImage.objects.get()
    assert image.status == "ready" and image.clean_file and image.pixel_size == (0.1, 0.1)
    assert image.source_detail == "frame.npy"
    page = staff_client.get(reverse("admin:survey_surveyimage_change", args=[image.id]))
    assert page.status_code == 200 and b"survey/c/" in page.content


def test_a_bad_upload_is_refused_on_the_form(staff_client, survey):
    response = staff_client.post(reverse("admin:survey_surveyimage_add"), {
        "survey": survey.id, "title": "Tiny", "source": "experimental",
        "decomposition_seed": "0", "upload": npy_upload(np.ones((8, 8)))})
    assert response.status_code == 200 and "at least 32" in response.content.decode()
    assert not SurveyImage.objects.exists()


def test_verify_experts_action(staff_client, db):
    someone = make_respondent("non_expert")
    staff_client.post(reverse("admin:survey_respondent_changelist"), {
        "action": "verify_experts", "_selected_action": [someone.id]})
    someone.refresh_from_db()
    assert someone.is_verified_expert and someone.expertise == "expert"


def test_make_candidates_action_skips_answered_images(staff_client, images, monkeypatch,
                                                       django_capture_on_commit_callbacks):
    monkeypatch.setattr(images_service, "_core_decompose", toy_decompose)
    answer(make_respondent(), images[0], 2)
    before = set(images[1].candidates.values_list("token", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:survey_surveyimage_changelist"), {
            "action": "make_candidates", "_selected_action": [images[0].id, images[1].id]},
            follow=True)
    assert "Skipped 1" in response.content.decode()
    assert not before & set(images[1].candidates.values_list("token", flat=True))


def test_invitation_admin_shows_the_link(staff_client, db):
    staff_client.post(reverse("admin:survey_invitation_add"), {
        "label": "Dr. C", "max_uses": 2, "is_active": "on"})
    invitation = Invitation.objects.get()
    assert invitation.created_by.username == "staff"
    page = staff_client.get(reverse("admin:survey_invitation_changelist")).content.decode()
    assert reverse("survey:invitation", args=[invitation.token]) in page


@pytest.mark.parametrize("name", ["survey", "surveyimage", "respondent", "invitation",
                                  "response"])
def test_admin_lists_render(staff_client, images, name):
    answer(make_respondent(), images[0], 2)
    assert staff_client.get(reverse(f"admin:survey_{name}_changelist")).status_code == 200
    assert Respondent.objects.exists()
