"""A first estimate for choosing groups and weights: the paper's pipeline, coarse and wide.

Low-dose HAADF images of crystals repeat one unit cell many times, but a patch the size
of the PSF (what the grouped passes use, p <= 11) holds too few counts at low dose
for its group to see the lattice above the shot noise: the first grouped pass then
keeps almost nothing, and a second pass that regroups on that estimate has nothing to
regroup on. The paper's own pipeline with patches of about a unit cell does see it,
because one eigenpatch then sums many atomic columns, and on the 2x2-binned image it
costs a few hundredths of a second.

:func:`coarse_pilot` runs exactly that: Algorithm 1 (one random stack, the
Gavish–Donoho rank, an objective rule with no oracle) on the binned stabilised image
with patches of ``COARSE_PATCH_SIZE`` binned pixels, then interpolates back to the
full grid. The result is a *pilot*: the grouped passes use it to choose which patches
are alike and how much of each of the data's own components to keep; it never enters
the output as pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..paper.pipeline import denoise_paper

__all__ = ["COARSE_PATCH_SIZE", "PILOTS", "CoarsePilot", "coarse_patch_size", "coarse_pilot",
           "upsample_twice"]

#: First estimates the grouped passes can start from (None: the first pass makes its own).
PILOTS = ("coarse", None)

#: Patch side on the 2x2-binned image (41 full-resolution pixels): a unit cell or more
#: at the sampling of atomic-resolution STEM (0.05–0.2 Å per pixel).
COARSE_PATCH_SIZE = 21
# Binned patches at most this fraction of the binned image's smaller side, so that the
# stack holds many more patches than a patch has pixels.
_MAX_SIDE_FRACTION = 3
# Smallest useful coarse patch: below this the pilot cannot see a lattice.
_MIN_COARSE_PATCH = 5


@dataclass(frozen=True)
class CoarsePilot:
    """Result of :func:`coarse_pilot`.

    Attributes
    ----------
    image : numpy.ndarray
        ``(m, n)`` float64 pilot estimate on the full grid (same domain as the input).
    patch_size : int
        Patch side used on the binned image.
    n_kept : int
        Eigenpatches the Gavish–Donoho rule kept.
    """

    image: NDArray[np.float64]
    patch_size: int
    n_kept: int


def coarse_patch_size(shape: tuple[int, int]) -> int | None:
    """Patch side on the binned image, or None when the image is too small for a pilot.

    Examples
    --------
    >>> coarse_patch_size((256, 256)), coarse_patch_size((64, 80)), coarse_patch_size((20, 20))
    (21, 9, None)
    """
    side = min(int(shape[0]) // 2, int(shape[1]) // 2) // _MAX_SIDE_FRACTION
    p = min(COARSE_PATCH_SIZE, side)
    p = p if p % 2 else p - 1
    return p if p >= _MIN_COARSE_PATCH else None


def upsample_twice(values: ArrayLike) -> NDArray[np.float64]:
    """Linear interpolation onto a grid twice as fine, pixel centres aligned.

    The same as ``scipy.ndimage.zoom(values, 2, order=1, mode="nearest",
    grid_mode=True)``: a new pixel lies a quarter of an old one from its nearest old
    pixel, so it takes 3/4 of that one and 1/4 of the next (the edge pixel repeats).
    Written as slices, it costs a few array passes instead of a general spline zoom
    (a tenth of the default method's serial time on a 1024² image went there).

    Examples
    --------
    >>> upsample_twice(np.array([[0.0, 4.0]])).tolist()
    [[0.0, 1.0, 3.0, 4.0], [0.0, 1.0, 3.0, 4.0]]
    """
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 2 or min(data.shape) < 1:
        raise ValueError(f"need a non-empty 2D array, got shape {data.shape}")
    rows = np.empty((2 * data.shape[0], data.shape[1]))
    _refine_axis(data, rows, axis=0)
    out = np.empty((rows.shape[0], 2 * rows.shape[1]))
    _refine_axis(rows, out, axis=1)
    return out


def _refine_axis(data: NDArray[np.float64], out: NDArray[np.float64], *, axis: int) -> None:
    """One axis of :func:`upsample_twice`: new pixel 2k is ``a[k] - (a[k] - a[k-1]) / 4``,
    2k+1 is ``a[k] + (a[k+1] - a[k]) / 4`` (edges: the pixel itself)."""
    step = np.diff(data, axis=axis) * 0.25

    def every(start: int, stop: int | None = None) -> tuple[slice, ...]:
        index = [slice(None)] * 2
        index[axis] = slice(start, stop, 2)
        return tuple(index)

    out[every(0)] = data
    out[every(1)] = data
    out[every(2)] -= step
    out[every(1, -1)] += step


def coarse_pilot(image: ArrayLike, *, seed: int | None = 0) -> CoarsePilot | None:
    """Pilot estimate from the paper's pipeline on the 2x2-binned image.

    Parameters
    ----------
    image : array_like
        ``(m, n)`` image whose noise is white and of roughly uniform level (the
        stabilised image of the grouped path). Not modified.
    seed : int or None, optional
        Seed of the stack's patch sample.

    Returns
    -------
    CoarsePilot or None
        None when the image is too small for a useful pilot (see
        :func:`coarse_patch_size`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[:128, :128]
    >>> clean = np.cos(2 * np.pi * x / 12) * np.cos(2 * np.pi * y / 12)
    >>> pilot = coarse_pilot(clean + rng.normal(size=clean.shape))
    >>> pilot.image.shape, bool(np.std(pilot.image - clean) < 0.3)
    ((128, 128), True)
    """
    data = np.asarray(image, dtype=np.float64)
    p = coarse_patch_size(data.shape)
    if p is None:
        return None
    rows, cols = data.shape[0] // 2, data.shape[1] // 2
    binned = data[:2 * rows, :2 * cols].reshape(rows, 2, cols, 2).mean(axis=(1, 3))
    result = denoise_paper(binned, classifier="gd", patch_size=p, n_stacks=1, seed=seed)
    # linear interpolation back to the full grid; an odd last row/column repeats
    full = upsample_twice(result.image.astype(np.float64))
    pilot = np.empty_like(data)
    pilot[:full.shape[0], :full.shape[1]] = full
    if data.shape[0] > full.shape[0]:
        pilot[full.shape[0]:, :full.shape[1]] = full[-1:, :]
    if data.shape[1] > full.shape[1]:
        pilot[:, full.shape[1]:] = pilot[:, full.shape[1] - 1:full.shape[1]]
    return CoarsePilot(image=pilot, patch_size=p, n_kept=int(np.sum(result.stacks[0].kept)))
