"""Random assignment of patch positions to stacks (Algorithm 1, step 3)."""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["assign_stacks", "position_grid_shape"]


def position_grid_shape(shape: tuple[int, int], patch_size: int) -> tuple[int, int]:
    """Shape ``(m-p+1, n-p+1)`` of the grid of valid top-left patch positions.

    Examples
    --------
    >>> position_grid_shape((64, 80), 9)
    (56, 72)
    """
    m, n = shape
    return m - patch_size + 1, n - patch_size + 1


def assign_stacks(
    shape: tuple[int, int], patch_size: int, n_stacks: int, *, seed: int | None = 0
) -> NDArray[np.int32]:
    """Give every valid top-left patch position a random stack index ``0 .. d-1``.

    There is no padding: only positions whose whole patch lies in the image exist, so
    the last ``p-1`` rows and columns hold no top-left corner but are still covered by
    the patches that overlap them.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(m, n)``.
    patch_size : int
        Patch side ``p``.
    n_stacks : int
        Number of stacks ``d >= 1``.
    seed : int or None, optional
        Seed of the random generator (default 0).

    Returns
    -------
    numpy.ndarray
        ``(m-p+1, n-p+1)`` int32 map of stack indices.

    Examples
    --------
    >>> stack_map = assign_stacks((32, 32), 5, 3, seed=1)
    >>> stack_map.shape, sorted(np.unique(stack_map).tolist())
    ((28, 28), [0, 1, 2])
    """
    if n_stacks < 1:
        raise ValueError(f"n_stacks must be at least 1, got {n_stacks}")
    grid = position_grid_shape(shape, patch_size)
    if n_stacks == 1:
        return np.zeros(grid, dtype=np.int32)
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_stacks, size=grid, dtype=np.int32)
