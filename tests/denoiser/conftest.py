"""Fixtures for the denoise app's tests: small synthetic STEM images, uploads, eager Celery."""
from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from denoiser.models import DenoiseJob
from reucid_site.celery import app


def lattice_image(
    size: int | tuple[int, int] = 64, *, spacing: int = 8, sigma: float = 1.5,
    dose: float = 20.0, seed: int = 0,
) -> np.ndarray:
    """A noisy HAADF-like lattice of Gaussian columns (Poisson counts), float32."""
    height, width = (size, size) if isinstance(size, int) else size
    y, x = np.mgrid[:height, :width]
    clean = np.zeros((height, width))
    for cy in range(spacing // 4, height + spacing, spacing):
        for cx in range(spacing // 4, width + spacing, spacing):
            clean += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    rng = np.random.default_rng(seed)
    return rng.poisson(clean * dose + 2.0).astype(np.float32)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def npy_upload(array: np.ndarray, name: str = "lattice.npy") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, npy_bytes(array), content_type="application/octet-stream")


def tiff_bytes(array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.asarray(array), **kwargs)
    return buffer.getvalue()


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def lattice() -> np.ndarray:
    return lattice_image()


@pytest.fixture
def eager_celery():
    """Run tasks in-process even when the suite is run against a real broker."""
    saved = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def scratch_files(settings):
    """Lists what is left in MEDIA_ROOT/tmp (must stay empty after every upload)."""

    def left() -> list[str]:
        folder = settings.MEDIA_ROOT / "tmp"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    return left


@pytest.fixture
def api():
    """A DRF test client."""
    return APIClient()


def no_job_left(settings) -> bool:
    """No job row and no stored job file: what a refused upload must leave behind."""
    folder = settings.MEDIA_ROOT / "denoise"
    return DenoiseJob.objects.count() == 0 and (
        not folder.exists() or not any(folder.iterdir())
    )
