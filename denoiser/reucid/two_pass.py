"""REUCID beyond the paper: stabilise, group similar patches, two passes, weighted aggregation.

1. The noise model ``variance = slope * mean + intercept`` is estimated from the image
   (:mod:`.noise_model`), and the generalised Anscombe transform makes the noise
   unit-variance (``stabilize="anscombe"``): PCA assumes signal-independent noise,
   STEM shot noise is not.
2. Patches are grouped by similarity (k-means on their coordinates on the leading
   global eigenpatches); each group gets its own mean + SVD, and the classifier
   selects eigenpatches per group (:mod:`.group_pca`).
3. A second pass regroups on the first estimate and weights each selected
   component of each patch by an empirical Wiener factor computed from the first
   estimate; the estimate is still the data's own group mean plus the data's own
   coefficients on the data's own eigenpatches, times weights in ``[0, 1]``.
4. Overlapping patch estimates are averaged with weights that favour patches whose
   estimate kept less noise (:mod:`.aggregation`).
5. The closed-form exact unbiased inverse transform returns to detector units.

Every output pixel is therefore a function of the data's own patch decompositions:
in the stabilised domain a linear combination of them, with weights that the pilot
and the classifier choose but that never add pixels of their own.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .aggregation import AGGREGATIONS, PatchCanvas
from .coarse_pilot import coarse_pilot
from .group_pca import GroupDiagnostics, iter_group_pass
from .grouping import (
    DEFAULT_MAX_FEATURES,
    DEFAULT_N_GROUPS,
    kmeans_labels,
    leading_features,
    signal_basis,
)
from .noise_model import (
    AffineVariance,
    VarianceStabilizer,
    bulk_noise_variance,
    estimate_noise_model,
)
from .patch_set import PatchSet
from .threads import single_threaded_blas

__all__ = ["NOISE_MODEL_SIDE", "PILOTS", "STABILIZERS", "GroupedOutcome", "GroupedStep",
           "denoise_grouped", "iter_denoise_grouped", "noise_model_region"]

STABILIZERS = ("anscombe", None)
#: First estimates the grouped passes can start from (None: the first pass makes its own).
PILOTS = (None, "coarse")
# Global eigenpatches at most used to restore what a group cannot explain.
_MAX_OUTLIER_COMPONENTS = 16
#: Largest side of the region the noise model is estimated on.
NOISE_MODEL_SIDE = 512
# Mean detected electrons per pixel below which an image counts as photon-starved.
_STARVED_COUNTS = 0.05


@dataclass
class GroupedOutcome:
    """Result of :func:`denoise_grouped`.

    Attributes
    ----------
    image : numpy.ndarray
        ``(m, n)`` float64 estimate in detector units.
    pass_images : list of numpy.ndarray
        The estimate after each pass (detector units).
    noise_model : AffineVariance
        The estimated noise model.
    groups : list of list of GroupDiagnostics
        Per pass, the groups and what was kept in each.
    timings : dict
        Seconds per phase.
    pilot : dict or None
        The coarse pilot used (``{"kind": "coarse", "patch_size": ..., "n_kept": ...}``),
        None when the first pass made its own.
    """

    image: NDArray[np.float64]
    pass_images: list[NDArray[np.float64]]
    noise_model: AffineVariance
    groups: list[list[GroupDiagnostics]]
    timings: dict[str, float] = field(default_factory=dict)
    pilot: dict[str, Any] | None = None


@dataclass
class GroupedStep:
    """Progress of :func:`iter_denoise_grouped` after one group.

    Attributes
    ----------
    pass_index, n_passes : int
        Which pass (0-based) of how many.
    group : GroupDiagnostics
        The group just done.
    group_index : int
        Its index in the pass.
    image : numpy.ndarray
        Estimate so far in detector units: this pass's groups where done, the previous
        pass (or the input) elsewhere.
    outcome : GroupedOutcome or None
        Set on the last step only.
    """

    pass_index: int
    n_passes: int
    group: GroupDiagnostics
    group_index: int
    image: NDArray[np.float64]
    outcome: GroupedOutcome | None = None


def noise_model_region(image: NDArray[np.float64]) -> NDArray[np.float64]:
    """The part of the image the noise model is estimated on: at most the central 512x512.

    The model (variance as an affine function of the mean) is one line for the whole
    detector; a central crop holds plenty of samples of it, and the estimate's cost
    grows with the pixels it sees (4.6 s of 17 s at 1024x1024 before this).

    Examples
    --------
    >>> noise_model_region(np.zeros((2000, 300))).shape
    (512, 300)
    """
    rows, cols = image.shape
    top, left = max(0, (rows - NOISE_MODEL_SIDE) // 2), max(0, (cols - NOISE_MODEL_SIDE) // 2)
    return image[top:top + NOISE_MODEL_SIDE, left:left + NOISE_MODEL_SIDE]


def _streamed(steps: Iterator[tuple[GroupDiagnostics, PatchCanvas]], total: int,
              updates: int) -> Iterator[tuple[GroupDiagnostics, PatchCanvas, bool]]:
    """Pass group steps on, flagging about ``updates`` evenly spaced ones (not the last)."""
    every = max(1, -(-total // max(updates, 1)))
    for index, (group, canvas) in enumerate(steps, start=1):
        yield group, canvas, updates > 0 and index % every == 0 and index < total


def denoise_grouped(
    image: NDArray[np.float64], *, patch_size: int, selector: Any,
    stabilize: str | None = "anscombe", passes: int = 2, aggregation: str = "weighted",
    n_groups: int = DEFAULT_N_GROUPS, max_features: int = DEFAULT_MAX_FEATURES,
    seed: int | None = 0, noise_model: AffineVariance | None = None,
    restore_outliers: bool = True, n_classified: int | None = None,
    pilot: str | None = None,
) -> GroupedOutcome:
    """Denoise with groups of similar patches (see the module docstring).

    Parameters
    ----------
    image : numpy.ndarray
        Validated ``(m, n)`` float64 image (not modified).
    patch_size : int
        Patch side ``p``.
    selector : EigenpatchClassifier
        Selects each group's useful eigenpatches. ``NoiseEdge`` is the objective
        rule that uses the known (stabilised) noise level.
    stabilize : {"anscombe", None}, optional
        Variance stabilisation before the SVD (default ``"anscombe"``).
    passes : {1, 2}, optional
        Second pass with Wiener weights from the first estimate (default 2).
    aggregation : {"weighted", "flat"}, optional
        Averaging of overlapping patch estimates (default ``"weighted"``).
    n_groups : int, optional
        Groups of similar patches (default 64).
    max_features : int, optional
        Global eigenpatch coordinates used to compare patches (default 8).
    seed : int, optional
        Seed of the grouping.
    noise_model : AffineVariance, optional
        Known noise model (default: estimated from the image).
    n_classified : int, optional
        The classifier judges only the leading ``n_classified`` eigenpatches of each
        group (default: all ``p²``); the rest are dropped.
    restore_outliers : bool, optional
        Give patches that their group does not explain (residual far above the noise:
        a vacancy, a dopant, an edge) the signal part of their residual back, on the
        global eigenpatches above the noise (default True). Without it, a rare
        defect can be pulled towards its group's mean.

    Returns
    -------
    GroupedOutcome

    Examples
    --------
    >>> from denoiser.reucid.group_pca import NoiseEdge
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[:96, :96]
    >>> clean = 5 + 100 * np.exp(-(((x % 10) - 5.0) ** 2 + ((y % 10) - 5.0) ** 2) / 8)
    >>> noisy = rng.poisson(clean) + rng.normal(0.0, 3.0, clean.shape)
    >>> out = denoise_grouped(noisy, patch_size=7, selector=NoiseEdge())
    >>> bool(np.abs(out.image - clean).std() < 0.3 * np.abs(noisy - clean).std())
    True
    """
    outcome = None
    for step in iter_denoise_grouped(
            image, patch_size=patch_size, selector=selector, stabilize=stabilize,
            passes=passes, aggregation=aggregation, n_groups=n_groups,
            max_features=max_features, seed=seed, noise_model=noise_model,
            restore_outliers=restore_outliers, n_classified=n_classified, pilot=pilot,
            interim_updates=0):
        outcome = step.outcome
    assert outcome is not None  # the generator always ends with the outcome
    return outcome


def iter_denoise_grouped(
    image: NDArray[np.float64], *, patch_size: int, selector: Any,
    stabilize: str | None = "anscombe", passes: int = 2, aggregation: str = "weighted",
    n_groups: int = DEFAULT_N_GROUPS, max_features: int = DEFAULT_MAX_FEATURES,
    seed: int | None = 0, noise_model: AffineVariance | None = None,
    restore_outliers: bool = True, n_classified: int | None = None,
    pilot: str | None = None, interim_updates: int = 16,
) -> Iterator[GroupedStep]:
    """Like :func:`denoise_grouped`, yielding a :class:`GroupedStep` as groups finish.

    Options are checked when it is called, before any work. At most
    ``interim_updates`` steps per pass carry an image; the last step carries the
    :class:`GroupedOutcome`.

    Examples
    --------
    >>> from denoiser.reucid.group_pca import NoiseEdge
    >>> rng = np.random.default_rng(0)
    >>> steps = list(iter_denoise_grouped(rng.poisson(20.0, (40, 40)).astype(float),
    ...                                   patch_size=5, selector=NoiseEdge(), n_groups=4))
    >>> steps[-1].outcome is not None, steps[-1].pass_index, steps[-1].n_passes
    (True, 1, 2)
    """
    if stabilize not in STABILIZERS:
        raise ValueError(f"stabilize must be one of {STABILIZERS}, got {stabilize!r}")
    if passes not in (1, 2):
        raise ValueError(f"passes must be 1 or 2, got {passes!r}")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    if pilot not in PILOTS:
        raise ValueError(f"pilot must be one of {PILOTS}, got {pilot!r}")

    def run() -> Iterator[GroupedStep]:
        timings: dict[str, float] = {}
        tick = time.perf_counter()
        model = noise_model if noise_model is not None else estimate_noise_model(
            noise_model_region(image), patch_size=patch_size, n_groups=n_groups, seed=seed)
        timings["noise_model"] = time.perf_counter() - tick
        if stabilize == "anscombe":
            stabilizer: VarianceStabilizer | None = VarianceStabilizer(model)
            work = stabilizer.forward(image)
        else:
            stabilizer = None
            work = np.asarray(image, dtype=np.float64)
        back = (lambda values: values) if stabilizer is None else stabilizer.inverse
        patches = PatchSet(work, patch_size)
        # measured, not assumed: 1 after a good transform, but below a few counts per
        # pixel no transform reaches unit variance, and the selection must know it;
        # with almost no counts at all (mostly empty pixels) the noise is too sparse for
        # the spectrum's statistics, and the transform's nominal unit variance is used
        with single_threaded_blas():
            noise_variance = bulk_noise_variance(patches, seed=seed)
        if stabilizer is not None and stabilizer.mean_counts(image) < _STARVED_COUNTS:
            noise_variance = max(noise_variance, 1.0)
        tick = time.perf_counter()
        first_estimate = None
        pilot_used = None
        if pilot == "coarse":
            coarse = coarse_pilot(work, seed=seed)
            if coarse is not None:
                first_estimate = coarse.image
                pilot_used = {"kind": "coarse", "patch_size": coarse.patch_size,
                              "n_kept": coarse.n_kept}
                timings["pilot"] = time.perf_counter() - tick
                tick = time.perf_counter()
        with single_threaded_blas():
            outlier_basis = signal_basis(patches, noise_variance=noise_variance,
                                         max_components=_MAX_OUTLIER_COMPONENTS,
                                         seed=seed) if restore_outliers else None
            n_features = max_features
            if first_estimate is None:
                # grouped where the noise is white and of known level, so that only
                # structure that rises above the noise decides which patches are alike
                features = leading_features(patches, noise_variance=noise_variance,
                                            max_features=max_features, seed=seed)
                n_features = features.shape[1]
                first_labels = kmeans_labels(features, n_groups=n_groups, seed=seed)
        timings["grouping"] = time.perf_counter() - tick
        estimates: list[NDArray[np.float64]] = []
        groups: list[list[GroupDiagnostics]] = []
        for pass_index in range(passes):
            tick = time.perf_counter()
            previous = first_estimate if pass_index == 0 else estimates[-1]
            if previous is None:
                pilot_patches, labels = None, first_labels
            else:
                # regrouped on the previous estimate, whose coefficients on the data's
                # eigenpatches also give each patch its Wiener weights
                pilot_patches = PatchSet(previous, patch_size)
                with single_threaded_blas():
                    pilot_features = leading_features(pilot_patches, noise_variance=0.0,
                                                      max_features=n_features, seed=seed)
                    labels = kmeans_labels(
                        pilot_features, n_groups=n_groups,
                        seed=None if seed is None
                        else seed + pass_index + int(first_estimate is not None))
            fill = work if previous is None else previous
            done: list[GroupDiagnostics] = []
            canvas = None
            for group, canvas, show in _streamed(iter_group_pass(
                    patches, labels, selector=selector, noise_variance=noise_variance,
                    pilot=pilot_patches, aggregation=aggregation,
                    outlier_basis=outlier_basis, n_classified=n_classified),
                    int(labels.max()) + 1, interim_updates):
                done.append(group)
                if show:
                    yield GroupedStep(pass_index, passes, group, len(done) - 1,
                                      back(canvas.image(fill=fill)))
            assert canvas is not None
            estimates.append(canvas.image())
            groups.append(done)
            timings[f"pass_{pass_index + 1}"] = time.perf_counter() - tick
        pass_images = [back(values) for values in estimates]
        outcome = GroupedOutcome(image=pass_images[-1], pass_images=pass_images,
                                 noise_model=model, groups=groups, timings=timings,
                                 pilot=pilot_used)
        last = groups[-1][-1]
        yield GroupedStep(passes - 1, passes, last, len(groups[-1]) - 1, outcome.image, outcome)
    return run()


