"""The Examples sections of the core's docstrings run and hold."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "aggregation", "anscombe", "classifiers", "coarse_pilot", "decomposition", "eigen",
    "group_pca", "grouping", "io", "memory", "noise_model", "patch_set", "patch_size",
    "pipeline", "projection", "reference", "stacks", "svd", "terrain", "threads",
    "two_pass", "validation", "variants",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"denoiser.reucid.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
