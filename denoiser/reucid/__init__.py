"""REUCID: eigenpatch-classification denoising for atomic-resolution STEM images.

The numerical core (no Django; importable in a notebook)::

    from denoiser.reucid import denoise, iter_denoise, decompose, read_image, write_tiff
    result = denoise(image)                                   # the default method
    result = denoise(image, "mp", variant="paper")            # the paper's Algorithm 1

Map of the package:

* :mod:`.api`: ``denoise``/``iter_denoise``/``denoise_series`` dispatch to
* :mod:`.grouped`: the default method (stabilise, pilot, group, per-group
  decomposition, weights, aggregate), and
* :mod:`.paper`: the paper's Algorithm 1 (patch size, stacks, randomized SVD,
  classification, place-back, terrain);
* :mod:`.selection`: the rules that choose eigenpatches (CNN, MP, GD, noise edge, k=N);
* :mod:`.noise`: the noise model, its estimate and the Anscombe transform;
* :mod:`.patches`: patch sets and similar-patch grouping shared by both;
* :mod:`.io`, :mod:`.metrics`, :mod:`.simulation`, :mod:`.cli`.
"""
from __future__ import annotations

from .api import VARIANTS, denoise, denoise_series, iter_denoise, method_options
from .errors import InvalidImageError, ModelLoadError, PatchSizeError, ReucidError
from .grouped import GroupedProgress, GroupedResult, denoise_grouped, iter_denoise_grouped
from .io import ImageData, read_image, write_tiff
from .noise import PoissonGaussianNoise, estimate_noise_model
from .paper import (
    Decomposition,
    InterimResult,
    PaperResult,
    StackDiagnostics,
    decompose,
    denoise_paper,
    estimate_patch_size,
    iter_denoise_paper,
)
from .results import DenoiseResult, Progress
from .selection import (
    ClassifierOutputError,
    EigenpatchClassifier,
    FixedRank,
    GavishDonoho,
    MarchenkoPastur,
    NoiseEdge,
    SelectionContext,
    resolve_classifier,
)

__all__ = [
    "VARIANTS",
    "ClassifierOutputError",
    "Decomposition",
    "DenoiseResult",
    "EigenpatchClassifier",
    "FixedRank",
    "GavishDonoho",
    "GroupedProgress",
    "GroupedResult",
    "ImageData",
    "InterimResult",
    "InvalidImageError",
    "MarchenkoPastur",
    "ModelLoadError",
    "NoiseEdge",
    "PaperResult",
    "PatchSizeError",
    "PoissonGaussianNoise",
    "Progress",
    "ReucidError",
    "SelectionContext",
    "StackDiagnostics",
    "decompose",
    "denoise",
    "denoise_grouped",
    "denoise_paper",
    "denoise_series",
    "estimate_noise_model",
    "estimate_patch_size",
    "iter_denoise",
    "iter_denoise_grouped",
    "iter_denoise_paper",
    "method_options",
    "read_image",
    "resolve_classifier",
    "write_tiff",
]
