"""One pass of REUCID over groups of similar patches.

Each group is decomposed on its own: the SVD of its patches (a full basis of ``p²``
eigenpatches). By default the patches are *not* centred: the leading eigenpatch is
then the group's mean direction, and each patch keeps its own coefficient on it, so a
thicker column, a vacancy's neighbourhood or a displaced column keep their own
intensity instead of being pulled to the group's average (``centre_groups=True``
subtracts the group mean first: lower noise on perfect crystals, at the price of
that pull). The classifier selects eigenpatches exactly as it does for a paper stack;
then every patch is rebuilt as

    estimate_i = centre + sum_j  w_ij * c_ij * v_j      (centre = 0, or the group mean)

with ``v_j`` the group's own eigenpatches, ``c_ij`` the patch's own coefficients and
``w_ij`` a weight in ``[0, 1]`` that is zero for every eigenpatch the classifier did
not select. Without a pilot ``w_ij`` is the selection itself (0 or 1: the paper's
truncation). With a pilot estimate (second pass) ``w_ij = b_ij² / (b_ij² + sigma²)``,
where ``b_ij`` is the *pilot's* coefficient on the data's eigenpatch ``v_j``: an
empirical Wiener weight, as in BM3D's second step, but on the data's own
decomposition. Keeping every eigenpatch with weight 1 reproduces each patch exactly
(centre + full basis). The pilot only decides weights; it never enters as pixels.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .aggregation import AGGREGATIONS, PatchCanvas, noise_weights
from ..selection.base import SelectionContext, validate_selection
from ..patches.similarity import group_positions
from ..patches.patch_set import PatchSet, position_blocks
from ..linalg import symmetric_eigh
from ..threads import single_threaded, worker_pool

# Groups decomposed ahead of the one being classified, and groups selected and being
# rebuilt behind it, at most; and the memory each side's arrays may take together (a
# decomposed group holds its patches; a rebuilt one its estimates and their pixels)
_DECOMPOSE_AHEAD = 8
_REBUILD_BEHIND = 4
_AHEAD_BYTES = 256 * 1024**2
_BEHIND_BYTES = 256 * 1024**2
# Patches of a group handled at once: a larger group (k-means makes a few on large
# images) is summed and rebuilt in chunks of this many, so its memory stays bounded.
_CHUNK_PATCHES = 1 << 16
# A residual more than this many standard deviations of chi²(k) above k is not noise.
_OUTLIER_SIGMAS = 2.0

__all__ = ["GroupDiagnostics", "iter_group_pass", "run_group_pass"]


@dataclass
class GroupDiagnostics:
    """What happened in one group of similar patches.

    Attributes
    ----------
    index : int
        Group number.
    n_patches : int
        Patches in the group.
    mean_patch : numpy.ndarray
        ``(p, p)`` the group's mean patch (always part of the estimate).
    eigenvalues : numpy.ndarray
        ``(p²,)`` squared singular values of the centred group, descending.
    eigenpatches : numpy.ndarray
        ``(p², p, p)`` float32 eigenpatches.
    kept : numpy.ndarray
        ``(p²,)`` bool, the classifier's selection.
    mean_weight : numpy.ndarray
        ``(p²,)`` average weight ``w_ij`` over the group's patches.
    """

    index: int
    n_patches: int
    mean_patch: NDArray[np.float32]
    eigenvalues: NDArray[np.float64]
    eigenpatches: NDArray[np.float32]
    kept: NDArray[np.bool_]
    mean_weight: NDArray[np.float64]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_kept(self) -> int:
        """Number of eigenpatches selected."""
        return int(np.count_nonzero(self.kept))

    def to_metadata(self, *, include_eigenpatches: bool = False,
                    max_eigenpatches: int = 8) -> dict[str, Any]:
        """JSON-able summary; the leading ``max_eigenpatches`` eigenpatches if asked."""
        data: dict[str, Any] = {
            "index": self.index,
            "n_patches": self.n_patches,
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "kept": [bool(v) for v in self.kept],
            "n_kept": self.n_kept,
            "mean_weight": [round(float(v), 6) for v in self.mean_weight],
            "timings": {k: round(float(v), 6) for k, v in self.timings.items()},
        }
        if include_eigenpatches:
            shown = self.eigenpatches[: max(0, int(max_eigenpatches))].astype(np.float64)
            data["eigenpatches"] = np.round(shown, 6).tolist()
        return data


def iter_group_pass(
    patches: PatchSet, labels: ArrayLike, *, selector: Any, noise_variance: float = 1.0,
    pilot: PatchSet | None = None, aggregation: str = "weighted",
    outlier_basis: NDArray[np.float64] | None = None, n_classified: int | None = None,
    centre_groups: bool = True, pass_index: int = 0, n_passes: int = 1,
) -> Iterator[tuple[GroupDiagnostics, PatchCanvas]]:
    """Like :func:`run_group_pass`, yielding ``(group, canvas so far)`` after each group.

    Examples
    --------
    >>> from denoiser.reucid.selection import FixedRank
    >>> steps = list(iter_group_pass(PatchSet(np.ones((6, 6)), 3), np.arange(16) % 2,
    ...                              selector=FixedRank(1)))
    >>> [group.index for group, _ in steps], steps[-1][1].image().shape
    ([0, 1], (6, 6))
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    groups = group_positions(labels)
    p, dim = patches.patch_size, patches.patch_dim
    canvas = PatchCanvas(patches.image.shape, p, dtype=patches.dtype)

    # the patches' precision (float32 in the default method) for every product over
    # patches; the small p² x p² eigenproblems are solved in float64
    work = patches.dtype
    outliers = None if outlier_basis is None or not outlier_basis.shape[1] \
        else np.asarray(outlier_basis, dtype=work)
    # a noise variance below what the working precision holds (a noiseless image gets
    # 1e-300) stays positive there, so an empty component weighs 0, not 0/0
    noise_floor = work.type(max(noise_variance, float(np.finfo(work).tiny)))

    def decompose(positions: NDArray[np.intp]) -> _Decomposed:
        tick = time.perf_counter()
        n = len(positions)
        if n <= _CHUNK_PATCHES:
            rows: NDArray[np.floating] | None = patches.gather(positions)
            mean = _column_sums(rows) / max(n, 1)
            centred = rows - mean.astype(work) if centre_groups else rows
            gram = (centred.T @ centred).astype(np.float64)
        else:
            # a large group's Gram matrix is summed over chunks of its patches, which
            # are not kept: rebuilding gathers them again, chunk by chunk
            rows, gram, total = None, np.zeros((dim, dim)), np.zeros(dim)
            for chunk in position_blocks(n, _CHUNK_PATCHES):
                block = patches.gather(positions[chunk])
                total += _column_sums(block)
                gram += block.T @ block
            mean = total / n
            if centre_groups:
                gram -= n * np.outer(mean, mean)
        # uncentred, the leading eigenpatch is the group's mean direction and every
        # patch keeps its own coefficient on it: its own column intensities
        centre = mean.astype(work) if centre_groups else np.zeros(dim, dtype=work)
        values, vectors = symmetric_eigh(gram)
        values, vectors = np.clip(values[::-1], 0.0, None), vectors[:, ::-1]
        return _Decomposed(positions, rows, mean, centre, values, vectors,
                           time.perf_counter() - tick)

    def rebuild(part: _Decomposed, kept: NDArray[np.bool_], chunk: slice) -> tuple[Any, ...]:
        tick = time.perf_counter()
        positions = part.positions[chunk]
        rows = patches.gather(positions) if part.rows is None else part.rows[chunk]
        centred = rows - part.centre if centre_groups else rows
        # only the selected eigenpatches contribute: project on those alone
        selected = part.vectors[:, kept].astype(work)
        n_kept = selected.shape[1]
        # one pass over the patches gives both their coefficients on the selected
        # eigenpatches and on the outlier basis
        both = centred @ (selected if outliers is None
                          else np.concatenate([selected, outliers], axis=1))
        coefficients = both[:, :n_kept]
        if pilot is None:
            weights = np.ones_like(coefficients)
        else:
            pilot_rows = pilot.gather(positions)
            if centre_groups:
                pilot_rows -= part.centre
            power = (pilot_rows @ selected) ** 2
            weights = power / (power + noise_floor)
        shrunk = coefficients * weights
        estimates = shrunk @ selected.T
        if centre_groups:
            estimates += part.centre
        extra = np.zeros(len(positions))
        if outliers is not None:
            # a patch its group does not explain (a defect, an edge) gets back the
            # signal part of what the group took away: its residual on the global
            # eigenpatches that rise above the noise, (rows - estimates) @ outliers
            # written so that no p²-wide difference is formed
            lost = both[:, n_kept:] - shrunk @ (selected.T @ outliers)
            flagged = _outliers(lost, noise_variance)
            if flagged.any():
                estimates[flagged] += lost[flagged] @ outliers.T
                extra[flagged] = outliers.shape[1]
        patch_weights = 1.0 / (1.0 / noise_weights(weights) + extra) \
            if aggregation == "weighted" else np.ones(len(positions))
        weight_sum = _column_sums(weights)
        return (canvas.contribution(positions, estimates, patch_weights), weight_sum,
                time.perf_counter() - tick)

    # the groups' arithmetic (decomposition ahead, rebuilding behind) runs on all cores
    # (numpy releases the GIL in BLAS, LAPACK and large element-wise loops; one BLAS
    # thread each); the classifier and the canvas run here, in group order, so the
    # result does not depend on the number of threads. Here too one thread per pool
    # (torch's as well): a classifier's small convolutions spread over busy cores ran
    # 20 % slower than on this thread alone (measured with a group CNN at 256²)
    with single_threaded(), worker_pool() as pool:
        largest = min(max((len(g) for g in groups), default=1), _CHUNK_PATCHES) * dim
        # patches (and their centred copy when centring) ahead; behind, per chunk:
        # estimates, pilot patches and pixel indices (float32, int32) and the rest
        ahead = max(1, min(len(groups), _DECOMPOSE_AHEAD, _AHEAD_BYTES // (
            largest * work.itemsize * (2 if centre_groups else 1))))
        behind = max(1, min(_REBUILD_BEHIND, _BEHIND_BYTES // (largest * 16)))
        pending = [pool.submit(decompose, positions) for positions in groups[:ahead]]
        # (group index, decomposition, selection, eigenpatches, classify seconds,
        #  one chunk's rebuilding, whether it is the group's last chunk)
        rebuilding: deque[tuple[int, _Decomposed, NDArray[np.bool_], NDArray[np.float64],
                                float, Future[tuple[Any, ...]], bool]] = deque()
        partial: dict[int, tuple[NDArray[np.float64], float]] = {}

        def finished() -> tuple[GroupDiagnostics, PatchCanvas] | None:
            index, part, kept, eigenpatches, classify_seconds, future, last = \
                rebuilding.popleft()
            contribution, weight_sum, seconds = future.result()
            canvas.accumulate(contribution)
            total, spent = partial.pop(index, (np.zeros_like(weight_sum), 0.0))
            total, spent = total + weight_sum, spent + seconds
            if not last:
                partial[index] = (total, spent)
                return None
            group = GroupDiagnostics(
                index=index, n_patches=len(part.positions),
                mean_patch=part.mean.reshape(p, p).astype(np.float32),
                eigenvalues=part.values, eigenpatches=eigenpatches.astype(np.float32),
                kept=kept, mean_weight=_spread(total / max(len(part.positions), 1), kept),
                timings={"svd": part.seconds, "classify": classify_seconds,
                         "project": spent},
            )
            return group, canvas

        for index in range(len(groups)):
            part = pending[index].result()
            pending[index] = None  # type: ignore[call-overload]
            if index + ahead < len(groups):
                pending.append(pool.submit(decompose, groups[index + ahead]))
            tick = time.perf_counter()
            eigenpatches = np.ascontiguousarray(part.vectors.T).reshape(dim, p, p)
            context = SelectionContext(patch_size=p, n_patches=len(part.positions),
                                       stack_index=index, n_stacks=len(groups),
                                       spectrum=part.values, noise_variance=noise_variance,
                                       centred=centre_groups, pass_index=pass_index,
                                       n_passes=n_passes)
            # the classifier gets copies: nothing it does reaches the reconstruction
            # the classifier judges the leading eigenpatches (all of them by default)
            shown = dim if n_classified is None else int(min(max(n_classified, 0), dim))
            answer = selector.select(eigenpatches[:shown].astype(np.float32),
                                     part.values[:shown].copy(), context)
            kept = np.zeros(dim, dtype=bool)
            kept[:shown] = validate_selection(answer, shown)
            classify_seconds = time.perf_counter() - tick
            chunks = position_blocks(len(part.positions), _CHUNK_PATCHES)
            for number, chunk in enumerate(chunks):
                rebuilding.append((index, part, kept, eigenpatches, classify_seconds,
                                   pool.submit(rebuild, part, kept, chunk),
                                   number == len(chunks) - 1))
                while rebuilding and (len(rebuilding) > behind or rebuilding[0][-2].done()):
                    step = finished()
                    if step is not None:
                        yield step
        while rebuilding:
            step = finished()
            if step is not None:
                yield step


def _column_sums(values: NDArray[np.floating]) -> NDArray[np.float64]:
    """Sums over the rows, as float64: a product with ones, which BLAS computes many
    times faster than a reduction along axis 0 that converts to float64."""
    return (np.ones(len(values), dtype=values.dtype) @ values).astype(np.float64)


@dataclass
class _Decomposed:
    """One group's patches and their SVD, computed ahead on a worker thread."""

    positions: NDArray[np.intp]
    rows: NDArray[np.floating] | None  # None for a group rebuilt chunk by chunk
    mean: NDArray[np.float64]
    centre: NDArray[np.floating]
    values: NDArray[np.float64]
    vectors: NDArray[np.float64]
    seconds: float


def run_group_pass(
    patches: PatchSet, labels: ArrayLike, *, selector: Any, noise_variance: float = 1.0,
    pilot: PatchSet | None = None, aggregation: str = "weighted",
    outlier_basis: NDArray[np.float64] | None = None, n_classified: int | None = None,
    centre_groups: bool = True,
) -> tuple[NDArray[np.float64], list[GroupDiagnostics]]:
    """Denoise every group of patches and aggregate the estimates into an image.

    Parameters
    ----------
    patches : PatchSet
        The data's patches (in the stabilised domain when stabilising).
    labels : array_like
        ``(N,)`` group label of every patch position.
    selector : EigenpatchClassifier
        Selects each group's useful eigenpatches; gets copies, returns a bool mask.
    noise_variance : float, optional
        Per-pixel noise variance, for the Wiener weights (default 1).
    pilot : PatchSet, optional
        Patches of a pilot estimate (same positions); switches on Wiener weights.
    aggregation : {"weighted", "flat"}, optional
        How overlapping patch estimates are averaged (see :mod:`.aggregation`).

    Returns
    -------
    image : numpy.ndarray
        ``(m, n)`` float64 aggregated estimate.
    diagnostics : list of GroupDiagnostics

    Examples
    --------
    Keeping everything with weight one gives the data back:

    >>> from denoiser.reucid.selection import FixedRank
    >>> rng = np.random.default_rng(0)
    >>> image = rng.normal(size=(20, 20))
    >>> out, groups = run_group_pass(PatchSet(image, 3), np.arange(324) % 4,
    ...                              selector=FixedRank("all"))
    >>> bool(np.allclose(out, image)), len(groups)
    (True, 4)
    """
    diagnostics: list[GroupDiagnostics] = []
    canvas = PatchCanvas(patches.image.shape, patches.patch_size)
    for group, canvas in iter_group_pass(patches, labels, selector=selector,
                                         noise_variance=noise_variance, pilot=pilot,
                                         aggregation=aggregation,
                                         outlier_basis=outlier_basis,
                                         n_classified=n_classified,
                                         centre_groups=centre_groups):
        diagnostics.append(group)
    return canvas.image(), diagnostics


def _outliers(residuals: NDArray[np.float64], noise_variance: float) -> NDArray[np.bool_]:
    """Patches whose residual energy is far above what noise alone leaves (chi-square).

    ``residuals`` are the residuals' coordinates on the global signal eigenpatches, not
    the whole residual patches: a defect's signal lies in that subspace, the noise
    spreads over all ``p²`` dimensions, so the test on the ``k`` coordinates alone sees
    a defect ``p²/k`` times sooner at low dose (measured: a rare defect at 100 e/Å²
    keeps 45 % instead of 29 % of its contrast, and the image gains up to 1.5 dB).
    """
    dim = residuals.shape[1]
    with np.errstate(over="ignore"):  # a noiseless image: every residual is far above it
        energy = np.einsum("ij,ij->i", residuals, residuals).astype(np.float64) / max(
            noise_variance, np.finfo(float).tiny)
    return energy > dim + _OUTLIER_SIGMAS * np.sqrt(2.0 * dim)


def _spread(values: NDArray[np.float64], kept: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Per-component values of the selected eigenpatches, zero for the others."""
    full = np.zeros(len(kept))
    full[kept] = values
    return full
