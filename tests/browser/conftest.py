"""Headless-Chromium harness for the end-to-end tests.

Debian's ``/usr/bin/chromium`` is driven by Playwright's Python package through
``executable_path``; Playwright's own browser download is never used. Where Chromium
is missing (``scripts/install_browser.sh`` could not install it) every browser test
skips with a message that says so.

Each page a test visits is saved as a full-page screenshot under
``test-artifacts/browser/`` so a person can look at layout and legibility.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("REUCID_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps dialling Google services,
# which the closed network refuses; the others keep a headless run quiet and fast.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def chromium_executable() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium not found at {CHROMIUM}: run scripts/install_browser.sh "
            "(apt-get install chromium chromium-driver) to run the browser tests"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -e '.[dev]')")
    return CHROMIUM


@pytest.fixture(scope="package")
def browser(chromium_executable: Path) -> Iterator:
    """One Chromium for the browser tests, closed when they are done.

    Playwright's sync API runs an asyncio loop on the main thread; Django would then
    refuse ORM calls from test code (SynchronousOnlyOperation). The override is scoped
    to this fixture so the rest of the suite keeps Django's safety check.
    """
    # playwright (optional browser tests) only in those tests
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(chromium_executable), args=CHROMIUM_ARGS, headless=True
        )
    except Exception as error:  # noqa: BLE001 - a broken install reads as a skip, not 30 errors
        playwright.stop()
        _restore_env("DJANGO_ALLOW_ASYNC_UNSAFE", previous)
        pytest.skip(f"Chromium at {chromium_executable} would not start: {error}")
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()
        _restore_env("DJANGO_ALLOW_ASYNC_UNSAFE", previous)


def _restore_env(name: str, previous: str | None) -> None:
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


@dataclass
class PageProblems:
    """What went wrong while a page loaded: console errors and failed requests."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.console_errors.clear()
        self.failed_requests.clear()


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser, live_server, page_problems: PageProblems) -> Iterator:
    """A fresh browser context (own cookies) whose relative URLs hit the live server."""
    context = browser.new_context(
        base_url=live_server.url, viewport=VIEWPORT, accept_downloads=True
    )
    context.set_default_timeout(20_000)
    tab = context.new_page()
    def on_console(message) -> None:
        source = (message.location or {}).get("url", "")
        # Chromium asks for /favicon.ico on its own; a missing icon is not a page fault.
        if message.type == "error" and not source.endswith("/favicon.ico"):
            page_problems.console_errors.append(f"{message.text} ({source or tab.url})")

    tab.on("console", on_console)
    tab.on(
        "response",
        lambda response: response.status >= 400
        and page_problems.failed_requests.append(f"{response.status} {response.url}"),
    )
    def on_request_failed(request) -> None:
        # ERR_ABORTED is a navigation that became a download or was superseded, not a fault.
        if "ERR_ABORTED" not in (request.failure or ""):
            page_problems.failed_requests.append(f"{request.failure} {request.url}")

    tab.on("requestfailed", on_request_failed)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def screenshot(request, page_problems: PageProblems):
    """``screenshot(page, "step")`` saves the page and checks it rendered cleanly.

    The file is ``test-artifacts/browser/<test>--<step>.png``. The check fails on images
    that did not load, console errors, requests answered 4xx/5xx, and content wider than
    the viewport (a layout that forces horizontal scrolling). ``allow_failed`` lists URL
    fragments whose 4xx answers the test expects (a refused upload).
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def take(tab, step: str, *, allow_failed: tuple[str, ...] = ()) -> Path:
        tab.wait_for_load_state("load")
        path = ARTIFACTS / f"{test_name}--{step}.png"
        tab.screenshot(path=str(path), full_page=True)
        broken = tab.evaluate(
            """() => Array.from(document.images)
                 .filter(img => img.complete && img.naturalWidth === 0 && img.src)
                 .map(img => img.src)"""
        )
        assert not broken, f"broken images on {tab.url}: {broken} (see {path})"
        overflow, width = tab.evaluate(
            "() => [document.documentElement.scrollWidth - window.innerWidth, window.innerWidth]"
        )
        assert overflow <= 1, (
            f"{tab.url} is {overflow}px wider than the {width}px viewport (see {path})"
        )
        failed = [
            item
            for item in page_problems.failed_requests
            if not any(pattern in item for pattern in allow_failed)
        ]
        assert not failed, f"failed requests while on {tab.url}: {failed} (see {path})"
        errors = [
            item
            for item in page_problems.console_errors
            if not any(pattern in item for pattern in allow_failed)
        ]
        assert not errors, f"console errors on {tab.url}: {errors} (see {path})"
        page_problems.clear()
        return path

    return take


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="curator", password="curator-pass-123", is_staff=True, is_superuser=True
    )


@pytest.fixture
def log_in():
    """Log a user in through the admin login form, the way a person would."""

    def do(tab, username: str, password: str) -> None:
        tab.goto("/admin/login/?next=/admin/")
        tab.fill("#id_username", username)
        tab.fill("#id_password", password)
        tab.click("input[type=submit]")
        tab.wait_for_url("**/admin/")

    return do
