"""Automatic eigenpatch labels from images with ground truth (pure numpy; no Django).

Given the reconstructions of one noisy image from its first k = 1..K eigenpatches, a
rule picks k*; eigenpatches 1..k* are labelled useful, the rest not.

Rules
-----
``edited-ief`` (the paper's)
    IEF(k) = Σ(noisy − clean)² / Σ(denoised_k − clean)² and k* maximises IEF(k) / c^k
    with c = 0.64. Because IEF(k) is the inverse of the reconstruction error up to a
    constant, dividing by c^k with c < 1 *rewards* larger k: on our simulated data it
    picks the largest k offered almost always (see docs/training.md), so it is
    selectable but not the default.
``psnr-best`` (the default; the "oracle k")
    k* maximises PSNR against the ground truth, which is the same as maximising
    IEF(k), i.e. the edited IEF with c = 1.
``ssim-best``
    k* maximises SSIM against the ground truth.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from denoiser.reucid.metrics import psnr, ssim

PAPER_IEF_CONSTANT = 0.64
LABEL_RULES: tuple[str, ...] = ("psnr-best", "edited-ief", "ssim-best")
DEFAULT_LABEL_RULE = "psnr-best"


def _checked(noisy: np.ndarray, clean: np.ndarray, reconstructions: np.ndarray):
    noisy_ = np.asarray(noisy, dtype=np.float64)
    clean_ = np.asarray(clean, dtype=np.float64)
    recon = np.asarray(reconstructions, dtype=np.float64)
    if noisy_.shape != clean_.shape or noisy_.ndim != 2:
        raise ValueError("noisy and clean must be 2D images of the same shape")
    if recon.ndim != 3 or recon.shape[1:] != clean_.shape or recon.shape[0] < 1:
        raise ValueError(
            f"reconstructions must have shape (K, {clean_.shape[0]}, {clean_.shape[1]})"
        )
    return noisy_, clean_, recon


def ief_curve(noisy: np.ndarray, clean: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """IEF(k) for k = 1..K: noisy error energy over the k-term reconstruction's.

    Examples
    --------
    >>> clean = np.zeros((2, 2)); noisy = np.ones((2, 2))
    >>> ief_curve(noisy, clean, np.stack([0.5 * noisy, 0.25 * noisy])).tolist()
    [4.0, 16.0]
    """
    noisy_, clean_, recon = _checked(noisy, clean, reconstructions)
    noise_energy = float(np.sum((noisy_ - clean_) ** 2))
    errors = np.sum((recon - clean_[None]) ** 2, axis=(1, 2))
    return noise_energy / np.maximum(errors, np.finfo(np.float64).tiny)


def edited_ief_k(ief: np.ndarray, *, c: float = PAPER_IEF_CONSTANT) -> int:
    """The paper's choice: k* = argmax_k IEF(k) / c^k (k counts from 1).

    Examples
    --------
    >>> edited_ief_k(np.array([1.0, 2.0, 2.5, 2.6]), c=1.0)
    4
    >>> edited_ief_k(np.array([1.0, 2.0, 2.5, 2.6]), c=1.5)
    2
    """
    values = np.asarray(ief, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or np.any(values <= 0):
        raise ValueError("IEF values must be a non-empty 1D array of positive numbers")
    if not c > 0:
        raise ValueError("the IEF constant c must be positive")
    k = np.arange(1, values.size + 1)
    score = np.log(values) - k * np.log(c)  # log space: c^25 over/underflows nothing
    return int(np.argmax(score)) + 1


def labels_from_k(k_star: int, n_components: int) -> np.ndarray:
    """Boolean labels: the first ``k_star`` eigenpatches are useful.

    Examples
    --------
    >>> labels_from_k(2, 4).tolist()
    [True, True, False, False]
    """
    if not 0 <= k_star <= n_components:
        raise ValueError(f"k* = {k_star} is outside 0..{n_components}")
    labels = np.zeros(n_components, bool)
    labels[:k_star] = True
    return labels


@dataclass(frozen=True)
class AutoLabel:
    """The outcome of a label rule on one image.

    Attributes
    ----------
    k_star
        Chosen number of useful eigenpatches.
    labels
        ``(K,)`` bool, the first ``k_star`` True.
    ief, psnr, ssim
        Curves over k = 1..K (``ssim`` only when computed).
    rule, c
        Rule name and the IEF constant it used.
    """

    k_star: int
    labels: np.ndarray
    ief: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray | None
    rule: str
    c: float


def auto_label(
    noisy: np.ndarray,
    clean: np.ndarray,
    reconstructions: np.ndarray,
    *,
    rule: str = DEFAULT_LABEL_RULE,
    c: float = PAPER_IEF_CONSTANT,
) -> AutoLabel:
    """Label the eigenpatches of one image from its k = 1..K reconstructions.

    Parameters
    ----------
    noisy, clean
        The noisy image and its ground truth (same units).
    reconstructions
        ``(K, m, n)``: reconstruction from the first k eigenpatches at index k−1.
    rule
        ``"psnr-best"``, ``"edited-ief"`` or ``"ssim-best"``.
    c
        IEF constant for ``"edited-ief"``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> clean = rng.random((8, 8)); noisy = clean + rng.normal(0, .5, (8, 8))
    >>> recon = np.stack([clean + e * rng.normal(0, .1, (8, 8)) for e in (3, 1, 2)])
    >>> auto_label(noisy, clean, recon).k_star
    2
    """
    if rule not in LABEL_RULES:
        raise ValueError(f"unknown label rule {rule!r}; choose from {LABEL_RULES}")
    noisy_, clean_, recon = _checked(noisy, clean, reconstructions)
    ief = ief_curve(noisy_, clean_, recon)
    psnr_curve = np.array([psnr(clean_, r) for r in recon])
    ssim_curve = np.array([ssim(clean_, r) for r in recon]) if rule == "ssim-best" else None
    if rule == "edited-ief":
        k_star = edited_ief_k(ief, c=c)
    elif rule == "psnr-best":
        k_star = int(np.argmax(psnr_curve)) + 1
    else:
        k_star = int(np.argmax(ssim_curve)) + 1
    return AutoLabel(k_star, labels_from_k(k_star, len(recon)), ief, psnr_curve, ssim_curve,
                     rule, float(c) if rule == "edited-ief" else 1.0)


def _breakpoint_grid(ief_curves: Sequence[np.ndarray], *, low: float = 0.3,
                     high: float = 3.0, limit: int = 4000) -> np.ndarray:
    """Values of c, one inside each interval where every curve's k*(c) is constant."""
    points = [np.log(low), np.log(high)]
    for curve in ief_curves:
        logs = np.log(np.asarray(curve, dtype=np.float64))
        k = np.arange(1, logs.size + 1)
        i, j = np.triu_indices(logs.size, 1)
        points.extend(((logs[j] - logs[i]) / (k[j] - k[i])).tolist())
    edges = np.unique(np.clip(points, np.log(low), np.log(high)))
    middles = np.concatenate([edges[:1], 0.5 * (edges[1:] + edges[:-1]), edges[-1:]])
    if middles.size > limit:
        middles = middles[np.linspace(0, middles.size - 1, limit).round().astype(int)]
    return np.exp(middles)


