"""Putting patch estimates back on the canvas: flat or noise-weighted averages of overlaps.

Every pixel is covered by up to ``p²`` patch estimates. The paper divides their sum by
the overlap count (``"flat"``). Estimates differ in how much noise they still carry: a
patch rebuilt from few, strongly shrunk components is cleaner than one that kept many.
``"weighted"`` gives each patch the weight ``1 / (1 + sum_j w_j²)``, the inverse of its
estimate's noise variance in units of the per-pixel noise variance (the ``1`` stands
for the group mean), the way BM3D weighs its groups by their kept coefficients.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from ..paper.terrain import box_sum

__all__ = ["AGGREGATIONS", "PatchCanvas", "PatchContribution", "noise_weights"]

AGGREGATIONS = ("flat", "weighted")
# Values added at once, at most (bounds the copy when they need converting to the
# canvas's precision).
_CHUNK = 1 << 22


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


@dataclass(frozen=True)
class PatchContribution:
    """Patch estimates ready for a canvas: their pixels, weighted values and weights."""

    positions: NDArray[np.intp]
    pixels: NDArray[np.integer]
    values: NDArray[np.floating]
    weights: NDArray[np.float64]


class PatchCanvas:
    """Accumulates weighted patch estimates and divides by the summed weights.

    Parameters
    ----------
    image_shape : tuple of int
        ``(m, n)``.
    patch_size : int
        Patch side ``p``; positions are flat indices into the ``(m-p+1, n-p+1)`` grid.
    dtype : {numpy.float64, numpy.float32}, optional
        Precision of the running sum (default float64). float32 (the default method's
        working precision) adds float32 estimates without converting them: a pixel sums
        at most ``p²`` of them, so its rounding stays near ``p * 6e-8`` of its value.

    Examples
    --------
    >>> canvas = PatchCanvas((3, 3), 2)
    >>> canvas.add(np.arange(4), np.ones((4, 4)), np.ones(4))
    >>> canvas.image().tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    def __init__(self, image_shape: tuple[int, int], patch_size: int, *,
                 dtype: type[np.floating] | np.dtype = np.float64) -> None:
        self.shape = (int(image_shape[0]), int(image_shape[1]))
        self.patch_size = int(patch_size)
        p = self.patch_size
        self._grid_shape = (self.shape[0] - p + 1, self.shape[1] - p + 1)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(f"dtype must be float64 or float32, got {self.dtype}")
        self._sum = np.zeros(self.shape[0] * self.shape[1], dtype=self.dtype)
        # the summed weight of a pixel is the box sum of its patches' weights: kept per
        # patch position (one number a patch, not p² per patch) and spread on demand
        self._position_weight = np.zeros(self._grid_shape[0] * self._grid_shape[1])
        self._pixel_weight: NDArray[np.float64] | None = None
        n = self.shape[1]
        self._index_dtype = np.int32 if self._sum.size < 2**31 else np.int64
        self._offsets = (np.arange(p)[:, None] * n + np.arange(p)[None, :]).ravel().astype(
            self._index_dtype)

    def add(self, positions: ArrayLike, estimates: ArrayLike, weights: ArrayLike) -> None:
        """Add patch estimates ``(k, p*p)`` at flat grid ``positions (k,)`` with ``weights (k,)``."""
        self.accumulate(self.contribution(positions, estimates, weights))

    def contribution(self, positions: ArrayLike, estimates: ArrayLike,
                     weights: ArrayLike) -> PatchContribution:
        """What :meth:`add` would add, prepared without touching the canvas.

        It reads nothing that :meth:`accumulate` changes, so worker threads prepare
        contributions while the canvas takes earlier ones in order.
        """
        weight = np.asarray(weights, dtype=np.float64)
        if not np.all(np.isfinite(weight)) or np.any(weight <= 0):
            raise ValueError("aggregation weights must be finite and positive")
        where = np.asarray(positions, dtype=np.intp)
        # a patch's top-left pixel: its grid position plus (p - 1) per grid row above it
        # (int32 pixel indices and the estimates' own precision: half the memory of a
        # group in flight, and no wider intermediate)
        first = (where + (where // self._grid_shape[1]) * (self.patch_size - 1)).astype(
            self._index_dtype)
        pixels = (first[:, None] + self._offsets[None, :]).ravel()
        values = np.asarray(estimates)
        if values.dtype not in (np.float32, np.float64):
            values = values.astype(np.float64)
        if not np.all(weight == 1.0):
            values = values * weight[:, None].astype(values.dtype)
        return PatchContribution(positions=where, pixels=pixels, values=values.ravel(),
                                 weights=weight)

    def accumulate(self, contribution: PatchContribution) -> None:
        """Add a prepared :meth:`contribution` (of this canvas)."""
        # torch's index_add_ releases the GIL (numpy's bincount holds it for the whole
        # scatter, stalling the worker threads that decompose the next groups)
        total = torch.from_numpy(self._sum)
        for start in range(0, len(contribution.values), _CHUNK):
            chunk = slice(start, start + _CHUNK)
            total.index_add_(0, torch.from_numpy(contribution.pixels[chunk]),
                             torch.from_numpy(contribution.values[chunk].astype(
                                 self.dtype, copy=False)))
        np.add.at(self._position_weight, contribution.positions, contribution.weights)
        self._pixel_weight = None

    def _weights(self) -> NDArray[np.float64]:
        """Summed weight per flat pixel: the ``p x p`` box sum of the position weights."""
        if self._pixel_weight is None:
            p = self.patch_size
            grid = self._position_weight.reshape(self._grid_shape)
            padded = np.zeros(self.shape)
            padded[:grid.shape[0], :grid.shape[1]] = grid
            self._pixel_weight = box_sum(box_sum(padded, p, axis=0), p, axis=1).ravel()
            # cumulative sums leave rounding dust where no patch lies
            self._pixel_weight[self._pixel_weight < 1e-9 * max(1.0, float(grid.max()))] = 0.0
        return self._pixel_weight

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
        return self._sum.astype(np.float64), self._weights().copy()

    def image(self, *, fill: ArrayLike | None = None) -> NDArray[np.float64]:
        """Weighted average; pixels no patch covers yet take ``fill`` (default: NaN)."""
        weight = self._weights()
        covered = weight > 0
        out = np.full(self._sum.size, np.nan)
        out[covered] = self._sum[covered].astype(np.float64) / weight[covered]
        out = out.reshape(self.shape)
        if fill is not None:
            out = np.where(covered.reshape(self.shape), out, np.asarray(fill, dtype=np.float64))
        return out

