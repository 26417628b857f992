"""One decomposition, many truncations: survey candidates and training labels.

``decompose`` computes the eigenpatches of the whole image as a single stack
(``d = 1``) once; ``Decomposition.reconstruct(k)`` and ``.reconstructions(ks)`` then
give the truncated reconstructions for any number of kept components cheaply, from
per-component contribution images summed cumulatively and divided by the terrain.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .eigen import stack_eigen_fast, stack_eigen_reference
from .patch_size import estimate_patch_size
from .projection import component_contributions, project_stack
from .terrain import patch_terrain
from ..threads import single_threaded_blas
from ..validation import as_grey_float_image, check_patch_fits

__all__ = ["Decomposition", "decompose"]


@dataclass
class Decomposition:
    """Eigenpatches of an image (one stack) and its truncated reconstructions.

    Attributes
    ----------
    image : numpy.ndarray
        ``(m, n)`` float64 copy of the input.
    patch_size : int
    eigenpatches : numpy.ndarray
        ``(K, p, p)`` float32.
    eigenvalues : numpy.ndarray
        ``(K,)`` descending.
    terrain : numpy.ndarray
        ``(m, n)`` int32 overlap count of all patches.
    n_patches, sample_size : int
    """

    image: NDArray[np.float64]
    patch_size: int
    eigenpatches: NDArray[np.float32]
    eigenvalues: NDArray[np.float64]
    terrain: NDArray[np.int32]
    n_patches: int
    sample_size: int
    spectrum_source: Any = field(repr=False, default=None)
    backend: str = "numpy"
    device: str = "cpu"
    _contributions: NDArray[np.float32] | None = field(default=None, repr=False)

    @property
    def n_components(self) -> int:
        """Number of eigenpatches ``K``."""
        return len(self.eigenvalues)

    @property
    def spectrum(self) -> NDArray[np.float64] | None:
        """Every eigenvalue of the SVD sample, descending (for MP / GD rules)."""
        return None if self.spectrum_source is None else self.spectrum_source()

    @property
    def contributions(self) -> NDArray[np.float32]:
        """``(K, m, n)`` placed-back projections onto each eigenpatch (not divided)."""
        if self._contributions is None:
            self._contributions = component_contributions(
                self.image, self.eigenpatches, backend=self.backend, device=self.device)
        return self._contributions

    def _mask(self, k_or_mask: Any) -> NDArray[np.bool_]:
        if isinstance(k_or_mask, (int, np.integer)) and not isinstance(k_or_mask, bool):
            k = int(k_or_mask)
            if not 0 <= k <= self.n_components:
                raise ValueError(f"k must lie in 0..{self.n_components}, got {k}")
            mask = np.zeros(self.n_components, dtype=bool)
            mask[:k] = True
            return mask
        mask = np.asarray(k_or_mask)
        if mask.dtype != np.bool_ or mask.shape != (self.n_components,):
            raise ValueError(
                f"expected a number of components or a boolean mask of shape "
                f"({self.n_components},), got {k_or_mask!r}")
        return mask

    def reconstruct(self, k_or_mask: int | ArrayLike) -> NDArray[np.float32]:
        """Reconstruction from the first ``k`` eigenpatches, or from a boolean selection.

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> dec = decompose(rng.normal(size=(30, 30)), patch_size=3, n_components="all")
        >>> bool(np.allclose(dec.reconstruct(9), dec.image, atol=1e-4))
        True
        """
        mask = self._mask(k_or_mask)
        if self._contributions is not None:
            canvas = self._contributions[mask].sum(axis=0, dtype=np.float64)
        else:
            canvas = project_stack(self.image, self.eigenpatches[mask], backend=self.backend,
                                   device=self.device)
        return (canvas / self.terrain).astype(np.float32)

    def reconstructions(self, ks: Sequence[int]) -> NDArray[np.float32]:
        """``(len(ks), m, n)`` reconstructions keeping the first ``k`` components, each ``k``.

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> dec = decompose(rng.normal(size=(30, 30)), patch_size=5, n_components=4)
        >>> dec.reconstructions([1, 4]).shape
        (2, 30, 30)
        """
        ks = [int(k) for k in ks]
        for k in ks:
            self._mask(k)
        parts = self.contributions
        result = np.empty((len(ks), *self.image.shape), dtype=np.float32)
        running = np.zeros(self.image.shape, dtype=np.float64)
        done = 0
        # one running sum in float64, sampled at each requested k (in increasing order)
        for k in sorted(set(ks)):
            for component in range(done, k):
                running += parts[component]
            done = k
            snapshot = (running / self.terrain).astype(np.float32)
            for row, wanted in enumerate(ks):
                if wanted == k:
                    result[row] = snapshot
        return result


def decompose(
    image: ArrayLike,
    patch_size: int | None = None,
    n_components: int | str = 25,
    seed: int | None = 0,
    *,
    mode: str = "fast",
    sample_size: int | None = None,
    backend: str | None = None,
    device: str = "cpu",
) -> Decomposition:
    """Eigenpatches of the whole image as one stack, ready for any truncation.

    Parameters
    ----------
    image : array_like
        2D image; not modified.
    patch_size : int, optional
        Patch side; default estimated from the autocorrelation.
    n_components : int or "all", optional
        Eigenpatches to compute (default 25).
    seed : int, optional
        Seed of the patch sample and the randomized SVD.
    mode : {"fast", "reference"}, optional
        Sampled randomized SVD, or exact SVD of the full patch matrix.
    sample_size : int, optional
        Patches sampled for the fast SVD.
    backend, device : str, optional
        FFT implementation for the reconstructions (see :func:`denoise`).

    Returns
    -------
    Decomposition

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> dec = decompose(rng.normal(size=(48, 40)), patch_size=7, n_components=5)
    >>> dec.eigenpatches.shape, dec.reconstruct(2).shape
    ((5, 7, 7), (48, 40))
    """
    data = as_grey_float_image(image)
    if patch_size is None:
        p = estimate_patch_size(data).patch_size
    else:
        p = check_patch_fits(data.shape, patch_size)
    if n_components != "all" and (isinstance(n_components, bool) or int(n_components) < 1):
        raise ValueError(f"n_components must be a positive integer or 'all', got {n_components!r}")
    if mode == "fast":
        with single_threaded_blas():
            eig = stack_eigen_fast(data, p, None, n_components=n_components,
                                   sample_size=sample_size, seed=(0 if seed is None else seed, 0))
    elif mode == "reference":
        eig, _, _ = stack_eigen_reference(data, p, None, n_components=n_components)
    else:
        raise ValueError(f"mode must be 'fast' or 'reference', got {mode!r}")
    rows, cols = data.shape[0] - p + 1, data.shape[1] - p + 1
    return Decomposition(
        image=data,
        patch_size=p,
        eigenpatches=eig.eigenpatches.astype(np.float32),
        eigenvalues=eig.eigenvalues,
        terrain=patch_terrain(np.ones((rows, cols), bool), p).astype(np.int32),
        n_patches=eig.n_patches,
        sample_size=eig.sample_size,
        spectrum_source=eig.spectrum,
        backend=backend or ("numpy" if device == "cpu" else "torch"),
        device=device,
    )
