"""REUCID Algorithm 1 end to end: ``denoise`` and its progress generator ``iter_denoise``."""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .classifiers import (
    SelectionContext,
    classifier_name,
    required_components,
    resolve_classifier,
    validate_selection,
)
from .eigen import stack_eigen_fast, stack_eigen_reference
from .memory import estimate_n_stacks
from .patch_size import estimate_patch_size
from .projection import check_device, project_stack
from .reference import place_back_reference
from .stacks import assign_stacks
from .terrain import full_terrain, patch_terrain
from .threads import single_threaded, single_threaded_blas
from .validation import as_grey_float_image, check_patch_fits
from .variants import FROM_VARIANT, resolve_variant

__all__ = [
    "DEFAULT_N_COMPONENTS",
    "DenoiseResult",
    "InterimResult",
    "StackDiagnostics",
    "denoise",
    "denoise_series",
    "iter_denoise",
]

#: Eigenpatches computed per stack unless the classifier needs more (``"k=all"``).
DEFAULT_N_COMPONENTS = 25
_MODES = ("fast", "reference")


@dataclass
class StackDiagnostics:
    """What happened in one stack.

    Attributes
    ----------
    index : int
        Stack number (0-based).
    n_patches : int
        Patches in the stack.
    sample_size : int
        Patches the SVD used (all of them in reference mode).
    eigenvalues : numpy.ndarray
        ``(K,)`` squared singular values, descending, scaled to the whole stack.
    eigenpatches : numpy.ndarray
        ``(K, p, p)`` float32 eigenpatches.
    kept : numpy.ndarray
        ``(K,)`` bool, the classifier's selection.
    timings : dict
        Seconds spent in ``svd``, ``classify``, ``project`` for this stack.
    """

    index: int
    n_patches: int
    sample_size: int
    eigenvalues: NDArray[np.float64]
    eigenpatches: NDArray[np.float32]
    kept: NDArray[np.bool_]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_kept(self) -> int:
        """Number of eigenpatches kept."""
        return int(np.count_nonzero(self.kept))

    def to_metadata(self, *, include_eigenpatches: bool = True,
                    max_eigenpatches: int = 64) -> dict[str, Any]:
        """JSON-able summary; the leading ``max_eigenpatches`` eigenpatches as nested lists."""
        data: dict[str, Any] = {
            "index": self.index,
            "n_patches": self.n_patches,
            "sample_size": self.sample_size,
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "kept": [bool(v) for v in self.kept],
            "n_kept": self.n_kept,
            "timings": {k: round(float(v), 6) for k, v in self.timings.items()},
        }
        if include_eigenpatches:
            shown = self.eigenpatches[: max(0, int(max_eigenpatches))].astype(np.float64)
            data["eigenpatches"] = np.round(shown, 6).tolist()
        return data


