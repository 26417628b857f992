"""Randomized SVD (Halko, Martinsson & Tropp 2011) of a stack's patch sample (step 4)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["SVDResult", "orient_components", "randomized_svd"]

# Above this fraction of the smaller dimension a randomized sketch saves nothing.
_EXACT_FRACTION = 0.5


@dataclass(frozen=True)
class SVDResult:
    """Truncated SVD ``A ~ U diag(s) Vt``.

    Attributes
    ----------
    U : numpy.ndarray
        ``(N, K)`` left singular vectors.
    s : numpy.ndarray
        ``(K,)`` singular values, descending.
    Vt : numpy.ndarray
        ``(K, D)`` right singular vectors (orthonormal rows).
    exact : bool
        True when a full LAPACK SVD was used instead of the randomized sketch.
    """

    U: NDArray[np.float64]
    s: NDArray[np.float64]
    Vt: NDArray[np.float64]
    exact: bool


def randomized_svd(
    matrix: ArrayLike,
    rank: int,
    *,
    n_oversamples: int = 10,
    n_power_iterations: int = 2,
    seed: int | None = 0,
) -> SVDResult:
    """Top-``rank`` SVD of ``matrix`` by a seeded randomized range finder.

    Gaussian sketch ``A Omega``, ``n_power_iterations`` QR-stabilised power iterations
    (Halko et al. 2011, Alg. 4.4), then an exact SVD of the small projected matrix.
    When ``rank + n_oversamples`` reaches half the smaller dimension the full
    LAPACK SVD is used instead (it is then cheaper and exact). Components are oriented
    by :func:`orient_components`.

    Parameters
    ----------
    matrix : array_like
        ``(N, D)`` real matrix; not modified.
    rank : int
        Number of components ``K`` (capped at ``min(N, D)``).
    n_oversamples : int, optional
        Extra sketch columns (default 10).
    n_power_iterations : int, optional
        Power iterations (default 2).
    seed : int or None, optional
        Seed of the sketch.

    Returns
    -------
    SVDResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 50))
    >>> result = randomized_svd(a, 3, seed=0)
    >>> bool(np.allclose(result.U * result.s @ result.Vt, a))
    True
    """
    a = np.asarray(matrix)
    if a.ndim != 2:
        raise ValueError(f"matrix must be 2D, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    n_rows, n_cols = a.shape
    k = int(min(rank, n_rows, n_cols))
    if k < 1:
        raise ValueError(f"rank must be at least 1, got {rank}")
    sketch = k + int(n_oversamples)
    if sketch >= _EXACT_FRACTION * min(n_rows, n_cols):
        u, s, vt = np.linalg.svd(a, full_matrices=False)
        u, s, vt = orient_components(u[:, :k], s[:k], vt[:k])
        return SVDResult(U=u, s=s, Vt=vt, exact=True)
    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((n_cols, sketch)).astype(a.dtype, copy=False)
    q, _ = np.linalg.qr(a @ omega)
    for _ in range(int(n_power_iterations)):
        q, _ = np.linalg.qr(a.T @ q)
        q, _ = np.linalg.qr(a @ q)
    small = q.T @ a
    u_small, s, vt = np.linalg.svd(small, full_matrices=False)
    u = q @ u_small
    u, s, vt = orient_components(u[:, :k], s[:k], vt[:k])
    return SVDResult(U=u, s=s, Vt=vt, exact=False)


def orient_components(
    u: NDArray[np.floating], s: NDArray[np.floating], vt: NDArray[np.floating]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Fix the arbitrary sign of each singular pair: each row of ``Vt`` sums to >= 0.

    Where a row sums to (nearly) zero its largest-magnitude entry is made positive.
    Returns new float64 arrays.

    Examples
    --------
    >>> _, _, vt = orient_components(np.ones((2, 1)), np.ones(1), -np.ones((1, 3)))
    >>> vt.tolist()
    [[1.0, 1.0, 1.0]]
    """
    u = np.array(u, dtype=np.float64)
    s = np.array(s, dtype=np.float64)
    vt = np.array(vt, dtype=np.float64)
    if vt.size == 0:
        return u, s, vt
    totals = vt.sum(axis=1)
    biggest = vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)]
    tiny = np.abs(totals) < 1e-6 * np.sqrt(vt.shape[1])
    sign = np.where(tiny, np.sign(biggest), np.sign(totals))
    sign[sign == 0] = 1.0
    return u * sign, s, vt * sign[:, None]
