"""Residual statistics for images without ground truth.

When only noise is removed, the residual ``noisy - estimate`` looks like the noise:
zero mean, the variance the Poisson–Gaussian model predicts at the estimated
intensity, no spatial autocorrelation (white noise; scan-line noise along the fast
scan direction is the known exception) and no correlation with the output.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from denoiser.reucid.metrics import pearson
from denoiser.reucid.noise import PoissonGaussianNoise

__all__ = ["lag_one_autocorrelation", "residual_statistics"]


def lag_one_autocorrelation(residual: ArrayLike, *, axis: int) -> float:
    """Correlation between the residual and itself shifted by one pixel along ``axis``.

    Parameters
    ----------
    residual : array_like
        2D residual.
    axis : int
        1: along rows (the fast scan direction); 0: along columns.

    Returns
    -------
    float
        About 0 for white noise, positive when structure or correlated noise remains.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> abs(lag_one_autocorrelation(rng.normal(size=(128, 128)), axis=1)) < 0.03
    True
    """
    r = np.asarray(residual, dtype=np.float64)
    if axis == 1:
        return pearson(r[:, :-1], r[:, 1:])
    if axis == 0:
        return pearson(r[:-1, :], r[1:, :])
    raise ValueError(f"axis must be 0 or 1, got {axis}")


def residual_statistics(
    noisy: ArrayLike, estimate: ArrayLike, *, noise: PoissonGaussianNoise
) -> dict[str, float]:
    """Residual statistics of one denoised image against a noise model.

    Parameters
    ----------
    noisy, estimate : array_like
        Input and output, same 2D shape.
    noise : PoissonGaussianNoise
        Noise model of ``noisy`` (estimated from it on real data).

    Returns
    -------
    dict of str to float
        ``mean_sigma``: residual mean in units of the expected noise sigma;
        ``variance_ratio``: residual variance / mean expected variance (1: the noise
        was removed, < 1: some noise left, > 1: signal removed too);
        ``acf_row`` and ``acf_col``: lag-one autocorrelation along rows and columns;
        ``corr_output``: Pearson correlation between residual and output.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> clean = np.full((64, 64), 100.0)
    >>> noisy = rng.poisson(clean).astype(float)
    >>> stats = residual_statistics(noisy, clean, noise=PoissonGaussianNoise())
    >>> round(stats["variance_ratio"], 1)
    1.0
    """
    z = np.asarray(noisy, dtype=np.float64)
    y = np.asarray(estimate, dtype=np.float64)
    if z.shape != y.shape:
        raise ValueError(f"Images differ in shape: {z.shape} vs {y.shape}.")
    residual = z - y
    expected_variance = float(np.mean(noise.variance(y)))
    return {
        "mean_sigma": float(residual.mean() / np.sqrt(expected_variance)),
        "variance_ratio": float(residual.var() / expected_variance),
        "acf_row": lag_one_autocorrelation(residual, axis=1),
        "acf_col": lag_one_autocorrelation(residual, axis=0),
        "corr_output": pearson(residual, y),
    }
