"""Groups of similar patches: each group's SVD then sees one kind of structure.

The paper's stacks are random subsets of the patches; here a stack is a *group* of
patches that look alike (the same place in the unit cell, the same vacuum level...).
Patches are compared through their coordinates on the leading eigenpatches of the
whole patch set, i.e. through a pilot estimate that is the truncated global PCA, and
grouped by seeded k-means. Grouping only decides *which* patches share an SVD: it
never changes a pixel.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .patch_set import PatchSet

__all__ = [
    "DEFAULT_MAX_FEATURES",
    "DEFAULT_N_GROUPS",
    "group_similar_patches",
    "kmeans_labels",
    "leading_features",
]

#: Groups per image; about 60 000 patches of a 256x256 image make ~1000 per group.
DEFAULT_N_GROUPS = 64
#: At most this many global eigenpatch coordinates describe a patch for grouping.
DEFAULT_MAX_FEATURES = 8
_KMEANS_ITERATIONS = 15


def leading_features(
    patches: PatchSet, *, noise_variance: float, max_features: int = DEFAULT_MAX_FEATURES,
    sample_size: int | None = None, seed: int | None = 0,
) -> NDArray[np.float64]:
    """Coordinates of each patch on the global eigenpatches that rise above the noise.

    A component counts as signal when its eigenvalue exceeds the Marchenko–Pastur
    upper edge of white noise of the given variance, ``sigma² (1 + sqrt(P/N))²``;
    at least one component (the mean level) is always used.

    Parameters
    ----------
    patches : PatchSet
        The image's patches.
    noise_variance : float
        Per-pixel noise variance (1 after variance stabilisation; 0 for a pilot
        estimate, which then keeps ``max_features``).
    max_features : int, optional
        Upper limit on the number of coordinates (default 8).
    sample_size : int, optional
        Patches used for the global eigenpatches (default: all).
    seed : int, optional
        Seed of that sample.

    Returns
    -------
    numpy.ndarray
        ``(N, f)`` with ``1 <= f <= max_features``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> level = np.repeat(rng.normal(size=(40, 1)) * 5, 40, axis=1)
    >>> # rows of independent levels: a 3x3 patch sees three of them
    >>> leading_features(PatchSet(level + rng.normal(size=(40, 40)), 3),
    ...                  noise_variance=1.0).shape
    (1444, 3)
    """
    gram, used = patches.gram(sample_size=sample_size, seed=seed)
    values, vectors = np.linalg.eigh(gram)
    values, vectors = values[::-1], vectors[:, ::-1]
    edge = noise_variance * (1.0 + np.sqrt(patches.patch_dim / used)) ** 2
    count = int(np.clip(np.count_nonzero(values > edge), 1, max_features))
    return patches.project(vectors[:, :count])


def kmeans_labels(
    features: ArrayLike, *, n_groups: int, seed: int | None = 0,
    n_iterations: int = _KMEANS_ITERATIONS,
) -> NDArray[np.intp]:
    """Seeded k-means (k-means++ start on a subsample, Lloyd iterations).

    Parameters
    ----------
    features : array_like
        ``(N, f)`` points.
    n_groups : int
        Number of clusters (at most ``N``).
    seed : int, optional
        Seed of the initialisation.
    n_iterations : int, optional
        Lloyd iterations (default 15).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` labels ``0..n_groups-1``, relabelled so that no label is unused.

    Examples
    --------
    >>> points = np.r_[np.zeros((50, 2)), np.ones((50, 2)) * 10]
    >>> labels = kmeans_labels(points, n_groups=2, seed=0)
    >>> len(set(labels[:50].tolist())), len(set(labels[50:].tolist())), bool(labels[0] != labels[-1])
    (1, 1, True)
    """
    points = np.asarray(features, dtype=np.float64)
    n = len(points)
    k = int(min(max(int(n_groups), 1), n))
    rng = np.random.default_rng(seed)
    subsample = points[rng.choice(n, size=min(n, 20 * k + 2000), replace=False)]
    centres = np.empty((k, points.shape[1]))
    centres[0] = subsample[rng.integers(len(subsample))]
    nearest = ((subsample - centres[0]) ** 2).sum(axis=1)
    for index in range(1, k):
        total = nearest.sum()
        pick = rng.choice(len(subsample), p=nearest / total) if total > 0 \
            else rng.integers(len(subsample))
        centres[index] = subsample[pick]
        nearest = np.minimum(nearest, ((subsample - centres[index]) ** 2).sum(axis=1))
    squared_norms = (points**2).sum(axis=1)
    labels = np.zeros(n, dtype=np.intp)
    for _ in range(n_iterations):
        distances = squared_norms[:, None] - 2.0 * points @ centres.T \
            + (centres**2).sum(axis=1)[None, :]
        new_labels = distances.argmin(axis=1)
        counts = np.bincount(new_labels, minlength=k)
        for column in range(points.shape[1]):
            sums = np.bincount(new_labels, weights=points[:, column], minlength=k)
            filled = counts > 0
            centres[filled, column] = sums[filled] / counts[filled]
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    _, labels = np.unique(labels, return_inverse=True)
    return labels.astype(np.intp)


def group_similar_patches(
    patches: PatchSet, *, noise_variance: float, n_groups: int = DEFAULT_N_GROUPS,
    max_features: int = DEFAULT_MAX_FEATURES, seed: int | None = 0,
) -> NDArray[np.intp]:
    """Label each patch position with its group of similar patches.

    Parameters
    ----------
    patches : PatchSet
        The patches to group (of the noisy data, or of a pilot estimate).
    noise_variance : float
        Noise variance of those patches (see :func:`leading_features`).
    n_groups : int, optional
        Number of groups (default 64); fewer if there are fewer patches.
    max_features : int, optional
        Coordinates used for the comparison (default 8).
    seed : int, optional
        Seed of the k-means start.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` group labels ``0..G-1``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> image = np.zeros((40, 40)); image[:, 20:] = 50.0
    >>> labels = group_similar_patches(PatchSet(image + rng.normal(size=image.shape), 3),
    ...                                noise_variance=1.0, n_groups=2)
    >>> bool(labels[0] != labels[37]), labels.shape
    (True, (1444,))
    """
    features = leading_features(patches, noise_variance=noise_variance,
                                max_features=max_features, seed=seed)
    return kmeans_labels(features, n_groups=n_groups, seed=seed)
