"""The default method: stabilise, pilot, group, decompose per group, weight, aggregate.

1. **Stabilise** (:func:`stabilise`): the Poisson–Gaussian noise model is estimated
   from the image (:mod:`denoiser.reucid.noise`) and the generalised Anscombe
   transform makes the noise unit-variance: PCA assumes signal-independent noise,
   STEM shot noise is not.
2. **Pilot** (:mod:`.pilot`): the paper's pipeline on the 2x2-binned image with
   unit-cell patches gives a first estimate that only *chooses* groups and weights.
3. **Group** (:func:`group_patches`): k-means on each patch's coordinates on the
   leading global eigenpatches of the pilot (or of the data, without a pilot).
4. **Decompose per group** (:mod:`.group_pca`): the SVD of each group's patches, not
   centred, so that every patch keeps its own coefficient on the group's mean
   direction (its own column intensities); the classifier selects eigenpatches per
   group.
5. **Weights**: each selected component of each patch gets an empirical Wiener
   weight in ``[0, 1]`` from the pilot (or the previous pass).
6. **Aggregate** (:mod:`.aggregation`): overlapping patch estimates averaged (flat by
   default; weighted toward the less noisy ones on request); then the exact unbiased
   inverse transform returns to detector units.
7. **Local means** (:mod:`.local_means`): the estimate's local means at the scale of a
   patch are replaced by the data's, so the groups decide the detail within a patch but
   never a column's integrated intensity, a step or a defect's level.

Every output pixel is therefore a function of the data's own patch decompositions:
in the stabilised domain the data's own coefficients on the data's own eigenpatches
(plus the group's own mean with ``centre=True``), times weights in ``[0, 1]`` that the pilot and the
classifier choose but that never add pixels of their own; and in detector units a
local mean of the data's own values.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from ..noise import (
    PoissonGaussianNoise,
    VarianceStabilizer,
    bulk_noise_variance,
    estimate_noise_model,
    noise_model_region,
)
from ..paper.patch_size import estimate_patch_size
from ..patches.patch_set import PatchSet
from ..patches.similarity import (
    BASIS_SAMPLE,
    DEFAULT_MAX_FEATURES,
    DEFAULT_N_GROUPS,
    GroupingModel,
    fit_grouping,
    signal_basis,
)
from ..results import DenoiseResult, Progress
from ..selection import NoiseEdge, classifier_name, required_components, resolve_classifier
from ..threads import single_threaded_blas
from ..validation import as_grey_float_image, check_output_range, check_patch_fits
from .aggregation import AGGREGATIONS, PatchCanvas
from .group_pca import GroupDiagnostics, iter_group_pass
from .local_means import restore_local_means
from .pilot import PILOTS, coarse_pilot
from .scan_lines import ScanLineOffsets, estimate_line_offsets

__all__ = [
    "DEFAULT_N_COMPONENTS",
    "DEFAULT_N_GROUPS",
    "GroupedOptions",
    "MAX_GROUPED_PATCH_SIZE",
    "GroupedProgress",
    "GroupedResult",
    "OutputStep",
    "denoise_grouped",
    "effective_groups",
    "grouped_patch_size",
    "iter_denoise_grouped",
    "output_step",
    "resolve_group_selector",
]

#: Largest patch side used unless given: a patch of about one atomic column and its
#: surroundings keeps each column's own intensity and position (measured: larger patches
#: pull displacements and thickness steps toward their group), the cost per group grows
#: as ``p^6``, and each group needs a few times ``p^2`` patches.
MAX_GROUPED_PATCH_SIZE = 9
#: Leading eigenpatches of each group that the classifier judges (the rest are dropped).
DEFAULT_N_COMPONENTS = 25
# Patches per group at least, in units of the patch dimension p².
_PATCHES_PER_DIMENSION = 3
# Global eigenpatches at most used to restore what a group cannot explain.
_MAX_OUTLIER_COMPONENTS = 16
# Mean detected electrons per pixel below which an image counts as photon-starved.
_STARVED_COUNTS = 0.05
# How far below the offset (in read-noise sigmas or electrons) a count image's pixels,
# and (in sigmas of a local mean) its 5x5 local means, never go.
_FLOOR_SIGMAS = 6.0
_FLOOR_REGION_SIGMAS = 3.0
_FLOOR_WINDOW = 5
#: Precision of the patches and of every product over them. The output is float32;
#: float32 patches halve the memory traffic of the passes (their main cost), and the
#: rounding (about 1e-7 of a value) lies far below the noise of any count image.
WORKING_DTYPE = np.float32
# Progress reports with an image per pass at most.
_INTERIM_UPDATES = 16
# Magnitudes the float32 patches compute with safely: squares and sums of squares of
# values far outside (a calibrated image in SI units, 1e-25, or 1e30) over- or underflow.
_SAFE_MAGNITUDE = (2.0**-40, 2.0**40)


def working_scale(peak: float) -> float:
    """The power of two the data are divided by before the method runs, from their largest
    magnitude ``peak`` (1 for any image whose peak lies between about 1e-12 and 1e12, i.e.
    any detector's).

    A power of two changes no digit of any value, and every step scales with the data,
    so the output is the same image in the data's own units.

    Examples
    --------
    >>> working_scale(1e4), working_scale(1e30) == 2.0 ** 100
    (1.0, True)
    """
    if peak == 0.0 or not np.isfinite(peak) or _SAFE_MAGNITUDE[0] <= peak <= _SAFE_MAGNITUDE[1]:
        return 1.0
    return float(2.0 ** int(np.round(np.log2(peak))))


def _scaled_model(model: PoissonGaussianNoise, factor: float) -> PoissonGaussianNoise:
    """The noise model of the data multiplied by ``factor``."""
    if factor == 1.0:
        return model
    return PoissonGaussianNoise(gain=model.gain * factor, sigma=model.sigma * factor,
                                offset=model.offset * factor)


@dataclass
class GroupedResult(DenoiseResult):
    """The result of the default method: the image, its groups per pass, the noise model.

    Attributes (beyond :class:`~denoiser.reucid.results.DenoiseResult`)
    ----------
    n_groups : int
        Groups of similar patches per pass (fewer on small images).
    passes : int
        Passes over the groups.
    groups : list of list of GroupDiagnostics
        Per pass, every group and what was kept in it.
    noise_model : PoissonGaussianNoise
        The noise model the image was stabilised with.
    noise_variance : float
        Per-pixel noise variance measured in the stabilised domain (about 1).
    pilot : dict or None
        The coarse pilot used (``{"kind": "coarse", "patch_size": ..., "n_kept": ...}``),
        None when the first pass made its own grouping.
    scan_lines : ScanLineOffsets or None
        The scan-line offsets found (removed when ``detected``); None with
        ``destripe=False``.
    pass_images : list of numpy.ndarray
        The estimate after each pass, in detector units (float32, like ``image``).
    grouping : tuple of GroupingModel
        Each pass's grouping: what the ``grouping`` option of a later frame of the same
        field reuses.
    """

    n_groups: int = 0
    passes: int = 0
    groups: list[list[GroupDiagnostics]] = field(default_factory=list)
    noise_model: PoissonGaussianNoise | None = None
    noise_variance: float = 1.0
    pilot: dict[str, Any] | None = None
    pass_images: list[NDArray[np.float32]] = field(default_factory=list)
    scan_lines: ScanLineOffsets | None = None
    grouping: tuple[GroupingModel, ...] = ()

    @property
    def last_pass(self) -> list[GroupDiagnostics]:
        """The groups of the pass that made the output."""
        return self.groups[-1] if self.groups else []

    def to_metadata(self, *, include_eigenpatches: bool = False,
                    max_eigenpatches: int = 8) -> dict[str, Any]:
        """JSON-able diagnostics: the options, the noise model and every group of the last pass.

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> result = denoise_grouped(rng.poisson(20.0, (48, 48)).astype(float), patch_size=5,
        ...                          n_groups=4)
        >>> meta = result.to_metadata()
        >>> meta["method"], meta["passes"], len(meta["groups"]) == meta["n_groups"]
        ('best', 2, True)
        """
        data = self.common_metadata()
        model = self.noise_model
        data.update({
            "n_groups": self.n_groups,
            "passes": self.passes,
            "noise_model": None if model is None else {
                "gain": model.gain, "sigma": model.sigma, "offset": model.offset,
                "slope": model.slope, "intercept": model.intercept},
            "noise_variance": float(self.noise_variance),
            "pilot": self.pilot,
            "scan_lines": None if self.scan_lines is None else self.scan_lines.to_metadata(),
            "kept_per_group": [g.n_kept for g in self.last_pass],
            "groups": [g.to_metadata(include_eigenpatches=include_eigenpatches,
                                     max_eigenpatches=max_eigenpatches)
                       for g in self.last_pass],
        })
        return data


@dataclass
class GroupedProgress(Progress):
    """Progress of the default method after a group: which pass, which group."""

    pass_index: int = 0
    n_passes: int = 1
    group_index: int = 0
    n_groups: int = 1
    group: GroupDiagnostics | None = None


@dataclass(frozen=True)
class GroupedOptions:
    """The default method's options, with their defaults (documented in :func:`denoise_grouped`).

    Examples
    --------
    >>> GroupedOptions().passes, GroupedOptions(pilot=None).pilot
    (2, None)
    """

    classifier: Any = None
    patch_size: int | None = None
    n_groups: int | None = None
    seed: int | None = 0
    passes: int = 2
    pilot: str | None = "coarse"
    aggregation: str = "flat"
    stabilize: bool = True
    noise_model: PoissonGaussianNoise | None = None
    n_components: int = DEFAULT_N_COMPONENTS
    centre: bool = False
    destripe: bool = True
    device: str = "cpu"
    grouping: tuple[GroupingModel, ...] | None = None
    local_means: bool = True


def denoise_grouped(image: ArrayLike, **options: Any) -> GroupedResult:
    """Denoise a 2D image with the default method (similar-patch groups, weighted passes).

    Parameters
    ----------
    image : array_like
        2D image (any real dtype; a grey RGB image is accepted). Not modified.
    classifier : classifier, str, path or None, optional
        What selects each group's eigenpatches: a loaded classifier, a model file,
        ``"cnn"``, ``"mp"``, ``"gd"``, ``"k=N"``, ``"k=all"``, ``"noise-edge"``; None =
        the noise-edge rule.
    patch_size : int, optional
        Patch side; default: the autocorrelation's estimate, capped at 9.
    n_groups : int, optional
        Groups of similar patches per pass (default 128; fewer on small images).
    seed : int, optional
        Seed of the grouping, the pilot and the noise-model sample (default 0).
    passes : {1, 2}, optional
        Passes over groups; each regroups on the previous estimate (or the pilot) and
        weights each kept component by an empirical Wiener factor from it (default 2).
    pilot : {"coarse", None}, optional
        ``"coarse"`` (default): the first pass takes its groups and weights from the
        paper's pipeline on the 2x2-binned image; None: the first pass groups on the
        data and keeps the selection unweighted.
    aggregation : {"weighted", "flat"}, optional
        How overlapping patch estimates are averaged: ``"flat"`` (default), the plain
        mean; ``"weighted"`` favours the patches that kept fewer components (less noise,
        but pulled toward their group).
    stabilize : bool, optional
        Work on the generalised Anscombe transform of the image (default True).
    noise_model : PoissonGaussianNoise, optional
        Known noise model (default: estimated from the image).
    n_components : int, optional
        Leading eigenpatches of each group the classifier judges (default 25).
    centre : bool, optional
        False (default): each patch keeps its own coefficient on its group's mean
        direction, so column intensities, thickness steps and rare defects keep their
        own values. True: patches are rebuilt around their group's mean, which removes
        more noise on a perfect crystal but pulls everything non-periodic toward the
        lattice average.
    destripe : bool, optional
        Find offsets that are constant along scan lines (rows) and, when they clearly
        exceed white noise, remove them before denoising (default True; see
        :mod:`.scan_lines`).
    device : {"cpu"}, optional
        The default method runs on the CPU; another device is refused.
    grouping : tuple of GroupingModel, optional
        The groupings of an earlier frame of the same field
        (``GroupedResult.grouping``, one per pass, same patch size): each pass labels
        its patches by the nearest of that grouping's centres instead of fitting a new
        k-means (:func:`~denoiser.reucid.denoise_series` passes them on). Labelling is
        by content, so a drifting field still groups alike patches together.
    local_means : bool, optional
        True (default): the output's local means at the scale of a patch (Gaussian,
        sigma = p / 3) are the data's own, so column intensities, thickness steps,
        defects and displacements keep their values; False: the groups' estimate as it
        is (smoother, pulled toward the lattice average). See :mod:`.local_means`.

    Returns
    -------
    GroupedResult

    Raises
    ------
    InvalidImageError, PatchSizeError, ModelLoadError, ClassifierOutputError, ValueError

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[:64, :64]
    >>> clean = 20 * (1.2 + np.cos(2 * np.pi * x / 8) * np.cos(2 * np.pi * y / 8))
    >>> noisy = rng.poisson(clean).astype(float)
    >>> result = denoise_grouped(noisy)
    >>> result.method, result.classifier, result.passes, result.pilot["kind"]
    ('best', 'noise-edge', 2, 'coarse')
    >>> bool(np.std(result.image - clean) < 0.5 * np.std(noisy - clean))
    True
    """
    started = time.perf_counter()
    final: GroupedResult | None = None
    # nobody sees interim images here: the passes skip making them
    for progress in _run(_settings(image, options), started, interim_updates=0):
        final = progress.final  # type: ignore[assignment]
    assert final is not None  # the generator always ends with the result
    return final


def iter_denoise_grouped(image: ArrayLike, **options: Any) -> Iterator[GroupedProgress]:
    """Like :func:`denoise_grouped`, yielding :class:`GroupedProgress` as groups finish.

    Everything is validated when it is called, before any work. At most 16 reports
    per pass carry an image; the last carries the :class:`GroupedResult`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> steps = list(iter_denoise_grouped(rng.poisson(20.0, (40, 40)).astype(float),
    ...                                   patch_size=5, n_groups=4))
    >>> steps[-1].final is not None, steps[-1].pass_index, steps[-1].n_passes
    (True, 1, 2)
    """
    started = time.perf_counter()
    return _run(_settings(image, options), started, interim_updates=_INTERIM_UPDATES)


def _settings(image: ArrayLike, options: dict[str, Any]) -> _Settings:
    """Validate the image and the options; estimate the patch size and the group count."""
    opts = GroupedOptions(**options)  # an unknown option is a TypeError naming it
    classifier, patch_size, n_groups, seed = (opts.classifier, opts.patch_size, opts.n_groups,
                                              opts.seed)
    passes, pilot, aggregation, stabilize = (opts.passes, opts.pilot, opts.aggregation,
                                             opts.stabilize)
    noise_model, n_components, centre, destripe, device = (
        opts.noise_model, opts.n_components, opts.centre, opts.destripe, opts.device)
    grouping, local_means = opts.grouping, opts.local_means
    if isinstance(passes, bool) or passes not in (1, 2):
        raise ValueError(f"passes must be 1 or 2, got {passes!r}")
    if pilot not in PILOTS:
        raise ValueError(f"pilot must be 'coarse' or None, got {pilot!r}")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    if not isinstance(stabilize, bool):
        raise ValueError(f"stabilize must be True or False, got {stabilize!r}")
    if not isinstance(centre, bool):
        raise ValueError(f"centre must be True or False, got {centre!r}")
    if not isinstance(destripe, bool):
        raise ValueError(f"destripe must be True or False, got {destripe!r}")
    if not isinstance(local_means, bool):
        raise ValueError(f"local_means must be True or False, got {local_means!r}")
    if noise_model is not None and not isinstance(noise_model, PoissonGaussianNoise):
        raise TypeError("noise_model must be a PoissonGaussianNoise or None, "
                        f"got {type(noise_model).__name__}")
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
            or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    if device != "cpu":
        raise ValueError(f"device={device!r}: the default method runs on the CPU only; "
                         "variant='paper' runs its place-back on a torch device")
    if n_groups is not None and (isinstance(n_groups, bool) or int(n_groups) != n_groups
                                 or n_groups < 1):
        raise ValueError(f"n_groups must be a positive integer, got {n_groups!r}")
    data = as_grey_float_image(image)
    scale = working_scale(check_output_range(data))
    if scale != 1.0:
        data = data / scale
        if noise_model is not None:
            noise_model = _scaled_model(noise_model, 1.0 / scale)
    selector = resolve_group_selector(classifier)
    if patch_size is None:
        estimate = estimate_patch_size(data)
        p = grouped_patch_size(data.shape, estimate.patch_size)
        p_method = f"{estimate.method}, capped at {p}" if p != estimate.patch_size \
            else estimate.method
    else:
        p, p_method = check_patch_fits(data.shape, patch_size), "given"
    groups = effective_groups(data.shape, p, DEFAULT_N_GROUPS if n_groups is None
                              else int(n_groups))
    if grouping is not None:
        grouping = tuple(grouping) if isinstance(grouping, (tuple, list)) else grouping
        if not isinstance(grouping, tuple) or len(grouping) != passes or not all(
                isinstance(g, GroupingModel) for g in grouping):
            raise ValueError(f"grouping must be the {passes} GroupingModel(s) of an earlier "
                             "result's .grouping (one per pass)")
        if any(g.patch_dim != p * p for g in grouping):
            raise ValueError(f"grouping is of {int(round(grouping[0].patch_dim ** 0.5))}-px "
                             f"patches, this run uses {p}-px patches: give patch_size="
                             f"{int(round(grouping[0].patch_dim ** 0.5))}")
    # like a paper stack, a group shows the classifier its leading n_components
    # eigenpatches ("k=all": every one of them)
    needed = required_components(selector, int(n_components))
    return _Settings(
        data=data, patch_size=p, patch_size_method=p_method, selector=selector,
        n_groups=groups, seed=seed, passes=passes, pilot=pilot, aggregation=aggregation,
        stabilize=stabilize, noise_model=noise_model, centre=centre, destripe=destripe,
        n_classified=None if needed == "all" else int(needed), grouping=grouping,
        local_means=local_means, scale=scale)


@dataclass(frozen=True)
class _Settings:
    """Validated settings of one run of the default method."""

    data: NDArray[np.float64]
    patch_size: int
    patch_size_method: str
    selector: Any
    n_groups: int
    seed: int | None
    passes: int
    pilot: str | None
    aggregation: str
    stabilize: bool
    noise_model: PoissonGaussianNoise | None
    n_classified: int | None
    centre: bool = False
    destripe: bool = True
    restore_outliers: bool = True
    max_features: int = DEFAULT_MAX_FEATURES
    grouping: tuple[GroupingModel, ...] | None = None
    local_means: bool = True
    #: the power of two the image was divided by (:func:`working_scale`)
    scale: float = 1.0


def resolve_group_selector(classifier: Any) -> Any:
    """The default method's selector: the noise-edge rule for None, else as specified.

    Examples
    --------
    >>> resolve_group_selector(None), resolve_group_selector("k=3")
    (NoiseEdge(noise_variance=1.0), FixedRank(3))
    """
    return NoiseEdge() if classifier is None else resolve_classifier(classifier)


def grouped_patch_size(shape: tuple[int, int], estimated: int) -> int:
    """Patch side for similar-patch groups: the estimate, capped for cost, odd.

    Examples
    --------
    >>> grouped_patch_size((256, 256), 17), grouped_patch_size((7, 9), 17)
    (9, 7)
    """
    p = min(int(estimated), MAX_GROUPED_PATCH_SIZE, *shape)
    return max(1, p if p % 2 else p - 1)


def effective_groups(shape: tuple[int, int], patch_size: int, n_groups: int) -> int:
    """Groups actually used: fewer on small images, so each keeps a few ``p²`` patches.

    Examples
    --------
    >>> effective_groups((256, 256), 11, 128), effective_groups((64, 64), 11, 128)
    (128, 8)
    """
    m, n = shape
    n_patches = (m - patch_size + 1) * (n - patch_size + 1)
    fitting = n_patches // (_PATCHES_PER_DIMENSION * patch_size * patch_size)
    return int(max(1, min(int(n_groups), fitting)))


@dataclass(frozen=True)
class OutputStep:
    """The default method's way out of its working domain for one image (steps 6-7):
    call it on an estimate of the working domain to get the image a user gets.

    Attributes
    ----------
    stabilizer : VarianceStabilizer or None
        The transform the run worked in (its inverse is step 6); None without one.
    floor : float or None
        The data's floor (zero counts), ``-inf`` for offset data.
    data : numpy.ndarray or None
        The data the local means come from (without removed scan-line offsets, in the
        working scale); None when the run did not take them.
    patch_size : int
        The run's patch side (the local means' width follows it).
    scale : float
        The power of two the image was divided by (:func:`working_scale`).
    """

    stabilizer: VarianceStabilizer | None
    floor: float | None
    data: NDArray[np.float64] | None
    patch_size: int
    scale: float = 1.0

    def inverse(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Step 6 alone, pixel by pixel: the working domain in the data's working scale,
        never below the data's floor."""
        if self.stabilizer is None:
            return values
        return self.stabilizer.inverse(values, floor=self.floor)

    def __call__(self, values: NDArray[np.float64]) -> NDArray[np.float32]:
        """Steps 6 and 7 (the data's local means, when :attr:`data` is given), then the
        data's own units, float32."""
        estimate = self.inverse(values)
        if self.data is not None:
            # the floor applies where the inverse transform applied it
            estimate = restore_local_means(
                estimate, self.data, patch_size=self.patch_size,
                floor=None if self.stabilizer is None else self.floor)
        if self.scale != 1.0:
            estimate = np.asarray(estimate, dtype=np.float64) * self.scale
        return np.asarray(estimate, dtype=np.float32)


