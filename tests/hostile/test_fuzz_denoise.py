"""Fuzzing ``denoise()``: odd arrays get a finite image of the same shape or a clean error.

Random shapes (0-D to 3-D, 0 to 48 pixels a side), every numeric dtype plus bool and
complex, NaN/Inf anywhere, constant images, a single 1e30 spike, 1e-12 ramps; both the
default (best) variant and the paper's Algorithm 1 (``variant="paper"``). A clean error
is a ``ValueError`` or ``TypeError`` with a message; anything else, a non-finite pixel, a
changed input, or a call that runs past its time limit fails the test.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import require
from .strategies import finite_images, hostile_arrays, time_limit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)
# Objective rank rules need no model file; the shipped CNN joins when it exists.
CLASSIFIERS = ["mp", "gd", "k=1", "k=3", "k=all"]
# A fixed small patch lets tiny images reach the decomposition instead of being refused
# at patch-size estimation, so the fuzz exercises the numerics, not only the guards.
PATCH_SIZES = [None, 3, 5, 7]
N_STACKS = [None, 1, 3]
# The default (similar-patch groups, coarse pilot) and the paper's fast live path.
VARIANTS = ["best", "paper"]


def _denoise_cleanly(
    core, image: np.ndarray, classifier: str | None, *, patch_size: int | None = None,
    n_stacks: int | None = None, seed: int = 0, variant: str = "best",
):
    original = image.copy()
    with time_limit(60):
        try:
            # the paper method splits into stacks, the default method into groups
            units = {"n_stacks" if variant == "paper" else "n_groups": n_stacks}
            result = core.denoise(
                image, classifier=classifier, patch_size=patch_size, seed=seed,
                variant=variant, **units,
            )
        except (ValueError, TypeError) as error:
            assert str(error).strip(), "an error without a message"
            result = None
    assert np.array_equal(image, original, equal_nan=image.dtype.kind in "fc"), (
        "denoise() changed its input"
    )
    if result is not None:
        assert result.image.shape == _greyscale_shape(image), (image.shape, result.image.shape)
        assert result.image.dtype == np.float32
        assert np.isfinite(result.image).all(), "denoise() returned NaN or Inf pixels"
    return result


def _greyscale_shape(image: np.ndarray) -> tuple[int, ...]:
    """A 2-D image keeps its shape; RGB(A) with equal channels is accepted as its grey plane."""
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        assert (image == image[..., :1]).all(), "colour image with differing channels accepted"
        return image.shape[:2]
    assert image.ndim == 2, f"a {image.ndim}-D array of shape {image.shape} was accepted"
    return image.shape


@FUZZ
@given(
    image=hostile_arrays(),
    classifier=st.sampled_from(CLASSIFIERS),
    patch_size=st.sampled_from(PATCH_SIZES),
)
@example(image=np.full((32, 32), np.nan, dtype=np.float32), classifier="mp", patch_size=None)
@example(image=np.zeros((1, 1), dtype=np.float32), classifier="mp", patch_size=None)
@example(image=np.zeros((0, 16), dtype=np.float32), classifier="mp", patch_size=None)
@example(image=np.ones((16, 16, 3), dtype=np.uint8), classifier="k=3", patch_size=3)
def test_denoise_survives_hostile_arrays(core, image, classifier, patch_size):
    _denoise_cleanly(core, image, classifier, patch_size=patch_size)


@FUZZ
@given(
    image=finite_images(min_side=1, max_side=64),
    classifier=st.sampled_from(CLASSIFIERS),
    patch_size=st.sampled_from(PATCH_SIZES),
    n_stacks=st.sampled_from(N_STACKS),
    variant=st.sampled_from(VARIANTS),
)
@example(
    image=np.full((32, 32), 7.0, dtype=np.float32), classifier="mp", patch_size=5, n_stacks=1,
    variant="paper",
)
@example(
    image=np.full((32, 32), 7.0, dtype=np.float32), classifier="mp", patch_size=5, n_stacks=1,
    variant="best",
)
def test_denoise_of_finite_images_is_finite_or_refused(
    core, image, classifier, patch_size, n_stacks, variant
):
    _denoise_cleanly(core, image, classifier, patch_size=patch_size, n_stacks=n_stacks,
                     variant=variant)


def test_lattice_image_is_accepted_not_refused(core):
    """The fuzz above must not pass by refusing everything: a plain image denoises."""
    y, x = np.mgrid[0:64, 0:64]
    clean = 1.0 + np.cos(2 * np.pi * y / 6) * np.cos(2 * np.pi * x / 6)
    noisy = np.random.default_rng(3).poisson(20 * clean).astype(np.float32)
    result = _denoise_cleanly(core, noisy, "mp")
    assert result is not None, "a 64x64 lattice image was refused"
    assert np.abs(result.image - 20 * clean).mean() < np.abs(noisy - 20 * clean).mean()


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(image=finite_images(min_side=24, max_side=40))
def test_default_classifier_is_finite_or_refused(core, image):
    """The default classifier (the noise-edge rule of the best variant) and the shipped
    model, where it exists (the paper variant's default), behave like the rank rules."""
    _denoise_cleanly(core, image, None)
    cnn = require("denoiser.reucid.selection.cnn", "SHIPPED_MODEL_PATH")
    if not cnn.SHIPPED_MODEL_PATH.exists():
        pytest.skip(f"no shipped model at {cnn.SHIPPED_MODEL_PATH} yet")
    _denoise_cleanly(core, image, None, variant="paper")
