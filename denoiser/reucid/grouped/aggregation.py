"""Putting patch estimates back on the canvas: flat or noise-weighted averages of overlaps.

Every pixel is covered by up to ``p²`` patch estimates. The paper divides their sum by
the overlap count (``"flat"``). Estimates differ in how much noise they still carry: a
patch rebuilt from few, strongly shrunk components is cleaner than one that kept many.
``"weighted"`` gives each patch the weight ``1 / (1 + sum_j w_j²)``, the inverse of its
estimate's noise variance in units of the per-pixel noise variance (the ``1`` stands
for the group mean), the way BM3D weighs its groups by their kept coefficients.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["AGGREGATIONS", "PatchCanvas", "noise_weights"]

AGGREGATIONS = ("flat", "weighted")


def noise_weights(shrinkage: ArrayLike) -> NDArray[np.float64]:
    """Per-patch aggregation weights from its per-component weights.

    Parameters
    ----------
    shrinkage : array_like
        ``(N, K)`` weight of each component in each patch's estimate (0 = dropped,
        1 = kept as is).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` weights ``1 / (1 + sum_j shrinkage_j²)``.

    Examples
    --------
    >>> noise_weights([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]).tolist()
    [0.3333333333333333, 1.0]
    """
    values = np.asarray(shrinkage, dtype=np.float64)
    return 1.0 / (1.0 + (values**2).sum(axis=1))


class PatchCanvas:
    """Accumulates weighted patch estimates and divides by the summed weights.

    Parameters
    ----------
    image_shape : tuple of int
        ``(m, n)``.
    patch_size : int
        Patch side ``p``; positions are flat indices into the ``(m-p+1, n-p+1)`` grid.

    Examples
    --------
    >>> canvas = PatchCanvas((3, 3), 2)
    >>> canvas.add(np.arange(4), np.ones((4, 4)), np.ones(4))
    >>> canvas.image().tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    def __init__(self, image_shape: tuple[int, int], patch_size: int) -> None:
        self.shape = (int(image_shape[0]), int(image_shape[1]))
        self.patch_size = int(patch_size)
        self._grid_cols = self.shape[1] - self.patch_size + 1
        self._sum = np.zeros(self.shape[0] * self.shape[1])
        self._weight = np.zeros_like(self._sum)
        p, n = self.patch_size, self.shape[1]
        self._offsets = (np.arange(p)[:, None] * n + np.arange(p)[None, :]).ravel()

    def add(self, positions: ArrayLike, estimates: ArrayLike, weights: ArrayLike) -> None:
        """Add patch estimates ``(k, p*p)`` at flat grid ``positions (k,)`` with ``weights (k,)``."""
        weight = np.asarray(weights, dtype=np.float64)
        if not np.all(np.isfinite(weight)) or np.any(weight <= 0):
            raise ValueError("aggregation weights must be finite and positive")
        rows, cols = np.divmod(np.asarray(positions, dtype=np.intp), self._grid_cols)
        pixels = ((rows * self.shape[1] + cols)[:, None] + self._offsets[None, :]).ravel()
        values = (np.asarray(estimates, dtype=np.float64) * weight[:, None]).ravel()
        size = self._sum.size
        self._sum += np.bincount(pixels, weights=values, minlength=size)
        self._weight += np.bincount(pixels, weights=np.repeat(weight, len(self._offsets)),
                                    minlength=size)

    def totals(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Copies of the running weighted sum and summed weight, per flat pixel.

        What one group adds is the difference of two snapshots taken around its ``add``
        (the training labels redo a pass and assemble groups' contributions this way).

        Examples
        --------
        >>> canvas = PatchCanvas((2, 2), 1)
        >>> canvas.add(np.array([3]), np.array([[5.0]]), np.array([2.0]))
        >>> [part.tolist() for part in canvas.totals()]
        [[0.0, 0.0, 0.0, 10.0], [0.0, 0.0, 0.0, 2.0]]
        """
        return self._sum.copy(), self._weight.copy()

    def image(self, *, fill: ArrayLike | None = None) -> NDArray[np.float64]:
        """Weighted average; pixels no patch covers yet take ``fill`` (default: NaN)."""
        covered = self._weight > 0
        out = np.full(self._sum.size, np.nan)
        out[covered] = self._sum[covered] / self._weight[covered]
        out = out.reshape(self.shape)
        if fill is not None:
            out = np.where(covered.reshape(self.shape), out, np.asarray(fill, dtype=np.float64))
        return out