@dataclass
class DenoiseResult:
    """The denoised image and everything needed to explain it.

    Attributes
    ----------
    image : numpy.ndarray
        ``(m, n)`` float32 denoised image.
    patch_size : int
        Patch side ``p``.
    patch_size_method : str
        ``"given"``, ``"first-minimum"`` or ``"first-inflexion"``.
    n_stacks : int
        Number of stacks ``d``.
    terrain : numpy.ndarray
        ``(m, n)`` int32 patch overlap count (never 0).
    stacks : list of StackDiagnostics
        One entry per non-empty stack.
    timings : dict
        Seconds per phase (``validate``, ``patch_size``, ``svd``, ``classify``,
        ``project``, ``terrain``, ``total``).
    classifier : str
        Name of the classifier used.
    mode : str
        ``"fast"`` or ``"reference"``.
    seed : int
        Seed of the stack assignment and the SVD samples.
    """

    image: NDArray[np.float32]
    patch_size: int
    patch_size_method: str
    n_stacks: int
    terrain: NDArray[np.int32]
    stacks: list[StackDiagnostics]
    timings: dict[str, float]
    classifier: str
    mode: str
    seed: int | None
    n_components: int
    #: Options beyond the paper and the noise model used, if any (docs/beyond_the_paper.md).
    options: dict[str, Any] = field(default_factory=dict)

    def to_metadata(self, *, include_eigenpatches: bool = True,
                    max_eigenpatches: int = 64) -> dict[str, Any]:
        """JSON-able diagnostics for the web page and the TIFF metadata.

        Every eigenvalue and kept flag is included; eigenpatches only for the leading
        ``max_eigenpatches`` components of each stack (a full basis can hold ``p^4`` values).

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> result = denoise(rng.normal(size=(32, 32)), classifier="k=3", patch_size=5,
        ...                  variant="paper")
        >>> meta = result.to_metadata(include_eigenpatches=False)
        >>> meta["patch_size"], meta["n_stacks"], meta["kept_per_stack"]
        (5, 1, [3])
        """
        return {
            "algorithm": "REUCID",
            "patch_size": self.patch_size,
            "patch_size_method": self.patch_size_method,
            "n_stacks": self.n_stacks,
            "n_components": self.n_components,
            "classifier": self.classifier,
            "mode": self.mode,
            "seed": self.seed,
            "shape": [int(v) for v in self.image.shape],
            "kept_per_stack": [s.n_kept for s in self.stacks],
            "options": self.options,
            "timings": {k: round(float(v), 6) for k, v in self.timings.items()},
            "stacks": [s.to_metadata(include_eigenpatches=include_eigenpatches,
                                     max_eigenpatches=max_eigenpatches) for s in self.stacks],
        }


@dataclass
class InterimResult:
    """Progress after one stack: the reconstruction so far and the terrain it used.

    ``image`` is ``canvas / terrain`` where the terrain is positive and **the input
    pixel** where no processed patch covers it yet. ``final`` is set on the last one.
    """

    image: NDArray[np.float32]
    terrain: NDArray[np.int32]
    stack_index: int
    n_stacks: int
    stack: StackDiagnostics | None
    final: DenoiseResult | None = None

    @property
    def fraction_done(self) -> float:
        """Share of the stacks processed so far."""
        return (self.stack_index + 1) / self.n_stacks


