"""Estimate Poisson–Gaussian noise parameters from a single image.

Real images come without their detector gain and read noise, but BM3D (through the
generalised Anscombe transform) and the real-image residual statistics need them.
The estimator follows the usual single-image recipe (Foi et al. 2008, much
simplified): a second-difference filter that cancels locally linear signal gives
noise samples, the pixels are binned by their local mean, the robust (MAD) variance
per bin is fitted with ``variance = gain * mean + intercept``.

It is approximate: on high-SNR images the residual signal curvature at atomic
columns inflates the variance, and scan-line noise correlated along rows is
treated as white.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import correlate

from denoiser.reucid.noise import PoissonGaussianNoise

__all__ = ["estimate_poisson_gaussian"]

# Separable second difference [1,-2,1] x [1,-2,1]; divided by 6 it has unit L2 norm,
# so white noise keeps its variance.
_SECOND_DIFFERENCE = np.outer([1.0, -2.0, 1.0], [1.0, -2.0, 1.0]) / 6.0
# The variance of the filtered sample is the K²-weighted mean of the pixel variances.
_LOCAL_MEAN_WEIGHTS = _SECOND_DIFFERENCE**2
_MAD_TO_SIGMA = 1.4826


def estimate_poisson_gaussian(image: ArrayLike, *, n_bins: int = 24) -> PoissonGaussianNoise:
    """Fit ``variance = gain * mean + intercept`` to one noisy image.

    Parameters
    ----------
    image : array_like
        2D noisy image, at least 16x16, in detector units.
    n_bins : int, optional
        Number of equal-population bins of local mean intensity.

    Returns
    -------
    PoissonGaussianNoise
        The fitted model; a slope that comes out zero or negative (no detectable
        signal dependence) is floored at a small positive gain, which makes the
        Anscombe transform a plain scaling by the Gaussian sigma.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> clean = 200 + 150 * np.sin(np.arange(256) / 5.0)[None, :] ** 2 * np.ones((256, 1))
    >>> noisy = 3.0 * rng.poisson(clean) + rng.normal(0, 10, clean.shape)
    >>> noise = estimate_poisson_gaussian(noisy)
    >>> bool(abs(noise.gain - 3.0) < 0.3)
    True
    """
    raw = np.asarray(image, dtype=np.float64)
    if raw.ndim != 2 or min(raw.shape) < 16:
        raise ValueError(f"Noise estimation needs a 2D image of at least 16x16, got {raw.shape}.")
    if not np.all(np.isfinite(raw)):
        raise ValueError("The image contains NaN or infinite values.")
    # Fit in units of the image's spread so that summed frames (~1e6 counts) and
    # normalised images (~0.1) are equally well conditioned; converted back at the end.
    scale = float(raw.std())
    if scale == 0:
        raise ValueError("The image is constant: there is no noise to measure.")
    z = raw / scale
    detail = correlate(z, _SECOND_DIFFERENCE, mode="reflect")[1:-1, 1:-1].ravel()
    level = correlate(z, _LOCAL_MEAN_WEIGHTS / _LOCAL_MEAN_WEIGHTS.sum(), mode="reflect")
    level = level[1:-1, 1:-1].ravel()

    order = np.argsort(level, kind="stable")
    means, variances, weights = [], [], []
    for chunk in np.array_split(order, n_bins):
        samples = detail[chunk]
        mad = np.median(np.abs(samples - np.median(samples)))
        variance = (_MAD_TO_SIGMA * mad) ** 2
        if variance <= 0:
            continue  # a flat, noise-free bin (clipped vacuum, saturation) says nothing
        means.append(level[chunk].mean())
        variances.append(variance)
        # Sample variance error is ~ variance * sqrt(2/n): weight by its inverse.
        weights.append(np.sqrt(chunk.size / 2.0) / variance)
    if not variances:
        raise ValueError("The image has no measurable noise (it looks noise-free or quantised).")
    means_a = np.asarray(means)
    variances_a = np.asarray(variances)
    if np.ptp(means_a) == 0:
        slope, intercept = 0.0, float(np.median(variances_a))
    else:
        slope, intercept = np.polyfit(means_a, variances_a, 1, w=np.asarray(weights))

    typical_variance = float(np.median(variances_a))
    typical_level = float(max(np.median(np.abs(means_a)), 1e-12))
    smallest_gain = 1e-3 * typical_variance / typical_level
    if not (np.isfinite(slope) and np.isfinite(intercept) and slope >= smallest_gain):
        # No usable signal dependence: keep the Gaussian part, make the Poisson part negligible.
        return PoissonGaussianNoise(gain=smallest_gain * scale,
                                    sigma=float(np.sqrt(typical_variance)) * scale)
    return PoissonGaussianNoise.from_affine_variance(slope=float(slope) * scale,
                                                     intercept=float(intercept) * scale**2)
