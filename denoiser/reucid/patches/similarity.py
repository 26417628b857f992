"""Groups of similar patches: each group's SVD then sees one kind of structure.

The paper's stacks are random subsets of the patches; here a stack is a *group* of
patches that look alike (the same place in the unit cell, the same vacuum level...).
Patches are compared through their coordinates on the leading eigenpatches of the
whole patch set, i.e. through a pilot estimate that is the truncated global PCA, and
grouped by seeded k-means. Grouping only decides *which* patches share an SVD: it
never changes a pixel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..threads import map_in_threads
from .patch_set import PatchSet, position_blocks

__all__ = [
    "BASIS_SAMPLE",
    "DEFAULT_MAX_FEATURES",
    "DEFAULT_N_GROUPS",
    "GroupingModel",
    "fit_grouping",
    "kmeans_fit",
    "leading_basis",
    "group_positions",
    "group_similar_patches",
    "kmeans_labels",
    "leading_features",
    "signal_basis",
]

#: Groups of similar patches per image (fewer on small images, see the default method's
#: ``effective_groups``): about 60 000 patches of a 256x256 image make ~500 per group.
DEFAULT_N_GROUPS = 128
#: At most this many global eigenpatch coordinates describe a patch for grouping.
DEFAULT_MAX_FEATURES = 8
#: Patches (at most) whose Gram matrix gives the global eigenpatches of a large image
#: (grouping features, outlier basis): their leading directions are settled long before
#: a million patches, and the full Gram matrix costs as much as a pass over the groups.
BASIS_SAMPLE = 1 << 17
_KMEANS_ITERATIONS = 15
_KMEANS_SAMPLE = 10000  # points the centres are fitted on (at least)
_SEEDING_PER_CENTRE = 16  # points of that sample per centre that k-means++ seeds from
_DISTANCE_BLOCK = 4_000_000  # point-centre distances held at once


@dataclass(frozen=True, eq=False)  # equal when the same object: arrays have no one truth
class GroupingModel:
    """A grouping of similar patches that another image of the same field can reuse.

    Attributes
    ----------
    basis : numpy.ndarray
        ``(p*p, f)`` the global eigenpatches whose coordinates are a patch's features.
    centres : numpy.ndarray
        ``(G, f)`` one k-means centre per group, in label order.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> image = np.zeros((40, 40)); image[:, 20:] = 50.0
    >>> patches = PatchSet(image + rng.normal(size=image.shape), 3)
    >>> labels, model = fit_grouping(patches, noise_variance=1.0, n_groups=2)
    >>> bool(np.array_equal(model.labels(patches), labels)), model.centres.shape
    (True, (2, 3))
    """

    basis: NDArray[np.float64]
    centres: NDArray[np.float64]

    def __repr__(self) -> str:
        return (f"GroupingModel({self.basis.shape[1]} features of {self.patch_dim}-pixel "
                f"patches, {len(self.centres)} groups)")

    @property
    def patch_dim(self) -> int:
        """``p*p`` of the patches it groups."""
        return int(self.basis.shape[0])

    def labels(self, patches: PatchSet) -> NDArray[np.intp]:
        """Every patch's group: the nearest centre of its features, nothing fitted.

        Groups that no patch joins are left out of the numbering, as in
        :func:`kmeans_labels`.
        """
        if patches.patch_dim != self.patch_dim:
            raise ValueError(f"this grouping is of patches of {self.patch_dim} pixels, "
                             f"not {patches.patch_dim}")
        features = patches.project(self.basis)
        return _numbered(_nearest(features, self.centres), len(self.centres))[0]


def fit_grouping(
    patches: PatchSet, *, noise_variance: float, n_groups: int = DEFAULT_N_GROUPS,
    max_features: int = DEFAULT_MAX_FEATURES, sample_size: int | None = None,
    seed: int | None = 0,
) -> tuple[NDArray[np.intp], GroupingModel]:
    """:func:`group_similar_patches`, also returning what labels another image alike.

    Returns
    -------
    labels : numpy.ndarray
        ``(N,)`` group labels ``0..G-1``.
    model : GroupingModel
        The features' basis and the ``G`` centres used.
    """
    basis = leading_basis(patches, noise_variance=noise_variance, max_features=max_features,
                          sample_size=sample_size, seed=seed)
    labels, centres = kmeans_fit(patches.project(basis), n_groups=n_groups, seed=seed)
    return labels, GroupingModel(basis=basis, centres=centres)


def leading_basis(
    patches: PatchSet, *, noise_variance: float, max_features: int = DEFAULT_MAX_FEATURES,
    sample_size: int | None = None, seed: int | None = 0,
) -> NDArray[np.float64]:
    """The global eigenpatches whose coordinates :func:`leading_features` returns.

    At least one (the strongest) even when none rises above the noise.
    """
    basis = signal_basis(patches, noise_variance=noise_variance, max_components=max_features,
                         sample_size=sample_size, seed=seed)
    if basis.shape[1] == 0:
        basis = signal_basis(patches, noise_variance=0.0, max_components=1,
                             sample_size=sample_size, seed=seed)
    return basis


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
    return patches.project(leading_basis(patches, noise_variance=noise_variance,
                                         max_features=max_features, sample_size=sample_size,
                                         seed=seed))


def signal_basis(
    patches: PatchSet, *, noise_variance: float, max_components: int,
    sample_size: int | None = None, seed: int | None = 0,
) -> NDArray[np.float64]:
    """The global eigenpatches whose eigenvalue exceeds the white-noise edge.

    Parameters
    ----------
    patches : PatchSet
        The image's patches (not centred).
    noise_variance : float
        Per-pixel noise variance; the edge is ``sigma² (1 + sqrt(P/N))²``.
    max_components : int
        Upper limit on the number of eigenpatches returned.
    sample_size : int, optional
        Patches used (default: all).
    seed : int, optional
        Seed of that sample.

    Returns
    -------
    numpy.ndarray
        ``(p*p, k)`` orthonormal columns, strongest first; ``k`` may be 0.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> signal_basis(PatchSet(rng.normal(size=(50, 50)), 3), noise_variance=1.0,
    ...              max_components=5).shape
    (9, 0)
    """
    gram, used = patches.gram(sample_size=sample_size, seed=seed)
    values, vectors = np.linalg.eigh(gram)
    values, vectors = values[::-1], vectors[:, ::-1]
    edge = noise_variance * (1.0 + np.sqrt(patches.patch_dim / used)) ** 2
    count = int(min(np.count_nonzero(values > edge), max(int(max_components), 0)))
    return np.ascontiguousarray(vectors[:, :count])


def kmeans_labels(
    features: ArrayLike, *, n_groups: int, seed: int | None = 0,
    n_iterations: int = _KMEANS_ITERATIONS,
) -> NDArray[np.intp]:
    """Seeded k-means labels (:func:`kmeans_fit` without the centres).

    Examples
    --------
    >>> points = np.r_[np.zeros((50, 2)), np.ones((50, 2)) * 10]
    >>> labels = kmeans_labels(points, n_groups=2, seed=0)
    >>> len(set(labels[:50].tolist())), len(set(labels[50:].tolist()))
    (1, 1)
    >>> bool(labels[0] != labels[-1])
    True
    """
    return kmeans_fit(features, n_groups=n_groups, seed=seed, n_iterations=n_iterations)[0]


def kmeans_fit(
    features: ArrayLike, *, n_groups: int, seed: int | None = 0,
    n_iterations: int = _KMEANS_ITERATIONS,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Seeded k-means: centres fitted on a sample, then every point labelled once.

    k-means++ starts the centres; Lloyd iterations refine them on a random sample of
    at most ``max(10000, 40 * n_groups)`` points (the centres of a few hundred groups
    are well determined by that many); finally every point joins its nearest centre.

    Parameters
    ----------
    features : array_like
        ``(N, f)`` points.
    n_groups : int
        Number of clusters (at most ``N``).
    seed : int, optional
        Seed of the sample and the initialisation.
    n_iterations : int, optional
        Lloyd iterations (default 15).

    Returns
    -------
    labels : numpy.ndarray
        ``(N,)`` labels ``0..G-1`` (``G <= n_groups``), relabelled so none is unused.
    centres : numpy.ndarray
        ``(G, f)`` the centre of each label.

    Examples
    --------
    >>> points = np.r_[np.zeros((50, 2)), np.ones((50, 2)) * 10]
    >>> labels, centres = kmeans_fit(points, n_groups=2, seed=0)
    >>> sorted(centres[:, 0].tolist())
    [0.0, 10.0]
    """
    points = np.asarray(features)
    # float32 features (of a float32 patch set) stay float32: the distances to a few
    # hundred centres are the cost of labelling a million patches
    if points.dtype != np.float32:
        points = points.astype(np.float64)
    n = len(points)
    k = int(min(max(int(n_groups), 1), n))
    rng = np.random.default_rng(seed)
    fit_size = min(n, max(_KMEANS_SAMPLE, 40 * k))
    sample = _random_rows(points, fit_size, rng)
    # the D² seeding is sequential in k: on a random part of the sample (the Lloyd
    # iterations then refine the centres on all of it)
    centres = _kmeans_plus_plus(_random_rows(sample, _SEEDING_PER_CENTRE * k, rng), k, rng)
    labels = np.zeros(len(sample), dtype=np.intp)
    for iteration in range(n_iterations):
        new_labels = _nearest(sample, centres)
        counts = np.bincount(new_labels, minlength=k)
        filled = counts > 0
        for column in range(points.shape[1]):
            sums = np.bincount(new_labels, weights=sample[:, column], minlength=k)
            centres[filled, column] = sums[filled] / counts[filled]
        if iteration and np.array_equal(new_labels, labels):
            break
        labels = new_labels
    labels, used = _numbered(_nearest(points, centres), k)
    return labels, centres[used]


