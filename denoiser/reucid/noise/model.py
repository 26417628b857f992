"""The one noise model of REUCID: Poisson shot noise plus Gaussian read-out noise.

``z = gain * Poisson(x) + Normal(offset, sigma²)``, so ``variance = gain * mean +
intercept`` with ``intercept = sigma² - gain * offset``. The estimator
(:mod:`.estimate`) fits that line; the generalised Anscombe transform
(:mod:`.anscombe`) needs the three parameters. ``gain = 0`` is white Gaussian noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["PoissonGaussianNoise"]


@dataclass(frozen=True)
class PoissonGaussianNoise:
    """Parameters of the Poisson–Gaussian model ``z = gain * Poisson(x) + Normal(offset, sigma²)``.

    Parameters
    ----------
    gain : float
        Detector units per counted electron (``alpha`` in Mäkitalo & Foi); >= 0
        (0: no shot-noise part, white Gaussian noise).
    sigma : float
        Standard deviation of the additive Gaussian part, in detector units; >= 0.
    offset : float
        Mean of the additive Gaussian part (the detector's dark level), in detector units.

    Examples
    --------
    >>> noise = PoissonGaussianNoise(gain=1.0, sigma=5.0)
    >>> noise.variance(np.array([0.0, 100.0]))
    array([ 25., 125.])
    """

    gain: float = 1.0
    sigma: float = 0.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.gain) or self.gain < 0:
            raise ValueError(f"The Poisson gain must be zero or positive, got {self.gain!r}.")
        if not np.isfinite(self.sigma) or self.sigma < 0:
            raise ValueError(
                f"The Gaussian noise sigma must be zero or positive, got {self.sigma!r}."
            )
        if not np.isfinite(self.offset):
            raise ValueError(f"The detector offset must be finite, got {self.offset!r}.")

    @classmethod
    def from_affine_variance(cls, *, slope: float, intercept: float) -> PoissonGaussianNoise:
        """Build the model from a fitted ``variance = slope * mean + intercept`` line.

        A negative intercept is read as a positive dark offset with no read noise
        (``intercept = sigma² - gain * offset``); both readings give the same
        transform and differ only in where the inverse clips at zero counts.

        Parameters
        ----------
        slope : float
            Fitted slope (the gain); must be > 0.
        intercept : float
            Fitted intercept, in squared detector units.

        Returns
        -------
        PoissonGaussianNoise

        Examples
        --------
        >>> PoissonGaussianNoise.from_affine_variance(slope=2.0, intercept=-8.0)
        PoissonGaussianNoise(gain=2.0, sigma=0.0, offset=4.0)
        """
        if intercept >= 0 or slope <= 0:
            return cls(gain=max(float(slope), 0.0), sigma=float(np.sqrt(max(intercept, 0.0))),
                       offset=0.0)
        return cls(gain=float(slope), sigma=0.0, offset=float(-intercept / slope))

    @property
    def slope(self) -> float:
        """Slope of ``variance = slope * mean + intercept`` (the gain)."""
        return float(self.gain)

    @property
    def intercept(self) -> float:
        """Intercept of the variance line: ``sigma² - gain * offset``.

        Examples
        --------
        >>> PoissonGaussianNoise(gain=2.0, sigma=3.0, offset=4.0).intercept
        1.0
        """
        return float(self.sigma**2 - self.gain * self.offset)

    @property
    def is_signal_dependent(self) -> bool:
        """Whether the model has a shot-noise part at all."""
        return self.gain > 0

    def variance(self, expected: ArrayLike) -> NDArray[np.float64]:
        """Noise variance at the given expected (noise-free) detector values.

        Parameters
        ----------
        expected : array_like
            Expected detector values ``gain * x + offset``.

        Returns
        -------
        numpy.ndarray
            ``gain * (expected - offset) + sigma²``, floored at ``sigma²`` (and at the
            smallest positive float, so that it can divide).

        Examples
        --------
        >>> PoissonGaussianNoise(gain=2.0, sigma=1.0, offset=10.0).variance([10.0, 20.0])
        array([ 1., 21.])
        """
        counts_part = np.maximum(np.asarray(expected, dtype=np.float64) - self.offset, 0.0)
        return np.maximum(self.gain * counts_part + self.sigma**2, np.finfo(np.float64).tiny)
