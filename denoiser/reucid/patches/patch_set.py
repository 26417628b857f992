"""All valid patches of an image, without building the patch matrix.

A 4096x4096 image has 16 million patches; their matrix would not fit in memory.
:class:`PatchSet` hands out the rows that are needed (one group, one block of
positions) as copies, and scatters patch estimates back onto a canvas.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from ..threads import map_in_threads

__all__ = ["PatchSet", "position_blocks"]

_BLOCK_ROWS = 65536  # patches per block when streaming over all positions


def position_blocks(n: int, size: int = _BLOCK_ROWS) -> list[slice]:
    """Consecutive slices of at most ``size`` that cover ``range(n)``.

    Examples
    --------
    >>> position_blocks(5, 2)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    step = max(1, int(size))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


class PatchSet:
    """The ``p x p`` patches at every valid top-left position of an image.

    Positions are numbered in row-major order over the ``(m-p+1, n-p+1)`` grid.

    Parameters
    ----------
    image : array_like
        ``(m, n)`` image; a copy is kept, so later changes to the caller's array do
        not leak in.
    patch_size : int
        Patch side ``p`` (at most ``min(m, n)``).
    dtype : {numpy.float64, numpy.float32}, optional
        Precision of the kept copy and of every row handed out (default float64).
        float32 halves the memory traffic of gathering and of the products on the
        rows, at about ``1e-7`` relative rounding; sums over many patches (``gram``)
        are still accumulated in float64.

    Examples
    --------
    >>> patches = PatchSet(np.arange(12.0).reshape(3, 4), 2)
    >>> patches.n_patches, patches.gather(np.array([1])).tolist()
    (6, [[1.0, 2.0, 5.0, 6.0]])
    """

    def __init__(self, image: ArrayLike, patch_size: int, *,
                 dtype: type[np.floating] | np.dtype = np.float64) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(f"dtype must be float64 or float32, got {self.dtype}")
        self.image = np.array(image, dtype=self.dtype, copy=True)
        self.image.setflags(write=False)
        self.patch_size = int(patch_size)
        p = self.patch_size
        m, n = self.image.shape
        if not 1 <= p <= min(m, n):
            raise ValueError(f"patch size {p} does not fit a {m}x{n} image")
        self.grid_shape = (m - p + 1, n - p + 1)
        self._view = sliding_window_view(self.image, (p, p))

    @property
    def n_patches(self) -> int:
        """Number of valid positions."""
        return self.grid_shape[0] * self.grid_shape[1]

    @property
    def patch_dim(self) -> int:
        """``p**2``."""
        return self.patch_size**2

    def gather(self, indices: ArrayLike) -> NDArray[np.floating]:
        """Rows ``(len(indices), p*p)`` for the given flat position indices (a copy)."""
        rows, cols = np.divmod(np.asarray(indices, dtype=np.intp), self.grid_shape[1])
        return self._view[rows, cols].reshape(len(rows), self.patch_dim)

    def blocks(self) -> Iterator[tuple[slice, NDArray[np.floating]]]:
        """Consecutive blocks of positions and their rows, bounded in memory."""
        for block in position_blocks(self.n_patches):
            yield block, self.gather(np.arange(block.start, block.stop))

    def project(self, vectors: ArrayLike) -> NDArray[np.floating]:
        """Coordinates ``(N, k)`` of every patch on the columns of ``vectors (p*p, k)``.

        In the patch set's precision.
        """
        basis = np.asarray(vectors, dtype=self.dtype)
        out = np.empty((self.n_patches, basis.shape[1]), dtype=self.dtype)

        def fill(block: slice) -> None:
            out[block] = self.gather(np.arange(block.start, block.stop)) @ basis

        # blocks are independent: they share the cores
        map_in_threads(fill, position_blocks(self.n_patches))
        return out

    def gram(self, *, sample_size: int | None = None, seed: int | None = 0
             ) -> tuple[NDArray[np.float64], int]:
        """``X^T X / N`` of all patches, or of a seeded random sample of them.

        Returns the ``(p*p, p*p)`` float64 matrix and the number of patches it used.
        """
        if sample_size is None or sample_size >= self.n_patches:
            total = np.zeros((self.patch_dim, self.patch_dim))
            for _, rows in self.blocks():
                total += rows.T @ rows
            return total / self.n_patches, self.n_patches
        rng = np.random.default_rng(seed)
        rows = self.gather(np.sort(rng.choice(self.n_patches, size=sample_size,
                                              replace=False)))
        return (rows.T @ rows).astype(np.float64) / sample_size, int(sample_size)
