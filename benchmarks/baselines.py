"""The methods a microscopist would use instead of REUCID, as benchmark rows.

* Gaussian filter with a fixed rule (sigma = 1 pixel, the usual "light blur");
* Gaussian filter with the oracle sigma (best MSE against ground truth: the ceiling
  of any Gaussian-blur rule);
* scikit-image non-local means, as its documentation recommends it: sigma from
  ``estimate_sigma``, ``h = 0.8 sigma``, 5x5 patches, 13x13 search window;
* BM3D (the ``bm3d`` package) inside the generalised Anscombe transform for
  Poisson–Gaussian noise (stabilised noise sigma = 1, exact unbiased inverse).
"""
from __future__ import annotations

import importlib.util

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter
from skimage.restoration import denoise_nl_means, estimate_sigma

from benchmarks.methods import MethodContext, register_method
from denoiser.reucid.noise import (
    PoissonGaussianNoise,
    generalized_anscombe,
    inverse_generalized_anscombe,
)

__all__ = [
    "FIXED_GAUSSIAN_SIGMA_PX",
    "bm3d_anscombe",
    "bm3d_gat",
    "gaussian_fixed",
    "gaussian_oracle",
    "non_local_means",
    "oracle_gaussian_sigma",
]

FIXED_GAUSSIAN_SIGMA_PX = 1.0
# Log-spaced candidate sigmas for the oracle: a 5 % step is finer than any visible change.
_ORACLE_SIGMAS_PX = np.geomspace(0.25, 12.0, 80)


def gaussian_fixed(noisy: NDArray[np.float64], *, context: MethodContext) -> NDArray[np.float64]:
    """Gaussian blur with sigma = 1 pixel.

    Examples
    --------
    >>> from denoiser.reucid.noise import PoissonGaussianNoise
    >>> gaussian_fixed(np.ones((4, 4)), context=MethodContext(noise=PoissonGaussianNoise())).mean()
    np.float64(1.0)
    """
    return gaussian_filter(np.asarray(noisy, dtype=np.float64), FIXED_GAUSSIAN_SIGMA_PX)


def oracle_gaussian_sigma(noisy: NDArray[np.float64], clean: NDArray[np.float64]) -> float:
    """The Gaussian blur sigma (pixels) that minimises the MSE against ``clean``.

    Parameters
    ----------
    noisy, clean : numpy.ndarray
        Same 2D shape.

    Returns
    -------
    float
        One of 80 log-spaced values between 0.25 and 12 pixels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> clean = gaussian_filter(rng.normal(size=(64, 64)), 4) * 50
    >>> 0.5 < oracle_gaussian_sigma(clean + rng.normal(size=clean.shape), clean) < 8
    True
    """
    z = np.asarray(noisy, dtype=np.float64)
    x = np.asarray(clean, dtype=np.float64)
    errors = [float(np.mean((gaussian_filter(z, s) - x) ** 2)) for s in _ORACLE_SIGMAS_PX]
    return float(_ORACLE_SIGMAS_PX[int(np.argmin(errors))])


def gaussian_oracle(
    noisy: NDArray[np.float64], *, context: MethodContext
) -> tuple[NDArray[np.float64], str]:
    """Gaussian blur with the sigma that is best against the ground truth (and that sigma)."""
    if context.clean is None:
        raise ValueError("The oracle Gaussian needs the clean image.")
    sigma = oracle_gaussian_sigma(noisy, context.clean)
    return gaussian_filter(np.asarray(noisy, dtype=np.float64), sigma), f"sigma={sigma:.2f} px"


def non_local_means(noisy: NDArray[np.float64], *, context: MethodContext) -> NDArray[np.float64]:
    """scikit-image NLM with its documented settings (sigma estimated from the image)."""
    z = np.asarray(noisy, dtype=np.float64)
    sigma = float(estimate_sigma(z))
    return denoise_nl_means(
        z, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True
    )


def bm3d_gat(noisy: NDArray[np.float64], noise: PoissonGaussianNoise) -> NDArray[np.float64]:
    """BM3D + GAT: the one BM3D baseline of every benchmark.

    BM3D (the ``bm3d`` package, stabilised noise sigma 1) on the generalised-Anscombe
    transform of ``noisy`` under ``noise``, then the exact unbiased inverse.

    Parameters
    ----------
    noisy : numpy.ndarray
        2D image in detector units.
    noise : PoissonGaussianNoise
        The noise model (true on simulations, estimated on real images).

    Returns
    -------
    numpy.ndarray
        The estimate, float64.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> clean = np.full((32, 32), 50.0)
    >>> out = bm3d_gat(rng.poisson(clean).astype(float), PoissonGaussianNoise(gain=1.0))
    >>> bool(abs(out.mean() - 50.0) < 1.0 and out.std() < 2.0)
    True
    """
    # bm3d (optional baseline) only when BM3D runs
    import bm3d

    stabilised = generalized_anscombe(np.asarray(noisy, dtype=np.float64), noise=noise)
    denoised = bm3d.bm3d(stabilised, sigma_psd=1.0)
    return np.asarray(inverse_generalized_anscombe(np.asarray(denoised), noise=noise),
                      dtype=np.float64)


def bm3d_anscombe(noisy: NDArray[np.float64], *, context: MethodContext) -> NDArray[np.float64]:
    """The registered "BM3D + GAT" row: :func:`bm3d_gat` with ``context.noise``."""
    return bm3d_gat(noisy, context.noise)


def _bm3d_available() -> str | None:
    if importlib.util.find_spec("bm3d") is None:
        return "the bm3d package is not installed (pip install bm3d)"
    return None


register_method(
    "Gaussian, sigma 1 px",
    gaussian_fixed,
    description="Gaussian blur, fixed rule sigma = 1 pixel.",
)
register_method(
    "Gaussian, oracle sigma",
    gaussian_oracle,
    family="oracle",
    needs_ground_truth=True,
    description="Gaussian blur with the sigma of least MSE against the ground truth.",
)
register_method(
    "NLM (scikit-image)",
    non_local_means,
    description="skimage denoise_nl_means, sigma = estimate_sigma, h = 0.8 sigma, "
    "patch 5, distance 6, fast mode.",
)
register_method(
    "BM3D + GAT",
    bm3d_anscombe,
    available=_bm3d_available,
    description="bm3d package (v4) on the generalised Anscombe transform (sigma 1), "
    "exact unbiased inverse (closed form); noise parameters known on simulations, "
    "estimated on real images.",
)
