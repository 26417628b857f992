"""Eigenpatches of one stack (Algorithm 1, step 4), the fast way and the reference way.

Patches are **not** mean-centred: the SVD is of the raw patch matrix, so the leading
eigenpatch carries the mean intensity, a full basis reproduces every patch exactly,
and every reconstruction is a linear function of the data.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from .reference import patch_matrix, stack_svd_reference
from .svd import orient_components, randomized_svd
from ..threads import single_threaded_blas

# Largest patch dimension p^2 for which the Gram route is the default.
_GRAM_MAX_DIM = 400

__all__ = ["StackEigen", "default_sample_size", "stack_eigen_fast", "stack_eigen_reference"]


@dataclass
class StackEigen:
    """Eigen-decomposition of one stack's patches.

    Attributes
    ----------
    eigenpatches : numpy.ndarray
        ``(K, p, p)`` float64, orthonormal when flattened, sign-oriented.
    eigenvalues : numpy.ndarray
        ``(K,)`` squared singular values, scaled to the whole stack
        (sample values times ``n_patches / sample_size``).
    n_patches : int
        Patches in the stack.
    sample_size : int
        Patches the SVD was computed from.
    spectrum : callable
        Returns every eigenvalue of the sample (same scale), descending.
    """

    eigenpatches: NDArray[np.float64]
    eigenvalues: NDArray[np.float64]
    n_patches: int
    sample_size: int
    spectrum: Callable[[], NDArray[np.float64]]


def default_sample_size(patch_size: int) -> int:
    """Patches sampled per stack for the SVD: ``max(8 p^2, 4096)``.

    Examples
    --------
    >>> default_sample_size(15), default_sample_size(31)
    (4096, 7688)
    """
    return max(8 * patch_size * patch_size, 4096)


def _rank(n_components: int | str, patch_size: int) -> int:
    return patch_size * patch_size if n_components == "all" else int(n_components)


def stack_eigen_fast(
    image: NDArray[np.float64],
    patch_size: int,
    position_mask: NDArray[np.bool_] | None,
    *,
    n_components: int | str = 25,
    sample_size: int | None = None,
    seed: int | tuple[int, ...] = 0,
    svd_method: str = "auto",
) -> StackEigen:
    """Eigenpatches from the SVD of a seeded random sample of the stack's patches.

    ``svd_method="randomized"`` is Halko's randomized SVD of the sample (top ``K``);
    ``"gram"`` is the exact eigen-decomposition of the sample's ``p^2 x p^2`` Gram
    matrix (an exact SVD is used instead when the sample has fewer than ``p^2`` rows);
    ``"auto"`` (default) takes the Gram route for patches up to 20 x 20 pixels or when
    ``K`` is a quarter of ``p^2`` or more (then it is both exact and cheaper), and the
    randomized SVD otherwise.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> eig = stack_eigen_fast(rng.normal(size=(40, 40)), 5, None, n_components=4)
    >>> eig.eigenpatches.shape, eig.n_patches, eig.sample_size
    ((4, 5, 5), 1296, 1296)
    """
    p = int(patch_size)
    rows, cols = image.shape[0] - p + 1, image.shape[1] - p + 1
    if position_mask is None:
        n_patches = rows * cols
        flat_positions = None
    else:
        flat_positions = np.flatnonzero(position_mask)
        n_patches = len(flat_positions)
    if n_patches == 0:
        raise ValueError("the stack holds no patch positions")
    wanted = default_sample_size(p) if sample_size is None else int(sample_size)
    rng = np.random.default_rng(seed)
    if wanted >= n_patches:
        chosen = np.arange(n_patches) if flat_positions is None else flat_positions
    else:
        picks = np.sort(rng.choice(n_patches, size=wanted, replace=False))
        chosen = picks if flat_positions is None else flat_positions[picks]
    windows = sliding_window_view(image, (p, p))
    sample = windows[chosen // cols, chosen % cols].reshape(len(chosen), p * p)
    sample = np.array(sample, dtype=np.float64)
    rank = min(_rank(n_components, p), p * p)
    scale = n_patches / len(chosen)
    if svd_method not in ("auto", "gram", "randomized"):
        raise ValueError(f"svd_method must be 'auto', 'gram' or 'randomized', got {svd_method!r}")
    if svd_method == "auto":
        svd_method = "gram" if (p * p <= _GRAM_MAX_DIM or 4 * rank >= p * p) else "randomized"
    if svd_method == "gram" and len(chosen) >= p * p:
        # Eigen-decomposition of the p^2 x p^2 Gram matrix is the exact SVD of the sample
        # (V and s^2) and, for small patches, far cheaper than a QR-based sketch.
        values, vectors = np.linalg.eigh(sample.T @ sample)
        values, vectors = np.clip(values[::-1], 0.0, None), vectors[:, ::-1]
        _, _, vt = orient_components(np.zeros((1, rank)), values[:rank], vectors[:, :rank].T)
        full_spectrum = values * scale
        return StackEigen(eigenpatches=vt.reshape(-1, p, p), eigenvalues=full_spectrum[:rank],
                          n_patches=n_patches, sample_size=len(chosen),
                          spectrum=lambda: full_spectrum)
    svd = randomized_svd(sample.astype(np.float32) if rank + 10 < p * p // 2 else sample,
                         rank, seed=int(rng.integers(2**31)))

    def spectrum() -> NDArray[np.float64]:
        with single_threaded_blas():
            if sample.shape[0] > sample.shape[1]:
                values = np.linalg.eigvalsh(sample.T @ sample)[::-1]
            else:
                values = np.linalg.svd(sample, compute_uv=False) ** 2
        return np.clip(values, 0.0, None) * scale

    return StackEigen(
        eigenpatches=svd.Vt.reshape(-1, p, p),
        eigenvalues=svd.s**2 * scale,
        n_patches=n_patches,
        sample_size=len(chosen),
        spectrum=spectrum,
    )


def stack_eigen_reference(
    image: NDArray[np.float64],
    patch_size: int,
    position_mask: NDArray[np.bool_] | None,
    *,
    n_components: int | str = 25,
) -> tuple[StackEigen, NDArray[np.float64], NDArray[np.intp]]:
    """Exact SVD of the stack's full patch matrix; also returns the matrix and positions.

    Examples
    --------
    >>> eig, matrix, positions = stack_eigen_reference(np.arange(36.0).reshape(6, 6), 3, None,
    ...                                                n_components=2)
    >>> eig.eigenpatches.shape, matrix.shape
    ((2, 3, 3), (16, 9))
    """
    p = int(patch_size)
    matrix, positions = patch_matrix(image, p, position_mask)
    if len(matrix) == 0:
        raise ValueError("the stack holds no patch positions")
    with single_threaded_blas():
        vt, eigenvalues = stack_svd_reference(matrix, n_components)

    def spectrum() -> NDArray[np.float64]:
        return np.linalg.svd(matrix, compute_uv=False) ** 2

    eig = StackEigen(eigenpatches=vt.reshape(-1, p, p), eigenvalues=eigenvalues,
                     n_patches=len(matrix), sample_size=len(matrix), spectrum=spectrum)
    return eig, matrix, positions