def denoise(
    image: ArrayLike,
    classifier: Any = None,
    patch_size: int | None = None,
    n_stacks: int | None = None,
    seed: int | None = 0,
    device: str = "cpu",
    mode: str = "fast",
    *,
    n_components: int = DEFAULT_N_COMPONENTS,
    memory_budget: int | None = None,
    sample_size: int | None = None,
    backend: str | None = None,
    workers: int = -1,
    svd_method: str = "auto",
    variant: Any = "best",
    stabilize: Any = FROM_VARIANT,
    grouping: Any = FROM_VARIANT,
    passes: Any = FROM_VARIANT,
    aggregation: Any = FROM_VARIANT,
    pilot: Any = FROM_VARIANT,
    noise_model: Any = None,
) -> DenoiseResult:
    """Denoise a 2D image with REUCID.

    Parameters
    ----------
    image : array_like
        2D image (any real dtype; a grey RGB image is accepted). Not modified.
    classifier : classifier, str, path or None, optional
        A loaded classifier (anything with ``select``), a model file path, ``"mp"``,
        ``"gd"``, ``"k=N"``, ``"k=all"``, ``"cnn"``, ``"noise-edge"`` (similar-patch groups
        only); None = the variant's default: the noise-edge rule for ``"best"``, the
        shipped CNN model for ``"paper"``.
    patch_size : int, optional
        Patch side ``p``; default: estimated from the autocorrelation.
    n_stacks : int, optional
        Number of stacks ``d``; default: from the memory estimate.
    seed : int, optional
        Seed of the stack assignment and patch samples (default 0).
    device : str, optional
        ``"cpu"`` or a torch device such as ``"cuda"`` (runs the FFTs in torch).
    mode : {"fast", "reference"}, optional
        ``"fast"``: sampled randomized SVD and FFT projection; ``"reference"``: full
        patch matrix, exact SVD, explicit place-back loop.
    n_components : int, optional
        Eigenpatches computed per stack (default 25; ``"k=all"`` computes all ``p^2``).
    memory_budget : int, optional
        Bytes one stack's patch matrix may take (default: a quarter of free memory).
    sample_size : int, optional
        Patches sampled per stack for the fast SVD (default ``max(8 p^2, 4096)``).
    backend : {"numpy", "torch"}, optional
        FFT implementation of the fast path (default numpy on CPU, torch otherwise).
    workers : int, optional
        scipy.fft threads (-1 = all).
    svd_method : {"auto", "gram", "randomized"}, optional
        Eigen-solver of the fast path (see ``eigen.stack_eigen_fast``).

    variant : {"best", "paper"} or VariantOptions, optional
        ``"best"`` (default): the combination that measured best on simulated HAADF
        (``docs/beyond_the_paper.md``): generalised Anscombe transform, a coarse
        pilot from the paper's pipeline on the binned image, two passes over groups of
        similar patches with Wiener weights, noise-weighted aggregation.
        ``"paper"``: the paper's Algorithm 1 (random stacks, one pass, flat overlap
        average): about 35x faster, for live view and long series. The single options
        below change one step of the chosen variant.
    stabilize : {None, "anscombe"}, optional
        ``"anscombe"``: estimate the Poisson–Gaussian noise model from the image, work on
        its generalised Anscombe transform, return through the exact unbiased inverse.
    grouping : {"random", "similar"}, optional
        ``"random"``: the paper's stacks. ``"similar"``: stacks are groups of similar
        patches, each with its own mean and SVD; ``n_stacks`` is then the number of
        groups (default 128) and ``classifier`` may also be ``"noise-edge"`` (keep
        what rises above the known noise level).
    passes : {1, 2}, optional
        Passes over groups; each after the first (or each, with ``pilot="coarse"``)
        regroups on the previous estimate and weights each patch's kept components by
        an empirical Wiener factor from it (``grouping="similar"`` only).
    aggregation : {"flat", "weighted"}, optional
        ``"weighted"``: average overlapping patch estimates with weights that favour
        the less noisy ones (``grouping="similar"`` only).
    pilot : {None, "coarse"}, optional
        ``"coarse"``: the first grouped pass takes its groups and weights from the
        paper's pipeline on the 2x2-binned image with unit-cell-sized patches
        (``grouping="similar"`` only; skipped on images under 30 pixels).
    noise_model : AffineVariance or PoissonGaussianNoise, optional
        Known noise model for the options above (default: estimated from the image).

    Returns
    -------
    DenoiseResult

    Raises
    ------
    InvalidImageError, PatchSizeError, ModelLoadError, ClassifierOutputError

    Examples
    --------
    The default (the best variant) on a noisy lattice of atomic columns:

    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[:64, :64]
    >>> clean = 20 * (1.2 + np.cos(2 * np.pi * x / 8) * np.cos(2 * np.pi * y / 8))
    >>> noisy = rng.poisson(clean).astype(float)
    >>> result = denoise(noisy)
    >>> result.image.dtype, result.image.shape, result.mode, result.classifier
    (dtype('float32'), (64, 64), 'grouped', 'noise-edge')
    >>> result.options["variant"]["pilot"], result.options["pilot"]["kind"]
    ('coarse', 'coarse')
    >>> bool(np.std(result.image - clean) < 0.5 * np.std(noisy - clean))
    True

    The paper's Algorithm 1 (the fast path) with the Marchenko–Pastur rank rule:

    >>> paper = denoise(noisy, classifier="mp", variant="paper")
    >>> paper.mode, paper.options, paper.n_stacks == len(paper.stacks)
    ('fast', {}, True)
    """
    final: DenoiseResult | None = None
    for interim in iter_denoise(
        image, classifier, patch_size, n_stacks, seed, device, mode,
        n_components=n_components, memory_budget=memory_budget, sample_size=sample_size,
        backend=backend, workers=workers, svd_method=svd_method,
        variant=variant, stabilize=stabilize, grouping=grouping, passes=passes,
        aggregation=aggregation, pilot=pilot, noise_model=noise_model,
    ):
        final = interim.final
    assert final is not None  # iter_denoise always ends with a final result
    return final


