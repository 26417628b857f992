"""The paper's Algorithm 1, step by step: ``denoise_paper`` and ``iter_denoise_paper``.

1. patch size ``p`` from the autocorrelation (:func:`estimate_patch_size`);
2. number of stacks ``d`` from the memory estimate (:func:`estimate_n_stacks`);
3. every patch position to one random stack (:func:`assign_stacks`);
4. per stack: randomized SVD of its patches (:func:`decompose_stack`);
5. the classifier keeps the useful eigenpatches (:func:`classify_stack`);
6. patches rebuilt from the useful eigenpatches and placed back (:func:`place_back_stack`);
7. divided by the patch terrain, the overlap count (:func:`patch_terrain`).

Every output pixel is a linear combination of the data's own eigenpatches; the
classifier's answer is only a boolean mask (:func:`validate_selection`).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..results import DenoiseResult, Progress
from ..selection import (
    SelectionContext,
    classifier_name,
    required_components,
    resolve_classifier,
    validate_selection,
)
from ..threads import single_threaded, single_threaded_blas
from ..validation import as_grey_float_image, check_output_range, check_patch_fits
from .eigen import StackEigen, stack_eigen_fast, stack_eigen_reference
from .memory import estimate_n_stacks
from .patch_size import estimate_patch_size
from .projection import check_device, project_stack
from .reference import place_back_reference
from .stacks import assign_stacks
from .terrain import full_terrain, patch_terrain

__all__ = [
    "DEFAULT_N_COMPONENTS",
    "MODES",
    "InterimResult",
    "PaperOptions",
    "PaperResult",
    "StackDiagnostics",
    "classify_stack",
    "decompose_stack",
    "denoise_paper",
    "iter_denoise_paper",
    "place_back_stack",
]

#: Eigenpatches computed per stack unless the classifier needs more (``"k=all"``).
DEFAULT_N_COMPONENTS = 25
#: ``"fast"``: sampled randomized SVD and FFT place-back; ``"reference"``: the full
#: patch matrix, exact SVD, explicit place-back loop (the proof of the fast path).
MODES = ("fast", "reference")
_BACKENDS = ("numpy", "torch")
_SVD_METHODS = ("auto", "gram", "randomized")


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
class PaperResult(DenoiseResult):
    """The result of Algorithm 1: the image, its stacks and the patch terrain.

    Attributes (beyond :class:`~denoiser.reucid.results.DenoiseResult`)
    ----------
    n_stacks : int
        Number of stacks ``d``.
    terrain : numpy.ndarray
        ``(m, n)`` int32 patch overlap count (never 0).
    stacks : list of StackDiagnostics
        One entry per non-empty stack.
    mode : str
        ``"fast"`` or ``"reference"``.
    n_components : int
        Eigenpatches computed per stack.
    """

    n_stacks: int = 1
    terrain: NDArray[np.int32] = field(default_factory=lambda: np.zeros((0, 0), np.int32))
    stacks: list[StackDiagnostics] = field(default_factory=list)
    mode: str = "fast"
    n_components: int = DEFAULT_N_COMPONENTS

    def to_metadata(self, *, include_eigenpatches: bool = True,
                    max_eigenpatches: int = 64) -> dict[str, Any]:
        """JSON-able diagnostics for the web page and the TIFF metadata.

        Every eigenvalue and kept flag is included; eigenpatches only for the leading
        ``max_eigenpatches`` components of each stack (a full basis can hold ``p^4`` values).

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> result = denoise_paper(rng.normal(size=(32, 32)), classifier="k=3", patch_size=5)
        >>> meta = result.to_metadata(include_eigenpatches=False)
        >>> meta["method"], meta["patch_size"], meta["n_stacks"], meta["kept_per_stack"]
        ('paper', 5, 1, [3])
        """
        data = self.common_metadata()
        data.update({
            "n_stacks": self.n_stacks,
            "n_components": self.n_components,
            "mode": self.mode,
            "kept_per_stack": [s.n_kept for s in self.stacks],
            "stacks": [s.to_metadata(include_eigenpatches=include_eigenpatches,
                                     max_eigenpatches=max_eigenpatches) for s in self.stacks],
        })
        return data


@dataclass
class InterimResult(Progress):
    """Progress after one stack: the reconstruction so far and the terrain it used.

    ``image`` is ``canvas / terrain`` where the terrain is positive and **the input
    pixel** where no processed patch covers it yet.
    """

    terrain: NDArray[np.int32] = field(default_factory=lambda: np.zeros((0, 0), np.int32))
    stack_index: int = 0
    n_stacks: int = 1
    stack: StackDiagnostics | None = None


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


@dataclass(frozen=True)
class PaperOptions:
    """Algorithm 1's options, with their defaults (documented in :func:`denoise_paper`).

    Examples
    --------
    >>> PaperOptions().mode, PaperOptions(n_stacks=4).n_stacks
    ('fast', 4)
    """

    classifier: Any = None
    patch_size: int | None = None
    n_stacks: int | None = None
    seed: int | None = 0
    device: str = "cpu"
    mode: str = "fast"
    n_components: int = DEFAULT_N_COMPONENTS
    memory_budget: int | None = None
    sample_size: int | None = None
    backend: str | None = None
    workers: int = -1
    svd_method: str = "auto"


def denoise_paper(image: ArrayLike, **options: Any) -> PaperResult:
    """Denoise a 2D image with the paper's Algorithm 1 (random stacks, one pass).

    Parameters
    ----------
    image : array_like
        2D image (any real dtype; a grey RGB image is accepted). Not modified.
    classifier : classifier, str, path or None, optional
        A loaded classifier (anything with ``select``), a model file path, ``"mp"``,
        ``"gd"``, ``"noise-edge"``, ``"k=N"``, ``"k=all"``, ``"cnn"``; None = the
        shipped CNN model.
    patch_size : int, optional
        Patch side ``p``; default: estimated from the autocorrelation.
    n_stacks : int, optional
        Number of stacks ``d``; default: from the memory estimate.
    seed : int, optional
        Seed of the stack assignment and patch samples (default 0).
    device : str, optional
        ``"cpu"`` or a torch device such as ``"cuda"``: where the place-back FFTs run
        (``mode="fast"`` only).
    mode : {"fast", "reference"}, optional
        ``"fast"``: sampled randomized SVD and FFT place-back; ``"reference"``: full
        patch matrix, exact SVD, explicit place-back loop (CPU only).
    n_components : int, optional
        Eigenpatches computed per stack (default 25; ``"k=all"`` computes all ``p^2``).
    memory_budget : int, optional
        Bytes one stack's patch matrix may take (default: a quarter of free memory);
        only used to choose ``n_stacks``, so refused when ``n_stacks`` is given.
    sample_size : int, optional
        Patches sampled per stack for the fast SVD (default ``max(8 p^2, 4096)``;
        ``mode="fast"`` only).
    backend : {"numpy", "torch"}, optional
        FFT implementation of the place-back (default numpy on CPU, torch on another
        device; ``mode="fast"`` only).
    workers : int, optional
        scipy.fft threads of the numpy backend (-1 = all).
    svd_method : {"auto", "gram", "randomized"}, optional
        Eigen-solver of the fast path (see ``eigen.stack_eigen_fast``).

    Returns
    -------
    PaperResult

    Raises
    ------
    InvalidImageError, PatchSizeError, ModelLoadError, ClassifierOutputError, ValueError

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[:64, :64]
    >>> clean = 20 * (1.2 + np.cos(2 * np.pi * x / 8) * np.cos(2 * np.pi * y / 8))
    >>> noisy = rng.poisson(clean).astype(float)
    >>> result = denoise_paper(noisy, classifier="mp")
    >>> result.method, result.mode, result.n_stacks == len(result.stacks)
    ('paper', 'fast', True)
    >>> bool(np.std(result.image - clean) < 0.5 * np.std(noisy - clean))
    True
    """
    final: PaperResult | None = None
    for interim in iter_denoise_paper(image, **options):
        final = interim.final  # type: ignore[assignment]
    assert final is not None  # the generator always ends with a final result
    return final


def iter_denoise_paper(image: ArrayLike, **options: Any) -> Iterator[InterimResult]:
    """Like :func:`denoise_paper`, but yield an :class:`InterimResult` after each stack.

    All validation (image, options, classifier, patch size) happens when it is called,
    before any stack is processed. The last interim result carries the
    :class:`PaperResult` in ``.final``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> steps = list(iter_denoise_paper(rng.normal(size=(40, 40)), classifier="k=4",
    ...                                 patch_size=5, n_stacks=3))
    >>> [s.stack_index for s in steps], [s.step for s in steps], steps[-1].final.n_stacks
    ([0, 1, 2], [1, 2, 3], 3)
    """
    started = time.perf_counter()
    opts = PaperOptions(**options)  # an unknown option is a TypeError naming it
    classifier, patch_size, n_stacks, seed = (opts.classifier, opts.patch_size, opts.n_stacks,
                                              opts.seed)
    device, mode, n_components, memory_budget = (opts.device, opts.mode, opts.n_components,
                                                 opts.memory_budget)
    sample_size, backend, workers, svd_method = (opts.sample_size, opts.backend, opts.workers,
                                                 opts.svd_method)
    backend = _check_options(mode=mode, device=device, backend=backend, workers=workers,
                             sample_size=sample_size, svd_method=svd_method,
                             n_stacks=n_stacks, memory_budget=memory_budget)
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
            or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    data = as_grey_float_image(image)
    check_output_range(data)
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
        d = int(n_stacks)
    plan = _Plan(data=data, selector=selector, patch_size=p, patch_size_method=p_method,
                 n_stacks=d, rank=rank, seed=seed, mode=mode, backend=backend, device=device,
                 workers=workers, sample_size=sample_size, svd_method=svd_method)
    # Everything above runs at call time, so bad input fails before any progress page.
    return _run_stacks(plan, timings, started)


def _check_options(*, mode: str, device: str, backend: str | None, workers: int,
                   sample_size: int | None, svd_method: str, n_stacks: int | None,
                   memory_budget: int | None) -> str:
    """Refuse options that would not be used, naming them; return the FFT backend."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not isinstance(device, str) or not device:
        raise ValueError(f"device must be a torch device name such as 'cpu' or 'cuda', "
                         f"got {device!r}")
    if backend is not None and backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    if svd_method not in _SVD_METHODS:
        raise ValueError(f"svd_method must be one of {_SVD_METHODS}, got {svd_method!r}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers == 0:
        raise ValueError(f"workers must be a non-zero integer (-1: all cores), got {workers!r}")
    if n_stacks is not None and (isinstance(n_stacks, bool) or int(n_stacks) != n_stacks
                                 or n_stacks < 1):
        raise ValueError(f"n_stacks must be a positive integer, got {n_stacks!r}")
    if n_stacks is not None and memory_budget is not None:
        raise ValueError("memory_budget only chooses n_stacks; it is not used when n_stacks "
                         "is given")
    if mode == "reference":
        unused = {"device": device != "cpu", "backend": backend is not None,
                  "workers": workers != -1, "sample_size": sample_size is not None,
                  "svd_method": svd_method != "auto"}
        named = [name for name, given in unused.items() if given]
        if named:
            raise ValueError(f"mode='reference' runs on the CPU with the full patch matrix; "
                             f"it does not use {', '.join(named)}")
        return "numpy"
    chosen = backend if backend is not None else ("numpy" if device == "cpu" else "torch")
    if chosen == "numpy" and device != "cpu":
        raise ValueError(f"backend='numpy' runs on the CPU; device={device!r} needs "
                         "backend='torch' (or no backend)")
    if chosen == "torch" and workers != -1:
        raise ValueError("workers sets scipy.fft threads; backend='torch' does not use it")
    check_device(chosen, device)
    return chosen


def decompose_stack(plan: _Plan, mask: NDArray[np.bool_] | None, index: int
                    ) -> tuple[StackEigen, Any, Any]:
    """Step 4: the stack's leading eigenpatches (randomized SVD, or exact in reference mode)."""
    if plan.mode == "fast":
        stack_seed = (0 if plan.seed is None else int(plan.seed), index)
        with single_threaded_blas():
            eig = stack_eigen_fast(plan.data, plan.patch_size, mask, n_components=plan.rank,
                                   sample_size=plan.sample_size, seed=stack_seed,
                                   svd_method=plan.svd_method)
        return eig, None, None
    return stack_eigen_reference(plan.data, plan.patch_size, mask, n_components=plan.rank)


def classify_stack(selector: Any, eig: StackEigen, *, patch_size: int, index: int,
                   n_stacks: int) -> NDArray[np.bool_]:
    """Step 5: the classifier's boolean selection of the stack's eigenpatches."""
    context = SelectionContext(patch_size=patch_size, n_patches=eig.sample_size,
                               n_stack_patches=eig.n_patches, stack_index=index,
                               n_stacks=n_stacks, spectrum=eig.spectrum)
    # The classifier gets copies: whatever it does to them, the reconstruction uses
    # the data's own eigenpatches.
    with single_threaded():
        answer = selector.select(eig.eigenpatches.astype(np.float32),
                                 eig.eigenvalues.copy(), context)
    return validate_selection(answer, len(eig.eigenvalues))


def place_back_stack(plan: _Plan, useful: NDArray[np.float64], mask: NDArray[np.bool_] | None,
                     matrix: Any, positions: Any) -> NDArray[np.float64]:
    """Step 6: the stack's patches rebuilt from the useful eigenpatches, summed in place."""
    if plan.mode == "fast":
        return project_stack(plan.data, useful, mask, backend=plan.backend,
                             device=plan.device, workers=plan.workers)
    return place_back_reference(plan.data.shape, plan.patch_size, matrix, positions, useful)


def _run_stacks(plan: _Plan, timings: dict[str, float], started: float
                ) -> Iterator[InterimResult]:
    """Steps 3-7 of Algorithm 1, one stack at a time."""
    data, p, d = plan.data, plan.patch_size, plan.n_stacks
    stack_map = assign_stacks(data.shape, p, d, seed=plan.seed)
    canvas = np.zeros(data.shape, dtype=np.float64)
    terrain = np.zeros(data.shape, dtype=np.int64)
    stacks: list[StackDiagnostics] = []
    for phase in ("svd", "classify", "project", "terrain"):
        timings[phase] = 0.0
    counts = np.bincount(stack_map.ravel(), minlength=d)
    # With tiny images and many stacks some stacks can be empty; they are skipped.
    non_empty = [int(i) for i in np.flatnonzero(counts)]
    for step, index in enumerate(non_empty, start=1):
        mask = None if d == 1 else stack_map == index
        stack_timing: dict[str, float] = {}
        tick = time.perf_counter()
        eig, matrix, positions = decompose_stack(plan, mask, index)
        stack_timing["svd"] = time.perf_counter() - tick
        tick = time.perf_counter()
        kept = classify_stack(plan.selector, eig, patch_size=p, index=index, n_stacks=d)
        stack_timing["classify"] = time.perf_counter() - tick
        tick = time.perf_counter()
        canvas += place_back_stack(plan, eig.eigenpatches[kept], mask, matrix, positions)
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
            final = PaperResult(
                image=so_far, method="paper", patch_size=p,
                patch_size_method=plan.patch_size_method,
                classifier=classifier_name(plan.selector), seed=plan.seed,
                timings=dict(timings), options=_options_record(plan), n_stacks=d,
                terrain=terrain_so_far, stacks=stacks, mode=plan.mode,
                n_components=p * p if plan.rank == "all" else int(plan.rank),
            )
        else:
            covered = terrain > 0
            so_far = np.where(covered, canvas / np.maximum(terrain, 1), data).astype(np.float32)
        yield InterimResult(image=so_far, step=step, n_steps=len(non_empty),
                            stage=f"stack {step} of {len(non_empty)}", final=final,
                            terrain=terrain_so_far, stack_index=index, n_stacks=d,
                            stack=diagnostics)


def _options_record(plan: _Plan) -> dict[str, Any]:
    """The options a paper run used, JSON-able, for the result and its metadata."""
    return {"method": "paper", "mode": plan.mode, "device": plan.device,
            "backend": plan.backend, "n_stacks": plan.n_stacks,
            "n_components": plan.rank if plan.rank == "all" else int(plan.rank)}
