"""A respondent's whole survey in Chromium: consent, profile, three questions, thank-you.

Candidates come in rounds of 4-6 large views (winners go on) with Submit always in view.
The first question is answered with the mouse, the second and third with the keyboard
alone (digit keys and arrows to move, Enter to choose, Enter again to keep or submit). The
test then checks the database: exactly one answer per image, each the final choice, and
the thank-you page compares the choices with the consensus.
"""
from __future__ import annotations

import numpy as np
import pytest

from survey.models import Respondent, Response, ShownCandidate, Survey, SurveyImage
from survey.services.images import add_survey_image

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
    survey = Survey.objects.create(
        name="Browser test survey", slug="browser-test", k_max=12, attention_check_every=0
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
    """The tokens of the candidates shown now (the current round's group)."""
    return page.eval_on_selector_all(
        "#survey-candidates button.candidate:not([hidden])",
        "buttons => buttons.map(b => b.dataset.candidate)",
    )


def _candidate_of(token: str) -> int:
    """The candidate behind a respondent's own token (tokens are per respondent)."""
    return ShownCandidate.objects.get(token=token).candidate_id


def _is_final_group(page) -> bool:
    groups = page.get_attribute("#survey-answer-form", "data-groups")
    return groups is None or groups == "1"


def _check_round_view(page) -> list[str]:
    """What every round must give: 1-6 large candidates and Submit inside the window."""
    tokens = _candidate_tokens(page)
    assert 1 <= len(tokens) <= 6, tokens
    width = page.eval_on_selector(
        "#survey-candidates button.candidate:not([hidden])", "b => b.getBoundingClientRect().width")
    assert width >= 250, f"candidates are only {width:.0f} px wide"
    box = page.eval_on_selector(
        "#survey-submit", "b => { const r = b.getBoundingClientRect(); return [r.top, r.bottom]; }")
    height = page.evaluate("window.innerHeight")
    assert 0 <= box[0] and box[1] <= height, f"Submit at {box} is outside the {height}px window"
    return tokens


def choose_by_mouse(page, position: int) -> str:
    """Click the candidate at ``position`` (1-based, clipped) of every group; the token sent."""
    while True:
        tokens = _check_round_view(page)
        index = min(position, len(tokens)) - 1
        final = _is_final_group(page)
        button = page.locator("#survey-candidates button.candidate:not([hidden])").nth(index)
        button.click()
        assert button.get_attribute("aria-checked") == "true"
        assert page.is_enabled("#survey-submit")
        page.click("#survey-submit")
        if final:
            return tokens[index]


def choose_by_keyboard(page, position: int, *, arrows: bool = False) -> str:
    """The same with the keyboard: a digit (or 1 then ArrowRight), Enter, Enter."""
    while True:
        tokens = _check_round_view(page)
        index = min(position, len(tokens)) - 1
        final = _is_final_group(page)
        if arrows and index == 1:
            page.keyboard.press("1")
            page.keyboard.press("ArrowRight")
        else:
            page.keyboard.press(str(index + 1))
        focused = page.evaluate("document.activeElement.dataset.candidate")
        assert focused == tokens[index], "the key did not reach the candidate"
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")
        if final:
            return tokens[index]


def test_respondent_completes_survey_by_mouse_and_keyboard(
    page, screenshot, survey_with_three_images
):
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

    # Question 1: the mouse, the second candidate of every group, then the button.
    page.wait_for_selector("#survey-question")
    screenshot(page, "3-question-1")
    image_id = int(page.get_attribute("#survey-question", "data-image-id"))
    n_candidates = page.locator("#survey-candidates button.candidate").count()
    assert n_candidates > 6, "this survey is meant to need rounds"
    assert page.get_attribute("#survey-answer-form", "data-round") == "1"
    assert int(page.get_attribute("#survey-answer-form", "data-groups")) >= 2
    chosen[image_id] = choose_by_mouse(page, 2)

    # Question 2: keyboard only. "3" focuses candidate 3, Enter selects, Enter goes on.
    page.wait_for_function(f"document.querySelector('#survey-question')?.dataset.imageId !== '{image_id}'")
    image_id = int(page.get_attribute("#survey-question", "data-image-id"))
    screenshot(page, "4-question-2")
    chosen[image_id] = choose_by_keyboard(page, 3)

    # Question 3: keyboard only, moving with the arrows from candidate 1 to candidate 2.
    page.wait_for_function(f"document.querySelector('#survey-question')?.dataset.imageId !== '{image_id}'")
    image_id = int(page.get_attribute("#survey-question", "data-image-id"))
    chosen[image_id] = choose_by_keyboard(page, 2, arrows=True)

    page.wait_for_selector("#survey-thanks")
    screenshot(page, "5-thanks")
    assert page.get_attribute("#survey-answered-count", "data-answered") == "3"
    # alone so far: the consensus table says so for every image
    assert page.locator("#survey-consensus tr[data-relation=alone]").count() == 3

    respondent = Respondent.objects.get()
    assert respondent.expertise == Respondent.Expertise.EXPERT
    assert respondent.years_experience == 7
    answers = {
        response.image_id: response.candidate_id
        for response in Response.objects.filter(respondent=respondent)
    }
    assert answers == {image: _candidate_of(token) for image, token in chosen.items()}
    assert Response.objects.count() == 3
    assert all(
        response.time_taken_ms is not None
        for response in Response.objects.filter(respondent=respondent)
    )


def test_changing_an_answer_updates_it_instead_of_adding_one(
    page, screenshot, survey_with_three_images
):
    page.goto("/survey/")
    page.check("#survey-consent-checkbox")
    page.click("#survey-consent-submit")
    page.check("input.survey-expertise[value=non_expert]")
    page.click("#survey-profile-submit")
    page.wait_for_selector("#survey-question")
    image_id = int(page.get_attribute("#survey-question", "data-image-id"))
    first = choose_by_mouse(page, 1)
    page.wait_for_function(f"document.querySelector('#survey-question')?.dataset.imageId !== '{image_id}'")

    # Back to the first image: the earlier choice is marked where it appears; choose another.
    page.goto(f"/survey/q/{image_id}/")
    assert page.locator("#survey-previous-note").is_visible()
    assert page.locator(f"button.candidate[data-candidate='{first}']").get_attribute(
        "aria-checked") == "true"
    screenshot(page, "revisit")
    second = choose_by_mouse(page, 2)
    page.wait_for_load_state("load")

    responses = Response.objects.filter(image_id=image_id)
    assert responses.count() == 1
    assert responses.get().candidate_id == _candidate_of(second) != _candidate_of(first)
    assert responses.get().revisions == 1
