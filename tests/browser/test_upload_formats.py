"""Every image format through the upload page in Chromium: the content decides the reader.

Each file is written by the test itself (tests/image_files.py); the page must accept it,
create the job with the detected format and the file's pixel size, and show the job page.
The worker is held back: reading and validating is what is tested here.
"""
from __future__ import annotations

import numpy as np
import pytest

from denoiser import services
from denoiser.models import DenoiseJob
from tests.hostile.test_bombs import bomb_png
from tests.image_files import CALIBRATED, KINDS, SOURCE_FORMAT, write_image_file

from .test_survey_flow import lattice_image

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def held_jobs(monkeypatch) -> list[str]:
    held: list[str] = []
    monkeypatch.setattr(services, "enqueue_job", lambda job: held.append(str(job.pk)))
    return held


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_format_is_accepted_through_the_upload_page(page, screenshot, held_jobs, tmp_path,
                                                          kind):
    if kind in ("hspy", "hdf5", "hspy-misnamed"):
        pytest.importorskip("rsciio.hspy")
    image = np.round(lattice_image(sorted(KINDS).index(kind), side=64)).astype(np.uint16)
    path = write_image_file(kind, tmp_path, image, pixel_size_nm=0.05)
    page.goto("/denoise/")
    page.set_input_files("#file-input", str(path))
    page.click("#denoise-submit")
    page.wait_for_url("**/denoise/jobs/**")
    job = DenoiseJob.objects.get(pk=held_jobs[-1])
    assert job.source_format == SOURCE_FORMAT[kind]
    assert job.original_filename == path.name
    if kind in CALIBRATED:
        assert job.pixel_size == pytest.approx((0.5, 0.5))
        assert "0.5000 × 0.5000 Å/px" in page.inner_text(".job-meta")
    assert SOURCE_FORMAT[kind] in page.inner_text(".job-meta")
    screenshot(page, f"job-{kind}")


def test_a_rgba_bomb_is_refused_on_the_page_with_a_true_message(page, screenshot, tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png(8192, 8192))
    page.goto("/denoise/")
    page.set_input_files("#file-input", str(bomb))
    page.click("#denoise-submit")
    error = page.locator("#upload-error")
    error.wait_for(state="visible")
    assert "4 colour bands" in error.inner_text()
    assert DenoiseJob.objects.count() == 0
    screenshot(page, "bomb-refused", allow_failed=("/api/denoise/",))
