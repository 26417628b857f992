"""The objective selection rules: keep what the data's spectrum says is signal.

* :class:`FixedRank` keeps the first ``k`` components (``k="all"`` keeps a full basis);
* :class:`MarchenkoPastur` (MP-PCA, Veraart et al., NeuroImage 142, 394 (2016));
* :class:`GavishDonoho` optimal hard threshold for unknown noise,
  ``omega(beta) * median singular value`` (Gavish & Donoho, IEEE TIT 60, 5040 (2014));
* :class:`NoiseEdge` keeps what rises above the Marchenko–Pastur edge of noise of
  *known* variance (the default method's stabilised domain).
"""
from __future__ import annotations

import math

import numpy as np

from .base import SelectionContext

__all__ = [
    "FixedRank",
    "GavishDonoho",
    "MarchenkoPastur",
    "NoiseEdge",
    "gavish_donoho_omega",
    "marchenko_pastur_rank",
]


class FixedRank:
    """Keep the ``k`` leading eigenpatches (``k="all"``: every one, a full basis).

    Examples
    --------
    >>> FixedRank(2).select(np.zeros((4, 3, 3)), np.array([4.0, 3.0, 2.0, 1.0])).tolist()
    [True, True, False, False]
    """

    def __init__(self, k: int | str) -> None:
        if isinstance(k, str):
            if k != "all":
                raise ValueError(f"k must be a positive integer or 'all', got {k!r}")
        elif isinstance(k, bool) or int(k) != k or int(k) < 0:
            raise ValueError(f"k must be a non-negative integer or 'all', got {k!r}")
        self.k: int | str = k if isinstance(k, str) else int(k)

    @property
    def name(self) -> str:
        return f"k={self.k}"

    @property
    def n_components_required(self) -> int | str:
        """Components the decomposition must provide for this rule."""
        return self.k

    def select(self, eigenpatches: np.ndarray, eigenvalues: np.ndarray,
               context: SelectionContext | None = None) -> np.ndarray:
        n = len(eigenvalues)
        keep = n if self.k == "all" else min(int(self.k), n)
        mask = np.zeros(n, dtype=bool)
        mask[:keep] = True
        return mask

    def __repr__(self) -> str:
        return f"FixedRank({self.k!r})"


class MarchenkoPastur:
    """MP-PCA: keep the components above the Marchenko–Pastur noise bulk.

    Follows Veraart et al. (2016): for each candidate number of signal components,
    the remaining eigenvalues are taken as noise; their mean estimates the noise
    variance and their spread must fit inside the MP law's width
    ``4 sqrt(gamma) sigma^2`` with ``gamma = (#noise components) / n_patches``.
    Needs ``context.spectrum`` (the full sample spectrum) and ``context.n_patches``;
    without them it uses the eigenvalues it is given.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> signal = np.outer(rng.normal(size=2000), rng.normal(size=49)) * 3
    >>> sample = signal + rng.normal(size=(2000, 49))
    >>> spectrum = np.linalg.svd(sample, compute_uv=False) ** 2
    >>> context = SelectionContext(patch_size=7, n_patches=2000, spectrum=spectrum)
    >>> int(MarchenkoPastur().select(np.zeros((10, 7, 7)), spectrum[:10], context).sum())
    1
    """

    name = "mp"
    #: The rule reads the rank off the whole spectrum, so offer it every component.
    n_components_required = "all"

    def select(self, eigenpatches: np.ndarray, eigenvalues: np.ndarray,
               context: SelectionContext | None = None) -> np.ndarray:
        values = np.asarray(eigenvalues, dtype=np.float64)
        spectrum = context.spectrum if context is not None else None
        n_patches = context.n_patches if context is not None else None
        if spectrum is None:
            spectrum = np.sort(values)[::-1]
        if not n_patches:
            n_patches = max(len(spectrum), 1)
        n_signal = marchenko_pastur_rank(spectrum, n_patches)
        mask = np.zeros(len(values), dtype=bool)
        mask[: min(n_signal, len(values))] = True
        return mask

    def __repr__(self) -> str:
        return "MarchenkoPastur()"


