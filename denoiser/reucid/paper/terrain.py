"""Patch terrain: how many processed patches cover each pixel (Algorithm 1, step 7)."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["box_sum", "full_terrain", "patch_terrain"]


def patch_terrain(position_mask: ArrayLike, patch_size: int) -> NDArray[np.int64]:
    """Overlap count of the ``p x p`` patches whose top-left corners are set in the mask.

    This is the paper's rolling sum done with separable cumulative sums: a ``p``-wide
    box sum along the rows, then along the columns, of the binarised position map
    embedded in an image-sized array. It holds for any subset of positions (one
    stack, the stacks done so far, all of them) and is exact in integers.

    Parameters
    ----------
    position_mask : array_like of bool
        ``(m-p+1, n-p+1)`` map, True where a patch was processed.
    patch_size : int
        Patch side ``p``.

    Returns
    -------
    numpy.ndarray
        ``(m, n)`` int64 counts.

    Examples
    --------
    >>> patch_terrain(np.ones((2, 3), dtype=bool), 2)
    array([[1, 2, 2, 1],
           [2, 4, 4, 2],
           [1, 2, 2, 1]])
    """
    mask = np.asarray(position_mask).astype(bool)
    p = int(patch_size)
    if mask.ndim != 2 or p < 1:
        raise ValueError("position_mask must be 2D and patch_size positive")
    rows, cols = mask.shape
    # int32 is ample: a count never exceeds p^2 and a running sum never exceeds p * side.
    padded = np.zeros((rows + p - 1, cols + p - 1), dtype=np.int32)
    padded[:rows, :cols] = mask
    return box_sum(box_sum(padded, p, axis=0), p, axis=1).astype(np.int64)


def box_sum(values: NDArray[np.number], width: int, *, axis: int) -> NDArray[np.number]:
    """Sum over the ``width`` trailing entries (current included) along ``axis``.

    Cumulative sums in the array's own dtype (exact in integers).

    Examples
    --------
    >>> box_sum(np.arange(5), 2, axis=0).tolist()
    [0, 1, 3, 5, 7]
    """
    total = np.cumsum(values, axis=axis, dtype=values.dtype)
    if width < values.shape[axis]:
        head = [slice(None)] * values.ndim
        tail = [slice(None)] * values.ndim
        head[axis] = slice(width, None)
        tail[axis] = slice(0, values.shape[axis] - width)
        total[tuple(head)] -= total[tuple(tail)]  # numpy buffers the overlapping operands
    return total


def full_terrain(shape: tuple[int, int], patch_size: int) -> NDArray[np.int64]:
    """Overlap count when every valid position holds a patch: an outer product.

    Equals ``patch_terrain(np.ones((m-p+1, n-p+1), bool), p)``, computed separably.

    Examples
    --------
    >>> full_terrain((3, 4), 2)
    array([[1, 2, 2, 1],
           [2, 4, 4, 2],
           [1, 2, 2, 1]])
    """
    p = int(patch_size)

    def coverage(length: int) -> NDArray[np.int64]:
        index = np.arange(length)
        return np.minimum(index, p - 1) - np.maximum(0, index - (length - p)) + 1

    return np.outer(coverage(shape[0]), coverage(shape[1])).astype(np.int64)
