"""A respondent's whole survey in Chromium: consent, profile, three questions, thank-you.

The first question is answered with the mouse, the second and third with the keyboard
alone (digit keys and arrows to move, Enter to choose, Enter again to submit). The test
then checks the database: exactly one answer per image, each the candidate chosen.
"""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def lattice_image(seed: int, side: int = 64) -> np.ndarray:
    """A noisy square lattice of Gaussian atomic columns (what a HAADF frame looks like)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    clean = np.zeros((side, side), np.float32)
    period = 8 + seed % 3
    for cy in range(period // 2, side, period):
        for cx in range(period // 2, side, period):
            clean += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 1.6**2))
    return rng.poisson(30 * clean + 2).astype(np.float32)


@pytest.fixture
def survey_with_three_images():
    from survey.models import Survey, SurveyImage
    from survey.services.images import add_survey_image

    survey = Survey.objects.create(
        name="Browser test survey", slug="browser-test", k_max=8, attention_check_every=0
    )
    for index in range(3):
        add_survey_image(
            survey=survey, noisy=lattice_image(index), title=f"Lattice {index + 1}",
            source=SurveyImage.Source.SIMULATED, decomposition_seed=index,
        )
    statuses = list(survey.images.values_list("status", "error"))
    assert all(status == SurveyImage.Status.READY for status, _ in statuses), statuses
    return survey


def _candidate_tokens(page) -> list[str]:
    return page.eval_on_selector_all(
        "#survey-candidates button.candidate", "buttons => buttons.map(b => b.dataset.candidate)"
    )


def test_respondent_completes_survey_by_mouse_and_keyboard(
    page, screenshot, survey_with_three_images
):
    from survey.models import Respondent, Response

    page.goto("/survey/")
    screenshot(page, "1-consent")
    page.click("#survey-consent-submit")  # without ticking the box: refused, nothing created
    assert page.locator("#survey-consent-form").is_visible()
    assert Respondent.objects.count() == 0
    page.check("#survey-consent-checkbox")
    page.click("#survey-consent-submit")

    page.wait_for_selector("#survey-profile-form")
    screenshot(page, "2-profile")
    page.check("input.survey-expertise[value=expert]")
    page.fill("#survey-field", "materials science")
    page.fill("#survey-years", "7")
    page.click("#survey-profile-submit")

    chosen: dict[int, str] = {}

    # Question 1: the mouse. Click a candidate, see it marked, submit with the button.
    page.wait_for_selector("#survey-question")
    screenshot(page, "3-question-1")
    image_id = int(page.get_attribute("#survey-question", "data-image-id"))
    tokens = _candidate_tokens(page)
    assert len(tokens) >= 2 and len(set(tokens)) == len(tokens)
    page.click("#candidate-2")
    assert page.get_attribute("#candidate-2", "aria-checked") == "true"
    assert page.is_enabled("#survey-submit")
    chosen[image_id] = tokens[1]
    page.click("#survey-submit")

    # Question 2: keyboard only. "3" focuses candidate 3, Enter selects, Enter submits.
    page.wait_for_function(f"document.querySelector('#survey-question')?.dataset.imageId !== '{image_id}'")
    image_id = int(page.get_attribute("#survey-question", "data-image-id"))
    tokens = _candidate_tokens(page)
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    assert page.get_attribute("#candidate-3", "aria-checked") == "true"
    screenshot(page, "4-question-2-keyboard-selected")
    chosen[image_id] = tokens[2]
    page.keyboard.press("Enter")

    # Question 3: keyboard only, moving with the arrows from candidate 1 to candidate 2.
    page.wait_for_function(f"document.querySelector('#survey-question')?.dataset.imageId !== '{image_id}'")
    image_id = int(page.get_attribute("#survey-question", "data-image-id"))
    tokens = _candidate_tokens(page)
    page.keyboard.press("1")
    page.keyboard.press("ArrowRight")
    focused = page.evaluate("document.activeElement.id")
    assert focused == "candidate-2", f"ArrowRight moved focus to {focused!r}"
    page.keyboard.press("Enter")
    chosen[image_id] = tokens[1]
    page.keyboard.press("Enter")

    page.wait_for_selector("#survey-thanks")
    screenshot(page, "5-thanks")
    assert page.get_attribute("#survey-answered-count", "data-answered") == "3"

    respondent = Respondent.objects.get()
    assert respondent.expertise == Respondent.Expertise.EXPERT
    assert respondent.years_experience == 7
    answers = {
        response.image_id: response.candidate.token
        for response in Response.objects.filter(respondent=respondent).select_related("candidate")
    }
    assert answers == chosen
    assert Response.objects.count() == 3
    assert all(
        response.time_taken_ms is not None
        for response in Response.objects.filter(respondent=respondent)
    )


def test_changing_an_answer_updates_it_instead_of_adding_one(
    page, screenshot, survey_with_three_images
):
    from survey.models import Response

    page.goto("/survey/")
    page.check("#survey-consent-checkbox")
    page.click("#survey-consent-submit")
    page.check("input.survey-expertise[value=non_expert]")
    page.click("#survey-profile-submit")
    page.wait_for_selector("#survey-question")
    image_id = int(page.get_attribute("#survey-question", "data-image-id"))
    page.click("#candidate-1")
    page.click("#survey-submit")
    page.wait_for_function(f"document.querySelector('#survey-question')?.dataset.imageId !== '{image_id}'")

    # Back to the first image: the earlier choice is marked; choose another.
    page.goto(f"/survey/q/{image_id}/")
    assert page.locator("#survey-previous-note").is_visible()
    screenshot(page, "revisit")
    tokens = _candidate_tokens(page)
    page.click("#candidate-2")
    page.click("#survey-submit")
    page.wait_for_load_state("load")

    responses = Response.objects.filter(image_id=image_id)
    assert responses.count() == 1
    assert responses.get().candidate.token == tokens[1]
    assert responses.get().revisions == 1
