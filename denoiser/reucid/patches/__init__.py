"""Patches shared by both methods: every valid patch of an image, and similar-patch groups.

* :class:`PatchSet` (:mod:`.patch_set`): the ``p x p`` patches at every position,
  without building the patch matrix;
* :mod:`.similarity`: seeded k-means on global eigenpatch coordinates, the grouping
  that the default method and the noise-model estimate use.
"""
from __future__ import annotations

from .patch_set import PatchSet
from .similarity import (
    GroupingModel,
    fit_grouping,
    group_positions,
    group_similar_patches,
    kmeans_labels,
)

__all__ = ["GroupingModel", "PatchSet", "fit_grouping", "group_positions",
           "group_similar_patches", "kmeans_labels"]
