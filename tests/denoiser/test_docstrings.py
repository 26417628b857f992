"""The Examples sections of the denoise app's pure modules run and are right."""
import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    ["denoiser.rendering", "denoiser.profiles", "denoiser.uploads", "denoiser.classifier_choice",
     "denoiser.methods", "denoiser.views"],
)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
