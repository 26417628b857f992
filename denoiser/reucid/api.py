"""One entry point, two methods: ``denoise()`` dispatches to the default or the paper method.

``variant="best"`` (the default) runs :func:`~denoiser.reucid.grouped.denoise_grouped`;
``variant="paper"`` runs the paper's Algorithm 1,
:func:`~denoiser.reucid.paper.denoise_paper`. Each has its own keyword options and
its own result type; an option the chosen method does not use is refused with an
error that names it, never silently ignored.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .grouped import GroupedResult, denoise_grouped, iter_denoise_grouped
from .grouped.pipeline import GroupedOptions
from .paper import denoise_paper, iter_denoise_paper
from .paper.pipeline import PaperOptions
from .results import DenoiseResult, Progress

__all__ = ["VARIANTS", "denoise", "denoise_series", "iter_denoise", "method_options"]

#: The methods ``denoise(variant=...)`` runs: (whole run, progress generator, options).
VARIANTS: dict[str, tuple[Callable[..., Any], Callable[..., Any], type]] = {
    "best": (denoise_grouped, iter_denoise_grouped, GroupedOptions),
    "paper": (denoise_paper, iter_denoise_paper, PaperOptions),
}
_NAMES = {"best": "the default method (variant='best')",
          "paper": "the paper's Algorithm 1 (variant='paper')"}


def method_options(variant: str) -> tuple[str, ...]:
    """The keyword options a method takes.

    Examples
    --------
    >>> "mode" in method_options("paper"), "mode" in method_options("best")
    (True, False)
    """
    options = VARIANTS[_variant_key(variant)][2]
    return tuple(field.name for field in dataclasses.fields(options))


def _variant_key(variant: Any) -> str:
    if not isinstance(variant, str) or variant.strip().lower() not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    return variant.strip().lower()


def _checked(variant: Any, options: dict[str, Any]) -> str:
    """The variant's key, after refusing every option that method does not take."""
    key = _variant_key(variant)
    accepted = set(method_options(key))
    for name in options:
        if name in accepted:
            continue
        owners = [other for other in VARIANTS if other != key
                  and name in method_options(other)]
        if owners:
            raise ValueError(
                f"option {name!r} is not used by {_NAMES[key]}; it is an option of "
                f"{_NAMES[owners[0]]}")
        raise TypeError(f"unknown option {name!r}; {_NAMES[key]} takes: "
                        f"{', '.join(sorted(accepted))}")
    return key


def denoise(image: ArrayLike, classifier: Any = None, *, variant: str = "best",
            **options: Any) -> DenoiseResult:
    """Denoise a 2D STEM image with REUCID.

    Parameters
    ----------
    image : array_like
        2D image (any real dtype; a grey RGB image is accepted). Not modified.
    classifier : classifier, str, path or None, optional
        What selects the useful eigenpatches: a loaded classifier (anything with
        ``select``), a model file, ``"cnn"``, ``"mp"``, ``"gd"``, ``"noise-edge"``,
        ``"k=N"``, ``"k=all"``; None = the method's default.
    variant : {"best", "paper"}, optional
        ``"best"`` (default): stabilised, similar-patch groups, weighted passes
        (:func:`~denoiser.reucid.grouped.denoise_grouped`, returns a
        :class:`~denoiser.reucid.grouped.GroupedResult`). ``"paper"``: the paper's
        Algorithm 1, the fast live-view path
        (:func:`~denoiser.reucid.paper.denoise_paper`, returns a
        :class:`~denoiser.reucid.paper.PaperResult`).
    **options
        Keyword options of that method (see its function); any other is refused with
        a ``ValueError`` (an option of the other method) or ``TypeError`` (unknown).

    Returns
    -------
    DenoiseResult
        A ``GroupedResult`` or a ``PaperResult``.

    Raises
    ------
    InvalidImageError, PatchSizeError, ModelLoadError, ClassifierOutputError, ValueError,
    TypeError

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[:64, :64]
    >>> clean = 20 * (1.2 + np.cos(2 * np.pi * x / 8) * np.cos(2 * np.pi * y / 8))
    >>> noisy = rng.poisson(clean).astype(float)
    >>> result = denoise(noisy)
    >>> type(result).__name__, result.method, result.classifier
    ('GroupedResult', 'best', 'noise-edge')
    >>> bool(np.std(result.image - clean) < 0.5 * np.std(noisy - clean))
    True
    >>> paper = denoise(noisy, "mp", variant="paper")
    >>> type(paper).__name__, paper.n_stacks == len(paper.stacks)
    ('PaperResult', True)
    >>> denoise(noisy, mode="reference")
    Traceback (most recent call last):
    ...
    ValueError: option 'mode' is not used by the default method (variant='best'); it is an option of the paper's Algorithm 1 (variant='paper')
    """
    key = _checked(variant, options)
    return VARIANTS[key][0](image, classifier=classifier, **options)


def iter_denoise(image: ArrayLike, classifier: Any = None, *, variant: str = "best",
                 **options: Any) -> Iterator[Progress]:
    """Like :func:`denoise`, yielding :class:`~denoiser.reucid.results.Progress` reports.

    Everything is validated when it is called; the last report carries the result in
    ``.final``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> reports = list(iter_denoise(rng.normal(size=(40, 40)), "k=4", variant="paper",
    ...                             patch_size=5, n_stacks=3))
    >>> [r.stage for r in reports][-1], reports[-1].final.n_stacks
    ('stack 3 of 3', 3)
    """
    key = _checked(variant, options)
    return VARIANTS[key][1](image, classifier=classifier, **options)


def denoise_series(frames: ArrayLike, classifier: Any = None, *, variant: str = "best",
                   **options: Any) -> list[DenoiseResult]:
    """Denoise each frame of a ``(N, m, n)`` series of one field of view.

    With the default method the noise model is estimated once, on the first frame, and
    reused for the others (same detector, same settings), unless ``noise_model`` is given;
    so are the patch size and each pass's grouping (its features and k-means centres:
    later frames label their patches by the nearest centre, by content, so drift does not
    mix groups), unless ``grouping`` is given.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> results = denoise_series(rng.poisson(20.0, (2, 32, 32)), "k=2", patch_size=5)
    >>> len(results), results[0].image.shape, results[0].noise_model == results[1].noise_model
    (2, (32, 32), True)
    >>> results[1].grouping == results[0].grouping, results[1].options["reused_grouping"]
    (True, True)
    """
    array = np.asarray(frames)
    if array.ndim != 3:
        raise ValueError(f"a series must be 3D (frames, rows, columns), got {array.shape}")
    key = _checked(variant, options)
    results: list[DenoiseResult] = []
    for frame in array:
        result = VARIANTS[key][0](frame, classifier=classifier, **options)
        if isinstance(result, GroupedResult):
            if options.get("noise_model") is None:
                options = {**options, "noise_model": result.noise_model}
            if options.get("grouping") is None:
                options = {**options, "grouping": result.grouping,
                           "patch_size": result.patch_size}
        results.append(result)
    return results
