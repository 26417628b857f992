"""REUCID: eigenpatch-classification denoising for atomic-resolution STEM images.

The numerical core (no Django)::

    from denoiser.reucid import denoise, iter_denoise, decompose, read_image, write_tiff
    result = denoise(image, classifier="mp")
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

__all__ = [
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
    "PatchSizeError",
    "ReucidError",
    "SelectionContext",
    "StackDiagnostics",
    "decompose",
    "denoise",
    "denoise_series",
    "estimate_patch_size",
    "iter_denoise",
    "read_image",
    "resolve_classifier",
    "write_tiff",
]
