"""The landing page renders in a real browser, and its links lead somewhere."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_home_page_renders_with_working_nav(page, screenshot):
    page.goto("/")
    assert page.locator("h1").first.inner_text().strip()
    screenshot(page, "home")
    hrefs = page.eval_on_selector_all(
        "header nav a", "links => links.map(link => link.getAttribute('href'))"
    )
    assert "/denoise/" in hrefs and "/survey/" in hrefs


def test_site_stylesheet_is_served_and_applied(page):
    response = page.goto("/")
    assert response is not None and response.ok
    css = page.request.get("/static/css/site.css")
    assert css.ok, f"site.css answered {css.status}"
    # The header must not fall back to the browser's default serif body text.
    font = page.eval_on_selector("body", "el => getComputedStyle(el).fontFamily")
    assert font and font.lower() != "times new roman"


def test_home_page_shows_both_methods_and_a_favicon(page, screenshot):
    page.goto("/")
    assert page.locator("[data-test=home-method-best]").is_visible()
    assert page.locator("[data-test=home-method-paper]").is_visible()
    assert "dB" in page.inner_text("[data-test=home-figures-best]")
    icon = page.get_attribute("link[rel=icon]", "href")
    assert icon and page.request.get(icon).ok, f"favicon {icon} is not served"
    screenshot(page, "home-methods")
