"""The public pages on a phone-sized screen: nothing wider than the viewport, text legible.

Survey respondents follow links from e-mail and social media, often on a phone.
"""
from __future__ import annotations

import pytest

from .test_survey_flow import survey_with_three_images  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(page):
    page.set_viewport_size(PHONE)
    return page


def _smallest_font_px(page) -> float:
    return page.evaluate(
        """() => Math.min(...Array.from(document.querySelectorAll('main *'))
              .filter(el => el.childNodes.length && Array.from(el.childNodes)
                 .some(n => n.nodeType === 3 && n.textContent.trim()))
              .map(el => parseFloat(getComputedStyle(el).fontSize)))"""
    )


@pytest.mark.parametrize("path", ["/", "/denoise/", "/survey/"])
def test_public_pages_fit_a_phone(phone, screenshot, path):
    phone.goto(path)
    screenshot(phone, "phone" + path.replace("/", "-").rstrip("-"))
    assert _smallest_font_px(phone) >= 11, "text smaller than 11 px on a phone"


def test_survey_question_fits_a_phone(phone, screenshot, survey_with_three_images):  # noqa: F811
    phone.goto("/survey/")
    phone.check("#survey-consent-checkbox")
    phone.click("#survey-consent-submit")
    phone.check("input.survey-expertise[value=non_expert]")
    phone.click("#survey-profile-submit")
    phone.wait_for_selector("#survey-question")
    screenshot(phone, "phone-question")
    box = phone.locator("#candidate-1").bounding_box()
    assert box is not None and box["width"] >= 100, f"candidate too small to judge: {box}"
