"""Benchmark rows for REUCID beyond the paper (issue 9), all through ``denoise()`` options.

``denoise()`` runs the default method (``denoiser.reucid.grouped``) unless told
``variant="paper"``; its options (``pilot``, ``passes``, ``aggregation``,
``stabilize``, ``noise_model``) change one step each.

Rows: the default itself, the default with the CNN per group, the default given the
true noise model (oracle) and the default without the coarse pilot; and the ``ablation``
family (run only when named, by ``python -m benchmarks.beyond``): each step of the
default changed on its own (:data:`ABLATION_OPTIONS`). Imported by
:func:`benchmarks.methods.default_methods` (``EXTRA_METHOD_MODULES``). Findings:
``docs/beyond_the_paper.md``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.methods import MethodContext, MethodUnavailable, register_method
from benchmarks.reucid_methods import reucid_available
from denoiser import reucid

__all__ = [
    "ABLATION_OPTIONS",
    "DEFAULT",
    "DEFAULT_CNN",
    "DEFAULT_TRUE_NOISE",
    "GROUPS_ONLY",
    "NO_PILOT",
    "NO_PILOT_OPTIONS",
    "reucid_variant",
]

#: Row labels.
DEFAULT = "REUCID default (best: coarse pilot + groups, noise-edge)"
DEFAULT_CNN = "REUCID default, CNN per group"
DEFAULT_TRUE_NOISE = "REUCID default, true noise model"
NO_PILOT = "BEST without coarse pilot"
GROUPS_ONLY = "REUCID default without local means"

#: The previous BEST: the default's steps with groups chosen on the noisy data.
NO_PILOT_OPTIONS: dict[str, Any] = {"variant": "best", "pilot": None}

#: The ``ablation`` rows: label -> (classifier, ``denoise()`` options), each changing
#: the default method (``variant="best"``, noise-edge rule) in the steps it names.
ABLATION_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "GAT + groups, 1 pass, flat": (
        "noise-edge", {"variant": "best", "pilot": None, "aggregation": "flat", "passes": 1}),
    "GAT + groups, 2 passes, flat": (
        "noise-edge", {"variant": "best", "pilot": None, "aggregation": "flat", "passes": 2}),
    "coarse pilot + groups, 1 pass": ("noise-edge", {"variant": "best", "passes": 1}),
    "default, weighted aggregation": (
        "noise-edge", {"variant": "best", "aggregation": "weighted"}),
    "default, GD per group": ("gd", {"variant": "best"}),
    "default, MP per group": ("mp", {"variant": "best"}),
    "default without GAT": ("noise-edge", {"variant": "best", "stabilize": False}),
}


def reucid_variant(options: dict[str, Any], *, classifier: Any = None,
                   true_noise: bool = False, context_classifier: bool = False):
    """A benchmark method running ``denoise(noisy, classifier, **options)``.

    Parameters
    ----------
    options : dict
        ``denoise()`` keyword options (``{}``: its defaults, i.e. the best variant).
    classifier : object, optional
        Passed as ``classifier=`` (``None``: the variant's own default).
    true_noise : bool, optional
        Hand the simulation's noise model to ``denoise`` (an oracle row).
    context_classifier : bool, optional
        Use ``context.classifier`` (the active model file, or the shipped CNN when the
        context holds ``None``) instead of ``classifier``.

    Examples
    --------
    >>> reucid_variant({}).__name__
    'reucid_variant'
    """

    def reucid_variant(noisy: NDArray[np.float64], *, context: MethodContext
                       ) -> NDArray[np.float64]:
        extra: dict[str, Any] = dict(options)
        if true_noise:
            extra["noise_model"] = context.noise
        chosen = classifier
        if context_classifier:
            # None means the variant's noise-edge rule: name the CNN explicitly
            chosen = "cnn" if context.classifier is None else context.classifier
        try:
            result = reucid.denoise(np.asarray(noisy), classifier=chosen, seed=context.seed, **extra)
        except Exception as error:
            if type(error).__name__ == "ModelLoadError":
                raise MethodUnavailable(str(error)) from error
            raise
        return np.asarray(result.image, dtype=np.float64)

    return reucid_variant


register_method(
    DEFAULT,
    reucid_variant({}),
    family="REUCID",
    available=reucid_available,
    description="denoise() with its defaults: the best variant (GAT, coarse pilot from the "
    "paper's pipeline on the 2x2-binned image, groups of similar patches, two passes, "
    "flat aggregation, the data's own local means) with the noise-edge rule per group; "
    "noise model estimated from the image.",
)
register_method(
    GROUPS_ONLY,
    reucid_variant({"local_means": False}),
    family="REUCID variant",
    available=reucid_available,
    description="denoise(local_means=False): the default's groups alone, without taking "
    "the coarse scales (Gaussian, sigma = p / 3) from the data (the default before "
    "issue 14's third round).",
)
register_method(
    DEFAULT_CNN,
    reucid_variant({}, context_classifier=True),
    family="REUCID variant",
    available=reucid_available,
    description="As the default with the active/shipped CNN selecting each group's "
    "leading eigenpatches (classifier='cnn').",
)
register_method(
    DEFAULT_TRUE_NOISE,
    reucid_variant({}, true_noise=True),
    family="oracle",
    needs_ground_truth=True,
    available=reucid_available,
    description="As the default, given the simulation's noise model instead of "
    "estimating it.",
)
register_method(
    NO_PILOT,
    reucid_variant(NO_PILOT_OPTIONS),
    family="REUCID variant",
    available=reucid_available,
    description="denoise(pilot=None): the default's steps with the first pass grouped on "
    "the noisy data (the BEST variant before the coarse pilot).",
)
for _label, (_classifier, _options) in ABLATION_OPTIONS.items():
    register_method(
        _label,
        reucid_variant(_options, classifier=_classifier),
        family="ablation",
        available=reucid_available,
        description=f"denoise(classifier={_classifier!r}, "
        + ", ".join(f"{k}={v!r}" for k, v in _options.items()) + ")",
    )
