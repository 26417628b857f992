"""Does the image show atomic columns? A check from the autocorrelation, before denoising.

REUCID assumes what an atomic-resolution STEM image shows: a point-spread function of a
definite size (the patch size comes from it) repeated on a lattice (the eigenpatches
learn it). A photograph, a gradient or vacuum breaks that assumption; the denoiser still
runs on it if asked, but the result means little, so the site warns.

The check reuses the patch-size estimator (:func:`denoiser.reucid.estimate_patch_size`):
no central lobe in the radial autocorrelation means no PSF. Then the two-dimensional
autocorrelation of the image, with its slowly varying background removed, is searched
for a repeat: the highest value farther than twice the lobe radius from the origin,
relative to the lag-1 value (the zero lag carries the white-noise variance, so it cannot
be the reference). On the real crystals of ``../shared/data/real`` this ratio is 0.62 to
1.05, on simulated lattices 1.2 to 2.4; on gradients, blurred-noise "photos" and vacuum
it is below 0.12 or negative. :data:`LATTICE_THRESHOLD` sits between. The lag-1 value
must itself be significant, or the ratio would be noise over noise; so at extreme doses
(a simulated lattice with about one count per column peak, 192 x 192 pixels) the check
misses the lattice: it only warns, and the job still runs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike
from scipy.ndimage import uniform_filter

from .errors import PatchSizeError
from .paper import estimate_patch_size
from .validation import as_grey_float_image

__all__ = ["LATTICE_THRESHOLD", "LatticeCheck", "check_lattice"]

#: Smallest repeat strength (autocorrelation peak / lag-1 value) that counts as a lattice.
LATTICE_THRESHOLD = 0.3

#: Side of the central crop the check looks at: enough repeats, bounded time (one FFT).
_CROP = 512

#: Lag-1 correlation (in standard errors of white noise) below which nothing repeats.
_SIGNIFICANCE = 5.0


@dataclass(frozen=True)
class LatticeCheck:
    """Outcome of :func:`check_lattice`.

    Attributes
    ----------
    psf_found : bool
        The radial autocorrelation has a central lobe (a column-sized PSF).
    lattice_found : bool
        The two-dimensional autocorrelation repeats (a periodic arrangement).
    repeat_strength : float or None
        Highest autocorrelation beyond twice the lobe radius, over the lag-1 value.
    lobe_radius_px : float or None
        Radius of the autocorrelation's central lobe in pixels.
    message : str
        "" when both are found, else a sentence for a microscopist.
    """

    psf_found: bool
    lattice_found: bool
    repeat_strength: float | None
    lobe_radius_px: float | None
    message: str

    @property
    def ok(self) -> bool:
        """True when the image looks like atomic-resolution STEM (PSF and lattice)."""
        return self.psf_found and self.lattice_found

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def check_lattice(image: ArrayLike, *, threshold: float = LATTICE_THRESHOLD) -> LatticeCheck:
    """Say whether the autocorrelation finds a PSF and a lattice in ``image``.

    Parameters
    ----------
    image : array_like
        2D image (at least 16 x 16); larger images are checked on a central crop of
        512 x 512 pixels.
    threshold : float, optional
        Smallest repeat strength that counts as a lattice.

    Returns
    -------
    LatticeCheck

    Examples
    --------
    >>> y, x = np.mgrid[:128, :128]
    >>> lattice = np.cos(2 * np.pi * x / 12) + np.cos(2 * np.pi * y / 12)
    >>> check_lattice(lattice).ok
    True
    >>> gradient = np.random.default_rng(0).poisson((x + y) / 4.0 + 10).astype(float)
    >>> check_lattice(gradient).ok
    False
    """
    data = as_grey_float_image(image).astype(np.float64)
    rows, cols = data.shape
    top, left = max(0, (rows - _CROP) // 2), max(0, (cols - _CROP) // 2)
    data = data[top:top + _CROP, left:left + _CROP]
    try:
        radius = float(estimate_patch_size(data).radius)
    except PatchSizeError as error:
        return LatticeCheck(
            psf_found=False, lattice_found=False, repeat_strength=None, lobe_radius_px=None,
            message=("No atomic columns found: the autocorrelation shows no point-spread "
                     f"function ({error}). REUCID is built for atomic-resolution images; "
                     "the result may mean little."),
        )
    strength = _repeat_strength(data, radius)
    lattice = strength is not None and strength >= threshold
    message = "" if lattice else (
        "No lattice found: the autocorrelation does not repeat (strength "
        f"{0.0 if strength is None else strength:.2f}, a crystal gives about 0.7 or more). "
        "REUCID learns the repeating columns of a crystal; on this image the result may "
        "mean little."
    )
    return LatticeCheck(psf_found=True, lattice_found=bool(lattice),
                        repeat_strength=None if strength is None else round(strength, 3),
                        lobe_radius_px=round(radius, 2), message=message)


def _repeat_strength(data: np.ndarray, radius: float) -> float | None:
    """Highest 2-D autocorrelation beyond twice the lobe radius, over the lag-1 value."""
    rows, cols = data.shape
    # remove what varies slower than a few columns: gradients and thickness are no lattice
    size = max(3, int(round(8 * radius)))
    centred = data - uniform_filter(data, size=size, mode="reflect")
    shape = (2 * rows, 2 * cols)  # zero padding: a linear, not circular, correlation
    power = np.abs(scipy.fft.rfft2(centred, s=shape)) ** 2
    overlap = np.abs(scipy.fft.rfft2(np.ones_like(centred), s=shape)) ** 2
    acf = scipy.fft.irfft2(power, s=shape) / np.maximum(scipy.fft.irfft2(overlap, s=shape), 1.0)
    reach = min(rows, cols) // 4
    if reach <= 2 * radius + 1:
        return None
    near = np.concatenate([acf[-reach:, -reach:], acf[-reach:, :reach + 1]], axis=1)
    far = np.concatenate([acf[:reach + 1, -reach:], acf[:reach + 1, :reach + 1]], axis=1)
    window = np.concatenate([near, far], axis=0)  # lags -reach..reach, origin at [reach, reach]
    lag_y, lag_x = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    reference = float(np.mean([window[reach, reach + 1], window[reach, reach - 1],
                               window[reach + 1, reach], window[reach - 1, reach]]))
    # What survives the background removal must itself be correlated: under white noise
    # the lag-1 correlation is 0 +- 1/sqrt(N), and a ratio to it would be noise over noise.
    if not reference > _SIGNIFICANCE * float(window[reach, reach]) / np.sqrt(data.size):
        return None
    beyond = np.hypot(lag_y, lag_x) > 2 * radius
    return float(window[beyond].max() / reference)
