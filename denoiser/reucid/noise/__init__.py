"""The noise model: one class, one estimator, one variance-stabilising transform.

* :class:`PoissonGaussianNoise` (:mod:`.model`): ``z = gain * Poisson(x) +
  Normal(offset, sigma²)``; ``gain = 0`` is white Gaussian noise.
* :func:`estimate_noise_model` (:mod:`.estimate`): that model from the image alone.
* :class:`VarianceStabilizer` (:mod:`.anscombe`): the generalised Anscombe transform
  and its exact unbiased inverse.
"""
from __future__ import annotations

from .anscombe import VarianceStabilizer, generalized_anscombe, inverse_generalized_anscombe
from .estimate import (
    bulk_noise_variance,
    estimate_noise_model,
    fit_affine_variance,
    noise_model_region,
)
from .model import PoissonGaussianNoise

__all__ = [
    "PoissonGaussianNoise",
    "VarianceStabilizer",
    "bulk_noise_variance",
    "estimate_noise_model",
    "fit_affine_variance",
    "generalized_anscombe",
    "inverse_generalized_anscombe",
    "noise_model_region",
]
