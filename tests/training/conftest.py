"""Fixtures of the training tests: tiny model files and tiny labelled data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from denoiser.reucid.selection.cnn import EigenpatchCNN, save_classifier


@pytest.fixture
def model_file(tmp_path):
    """Factory: a valid (untrained) model file with a given seed."""

    def make(seed: int = 0, name: str = "model.pt"):
        torch.manual_seed(seed)
        return save_classifier(EigenpatchCNN(), tmp_path / f"{seed}-{name}",
                               metadata={"seed": seed, "code_version": "test"})

    return make


@pytest.fixture
def tiny_run_settings(settings):
    """Training runs small enough for a unit test (seconds, not minutes)."""
    settings.REUCID_TRAINING_RUN_DEFAULTS = {
        "n_scenes": 6, "epochs": 2, "evaluation_scenes": 1, "shape": [64, 64],
        "augment": False, "calibration_scenes": 1, "sizes": [64],
    }
    return settings


@pytest.fixture
def lattice_vs_noise():
    """Separable toy eigenpatches: smooth lattice-like (useful) vs white noise (not)."""
    rng = np.random.default_rng(0)
    n = 160
    useful = rng.random(n) < 0.5
    y, x = np.mgrid[:13, :13] / 13.0
    patches = []
    for flag in useful:
        if flag:
            fx, fy = rng.integers(1, 3, size=2)
            phase = rng.uniform(0, 2 * np.pi)
            patch = np.cos(2 * np.pi * (fx * x + fy * y) + phase) + 0.2 * rng.normal(size=x.shape)
        else:
            patch = rng.normal(size=x.shape)
        patches.append(patch / np.linalg.norm(patch))
    values = np.where(useful, rng.uniform(0.3, 1.0, n), rng.uniform(0.0, 0.25, n))
    groups = np.repeat(np.arange(n // 10), 10).astype(str)
    return np.asarray(patches, np.float32), values, useful, groups
