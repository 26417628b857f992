"""The default method: stabilised, similar-patch groups, weighted passes.

:mod:`.pipeline` holds the steps in order (:func:`denoise_grouped`,
:func:`iter_denoise_grouped`): stabilise (:mod:`denoiser.reucid.noise`), pilot
(:mod:`.pilot`), group (:mod:`denoiser.reucid.patches.similarity`), decompose each
group and weight its components (:mod:`.group_pca`), aggregate (:mod:`.aggregation`).
"""
from __future__ import annotations

from .group_pca import GroupDiagnostics
from .pipeline import (
    DEFAULT_N_GROUPS,
    GroupedProgress,
    GroupedResult,
    denoise_grouped,
    iter_denoise_grouped,
)

__all__ = [
    "DEFAULT_N_GROUPS",
    "GroupDiagnostics",
    "GroupedProgress",
    "GroupedResult",
    "denoise_grouped",
    "iter_denoise_grouped",
]
