"""`output_step`: the default method's way out, for a working-domain estimate made
elsewhere (survey candidates, training labels), is the pipeline's own."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.grouped.pipeline import (
    _settings,
    denoise_grouped,
    output_step,
    stabilise,
)

from .._images import gaussian_lattice


def _counts(seed: int, *, lines: float = 0.0, shape=(80, 80)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clean = 30.0 * (0.2 + gaussian_lattice(shape, 8.0, 1.6, offset=(3.0, 2.0)))
    return rng.poisson(clean) + rng.normal(0.0, lines, shape[0])[:, None]


@pytest.mark.parametrize("case", ["counts", "scan lines", "huge units", "groups only"])
def test_the_way_out_is_the_pipelines_own(case):
    noisy = _counts(1, lines=5.0 if case == "scan lines" else 0.0)
    options = {"local_means": False} if case == "groups only" else {}
    if case == "huge units":
        noisy = noisy * 1e30
    result = denoise_grouped(noisy, **options)
    if case == "scan lines":
        assert result.scan_lines.detected
    state = stabilise(_settings(noisy, options))
    estimate = state.work + np.random.default_rng(2).normal(0.0, 0.3, state.work.shape)
    expected = state.output(estimate)
    np.testing.assert_array_equal(output_step(noisy, result)(estimate), expected)


def test_another_image_or_an_unstabilised_run_is_refused():
    noisy = _counts(4)
    result = denoise_grouped(noisy)
    with pytest.raises(ValueError, match="the image is"):
        output_step(noisy[:40], result)
    raw = denoise_grouped(noisy, stabilize=False)
    with pytest.raises(ValueError, match="stabilised run"):
        output_step(noisy, raw)
