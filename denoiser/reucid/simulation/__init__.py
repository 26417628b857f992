"""Simulated HAADF-STEM images with exact ground truth (pure numpy; abTEM optional).

The one home of the project's simulators: survey demo images, training labels and
benchmarks all import from here.

* :mod:`.haadf`: the built-in incoherent-imaging simulator (``simulate_haadf``,
  ``expected_counts``, ``add_dose_noise``, the training and held-out materials);
* :mod:`.multislice`: abTEM multislice images (optional dependency ``abtem``).
"""
from __future__ import annotations

from .haadf import (
    HELD_OUT_MATERIALS,
    TRAINING_MATERIALS,
    SimulatedImage,
    add_dose_noise,
    expected_counts,
    simulate_haadf,
)

__all__ = [
    "HELD_OUT_MATERIALS",
    "TRAINING_MATERIALS",
    "SimulatedImage",
    "add_dose_noise",
    "expected_counts",
    "simulate_haadf",
]
