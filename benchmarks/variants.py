"""Benchmark rows for REUCID beyond the paper (issue 9), all through ``denoise()`` options.

* ``stabilize="anscombe"``: generalised Anscombe transform with a noise model estimated
  from the image, exact unbiased inverse;
* ``grouping="similar"``: stacks are groups of similar patches (own mean + SVD each);
* ``passes=2``: second pass with per-patch Wiener weights from the first estimate;
* ``aggregation="weighted"``: overlaps weighted by the noise each estimate kept.

Imported by :func:`benchmarks.methods.default_methods` (``EXTRA_METHOD_MODULES``).
Findings: ``docs/beyond_the_paper.md``.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.methods import MethodContext, MethodUnavailable, register_method

__all__ = ["reucid_variant", "variants_available"]

#: The combination that measured best, as ``denoise()`` keyword arguments.
BEST_OPTIONS: dict[str, Any] = {"stabilize": "anscombe", "grouping": "similar",
                                "passes": 2, "aggregation": "weighted"}


def variants_available() -> str | None:
    """``None`` when ``denoise()`` has the variant options, else why not.

    Examples
    --------
    >>> variants_available() is None or isinstance(variants_available(), str)
    True
    """
    try:
        from denoiser.reucid import denoise
    except ImportError as error:
        return f"the REUCID core is not importable: {error}"
    missing = set(BEST_OPTIONS) - set(inspect.signature(denoise).parameters)
    if missing:
        return f"denoise() has no option(s) {sorted(missing)} yet"
    return None


def reucid_variant(options: dict[str, Any], *, classifier: Any = "noise-edge",
                   true_noise: bool = False):
    """A benchmark method running ``denoise(**options)``.

    ``classifier=None`` means the row uses ``context.classifier`` (the active or
    shipped model); ``true_noise`` hands the simulation's noise model to ``denoise``.

    Examples
    --------
    >>> reucid_variant(BEST_OPTIONS).__name__
    'reucid_variant'
    """

    def reucid_variant(noisy: NDArray[np.float64], *, context: MethodContext
                       ) -> NDArray[np.float64]:
        from denoiser.reucid import denoise

        extra: dict[str, Any] = dict(options)
        if true_noise:
            extra["noise_model"] = context.noise
        chosen = context.classifier if classifier is None else classifier
        try:
            result = denoise(np.asarray(noisy), classifier=chosen, seed=context.seed, **extra)
        except Exception as error:
            if type(error).__name__ == "ModelLoadError":
                raise MethodUnavailable(str(error)) from error
            raise
        return np.asarray(result.image, dtype=np.float64)

    return reucid_variant


register_method(
    "REUCID + GAT (paper stacks), MP",
    reucid_variant({"stabilize": "anscombe"}, classifier="mp"),
    family="REUCID variant",
    available=variants_available,
    description="denoise(classifier='mp', stabilize='anscombe'): the paper's stacks on "
    "the Anscombe-transformed image, noise model estimated from the image.",
)
register_method(
    "REUCID beyond, noise-edge",
    reucid_variant(BEST_OPTIONS),
    family="REUCID variant",
    available=variants_available,
    description="denoise(classifier='noise-edge', stabilize='anscombe', grouping='similar', "
    "passes=2, aggregation='weighted'): similar-patch groups, two passes.",
)
register_method(
    "REUCID beyond, classifier",
    reucid_variant(BEST_OPTIONS, classifier=None),
    family="REUCID variant",
    available=variants_available,
    description="As 'REUCID beyond, noise-edge' with the active/shipped CNN selecting "
    "each group's eigenpatches.",
)
register_method(
    "REUCID beyond, true noise model",
    reucid_variant(BEST_OPTIONS, true_noise=True),
    family="oracle",
    needs_ground_truth=True,
    available=variants_available,
    description="As 'REUCID beyond, noise-edge' given the simulation's noise model instead "
    "of estimating it.",
)