def _random_rows(points: NDArray[np.floating], size: int, rng: np.random.Generator
                 ) -> NDArray[np.floating]:
    """``size`` rows drawn without replacement, in random order; all rows if there are
    no more than that."""
    if size >= len(points):
        return points
    return points[rng.choice(len(points), size=size, replace=False)]


def _numbered(nearest: NDArray[np.intp], k: int) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Labels numbered in order of the centres, skipping any that no point chose; and
    which centres were chosen."""
    used = np.bincount(nearest, minlength=k) > 0
    return (np.cumsum(used) - 1)[nearest].astype(np.intp), used


def _kmeans_plus_plus(points: NDArray[np.float64], k: int,
                      rng: np.random.Generator) -> NDArray[np.float64]:
    """k-means++ seeding (D² sampling)."""
    centres = np.empty((k, points.shape[1]))
    centres[0] = points[rng.integers(len(points))]
    nearest = _squared_distances(points, centres[0])
    for index in range(1, k):
        # what rng.choice(p=nearest / total) does, without its checks on p
        cumulative = np.cumsum(nearest)
        total = cumulative[-1]
        pick = min(int(np.searchsorted(cumulative, rng.random() * total, side="right")),
                   len(points) - 1) if total > 0 else rng.integers(len(points))
        centres[index] = points[pick]
        nearest = np.minimum(nearest, _squared_distances(points, centres[index]))
    return centres


def _squared_distances(points: NDArray[np.floating], centre: NDArray[np.float64]
                       ) -> NDArray[np.float64]:
    """``|x - centre|²`` of every point (einsum: a sum over a few features per row)."""
    difference = points - centre.astype(points.dtype)
    return np.einsum("ij,ij->i", difference, difference).astype(np.float64)


def _nearest(points: NDArray[np.float64], centres: NDArray[np.float64]) -> NDArray[np.intp]:
    """Index of the nearest centre of each point, in blocks to bound memory."""
    # |x - c|² = |x|² - 2 (x.c - |c|²/2) and |x|² does not change the argmin: with the
    # points given a last coordinate -1 and the centres |c|²/2, one product scores all
    scores = np.concatenate([centres, 0.5 * (centres**2).sum(axis=1, keepdims=True)],
                            axis=1).astype(points.dtype).T.copy()
    out = np.empty(len(points), dtype=np.intp)

    def label(block: slice) -> None:
        extended = np.empty((block.stop - block.start, points.shape[1] + 1),
                            dtype=points.dtype)
        extended[:, :-1] = points[block]
        extended[:, -1] = -1.0
        out[block] = (extended @ scores).argmax(axis=1)

    # independent blocks, each a bounded number of point-centre distances
    map_in_threads(label, position_blocks(len(points),
                                          max(1, _DISTANCE_BLOCK // max(len(centres), 1))))
    return out


def group_similar_patches(
    patches: PatchSet, *, noise_variance: float, n_groups: int = DEFAULT_N_GROUPS,
    max_features: int = DEFAULT_MAX_FEATURES, sample_size: int | None = None,
    seed: int | None = 0,
) -> NDArray[np.intp]:
    """Label each patch position with its group of similar patches.

    Parameters
    ----------
    patches : PatchSet
        The patches to group (of the noisy data, or of a pilot estimate).
    noise_variance : float
        Noise variance of those patches (see :func:`leading_features`).
    n_groups : int, optional
        Number of groups (default 128); fewer if there are fewer patches.
    max_features : int, optional
        Coordinates used for the comparison (default 8).
    sample_size : int, optional
        Patches whose Gram matrix gives the global eigenpatches (default: all).
    seed : int, optional
        Seed of the k-means start (and of that sample).

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
    return fit_grouping(patches, noise_variance=noise_variance, n_groups=n_groups,
                        max_features=max_features, sample_size=sample_size, seed=seed)[0]


def group_positions(labels: ArrayLike) -> list[NDArray[np.intp]]:
    """Flat patch positions of each group, groups in label order.

    Examples
    --------
    >>> [g.tolist() for g in group_positions([1, 0, 1, 2])]
    [[1], [0, 2], [3]]
    """
    values = np.asarray(labels, dtype=np.intp)
    # a stable sort of small integers is a radix sort in numpy: narrow them first
    narrow = np.uint16 if values.size and 0 <= values.min() and values.max() < 1 << 16 \
        else np.intp
    order = np.argsort(values.astype(narrow), kind="stable")
    bounds = np.cumsum(np.bincount(values))[:-1]
    return [g for g in np.split(order, bounds) if len(g)]