@dataclass(frozen=True)
class ConstantFit:
    """Least-squares fit of the IEF constant to survey mean choices."""

    c: float
    rmse: float
    n_images: int
    rmse_at_paper_c: float
    grid: tuple[float, ...]


def fit_ief_constant(
    ief_curves: Sequence[np.ndarray],
    mean_k: Sequence[float],
    *,
    grid: Sequence[float] | None = None,
) -> ConstantFit:
    """Fit c so the edited-IEF k* matches the survey's mean choices (least squares).

    k*(c) is a step function of c that only changes where two k tie, so the sum of
    squares is evaluated once between every pair of neighbouring breakpoints in
    0.3..3 (an exact minimisation; thinned to 4000 candidates for very large surveys).
    Ties go to the value closest to the paper's 0.64.

    Examples
    --------
    >>> curves = [np.array([1.0, 2.0, 2.2, 2.3])] * 3
    >>> fit = fit_ief_constant(curves, [2, 2, 2])
    >>> fit.rmse, 1.1 < fit.c < 2.0
    (0.0, True)
    """
    if len(ief_curves) != len(mean_k) or not ief_curves:
        raise ValueError("need one IEF curve per survey mean, and at least one")
    candidates = np.asarray(grid) if grid is not None else _breakpoint_grid(ief_curves)
    targets = np.asarray(mean_k, dtype=np.float64)

    def sum_squares(c: float) -> float:
        chosen = np.array([edited_ief_k(curve, c=c) for curve in ief_curves], dtype=float)
        return float(np.sum((chosen - targets) ** 2))

    scores = np.array([sum_squares(float(c)) for c in candidates])
    best = np.flatnonzero(scores == scores.min())
    c_best = float(candidates[best[np.argmin(np.abs(np.log(candidates[best] / 0.64)))]])
    n = len(targets)
    return ConstantFit(
        c=c_best,
        rmse=float(np.sqrt(scores.min() / n)),
        n_images=n,
        rmse_at_paper_c=float(np.sqrt(sum_squares(PAPER_IEF_CONSTANT) / n)),
        grid=(float(candidates[0]), float(candidates[-1])),
    )