@dataclass
class _Stabilised:
    """Step 1's output: the working image, the way back and the noise it holds."""

    model: PoissonGaussianNoise
    work: NDArray[np.float64]
    patches: PatchSet
    noise_variance: float
    #: steps 6-7: how an estimate of the working domain becomes the user's image
    way_out: OutputStep
    lines: ScanLineOffsets | None = None

    @property
    def stabilizer(self) -> VarianceStabilizer | None:
        """The variance-stabilising transform the run works in (None without one)."""
        return self.way_out.stabilizer

    @property
    def scale(self) -> float:
        """What values are multiplied by on the way out (:func:`working_scale`)."""
        return self.way_out.scale

    def output(self, values: NDArray[np.float64]) -> NDArray[np.float32]:
        """An estimate of the working domain as the user gets it: detector units, float32."""
        return self.way_out(values)


def output_step(image: ArrayLike, result: GroupedResult) -> OutputStep:
    """What the default method makes of an estimate in its working domain, for ``image``
    as ``result`` denoised it: the way out of :func:`denoise_grouped` (inverse transform
    with the data's floor, then the data's local means when the run took them).

    A survey candidate or a training label that changes what the groups keep is then
    judged on the image a user would get from it.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noisy = rng.poisson(20.0, (48, 48)).astype(float)
    >>> run = denoise_grouped(noisy, patch_size=5, n_groups=4)
    >>> out = output_step(noisy, run)(np.full((48, 48), 9.0))  # an estimate, stabilised
    >>> out.shape, out.dtype
    ((48, 48), dtype('float32'))
    """
    if result.noise_model is None or not result.options.get("stabilize", True):
        raise ValueError("output_step needs the result of a stabilised run of the default "
                         "method")
    data = as_grey_float_image(image)
    if data.shape != result.image.shape:
        raise ValueError(f"the image is {data.shape}, the result {result.image.shape}")
    scale = working_scale(check_output_range(data))  # as the run chose it
    lines = result.scan_lines
    if lines is not None and lines.detected:
        data = data - lines.offsets[:, None]
    data, model = data / scale, _scaled_model(result.noise_model, 1.0 / scale)
    return OutputStep(stabilizer=VarianceStabilizer(model), floor=data_floor(data, model),
                      data=data if result.options.get("local_means", False) else None,
                      patch_size=result.patch_size, scale=scale)


