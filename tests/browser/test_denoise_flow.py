"""Upload → progress → result page in Chromium, and a download checked byte for byte.

The worker is held back (``enqueue_job`` records the job instead of sending it) so the
browser really sees the queued/progress page and its polling; the test then runs the job
through the real worker code path (``denoiser.runner.run_job``) and the page must turn into
the result by itself, without the test reloading it.
"""
from __future__ import annotations

import base64

import numpy as np
import pytest
import tifffile

from denoiser import services
from denoiser.classifier_choice import NO_GROUP_MODEL_NOTE
from denoiser.models import DenoiseJob, JobStatus
from denoiser.runner import run_job
from training.services import register_shipped_model

from .test_survey_flow import lattice_image

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def held_jobs(monkeypatch) -> list[str]:
    """Job ids submitted while the worker is held back."""
    held: list[str] = []
    monkeypatch.setattr(services, "enqueue_job", lambda job: held.append(str(job.pk)))
    return held


@pytest.fixture
def classifier_choice() -> str:
    """The active trained model when the shipped one exists (the site's default path)."""
    record, _, _ = register_shipped_model()
    return "active" if record is not None else "mp"


@pytest.fixture
def lattice_tiff(tmp_path):
    path = tmp_path / "SrTiO3 lattice 96.tif"
    tifffile.imwrite(path, lattice_image(4, side=96).astype(np.float32))
    return path


def _submitted_job(page, held_jobs: list[str], image):
    """Choose ``image``, submit the form, wait for the job page; the job it created."""
    page.set_input_files("#file-input", str(image))
    page.click("#denoise-submit")
    page.wait_for_url("**/denoise/jobs/**")
    return DenoiseJob.objects.get(pk=held_jobs[-1])


def _loaded(page, selector: str) -> bool:
    return page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0")


def test_upload_progress_result_and_download(
    page, screenshot, held_jobs, lattice_tiff, classifier_choice, tmp_path
):
    page.goto("/denoise/")
    screenshot(page, "1-upload-form")
    page.set_input_files("#file-input", str(lattice_tiff))
    assert lattice_tiff.name in page.inner_text("#file-summary")
    # the paper's method (the fast live-view option) has stacks to count
    page.check("#method-paper")
    page.select_option("#classifier-select", classifier_choice)
    page.fill("#stacks-input", "2")
    page.click("#denoise-submit")

    page.wait_for_url("**/denoise/jobs/**")
    page.wait_for_selector("#job-progress-card")
    assert len(held_jobs) == 1
    job = DenoiseJob.objects.get(pk=held_jobs[0])
    assert job.status == JobStatus.QUEUED and job.method == "paper"
    assert str(job.pk) in page.url
    assert _loaded(page, "#input-image"), "the uploaded image preview did not load"
    screenshot(page, "2-queued")

    finished = run_job(job.pk, task_id=job.task_id)
    assert finished is not None and finished.status == JobStatus.DONE, finished and finished.error

    page.wait_for_selector("#result", timeout=30_000)  # the page's own polling got there
    for selector in ("#before-image", "#after-image", "#residual-image"):
        page.wait_for_function(
            f"document.querySelector('{selector}').complete", timeout=10_000
        )
        assert _loaded(page, selector), f"{selector} did not load"
    scree_marks = page.locator("#scree svg circle, #scree svg path, #scree svg polyline").count()
    assert scree_marks > 0, "the scree plot has no marks"
    assert page.locator("[data-test=gallery-image]").count() >= 1
    assert page.inner_text("#number-stacks").strip() == "2"
    if classifier_choice == "active":
        assert page.inner_text("#number-model").strip() not in ("", "—")
    screenshot(page, "3-result")

    page.click("#mode-slider")
    assert page.locator("#compare-slider").is_visible()
    page.fill("#compare-slider", "20")
    screenshot(page, "4-result-slider")

    with page.expect_download() as download_info:
        page.click("[data-test='download-result.tif']")
    download = download_info.value
    saved = tmp_path / "downloaded.tif"
    download.save_as(saved)
    result = tifffile.imread(saved)
    assert result.dtype == np.float32 and result.shape == (96, 96)
    assert np.isfinite(result).all()


