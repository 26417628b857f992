"""Image-quality metrics against a known clean image.

Conventions (stated in ``docs/benchmarks.md``): the data range of PSNR and SSIM is
``max(clean) - min(clean)``; IEF is the image enhancement factor
``||noisy - clean||² / ||estimate - clean||²``; the residual correlation is the
Pearson correlation between ``noisy - estimate`` and ``clean`` (0 when only noise was
removed, positive when structure was removed with it).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from skimage.metrics import structural_similarity

__all__ = ["ief", "pearson", "psnr", "quality_metrics", "residual_correlation", "ssim"]


def _as_float_pair(a: ArrayLike, b: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"Images differ in shape: {x.shape} vs {y.shape}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("Images must not contain NaN or infinite values.")
    return x, y


def _data_range(clean: NDArray[np.float64]) -> float:
    data_range = float(clean.max() - clean.min())
    if data_range <= 0:
        raise ValueError("The clean image is constant: PSNR and SSIM are undefined.")
    return data_range


def psnr(clean: ArrayLike, estimate: ArrayLike) -> float:
    """Peak signal-to-noise ratio in dB, with data range ``max(clean) - min(clean)``.

    Parameters
    ----------
    clean, estimate : array_like
        Ground truth and estimate, same shape.

    Returns
    -------
    float
        ``10 log10(range² / MSE)``; ``inf`` for a perfect estimate.

    Examples
    --------
    >>> round(psnr([[0.0, 1.0]], [[0.1, 0.9]]), 2)
    20.0
    """
    x, y = _as_float_pair(clean, estimate)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(_data_range(x) ** 2 / mse))


def ssim(clean: ArrayLike, estimate: ArrayLike) -> float:
    """Structural similarity (scikit-image, default 7x7 window), data range from ``clean``.

    Parameters
    ----------
    clean, estimate : array_like
        2D ground truth and estimate, same shape, at least 7x7.

    Returns
    -------
    float
        Mean SSIM, 1 for identical images.

    Examples
    --------
    >>> img = np.outer(np.arange(8.0), np.ones(8))
    >>> ssim(img, img)
    1.0
    """
    x, y = _as_float_pair(clean, estimate)
    return float(structural_similarity(x, y, data_range=_data_range(x)))


def ief(clean: ArrayLike, noisy: ArrayLike, estimate: ArrayLike) -> float:
    """Image enhancement factor ``||noisy - clean||² / ||estimate - clean||²``.

    Parameters
    ----------
    clean, noisy, estimate : array_like
        Ground truth, input and estimate, same shape.

    Returns
    -------
    float
        > 1 when the estimate is closer to the clean image than the input was.

    Examples
    --------
    >>> ief([0.0, 0.0], [2.0, 0.0], [1.0, 0.0])
    4.0
    """
    x, z = _as_float_pair(clean, noisy)
    _, y = _as_float_pair(clean, estimate)
    error = float(np.sum((y - x) ** 2))
    if error == 0:
        return float("inf")
    return float(np.sum((z - x) ** 2)) / error


def pearson(a: ArrayLike, b: ArrayLike) -> float:
    """Pearson correlation coefficient of two arrays (0 where one is constant).

    Parameters
    ----------
    a, b : array_like
        Same shape.

    Returns
    -------
    float

    Examples
    --------
    >>> pearson([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]) > 0.98
    True
    """
    x, y = _as_float_pair(a, b)
    x = x - x.mean()
    y = y - y.mean()
    denominator = float(np.sqrt(np.sum(x * x) * np.sum(y * y)))
    if denominator == 0:
        return 0.0
    return float(np.sum(x * y) / denominator)


def residual_correlation(clean: ArrayLike, noisy: ArrayLike, estimate: ArrayLike) -> float:
    """Pearson correlation between the removed part ``noisy - estimate`` and ``clean``.

    Parameters
    ----------
    clean, noisy, estimate : array_like
        Ground truth, input and estimate, same shape.

    Returns
    -------
    float
        About 0 when only noise was removed; positive when signal was removed too.

    Examples
    --------
    >>> clean = np.array([0.0, 1.0, 0.0, 1.0])
    >>> abs(residual_correlation(clean, clean + [0.1, -0.1, -0.1, 0.1], clean)) < 1e-12
    True
    """
    x, z = _as_float_pair(clean, noisy)
    _, y = _as_float_pair(clean, estimate)
    return pearson(z - y, x)


def quality_metrics(clean: ArrayLike, noisy: ArrayLike, estimate: ArrayLike) -> dict[str, float]:
    """All four metrics of the quality benchmark, keyed ``psnr``, ``ssim``, ``ief``, ``rescorr``.

    Parameters
    ----------
    clean, noisy, estimate : array_like
        Ground truth, input and estimate, same 2D shape.

    Returns
    -------
    dict of str to float

    Examples
    --------
    >>> clean = np.outer(np.hanning(16), np.hanning(16))
    >>> noisy = clean + np.random.default_rng(0).normal(0, 0.05, clean.shape)
    >>> sorted(quality_metrics(clean, noisy, clean))
    ['ief', 'psnr', 'rescorr', 'ssim']
    """
    return {
        "psnr": psnr(clean, estimate),
        "ssim": ssim(clean, estimate),
        "ief": ief(clean, noisy, estimate),
        "rescorr": residual_correlation(clean, noisy, estimate),
    }
