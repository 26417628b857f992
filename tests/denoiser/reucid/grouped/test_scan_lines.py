"""Scan-line offsets: the white-noise check on the residual."""
from __future__ import annotations

import numpy as np

from denoiser.reucid.grouped.scan_lines import _robust_spread


def test_the_residual_spread_of_a_large_image_comes_from_a_subgrid_and_matches_the_whole():
    rng = np.random.default_rng(0)
    residual = rng.normal(0.0, 1.3, size=(1100, 1300))
    whole = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    assert abs(_robust_spread(residual) - whole) < 0.01 * whole
    assert abs(_robust_spread(residual) - 1.3) < 0.02
    # small residuals use every value: exactly the median absolute deviation
    small = residual[:300, :400]
    assert _robust_spread(small) == 1.4826 * float(np.median(np.abs(small - np.median(small))))