def iter_denoise(
    image: ArrayLike,
    classifier: Any = None,
    patch_size: int | None = None,
    n_stacks: int | None = None,
    seed: int | None = 0,
    device: str = "cpu",
    mode: str = "fast",
    *,
    n_components: int = DEFAULT_N_COMPONENTS,
    memory_budget: int | None = None,
    sample_size: int | None = None,
    backend: str | None = None,
    workers: int = -1,
    svd_method: str = "auto",
    variant: Any = "best",
    stabilize: Any = FROM_VARIANT,
    grouping: Any = FROM_VARIANT,
    passes: Any = FROM_VARIANT,
    aggregation: Any = FROM_VARIANT,
    pilot: Any = FROM_VARIANT,
    noise_model: Any = None,
) -> Iterator[InterimResult]:
    """Like :func:`denoise`, but yield an :class:`InterimResult` after each stack.

    All validation (image, options, classifier, patch size) happens when it is called,
    before any stack is processed. The last interim result carries the
    :class:`DenoiseResult` in ``.final``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> steps = list(iter_denoise(rng.normal(size=(40, 40)), "k=4", patch_size=5, n_stacks=3,
    ...                           variant="paper"))
    >>> [s.stack_index for s in steps], steps[-1].final.n_stacks
    ([0, 1, 2], 3)
    """
    started = time.perf_counter()
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if backend is None:
        backend = "numpy" if device == "cpu" else "torch"
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
            or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    data = as_grey_float_image(image)
    options = resolve_variant(variant, stabilize=stabilize, grouping=grouping, passes=passes,
                              aggregation=aggregation, pilot=pilot)
    if not options.is_paper:
        from .variants import iter_denoise_variant

        return iter_denoise_variant(
            data, options, classifier=classifier, patch_size=patch_size, n_stacks=n_stacks,
            seed=seed, noise_model=noise_model, core_iter=iter_denoise,
            core_options={"device": device, "mode": mode, "n_components": n_components,
                          "memory_budget": memory_budget, "sample_size": sample_size,
                          "backend": backend, "workers": workers, "svd_method": svd_method})
    if noise_model is not None:
        raise ValueError("noise_model is only used with stabilize='anscombe' or "
                         "grouping='similar'")
    if mode == "fast":
        check_device(backend, device)
    timings = {"validate": time.perf_counter() - started}
    selector = resolve_classifier(classifier)
    tick = time.perf_counter()
    if patch_size is None:
        estimate = estimate_patch_size(data)
        p, p_method = estimate.patch_size, estimate.method
    else:
        p, p_method = check_patch_fits(data.shape, patch_size), "given"
    timings["patch_size"] = time.perf_counter() - tick
    rank = required_components(selector, int(n_components))
    if n_stacks is None:
        d = estimate_n_stacks(data.shape, p, memory_budget=memory_budget)
    else:
        if isinstance(n_stacks, bool) or int(n_stacks) != n_stacks or n_stacks < 1:
            raise ValueError(f"n_stacks must be a positive integer, got {n_stacks!r}")
        d = int(n_stacks)
    plan = _Plan(data=data, selector=selector, patch_size=p, patch_size_method=p_method,
                 n_stacks=d, rank=rank, seed=seed, mode=mode, backend=backend, device=device,
                 workers=workers, sample_size=sample_size, svd_method=svd_method)
    # Everything above runs at call time, so bad input fails before any progress page.
    return _run_stacks(plan, timings, started)


@dataclass(frozen=True)
class _Plan:
    """Validated settings of one run."""

    data: NDArray[np.float64]
    selector: Any
    patch_size: int
    patch_size_method: str
    n_stacks: int
    rank: int | str
    seed: int | None
    mode: str
    backend: str
    device: str
    workers: int
    sample_size: int | None
    svd_method: str


