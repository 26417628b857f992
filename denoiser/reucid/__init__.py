"""REUCID: eigenpatch-classification denoising for atomic-resolution STEM images.

The numerical core (no Django)::

    from denoiser.reucid import denoise, iter_denoise, decompose, read_image, write_tiff
    result = denoise(image)                                  # the best variant (BEST)
    result = denoise(image, classifier="mp", variant="paper")  # the paper's Algorithm 1

``denoise()`` runs :data:`BEST` unless told ``variant="paper"`` (:data:`PAPER`, the fast
live path); single options (``stabilize``, ``grouping``, ``passes``, ``aggregation``,
``pilot``) change one step of the chosen variant (:func:`resolve_variant`).
"""
from __future__ import annotations

from .classifiers import (
    ClassifierOutputError,
    EigenpatchClassifier,
    FixedRank,
    GavishDonoho,
    MarchenkoPastur,
    SelectionContext,
    resolve_classifier,
)
from .decomposition import Decomposition, decompose
from .errors import InvalidImageError, ModelLoadError, PatchSizeError, ReucidError
from .io import ImageData, read_image, write_tiff
from .patch_size import estimate_patch_size
from .pipeline import (
    DenoiseResult,
    InterimResult,
    StackDiagnostics,
    denoise,
    denoise_series,
    iter_denoise,
)
from .variants import BEST, PAPER, VariantOptions, resolve_variant

__all__ = [
    "BEST",
    "ClassifierOutputError",
    "Decomposition",
    "DenoiseResult",
    "EigenpatchClassifier",
    "FixedRank",
    "GavishDonoho",
    "ImageData",
    "InterimResult",
    "InvalidImageError",
    "MarchenkoPastur",
    "ModelLoadError",
    "PAPER",
    "PatchSizeError",
    "ReucidError",
    "SelectionContext",
    "StackDiagnostics",
    "VariantOptions",
    "decompose",
    "denoise",
    "denoise_series",
    "estimate_patch_size",
    "iter_denoise",
    "read_image",
    "resolve_classifier",
    "resolve_variant",
    "write_tiff",
]
