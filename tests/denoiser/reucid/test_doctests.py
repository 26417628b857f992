"""The Examples sections of the core's docstrings run and hold, in every core module."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import denoiser.reucid as core

# Modules whose examples need an optional dependency that may be absent.
_OPTIONAL = {"denoiser.reucid.simulation.multislice": "abtem"}

MODULES = sorted(info.name for info in pkgutil.walk_packages(core.__path__, "denoiser.reucid.")
                 if not info.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name in _OPTIONAL:
        pytest.importorskip(_OPTIONAL[name])
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0

