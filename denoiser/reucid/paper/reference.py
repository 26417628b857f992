"""The paper's steps done the straightforward way: patch matrix, SVD, place-back loops.

Slow and memory-hungry by design; it is the yardstick the fast path is tested against.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from .svd import orient_components

__all__ = ["patch_matrix", "place_back_reference", "stack_svd_reference"]


def patch_matrix(image: ArrayLike, patch_size: int,
                 position_mask: ArrayLike | None = None) -> tuple[NDArray[np.float64],
                                                                  NDArray[np.intp]]:
    """Rows = the ``p x p`` patches (flattened) at the selected top-left positions.

    Parameters
    ----------
    image : array_like
        ``(m, n)`` image.
    patch_size : int
        Patch side ``p``.
    position_mask : array_like of bool, optional
        ``(m-p+1, n-p+1)`` positions to take; None = all.

    Returns
    -------
    matrix : numpy.ndarray
        ``(N, p*p)`` float64, row-major order of the positions.
    positions : numpy.ndarray
        ``(N, 2)`` top-left ``(row, col)`` of each row.

    Examples
    --------
    >>> matrix, positions = patch_matrix(np.arange(12.0).reshape(3, 4), 2)
    >>> matrix.shape, matrix[0].tolist(), positions[-1].tolist()
    ((6, 4), [0.0, 1.0, 4.0, 5.0], [1, 2])
    """
    x = np.asarray(image, dtype=np.float64)
    p = int(patch_size)
    windows = sliding_window_view(x, (p, p))
    if position_mask is None:
        position_mask = np.ones(windows.shape[:2], dtype=bool)
    mask = np.asarray(position_mask, dtype=bool)
    positions = np.argwhere(mask)
    matrix = windows[positions[:, 0], positions[:, 1]].reshape(len(positions), p * p)
    return np.array(matrix, dtype=np.float64), positions


def stack_svd_reference(matrix: ArrayLike, n_components: int | str
                        ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact SVD of a stack's patch matrix: eigenpatches ``(K, p*p)`` and eigenvalues ``s^2``.

    Patches are not mean-centred. ``n_components="all"`` keeps every right singular
    vector (a full basis of the patches' span).

    Examples
    --------
    >>> vt, eigenvalues = stack_svd_reference(np.eye(4)[:3] * [3.0, 2.0, 1.0, 0.0], 2)
    >>> vt.shape, eigenvalues.tolist()
    ((2, 4), [9.0, 4.0])
    """
    a = np.asarray(matrix, dtype=np.float64)
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    k = len(s) if n_components == "all" else min(int(n_components), len(s))
    _, s, vt = orient_components(u[:, :k], s[:k], vt[:k])
    return vt, s**2


def place_back_reference(shape: tuple[int, int], patch_size: int, matrix: ArrayLike,
                         positions: ArrayLike, eigenpatches: ArrayLike) -> NDArray[np.float64]:
    """Project each patch onto the eigenpatches and add it back at its position, one by one.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(m, n)``.
    patch_size : int
        Patch side ``p``.
    matrix : array_like
        ``(N, p*p)`` patch matrix.
    positions : array_like
        ``(N, 2)`` top-left positions of the rows.
    eigenpatches : array_like
        ``(K, p*p)`` orthonormal rows (or ``(K, p, p)``).

    Returns
    -------
    numpy.ndarray
        ``(m, n)`` canvas (sum of reconstructed patches, not divided by the terrain).

    Examples
    --------
    >>> matrix, positions = patch_matrix(np.ones((3, 3)), 2)
    >>> place_back_reference((3, 3), 2, matrix, positions, np.eye(4)).tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    p = int(patch_size)
    a = np.asarray(matrix, dtype=np.float64)
    basis = np.asarray(eigenpatches, dtype=np.float64).reshape(-1, p * p)
    reconstructed = (a @ basis.T) @ basis
    canvas = np.zeros(shape, dtype=np.float64)
    for (row, col), patch in zip(np.asarray(positions), reconstructed):
        canvas[row:row + p, col:col + p] += patch.reshape(p, p)
    return canvas
