"""Patch size from the image's autocorrelation function (Algorithm 1, step 1).

The ACF is computed with the circular convolution theorem (one real FFT of the
zero-padded, background-subtracted image), radially averaged, and the first minimum of
that profile is taken as the radius of the central lobe, i.e. half the size of one
atomic column's footprint. If the profile has no minimum (isolated columns, a very wide
PSF) the first inflexion point is used instead: for a Gaussian-like lobe it sits at one
standard deviation, so the lobe radius is taken as twice that.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import uniform_filter

from ..errors import PatchSizeError
from ..validation import as_grey_float_image

__all__ = ["PatchSizeEstimate", "estimate_patch_size", "radial_autocorrelation"]

#: Largest patch the estimator proposes; beyond it the patch matrix grows as p^4 per pixel.
MAX_PATCH_SIZE = 63
MIN_PATCH_SIZE = 3
_MIN_SIDE_FOR_ESTIMATE = 16
# White noise gives a ring-averaged lag-1 correlation of about 0.5/sqrt(N) standard
# error; below five of those the image shows no structure to size a patch from.
_SIGNIFICANCE = 2.5


@dataclass(frozen=True)
class PatchSizeEstimate:
    """Result of :func:`estimate_patch_size`.

    Attributes
    ----------
    patch_size : int
        The odd patch side ``p``.
    radius : float
        Radius of the ACF's central lobe in pixels.
    method : str
        ``"first-minimum"`` or ``"first-inflexion"``.
    profile : numpy.ndarray
        Normalised radial ACF, index = radius in pixels (``profile[0] == 1``).
    """

    patch_size: int
    radius: float
    method: str
    profile: NDArray[np.float64]


def radial_autocorrelation(image: ArrayLike, *, max_radius: int | None = None) -> NDArray[np.float64]:
    """Radially averaged, normalised autocorrelation of a 2D image.

    The image's smooth background (a box blur much wider than an atomic column) is
    subtracted first, so a drifting background or a vacuum edge does not swamp the
    short-range correlation; the image is zero-padded by ``max_radius`` so the FFT
    correlation is linear at the lags kept, and each lag is divided by its number of
    overlapping pixels.
    Images larger than 512 pixels a side are cut into 256 x 256 tiles whose ACFs are
    averaged (Welch's method), which costs far less than one huge FFT.

    Parameters
    ----------
    image : array_like
        2D image.
    max_radius : int, optional
        Largest radius returned (default: a quarter of the smaller side, at most 64
        for tiled images).

    Returns
    -------
    numpy.ndarray
        ``profile[r]`` for ``r = 0 .. max_radius``, with ``profile[0] == 1``.

    Examples
    --------
    >>> y, x = np.mgrid[:64, :64]
    >>> profile = radial_autocorrelation(np.cos(2 * np.pi * x / 8) + np.cos(2 * np.pi * y / 8))
    >>> int(np.argmin(profile[:8]))
    4
    """
    data = as_grey_float_image(image)
    tiles = _tiles(data)
    side_m, side_n = tiles[0].shape
    if max_radius is None:
        max_radius = max(2, min(side_m, side_n) // 4)
    # Zero-padding by max_radius is enough for the lags we keep to be free of wrap-around.
    shape = (scipy.fft.next_fast_len(side_m + max_radius + 1, real=True),
             scipy.fft.next_fast_len(side_n + max_radius + 1, real=True))
    power = np.zeros((shape[0], shape[1] // 2 + 1))
    for tile in tiles:
        residual = tile - _background(tile)
        residual -= residual.mean()
        spectrum = scipy.fft.rfft2(residual, s=shape, workers=-1)
        power += spectrum.real**2 + spectrum.imag**2
    acf = scipy.fft.irfft2(power, s=shape, workers=-1)
    overlap = scipy.fft.irfft2(
        np.abs(scipy.fft.rfft2(np.ones((side_m, side_n)), s=shape, workers=-1)) ** 2,
        s=shape, workers=-1,
    )
    rows = np.fft.fftfreq(shape[0], 1.0 / shape[0])[:, None]
    cols = np.fft.fftfreq(shape[1], 1.0 / shape[1])[None, :]
    radius = np.rint(np.hypot(rows, cols)).astype(np.int64)
    inside = radius <= max_radius
    per_pixel = acf[inside] / np.maximum(overlap[inside], 1.0)
    sums = np.bincount(radius[inside], weights=per_pixel, minlength=max_radius + 1)
    counts = np.bincount(radius[inside], minlength=max_radius + 1)
    profile = sums / np.maximum(counts, 1)
    if profile[0] <= 0:
        raise PatchSizeError("the image has no contrast (it is constant); nothing to denoise")
    return profile / profile[0]


_TILE = 256
_MAX_TILES = 16


def _tiles(data: NDArray[np.float64]) -> list[NDArray[np.float64]]:
    """The whole image when it is small, else up to 16 evenly spread 256 x 256 tiles."""
    m, n = data.shape
    if max(m, n) <= 2 * _TILE or min(m, n) < _TILE:
        return [data]
    rows = np.linspace(0, m - _TILE, max(1, min(4, m // _TILE))).astype(int)
    cols = np.linspace(0, n - _TILE, max(1, min(_MAX_TILES // len(rows), n // _TILE))).astype(int)
    return [data[r:r + _TILE, c:c + _TILE] for r in rows for c in cols]


def _background(tile: NDArray[np.float64]) -> NDArray[np.float64]:
    """Smooth background: two passes of a box filter 1/8 of the tile wide."""
    size = max(3, max(tile.shape) // 8)
    return uniform_filter(uniform_filter(tile, size=size, mode="reflect"), size=size,
                          mode="reflect")


def estimate_patch_size(
    image: ArrayLike, *, max_patch_size: int = MAX_PATCH_SIZE
) -> PatchSizeEstimate:
    """Estimate the patch size ``p`` from the radial autocorrelation (odd, >= 3).

    ``p`` is the odd integer nearest to the diameter of the ACF's central lobe, clipped
    to ``[3, min(max_patch_size, m, n)]``.

    Parameters
    ----------
    image : array_like
        2D image with at least 16 pixels on each side.
    max_patch_size : int, optional
        Upper limit for ``p`` (default 63).

    Returns
    -------
    PatchSizeEstimate

    Raises
    ------
    PatchSizeError
        For constant images, images without spatial correlation (vacuum, pure noise)
        and images too small to estimate from.

    Examples
    --------
    >>> y, x = np.mgrid[:128, :128]
    >>> lattice = np.cos(2 * np.pi * x / 12) + np.cos(2 * np.pi * y / 12)
    >>> estimate_patch_size(lattice).patch_size
    17
    """
    data = as_grey_float_image(image)
    m, n = data.shape
    if min(m, n) < _MIN_SIDE_FOR_ESTIMATE:
        raise PatchSizeError(
            f"the image ({m}x{n}) is too small to estimate a patch size from its "
            f"autocorrelation (needs {_MIN_SIDE_FOR_ESTIMATE}x{_MIN_SIDE_FOR_ESTIMATE}); "
            "pass patch_size explicitly"
        )
    if np.ptp(data) == 0:
        raise PatchSizeError("the image is constant; there is no structure to denoise")
    profile = radial_autocorrelation(data)
    # The zero lag carries the white-noise variance; lag 1 is the first honest value.
    if profile[1] < _SIGNIFICANCE / np.sqrt(data.size):
        raise PatchSizeError(
            "the image shows no spatial correlation (vacuum or pure noise?): no atomic "
            "columns to size a patch from; pass patch_size explicitly if this is intended"
        )
    radius, method = _lobe_radius(profile)
    upper = min(int(max_patch_size), m, n)
    if upper % 2 == 0:
        upper -= 1
    p = 2 * int(np.floor(radius + 0.5)) + 1
    p = int(np.clip(p, MIN_PATCH_SIZE, max(upper, MIN_PATCH_SIZE)))
    if p > min(m, n):
        raise PatchSizeError(f"the image ({m}x{n}) is smaller than the smallest patch (3x3)")
    return PatchSizeEstimate(patch_size=p, radius=float(radius), method=method, profile=profile)


def _lobe_radius(profile: NDArray[np.float64]) -> tuple[float, str]:
    """Radius of the central ACF lobe: first minimum, else twice the first inflexion."""
    values = profile[1:]  # lag 0 holds the noise spike
    for index in range(1, len(values) - 1):
        if values[index] < values[index - 1] and values[index] <= values[index + 1]:
            return float(_refine_extremum(values, index) + 1), "first-minimum"
    curvature = np.diff(values, 2)
    for index in range(1, len(curvature)):
        if curvature[index - 1] < 0 <= curvature[index]:
            # linear interpolation of the zero crossing of the second difference
            frac = -curvature[index - 1] / (curvature[index] - curvature[index - 1])
            return 2.0 * (index + frac + 1.0), "first-inflexion"
    raise PatchSizeError(
        "the autocorrelation has neither a minimum nor an inflexion: no column-like "
        "structure found; pass patch_size explicitly"
    )


def _refine_extremum(values: NDArray[np.float64], index: int) -> float:
    """Sub-pixel position of a discrete extremum by a parabola through 3 points."""
    left, mid, right = values[index - 1], values[index], values[index + 1]
    denominator = left - 2 * mid + right
    if denominator <= 0:
        return float(index)
    return float(index + 0.5 * (left - right) / denominator)