def stabilise(settings: _Settings) -> _Stabilised:
    """Step 1: scan-line offsets, noise model, variance-stabilising transform, noise level."""
    image, p = settings.data, settings.patch_size

    def fitted(values: NDArray[np.float64]) -> PoissonGaussianNoise:
        if settings.noise_model is not None:
            return resolvable_noise(settings.noise_model, values)
        return resolvable_noise(estimate_noise_model(
            noise_model_region(values), patch_size=p, n_groups=settings.n_groups,
            seed=settings.seed), values)

    model = fitted(image)
    lines = None
    if settings.destripe:
        lines = estimate_line_offsets(image, model, seed=settings.seed)
        if lines.detected:
            # the white noise is measured again without the line noise that inflated it
            image = image - lines.offsets[:, None]
            model = fitted(image)
    if settings.stabilize:
        stabilizer: VarianceStabilizer | None = VarianceStabilizer(model)
        work = stabilizer.forward(image)
    else:
        stabilizer, work = None, np.asarray(image, dtype=np.float64)
    patches = PatchSet(work, p, dtype=WORKING_DTYPE)
    # measured, not assumed: 1 after a good transform, but below a few counts per pixel
    # no transform reaches unit variance, and the selection must know it; with almost
    # no counts at all (mostly empty pixels) the noise is too sparse for the spectrum's
    # statistics, and the transform's nominal unit variance is used
    with single_threaded_blas():
        noise_variance = bulk_noise_variance(patches, seed=settings.seed)
    if stabilizer is not None and stabilizer.mean_counts(image) < _STARVED_COUNTS:
        noise_variance = max(noise_variance, 1.0)
    # the local means (step 7) come from the data the groups saw: without the scan-line
    # offsets that were removed
    way_out = OutputStep(stabilizer=stabilizer, floor=data_floor(image, model),
                         data=np.asarray(image, dtype=np.float64) if settings.local_means
                         else None, patch_size=p, scale=settings.scale)
    return _Stabilised(model=model, work=work, patches=patches,
                       noise_variance=noise_variance, way_out=way_out, lines=lines)


