"""Dihedral augmentation of eigenpatches (pure numpy; no Django).

An eigenpatch's meaning does not change when the image is rotated by a multiple of 90°
or mirrored, so each training example is shown in all eight orientations of the
dihedral group D4: four rotations, each with and without a flip.
"""
from __future__ import annotations

import numpy as np

N_DIHEDRAL = 8


def dihedral_transforms(patch: np.ndarray) -> list[np.ndarray]:
    """The eight images of a square patch under D4 (identity first).

    Examples
    --------
    >>> p = np.arange(4).reshape(2, 2)
    >>> len({t.tobytes() for t in dihedral_transforms(p)})
    8
    >>> np.array_equal(dihedral_transforms(p)[0], p)
    True
    """
    array = np.asarray(patch)
    if array.ndim < 2 or array.shape[-1] != array.shape[-2]:
        raise ValueError("patches must be square in their last two axes")
    rotations = [np.rot90(array, k, axes=(-2, -1)) for k in range(4)]
    return [np.ascontiguousarray(r) for r in rotations] + [
        np.ascontiguousarray(np.flip(r, axis=-1)) for r in rotations
    ]


def augment_dihedral(
    patches: np.ndarray, *others: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Eightfold augmentation: every patch in all eight D4 orientations.

    Parameters
    ----------
    patches
        ``(N, ..., p, p)`` patches (e.g. ``(N, 1, 25, 25)`` CNN inputs).
    *others
        Per-example arrays of length N (eigenvalues, labels, group ids) repeated to
        match, so example ``i`` of every output belongs together.

    Returns
    -------
    tuple of numpy.ndarray
        ``(8N, ..., p, p)`` patches first, then each of ``others`` repeated 8 times,
        ordered transform-major (all N examples under transform 0, then transform 1...).

    Examples
    --------
    >>> x = np.random.default_rng(0).random((3, 1, 5, 5))
    >>> xa, ya = augment_dihedral(x, np.array([0, 1, 1]))
    >>> xa.shape, ya.tolist()[:6]
    ((24, 1, 5, 5), [0, 1, 1, 0, 1, 1])
    """
    array = np.asarray(patches)
    for other in others:
        if len(other) != len(array):
            raise ValueError("every per-example array must have one entry per patch")
    augmented = np.concatenate(dihedral_transforms(array), axis=0)
    repeated = tuple(np.concatenate([np.asarray(o)] * N_DIHEDRAL, axis=0) for o in others)
    return (augmented, *repeated)