def test_best_is_the_default_and_a_large_image_falls_back_to_paper(
    page, screenshot, held_jobs, lattice_tiff, settings
):
    """Untouched, the page asks for the default: "best", or "paper" with a note when the
    image is too large for "best"; choosing "best" for such an image is refused."""
    page.goto("/denoise/")
    assert page.is_checked("#method-best") and not page.is_checked("#method-paper")
    assert page.input_value("#classifier-select") == "noise-edge"
    assert page.is_hidden("#stacks-option")
    job = _submitted_job(page, held_jobs, lattice_tiff)
    # no group classifier is trained on this test site: the noise-edge rule decides, and
    # the job says so
    assert (job.method, job.classifier_choice) == ("best", "noise-edge")
    assert job.method_note in ("", NO_GROUP_MODEL_NOTE)

    settings.REUCID_BEST_MAX_PIXELS = 96 * 96 - 1
    page.goto("/denoise/")
    fallback = _submitted_job(page, held_jobs, lattice_tiff)
    assert len(held_jobs) == 2
    assert fallback.method == "paper" and fallback.classifier_choice != "noise-edge"
    note = page.locator("[data-test=method-note]")
    assert note.is_visible() and "larger than the best method accepts" in note.inner_text()
    assert "method: paper" in page.inner_text("#job-method")
    screenshot(page, "fallback-note")

    page.goto("/denoise/")
    page.set_input_files("#file-input", str(lattice_tiff))
    page.check("#method-paper")
    page.check("#method-best")  # chosen explicitly: refused, with the way out
    page.click("#denoise-submit")
    error = page.locator("#upload-error")
    error.wait_for(state="visible")
    assert "'best' method accepts images of at most" in error.inner_text()
    assert len(held_jobs) == 2
    screenshot(page, "best-refused", allow_failed=("/api/denoise/",))


def test_protect_rare_defects_is_offered_with_best_only_and_reaches_the_job(
    page, held_jobs, lattice_tiff
):
    """The checkbox shows only with "best"; ticked, the job runs best without the pilot."""
    page.goto("/denoise/")
    assert page.is_visible("#protect-defects-option")
    assert not page.is_checked("#protect-defects-input")
    page.check("#method-paper")
    assert page.is_hidden("#protect-defects-option")
    page.check("#method-best")
    page.check("#protect-defects-input")
    job = _submitted_job(page, held_jobs, lattice_tiff)
    assert (job.method, job.protect_defects) == ("best", True)
    assert page.is_visible("[data-test=job-protect-defects]")

    # ticked, then switched to "paper": the hidden box is not sent, so no 400
    page.goto("/denoise/")
    page.check("#protect-defects-input")
    page.check("#method-paper")
    job = _submitted_job(page, held_jobs, lattice_tiff)
    assert (job.method, job.protect_defects) == ("paper", False)


def test_unreadable_upload_gets_a_clear_message_and_no_job(page, screenshot, tmp_path):
    bogus = tmp_path / "frame.tif"
    bogus.write_bytes(b"II*\x00" + b"not really a tiff" * 20)
    page.goto("/denoise/")
    page.set_input_files("#file-input", str(bogus))
    page.select_option("#classifier-select", "mp")
    page.click("#denoise-submit")
    error = page.locator("#upload-error")
    error.wait_for(state="visible")
    message = error.inner_text()
    assert "frame.tif" in message and len(message) > len("frame.tif") + 10, message
    assert page.is_enabled("#denoise-submit"), "the form stays usable for another try"
    assert DenoiseJob.objects.count() == 0
    screenshot(page, "refused", allow_failed=("/api/denoise/",))


def test_drag_and_drop_upload_is_accepted(page, screenshot, held_jobs, lattice_tiff):
    """Dropping a file on the drop zone works like choosing it with the picker."""
    payload = base64.b64encode(lattice_tiff.read_bytes()).decode()
    page.goto("/denoise/")
    page.evaluate(
        """([name, data]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: "image/tiff"}));
            const zone = document.getElementById("drop-zone");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true,
                                                        cancelable: true}));
            }
        }""",
        [lattice_tiff.name, payload],
    )
    assert lattice_tiff.name in page.inner_text("#file-summary")
    screenshot(page, "dropped")
    page.select_option("#classifier-select", "mp")
    page.click("#denoise-submit")
    page.wait_for_url("**/denoise/jobs/**")
    assert len(held_jobs) == 1
