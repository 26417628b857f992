"""The Examples sections of the issue-9 modules run and hold."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["aggregation", "coarse_pilot", "group_pca", "grouping", "noise_model", "patch_set",
           "two_pass", "variants"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"denoiser.reucid.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
