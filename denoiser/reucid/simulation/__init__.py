"""Simulated HAADF-STEM images with exact ground truth (pure numpy; abTEM optional).

The one home of the project's simulators: survey demo images, training labels and
benchmarks all import from here.

* :mod:`.haadf`: the built-in incoherent-imaging simulator (``simulate_haadf``,
  ``expected_counts``, ``add_dose_noise``, the training and held-out materials);
* :mod:`.multislice`: abTEM multislice images (optional dependency ``abtem``);
* :mod:`.scenes`: the fidelity benchmark's scenes (defects, thickness steps, polar
  domains, an interface, a particle on carbon, scan distortion, row noise) with
  per-column ground truth (``make_scene``).
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
from .scenes import Scene, make_scene, scene_names

__all__ = [
    "HELD_OUT_MATERIALS",
    "TRAINING_MATERIALS",
    "Scene",
    "SimulatedImage",
    "add_dose_noise",
    "expected_counts",
    "make_scene",
    "scene_names",
    "simulate_haadf",
]
