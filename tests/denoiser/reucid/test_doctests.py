"""The Examples sections of the core's docstrings run and hold."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "classifiers", "decomposition", "eigen", "io", "memory", "patch_size", "pipeline",
    "projection", "reference", "stacks", "svd", "terrain", "threads", "validation",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"denoiser.reucid.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