def resolvable_noise(model: PoissonGaussianNoise, image: ArrayLike) -> PoissonGaussianNoise:
    """The noise model as the working precision can resolve it on this image.

    Noise far below the data's own rounding in the working precision (float32: a relative
    resolution of about 1e-7) cannot be measured, and a transform that divides by it
    leaves float32's range: a noiseless image's estimate (no gain, a sigma of 1e-150) then
    turns into infinities. Such a model becomes read noise at that resolution; a Poisson
    part below the resolution of the variance is dropped. Any model a detector gives is
    returned unchanged.

    Examples
    --------
    >>> faint = np.linspace(0.0, 1e-10, 100).reshape(10, 10)
    >>> resolvable_noise(PoissonGaussianNoise(gain=0.0, sigma=1e-150), faint).sigma > 1e-18
    True
    >>> model = PoissonGaussianNoise(gain=2.0, sigma=0.5)
    >>> resolvable_noise(model, faint * 1e12) is model
    True
    """
    data = np.asarray(image, dtype=np.float64)
    eps = float(np.finfo(WORKING_DTYPE).eps)
    scale = float(np.max(np.abs(data))) if data.size else 0.0
    resolution = max(eps * scale, float(np.finfo(np.float64).tiny))
    if model.gain * scale + model.sigma ** 2 < resolution ** 2:
        return PoissonGaussianNoise(gain=0.0, sigma=resolution, offset=model.offset)
    if 0.0 < model.gain * scale < eps * model.sigma ** 2:
        return PoissonGaussianNoise(gain=0.0, sigma=model.sigma, offset=model.offset)
    return model


