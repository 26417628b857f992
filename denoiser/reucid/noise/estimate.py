"""How noisy is the image? A Poisson–Gaussian noise model estimated from the image itself.

STEM detector noise is signal-dependent: ``variance = gain * mean + intercept`` (shot
noise plus read-out noise, with any dark offset folded into the intercept). The
generalised Anscombe transform needs that line. It is estimated here from groups
of similar patches: within a group every patch shows the same structure, so after
removing the group's mean and its few strongest components what is left at each
pixel is noise, and its variance is paired with the group's mean at that pixel.
A robust weighted least-squares line through thousands of such pairs gives the
model, without a flat region or a dark reference.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from ..linalg import symmetric_eigh
from ..patches.patch_set import PatchSet
from ..patches.similarity import (
    BASIS_SAMPLE,
    DEFAULT_N_GROUPS,
    group_positions,
    group_similar_patches,
)
from ..threads import map_in_threads, single_threaded, single_threaded_blas
from .model import PoissonGaussianNoise

__all__ = [
    "NOISE_MODEL_SIDE",
    "bulk_noise_variance",
    "estimate_noise_model",
    "fit_affine_variance",
    "leading_directions",
    "noise_model_region",
]

#: Largest side of the region the noise model is estimated on.
NOISE_MODEL_SIDE = 512
# Components removed from each group before its residual is read as noise.
_SIGNAL_COMPONENTS = 3
# A group needs this many patches per pixel of a patch to measure a noise variance.
_MIN_GROUP_FACTOR = 2
# Subspace iterations (on a block of a few more vectors than removed) that find a
# group's strongest directions: a signal direction converges as (noise / signal)^n,
# a direction within the noise is any noise direction, which the leverage accounts for.
_SUBSPACE_ITERATIONS = 6
_SUBSPACE_EXTRA = 3
# Bytes of stacked patches per batch of groups (zero-padded).
_BATCH_BYTES = 2 * 1024**2
# How far the fitted line's mean variance may stray from the spectrum's noise bulk.
_BULK_TOLERANCE = 1.5


def fit_affine_variance(
    means: ArrayLike, variances: ArrayLike, weights: ArrayLike | None = None,
    *, n_iterations: int = 6,
) -> PoissonGaussianNoise:
    """Robust weighted least-squares line ``variance = slope * mean + intercept``.

    Each pair is weighted by its sample count over the squared predicted variance
    (the variance of a variance estimate grows with its square); pairs more than
    three robust standard deviations off the line are dropped; the slope is kept
    non-negative (noise does not shrink with signal).

    Parameters
    ----------
    means, variances : array_like
        ``(K,)`` local means and the noise variances measured there.
    weights : array_like, optional
        ``(K,)`` sample counts behind each pair (default 1).
    n_iterations : int, optional
        Reweighting rounds (default 6).

    Returns
    -------
    PoissonGaussianNoise

    Examples
    --------
    >>> means = np.linspace(0.0, 100.0, 50)
    >>> fit = fit_affine_variance(means, 0.5 * means + 4.0)
    >>> round(fit.slope, 3), round(fit.intercept, 3)
    (0.5, 4.0)
    """
    x = np.asarray(means, dtype=np.float64).ravel()
    y = np.asarray(variances, dtype=np.float64).ravel()
    counts = np.ones_like(x) if weights is None else np.asarray(weights, np.float64).ravel()
    if not (len(x) == len(y) == len(counts)) or len(x) < 2:
        raise ValueError("need at least two (mean, variance) pairs of equal length")
    slope, intercept = 0.0, float(np.median(y))
    keep = np.ones(len(x), dtype=bool)
    for _ in range(n_iterations):
        predicted = np.maximum(slope * x + intercept, 1e-12 * max(abs(intercept), 1e-300))
        relative = (y - predicted) / predicted
        spread = 1.4826 * np.median(np.abs(relative[keep] - np.median(relative[keep])))
        # a perfect fit has no spread: keep a relative tolerance instead of dropping all
        candidate = np.abs(relative) <= 3.0 * max(spread, 1e-6)
        if np.count_nonzero(candidate) >= 2:
            keep = candidate
        weight = counts * keep / predicted**2
        root = np.sqrt(weight)
        design = np.stack([x, np.ones_like(x)], axis=1) * root[:, None]
        slope, intercept = np.linalg.lstsq(design, y * root, rcond=None)[0]
        if slope < 0:
            slope, intercept = 0.0, float(np.sum(weight * y) / np.sum(weight))
    return PoissonGaussianNoise.from_affine_variance(slope=float(slope),
                                                     intercept=float(intercept))


def estimate_noise_model(
    image: ArrayLike, *, patch_size: int, n_groups: int = DEFAULT_N_GROUPS,
    seed: int | None = 0, labels: ArrayLike | None = None,
) -> PoissonGaussianNoise:
    """Estimate ``variance = slope * mean + intercept`` from the image alone.

    Parameters
    ----------
    image : array_like
        ``(m, n)`` noisy image in detector units (not modified).
    patch_size : int
        Patch side ``p``.
    n_groups : int, optional
        Groups of similar patches (default 128).
    seed : int, optional
        Seed of the grouping.
    labels : array_like, optional
        Precomputed group labels of the image's patches (skips the grouping).

    Returns
    -------
    PoissonGaussianNoise

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[:128, :128]
    >>> clean = 5 + 100 * np.exp(-(((x % 10) - 5.0) ** 2 + ((y % 10) - 5.0) ** 2) / 8)
    >>> noisy = rng.poisson(clean) + rng.normal(0.0, 3.0, clean.shape)  # slope 1, intercept 9
    >>> model = estimate_noise_model(noisy, patch_size=7)
    >>> bool(abs(model.slope - 1.0) < 0.15), round(model.intercept)
    (True, 9)
    """
    with single_threaded_blas():
        return _fit_noise_model(image, patch_size=patch_size, n_groups=n_groups, seed=seed,
                                labels=labels)


def _fit_noise_model(image: ArrayLike, *, patch_size: int, n_groups: int, seed: int | None,
                     labels: ArrayLike | None) -> PoissonGaussianNoise:
    """The body of :func:`estimate_noise_model`."""
    # float32 patches: the statistics below average thousands of them, far above
    # float32 rounding, and gathering them is the estimate's main cost
    patches = PatchSet(image, patch_size, dtype=np.float32)
    dim = patches.patch_dim
    bulk = bulk_noise_variance(patches, seed=seed)
    if labels is not None:
        means, variances, counts = _group_noise_samples(patches, np.asarray(labels, np.intp))
        covered = sum(int(c[0]) for c in counts)
    if labels is None or covered < patches.n_patches // 2:
        # too few patches per group for a per-pixel variance: use fewer, larger groups
        # k-means groups are uneven: aim at twice the minimum size on average
        groups = int(min(n_groups,
                         max(1, patches.n_patches // (2 * _MIN_GROUP_FACTOR * dim))))
        labels = group_similar_patches(patches, noise_variance=bulk, n_groups=groups,
                                       sample_size=BASIS_SAMPLE, seed=seed)
        means, variances, counts = _group_noise_samples(patches, labels)
    if not means:
        # no group is large enough (a tiny image): fall back to white noise
        return PoissonGaussianNoise(gain=0.0, sigma=float(np.sqrt(bulk)))
    model = fit_affine_variance(np.concatenate(means), np.concatenate(variances),
                                np.concatenate(counts))
    return _consistent_with_bulk(model, patches.image, bulk)


def _consistent_with_bulk(model: PoissonGaussianNoise, image: NDArray[np.float64],
                          bulk: float) -> PoissonGaussianNoise:
    """Check the fitted line against the image-wide noise level and repair its slope.

    Groups of similar patches are chosen on the noisy data; with a handful of counts
    per pixel the grouping follows the noise itself and the per-group variances are
    biased low. The spectrum's noise bulk has no such selection: where the line's
    average variance misses it by more than half, the slope is set to match it.
    """
    implied = float(np.mean(model.variance(image)))
    if bulk / _BULK_TOLERANCE <= implied <= bulk * _BULK_TOLERANCE:
        return model
    level = float(np.mean(image))
    if level <= 0 or bulk <= model.intercept:
        return PoissonGaussianNoise(gain=0.0, sigma=float(np.sqrt(bulk)))
    return PoissonGaussianNoise.from_affine_variance(
        slope=(bulk - model.intercept) / level, intercept=model.intercept)


def _group_noise_samples(
    patches: PatchSet, labels: NDArray[np.intp]
) -> tuple[list[NDArray[np.float64]], list[NDArray[np.float64]], list[NDArray[np.float64]]]:
    """Per group and pixel: (mean, noise variance, patch count), for groups big enough.

    Each group's patches are centred and its :data:`_SIGNAL_COMPONENTS` strongest
    directions projected out; the residual's mean square per pixel, corrected for the
    share of the noise those directions took along, is the group's noise variance there.
    """
    dim = patches.patch_dim
    # too few patches make no trustworthy per-pixel variance
    big = [g for g in group_positions(labels) if len(g) >= _MIN_GROUP_FACTOR * dim]
    # A group is a few hundred patches on small images: one at a time, numpy's and
    # torch's per-call overhead (which holds the GIL) outweighed the arithmetic and two
    # threads ran slower than one. So groups of similar size are stacked, zero-padded,
    # into batches, and each batch is a handful of batched products; the batches run
    # side by side, each on one thread (the result does not depend on the threads).
    row_bytes = dim * patches.dtype.itemsize
    batches: list[list[int]] = []
    for index in sorted(range(len(big)), key=lambda i: len(big[i])):
        # padded to its longest group, which is the one joining now
        if not batches or (len(batches[-1]) + 1) * len(big[index]) * row_bytes > _BATCH_BYTES:
            batches.append([])
        batches[-1].append(index)
    results: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
    with single_threaded():
        done = map_in_threads(
            lambda batch: _batch_noise_samples(patches, [big[i] for i in batch]), batches)
    for batch, samples in zip(batches, done):
        results.update(zip(batch, samples))
    samples = [results[index] for index in range(len(big))]
    return ([m for m, _ in samples], [v for _, v in samples],
            [np.full(dim, len(g), dtype=np.float64) for g in big])


def _batch_noise_samples(patches: PatchSet, groups: list[NDArray[np.intp]]
                         ) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """(mean, noise variance) per pixel of each group, the groups stacked into one batch."""
    dim, longest = patches.patch_dim, max(len(g) for g in groups)
    sizes = torch.tensor([len(g) for g in groups], dtype=torch.float64)
    # the groups' patches, each group zero-padded to the longest: padding rows stay zero
    # through the centring (masked) and add nothing to any sum below
    rows = torch.from_numpy(patches.gather(np.concatenate(groups)))
    if len(groups) == 1:
        stacked, present = rows[None], None
    else:
        slots = torch.from_numpy(np.concatenate(
            [i * longest + np.arange(len(g)) for i, g in enumerate(groups)]))
        stacked = rows.new_zeros((len(groups) * longest, dim))
        stacked[slots] = rows
        stacked = stacked.reshape(len(groups), longest, dim)
        present = stacked.new_zeros(len(groups) * longest)
        present[slots] = 1.0
        present = present.reshape(len(groups), longest, 1)
    centre = stacked.sum(dim=1, dtype=torch.float64) / sizes[:, None]
    centred = stacked - centre.to(stacked.dtype)[:, None, :]
    if present is not None:
        centred *= present
    gram = (centred.transpose(1, 2) @ centred).to(torch.float64)
    strongest = torch.from_numpy(leading_directions(gram.numpy(),
                                                    min(_SIGNAL_COMPONENTS, dim - 1)))
    basis = strongest.to(centred.dtype)
    residual = centred - (centred @ basis) @ basis.transpose(1, 2)
    squares = (residual * residual).sum(dim=1, dtype=torch.float64) / sizes[:, None]
    # projecting out the strongest directions also removes their share of the noise at
    # each pixel: the leverage sum_j v_j[pixel]²
    leverage = (strongest**2).sum(dim=2)
    variance = squares / torch.clamp(1.0 - leverage, min=0.2)
    return [(centre[i].numpy(), variance[i].numpy()) for i in range(len(groups))]


def leading_directions(gram: ArrayLike, count: int, *,
                       iterations: int = _SUBSPACE_ITERATIONS) -> NDArray[np.float64]:
    """Orthonormal ``(d, count)`` basis of the strongest eigendirections of a Gram matrix.

    Block subspace iteration from a fixed start, then a Rayleigh–Ritz step: a few
    products with the ``d x d`` matrix instead of its whole eigendecomposition, which
    (for the noise model's hundred-odd groups) cost more than everything else it does.
    A stack ``(..., d, d)`` of matrices gives ``(..., d, count)``, all in one set of
    batched products.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> basis = np.linalg.qr(rng.normal(size=(30, 30)))[0]
    >>> gram = (basis * np.r_[100.0, 50.0, 20.0, np.ones(27)]) @ basis.T
    >>> found = leading_directions(gram, 3)
    >>> bool(np.allclose(np.abs(found.T @ basis[:, :3]), np.eye(3), atol=1e-6))
    True
    >>> leading_directions(np.stack([gram, 2 * gram]), 3).shape
    (2, 30, 3)
    """
    data = np.asarray(gram, dtype=np.float64)
    if data.ndim < 2 or data.shape[-1] != data.shape[-2]:
        raise ValueError(f"need square matrices, got shape {data.shape}")
    d = data.shape[-1]
    block = min(d, count + _SUBSPACE_EXTRA)
    if 2 * block >= d:
        # small matrices: the whole eigendecomposition costs no more
        # (a copy: torch takes no negative strides)
        return symmetric_eigh(data)[1][..., ::-1][..., :count].copy()
    matrix = torch.from_numpy(np.array(data))
    trace = matrix.diagonal(dim1=-2, dim2=-1).sum(-1)
    scale = torch.clamp(trace, min=float(np.finfo(float).tiny))[..., None, None]
    vectors = torch.from_numpy(_subspace_start(d, block).copy())
    for _ in range(iterations):
        vectors = torch.linalg.qr(matrix @ vectors / scale)[0]
    _, rotation = torch.linalg.eigh(vectors.transpose(-2, -1) @ matrix @ vectors)
    return (vectors @ rotation.flip(-1)[..., :count]).numpy()


@functools.lru_cache(maxsize=8)
def _subspace_start(dimension: int, block: int) -> NDArray[np.float64]:
    """A fixed start of the subspace iteration: the result is a function of the matrix."""
    start = np.random.default_rng(0).standard_normal((dimension, block))
    start.setflags(write=False)
    return start


def bulk_noise_variance(patches: PatchSet, *, seed: int | None) -> float:
    """White-noise variance from the lower half of the centred patch spectrum."""
    rng = np.random.default_rng(seed)
    sample = patches.gather(np.sort(rng.choice(
        patches.n_patches, size=min(patches.n_patches, 20000), replace=False)))
    centred = sample - sample.mean(axis=0)
    values = np.linalg.eigvalsh(centred.T @ centred / len(sample))
    return float(max(np.median(values[: max(1, len(values) // 2)]), 1e-300))


def noise_model_region(image: NDArray[np.float64]) -> NDArray[np.float64]:
    """The part of the image the noise model is estimated on: at most the central 512x512.

    The model (variance as an affine function of the mean) is one line for the whole
    detector; a central crop holds plenty of samples of it, and the estimate's cost
    grows with the pixels it sees.

    Examples
    --------
    >>> noise_model_region(np.zeros((2000, 300))).shape
    (512, 300)
    """
    rows, cols = image.shape
    top, left = max(0, (rows - NOISE_MODEL_SIDE) // 2), max(0, (cols - NOISE_MODEL_SIDE) // 2)
    return image[top:top + NOISE_MODEL_SIDE, left:left + NOISE_MODEL_SIDE]