def _run_stacks(plan: _Plan, timings: dict[str, float], started: float
                ) -> Iterator[InterimResult]:
    """Steps 3-8 of Algorithm 1, one stack at a time."""
    data, p, d, rank, seed = plan.data, plan.patch_size, plan.n_stacks, plan.rank, plan.seed
    selector, mode = plan.selector, plan.mode
    stack_map = assign_stacks(data.shape, p, d, seed=seed)
    canvas = np.zeros(data.shape, dtype=np.float64)
    terrain = np.zeros(data.shape, dtype=np.int64)
    stacks: list[StackDiagnostics] = []
    for phase in ("svd", "classify", "project", "terrain"):
        timings[phase] = 0.0
    counts = np.bincount(stack_map.ravel(), minlength=d)
    # With tiny images and many stacks some stacks can be empty; they are skipped.
    non_empty = [int(i) for i in np.flatnonzero(counts)]
    for index in non_empty:
        mask = None if d == 1 else stack_map == index
        stack_seed = (0 if seed is None else int(seed), index)
        stack_timing: dict[str, float] = {}
        tick = time.perf_counter()
        matrix = positions = None
        if mode == "fast":
            with single_threaded_blas():
                eig = stack_eigen_fast(data, p, mask, n_components=rank,
                                       sample_size=plan.sample_size, seed=stack_seed,
                                       svd_method=plan.svd_method)
        else:
            eig, matrix, positions = stack_eigen_reference(data, p, mask, n_components=rank)
        stack_timing["svd"] = time.perf_counter() - tick
        tick = time.perf_counter()
        context = SelectionContext(patch_size=p, n_patches=eig.sample_size,
                                   n_stack_patches=eig.n_patches, stack_index=index,
                                   n_stacks=d, spectrum=eig.spectrum)
        # The classifier gets copies: whatever it does to them, the reconstruction below
        # uses the data's own eigenpatches.
        with single_threaded():
            answer = selector.select(eig.eigenpatches.astype(np.float32),
                                     eig.eigenvalues.copy(), context)
        kept = validate_selection(answer, len(eig.eigenvalues))
        stack_timing["classify"] = time.perf_counter() - tick
        tick = time.perf_counter()
        useful = eig.eigenpatches[kept]
        if mode == "fast":
            canvas += project_stack(data, useful, mask, backend=plan.backend,
                                    device=plan.device, workers=plan.workers)
        else:
            canvas += place_back_reference(data.shape, p, matrix, positions, useful)
        stack_timing["project"] = time.perf_counter() - tick
        tick = time.perf_counter()
        terrain += full_terrain(data.shape, p) if mask is None else patch_terrain(mask, p)
        stack_timing["terrain"] = time.perf_counter() - tick
        for phase, seconds in stack_timing.items():
            timings[phase] += seconds
        diagnostics = StackDiagnostics(
            index=index, n_patches=eig.n_patches, sample_size=eig.sample_size,
            eigenvalues=eig.eigenvalues.copy(),
            eigenpatches=eig.eigenpatches.astype(np.float32), kept=kept, timings=stack_timing,
        )
        stacks.append(diagnostics)
        terrain_so_far = terrain.astype(np.int32)
        final = None
        if index == non_empty[-1]:
            if terrain.min() < 1:  # every pixel lies in some valid patch; guard anyway
                raise RuntimeError("internal error: the patch terrain left pixels uncovered")
            so_far = (canvas / terrain).astype(np.float32)
            timings["total"] = time.perf_counter() - started
            final = DenoiseResult(
                image=so_far, patch_size=p, patch_size_method=plan.patch_size_method, n_stacks=d,
                terrain=terrain_so_far, stacks=stacks, timings=dict(timings),
                classifier=classifier_name(selector), mode=mode, seed=seed,
                n_components=p * p if rank == "all" else int(rank),
            )
        else:
            covered = terrain > 0
            so_far = np.where(covered, canvas / np.maximum(terrain, 1), data).astype(np.float32)
        yield InterimResult(image=so_far, terrain=terrain_so_far, stack_index=index,
                            n_stacks=d, stack=diagnostics, final=final)


def denoise_series(frames: ArrayLike, classifier: Any = None, **options: Any
                   ) -> list[DenoiseResult]:
    """Denoise each frame of a ``(N, m, n)`` series independently (same options for all).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> results = denoise_series(rng.normal(size=(2, 24, 24)), "k=2", patch_size=5)
    >>> len(results), results[0].image.shape
    (2, (24, 24))
    """
    array = np.asarray(frames)
    if array.ndim != 3:
        raise ValueError(f"a series must be 3D (frames, rows, columns), got {array.shape}")
    return [denoise(frame, classifier, **options) for frame in array]