def data_floor(image: NDArray[np.float64], model: PoissonGaussianNoise) -> float:
    """The lowest level the output may take: zero counts, or none for offset data.

    A count image never lies far below the detector offset (zero counts): single
    pixels reach a few read-noise sigmas below it, and a region's mean stays above it
    within its own noise. So its output is kept at or above the offset. Normalised or
    background-subtracted images break one of the two (their offsets are the data's
    own, not the detector's), and there nothing is clipped. "Far": a pixel six sigmas
    (or six single-electron steps) below the offset, or the 1st percentile of the 5x5
    local means three of their sigmas below it.

    Examples
    --------
    >>> model = PoissonGaussianNoise(gain=1.0, sigma=0.5)
    >>> rng = np.random.default_rng(0)
    >>> counts = rng.poisson(3.0, (64, 64)) + rng.normal(0.0, 0.5, (64, 64))
    >>> data_floor(counts, model), data_floor(counts - 10.0, model)
    (0.0, -inf)
    """
    data = np.asarray(image, dtype=np.float64)
    pixel_below = float(data.min()) < model.offset - _FLOOR_SIGMAS * max(model.sigma,
                                                                          model.gain)
    local = ndimage.uniform_filter(data, size=_FLOOR_WINDOW, mode="reflect")
    region_below = float(np.percentile(local, 1.0)) < (
        model.offset - _FLOOR_REGION_SIGMAS * model.sigma / _FLOOR_WINDOW)
    return float("-inf") if pixel_below or region_below else float(model.offset)


