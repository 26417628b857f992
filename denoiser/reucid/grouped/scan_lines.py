"""Scan-line offsets: noise that is constant along a scan line, found and removed.

A STEM image is written line by line; a detector or scan-coil glitch shifts a whole
line by one offset (and slow drifts give 1/f noise along the slow axis). Such noise
is not white, so the default method's noise model does not describe it, and a patch
decomposition keeps it as horizontal structure. What tells it apart from the
specimen is that it is the same all along the line: each line's offset is the median,
over the line, of the data minus a pilot estimate (the coarse pilot of
:mod:`.pilot`, which stripes hardly enter). Only when the offsets clearly exceed what
white noise gives (``ratio``, the variance of the line medians over its white-noise
expectation) are they removed, in detector units, before the noise model and the
decomposition; the output is then the data's own decomposition of the corrected
image, and the offsets are recorded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..noise import PoissonGaussianNoise, VarianceStabilizer
from .pilot import CoarsePilot, coarse_pilot

__all__ = ["LINE_OFFSET_RATIO", "ScanLineOffsets", "estimate_line_offsets"]

#: Line medians whose variance exceeds white noise's by this factor are line offsets.
LINE_OFFSET_RATIO = 4.0
# The stabilised residual's variance range within which the noise model describes the
# data (1 after a good transform); outside it line offsets are not looked for.
_NOISE_DESCRIBED = (0.25, 4.0)
# Values that measure that variance at most (a regular subgrid of larger residuals).
_SPREAD_VALUES = 1 << 18
# Rounds of estimate-and-remove (each sees what the previous pilot absorbed).
_ROUNDS = 2
# A lattice row frequency: a peak of the row means this many times its neighbourhood's
# median power (window of that many frequencies), above the slowest few frequencies.
_PEAK_FACTOR = 10.0
_PEAK_WINDOW = 9
_LOWEST_LATTICE_FREQUENCY = 3


@dataclass(frozen=True)
class ScanLineOffsets:
    """Offsets of the scan lines (rows), in detector units, and how clearly they stand out.

    Attributes
    ----------
    offsets : numpy.ndarray
        ``(rows,)`` offset of each line, zero-mean (zeros when not detected).
    ratio : float
        Variance of the line medians over their white-noise expectation (about 1
        without line noise).
    detected : bool
        ``ratio`` above :data:`LINE_OFFSET_RATIO`: the offsets are removed.
    pilot : CoarsePilot or None
        The coarse pilot of the stabilised image as given, when nothing was removed: the
        default method's own first estimate, so it need not be computed again.
    """

    offsets: NDArray[np.float64]
    ratio: float
    detected: bool
    pilot: CoarsePilot | None = field(default=None, repr=False, compare=False)

    def to_metadata(self) -> dict[str, float | bool]:
        """JSON-able summary."""
        return {"detected": self.detected, "ratio": round(float(self.ratio), 3),
                "offset_std": float(np.std(self.offsets))}


def _without_lattice_lines(medians: NDArray[np.float64], work: NDArray[np.float64]
                           ) -> NDArray[np.float64]:
    """Line medians without the lattice's own row periodicity.

    With the lattice aligned to the scan, rows of atoms make the line medians periodic
    wherever the pilot under-fits a column; those frequencies stand out as sharp
    peaks of the image's own row means, and are removed from the medians.
    """
    profile = work.mean(axis=1)
    power = np.abs(np.fft.rfft(profile - profile.mean())) ** 2
    spectrum = np.fft.rfft(medians - medians.mean())
    local = ndimage.median_filter(power, size=_PEAK_WINDOW, mode="nearest")
    peaks = power > _PEAK_FACTOR * np.maximum(local, np.finfo(float).tiny)
    peaks[:_LOWEST_LATTICE_FREQUENCY] = False
    peaks = ndimage.binary_dilation(peaks, iterations=1)
    spectrum[peaks] = 0.0
    return np.fft.irfft(spectrum, n=len(medians)) + medians.mean()


def _robust_spread(values: NDArray[np.float64]) -> float:
    """Median absolute deviation (as a standard deviation) of at most about 2^18 values:
    a regular subgrid of a large image (its two medians over every pixel of a 1024²
    image cost more than the rest of the check outside the pilot)."""
    step = max(1, int(np.sqrt(values.size / _SPREAD_VALUES)))
    sample = values[::step, ::step]
    return 1.4826 * float(np.median(np.abs(sample - np.median(sample))))


def estimate_line_offsets(image: NDArray[np.float64], model: PoissonGaussianNoise, *,
                          seed: int | None = 0) -> ScanLineOffsets:
    """Offsets of the image's scan lines (rows) against a pilot estimate.

    Parameters
    ----------
    image : numpy.ndarray
        ``(m, n)`` image in detector units (not modified).
    model : PoissonGaussianNoise
        Its noise model (the white part).
    seed : int, optional
        Seed of the pilot.

    Returns
    -------
    ScanLineOffsets

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[:128, :128]
    >>> clean = 50 + 40 * np.cos(2 * np.pi * (x + 0.3 * y) / 9) ** 2
    >>> lines = rng.normal(0.0, 4.0, 128)
    >>> noisy = rng.poisson(clean) + lines[:, None]
    >>> found = estimate_line_offsets(noisy, PoissonGaussianNoise(gain=1.0))
    >>> found.detected, bool(np.corrcoef(found.offsets, lines)[0, 1] > 0.7)
    (True, True)
    >>> estimate_line_offsets(rng.poisson(clean).astype(float),
    ...                       PoissonGaussianNoise(gain=1.0)).detected
    False
    >>> aligned = 5 + 40 * np.cos(np.pi * x / 10) ** 8 * np.cos(np.pi * y / 10) ** 8
    >>> estimate_line_offsets(rng.poisson(aligned).astype(float),
    ...                       PoissonGaussianNoise(gain=1.0)).detected
    False
    >>> estimate_line_offsets(1e-12 * (x + y), PoissonGaussianNoise(gain=1e-21)).detected
    False
    """
    data = np.asarray(image, dtype=np.float64)
    rows, cols = data.shape
    stabilizer = VarianceStabilizer(model)
    total = np.zeros(rows)
    ratio = 0.0
    for round_index in range(_ROUNDS):
        corrected = data - total[:, None]
        work = stabilizer.forward(corrected)
        pilot = coarse_pilot(work, seed=seed)
        if pilot is None:
            break
        residual = work - pilot.image
        medians = _without_lattice_lines(np.median(residual, axis=1), work)
        if round_index == 0:
            # the median of n unit-variance values varies as pi / (2 n); the test only
            # means something where the transform did make the noise unit-variance
            spread = _robust_spread(residual)
            ratio = float(np.var(medians) / (np.pi / (2.0 * cols)))
            described = _NOISE_DESCRIBED[0] <= spread**2 <= _NOISE_DESCRIBED[1]
            if not (described and np.isfinite(ratio) and ratio > LINE_OFFSET_RATIO):
                return ScanLineOffsets(np.zeros(rows), ratio, False, pilot)
        # back to detector units through the local slope of the transform
        scale = np.median(np.sqrt(np.maximum(model.variance(corrected), 1e-300)), axis=1)
        step = (medians - medians.mean()) * scale
        total += step
    if not np.any(total) or not np.all(np.isfinite(total)):
        # too small for a pilot, or nothing finite to remove
        return ScanLineOffsets(np.zeros(rows), ratio, False)
    return ScanLineOffsets(total - total.mean(), ratio, True)
