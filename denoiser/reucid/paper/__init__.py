"""The paper's Algorithm 1: random patch stacks, one pass, flat overlap average.

The fast live-view path. :mod:`.pipeline` holds the steps in the paper's order
(:func:`denoise_paper`, :func:`iter_denoise_paper`); each step has its own module:
:mod:`.patch_size` (step 1), :mod:`.memory` (2), :mod:`.stacks` (3), :mod:`.eigen`
and :mod:`.svd` (4), :mod:`.projection` (6, FFT place-back), :mod:`.terrain` (7);
:mod:`.reference` is the explicit patch-matrix path that proves the fast one, and
:mod:`.decomposition` the one-decomposition-many-truncations view the survey uses.
"""
from __future__ import annotations

from .decomposition import Decomposition, decompose
from .patch_size import PatchSizeEstimate, estimate_patch_size
from .pipeline import (
    DEFAULT_N_COMPONENTS,
    InterimResult,
    PaperResult,
    StackDiagnostics,
    denoise_paper,
    iter_denoise_paper,
)

__all__ = [
    "DEFAULT_N_COMPONENTS",
    "Decomposition",
    "InterimResult",
    "PaperResult",
    "PatchSizeEstimate",
    "StackDiagnostics",
    "decompose",
    "denoise_paper",
    "estimate_patch_size",
    "iter_denoise_paper",
]