def group_patches(patches: PatchSet, *, noise_variance: float, n_groups: int,
                  max_features: int, seed: int | None,
                  reuse: GroupingModel | None = None) -> tuple[NDArray[np.intp], GroupingModel]:
    """Step 3: k-means labels of the patches, grouped on what rises above their noise.

    Returns the labels and the grouping (its features' basis and centres: a later
    regrouping uses as many features; a later frame of the same field may ``reuse`` it,
    which labels the patches by the nearest of its centres and fits nothing).
    """
    with single_threaded_blas():
        if reuse is not None:
            return reuse.labels(patches), reuse
        return fit_grouping(patches, noise_variance=noise_variance, n_groups=n_groups,
                            max_features=max_features, sample_size=BASIS_SAMPLE, seed=seed)


def _streamed(steps: Iterator[tuple[GroupDiagnostics, PatchCanvas]], total: int,
              updates: int) -> Iterator[tuple[GroupDiagnostics, PatchCanvas, bool]]:
    """Pass group steps on, flagging about ``updates`` evenly spaced ones (not the last)."""
    every = max(1, -(-total // max(updates, 1)))
    for index, (group, canvas) in enumerate(steps, start=1):
        yield group, canvas, updates > 0 and index % every == 0 and index < total


def _run(settings: _Settings, started: float, *,
         interim_updates: int) -> Iterator[GroupedProgress]:
    """Steps 1-6, yielding progress (with at most ``interim_updates`` images per pass);
    the last report carries the result."""
    timings: dict[str, float] = {}
    tick = time.perf_counter()
    state = stabilise(settings)
    timings["noise_model"] = time.perf_counter() - tick
    seed, p, n_groups = settings.seed, settings.patch_size, settings.n_groups
    tick = time.perf_counter()
    first_estimate = None
    pilot_used = None
    if settings.pilot == "coarse":
        # the scan-line check already made it when it left the image as it was
        unchanged = state.lines is not None and not state.lines.detected and settings.stabilize
        coarse = state.lines.pilot if unchanged and state.lines.pilot is not None \
            else coarse_pilot(state.work, seed=seed)
        if coarse is not None:
            first_estimate = coarse.image
            pilot_used = {"kind": "coarse", "patch_size": coarse.patch_size,
                          "n_kept": coarse.n_kept}
            timings["pilot"] = time.perf_counter() - tick
            tick = time.perf_counter()
    with single_threaded_blas():
        outlier_basis = signal_basis(state.patches, noise_variance=state.noise_variance,
                                     max_components=_MAX_OUTLIER_COMPONENTS,
                                     sample_size=BASIS_SAMPLE,
                                     seed=seed) if settings.restore_outliers else None
    n_features = settings.max_features
    reused = settings.grouping or (None,) * settings.passes
    groupings: list[GroupingModel] = []
    if first_estimate is None:
        # grouped where the noise is white and of known level, so that only structure
        # that rises above the noise decides which patches are alike
        first_labels, first_grouping = group_patches(
            state.patches, noise_variance=state.noise_variance, n_groups=n_groups,
            max_features=settings.max_features, seed=seed, reuse=reused[0])
        n_features = first_grouping.basis.shape[1]
        groupings.append(first_grouping)
    timings["grouping"] = time.perf_counter() - tick
    # the last pass's estimate in the working domain (the next pass's pilot), and every
    # pass's in detector units (float32, as the output)
    latest: NDArray[np.float64] | None = None
    pass_images: list[NDArray[np.float32]] = []
    all_groups: list[list[GroupDiagnostics]] = []
    total_steps = settings.passes * n_groups  # k-means may leave a few groups empty
    seed_shift = int(first_estimate is not None)
    for pass_index in range(settings.passes):
        tick = time.perf_counter()
        previous = first_estimate if pass_index == 0 else latest
        if previous is None:
            pilot_patches, labels = None, first_labels
        else:
            # regrouped on the previous estimate, whose coefficients on the data's
            # eigenpatches also give each patch its Wiener weights
            pilot_patches = PatchSet(previous, p, dtype=WORKING_DTYPE)
            labels, grouping = group_patches(
                pilot_patches, noise_variance=0.0, n_groups=n_groups, max_features=n_features,
                seed=None if seed is None else seed + pass_index + seed_shift,
                reuse=reused[pass_index])
            groupings.append(grouping)
        fill = state.work if previous is None else previous
        done: list[GroupDiagnostics] = []
        canvas = None
        groups_in_pass = int(labels.max()) + 1
        for group, canvas, show in _streamed(iter_group_pass(
                state.patches, labels, selector=settings.selector,
                noise_variance=state.noise_variance, pilot=pilot_patches,
                aggregation=settings.aggregation, outlier_basis=outlier_basis,
                n_classified=settings.n_classified, centre_groups=settings.centre,
                pass_index=pass_index, n_passes=settings.passes),
                groups_in_pass, interim_updates):
            done.append(group)
            if show:
                step = min(pass_index * n_groups + len(done), total_steps - 1)
                yield GroupedProgress(
                    image=state.output(canvas.image(fill=fill)), step=step,
                    n_steps=total_steps,
                    stage=_stage(pass_index, settings.passes, len(done), groups_in_pass),
                    pass_index=pass_index, n_passes=settings.passes,
                    group_index=len(done) - 1, n_groups=groups_in_pass, group=group)
        assert canvas is not None
        latest = canvas.image()
        # what this pass alone needed goes before the next one allocates its own
        del canvas, pilot_patches, labels, previous, fill
        first_estimate = None
        pass_images.append(state.output(latest))
        all_groups.append(done)
        timings[f"pass_{pass_index + 1}"] = time.perf_counter() - tick

    timings["total"] = time.perf_counter() - started
    image = pass_images[-1].copy()
    result = GroupedResult(
        image=image, method="best", patch_size=p,
        patch_size_method=settings.patch_size_method,
        classifier=classifier_name(settings.selector), seed=seed, timings=timings,
        options=_options_record(settings), n_groups=n_groups, passes=settings.passes,
        groups=all_groups, noise_model=_scaled_model(state.model, state.scale),
        # in detector units² without the transform
        noise_variance=state.noise_variance * (1.0 if state.stabilizer is not None
                                               else state.scale**2),
        pilot=pilot_used, pass_images=pass_images,
        scan_lines=None if state.lines is None else replace(
            state.lines, offsets=state.lines.offsets * state.scale),
        grouping=tuple(groupings))
    last = all_groups[-1]
    yield GroupedProgress(
        image=image, step=total_steps, n_steps=total_steps,
        stage=_stage(settings.passes - 1, settings.passes, len(last), len(last)), final=result,
        pass_index=settings.passes - 1, n_passes=settings.passes, group_index=len(last) - 1,
        n_groups=len(last), group=last[-1])


def _stage(pass_index: int, passes: int, group: int, groups: int) -> str:
    return f"pass {pass_index + 1} of {passes}, group {group} of {groups}"


def _options_record(settings: _Settings) -> dict[str, Any]:
    """The options a run of the default method used, JSON-able."""
    return {"method": "best", "passes": settings.passes, "pilot": settings.pilot,
            "aggregation": settings.aggregation, "stabilize": settings.stabilize,
            "centre": settings.centre, "destripe": settings.destripe,
            "n_groups": settings.n_groups, "device": "cpu",
            "local_means": settings.local_means,
            "reused_grouping": settings.grouping is not None,
            "n_components": "all" if settings.n_classified is None
            else settings.n_classified}