def marchenko_pastur_rank(spectrum: np.ndarray, n_patches: int) -> int:
    """Number of signal components in a descending eigenvalue spectrum (MP-PCA).

    Examples
    --------
    >>> marchenko_pastur_rank(np.array([100.0, 1.1, 1.0, 0.9]), 1000)
    1
    """
    ascending = np.sort(np.asarray(spectrum, dtype=np.float64))
    ascending = ascending[-min(len(ascending), max(int(n_patches) - 1, 1)):]
    if len(ascending) == 0:
        return 0
    # c + 1 = number of components treated as noise (Veraart 2016; dipy's mppca form).
    c = len(ascending) - 1
    variance = float(np.mean(ascending))
    excess = ascending[c] - ascending[0] - 4 * math.sqrt((c + 1.0) / n_patches) * variance
    while excess > 0 and c > 0:
        variance = float(np.mean(ascending[:c]))
        c -= 1
        excess = ascending[c] - ascending[0] - 4 * math.sqrt((c + 1.0) / n_patches) * variance
    return len(ascending) - (c + 1)


class GavishDonoho:
    """Optimal hard threshold for unknown noise: ``omega(beta) * median singular value``.

    ``beta = min(p^2, n) / max(p^2, n)`` is the sample matrix's aspect ratio and
    ``omega(beta) ~ 0.56 beta^3 - 0.95 beta^2 + 1.82 beta + 1.43`` (Gavish & Donoho
    2014, eq. 5). Singular values are the square roots of the eigenvalues.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sample = np.outer(rng.normal(size=2000), rng.normal(size=49)) * 3
    >>> sample += rng.normal(size=(2000, 49))
    >>> spectrum = np.linalg.svd(sample, compute_uv=False) ** 2
    >>> context = SelectionContext(patch_size=7, n_patches=2000, spectrum=spectrum)
    >>> int(GavishDonoho().select(np.zeros((10, 7, 7)), spectrum[:10], context).sum())
    1
    """

    name = "gd"
    #: The rule reads the rank off the whole spectrum, so offer it every component.
    n_components_required = "all"

    def select(self, eigenpatches: np.ndarray, eigenvalues: np.ndarray,
               context: SelectionContext | None = None) -> np.ndarray:
        values = np.asarray(eigenvalues, dtype=np.float64)
        spectrum = context.spectrum if context is not None else None
        if spectrum is None:
            spectrum = values
        if context is not None:
            rows, cols = context.n_patches, context.patch_dim
        else:
            rows, cols = len(spectrum), len(spectrum)
        beta = min(rows, cols) / max(rows, cols)
        singular = np.sqrt(np.clip(spectrum, 0.0, None))
        threshold = gavish_donoho_omega(beta) * float(np.median(singular))
        return np.sqrt(np.clip(values, 0.0, None)) > threshold

    def __repr__(self) -> str:
        return "GavishDonoho()"


def gavish_donoho_omega(beta: float) -> float:
    """Gavish–Donoho ``omega(beta)`` approximation for unknown noise level.

    Examples
    --------
    >>> round(gavish_donoho_omega(1.0), 2)
    2.86
    """
    return 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43


class NoiseEdge:
    """Keep eigenpatches above the Marchenko–Pastur edge of noise of *known* variance.

    After variance stabilisation the noise variance is 1, so no noise level has to
    be guessed from the spectrum: component ``j`` of a group of ``n`` patches of
    dimension ``P`` is kept when ``eigenvalue_j / n > sigma² (1 + sqrt(P / n))²``.

    Parameters
    ----------
    noise_variance : float, optional
        Per-pixel noise variance (default 1, the stabilised domain).

    Examples
    --------
    >>> context = SelectionContext(patch_size=3, n_patches=1000)
    >>> NoiseEdge().select(np.zeros((3, 3, 3)), np.array([5000.0, 1100.0, 900.0]),
    ...                    context).tolist()
    [True, False, False]
    """

    name = "noise-edge"

    def __init__(self, noise_variance: float = 1.0) -> None:
        if not np.isfinite(noise_variance) or noise_variance < 0:
            raise ValueError(f"noise_variance must be >= 0, got {noise_variance!r}")
        self.noise_variance = float(noise_variance)

    def select(self, eigenpatches: np.ndarray, eigenvalues: np.ndarray,
               context: SelectionContext | None = None) -> np.ndarray:
        values = np.asarray(eigenvalues, dtype=np.float64)
        shape = np.shape(eigenpatches)
        dim = context.patch_dim if context is not None else int(np.prod(shape[1:]))
        # eigenvalues are sums over the whole stack; their fluctuation is the sample's
        sample = context.n_patches if context is not None else len(values)
        total = context.n_stack_patches if context is not None else sample
        edge = self.noise_variance * (1.0 + np.sqrt(dim / max(sample, 1))) ** 2
        return values / max(total, 1) > edge

    def __repr__(self) -> str:
        return f"NoiseEdge(noise_variance={self.noise_variance})"
