"""Fixtures shared by the hostile-input tests."""
from __future__ import annotations

import importlib

import pytest
from django.core.cache import cache


def require(module: str, *names: str):
    """Import ``module`` (and check it has ``names``) or skip saying which part is missing."""
    try:
        loaded = importlib.import_module(module)
    except ImportError as error:
        pytest.skip(f"{module} is not importable yet: {error}")
    missing = [name for name in names if not hasattr(loaded, name)]
    if missing:
        pytest.skip(f"{module} lacks {', '.join(missing)}")
    return loaded


@pytest.fixture
def core():
    """The pure core, ``denoiser.reucid``, with the functions fuzzed here."""
    return require("denoiser.reucid", "denoise", "read_image")


@pytest.fixture
def core_errors():
    return require("denoiser.reucid.errors", "InvalidImageError", "ReucidError")


@pytest.fixture
def uploads(core):
    """The upload parser both the page and the API run before a job exists."""
    return require("denoiser.uploads", "validate_upload", "UploadRejected", "safe_filename")


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    """Joining the survey is throttled per client address (survey.throttles), counted in
    the cache; every test starts with the counters at zero."""
    cache.clear()
    yield
    cache.clear()
