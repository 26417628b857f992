"""Synthetic test images the REUCID core tests make themselves."""
from __future__ import annotations

import numpy as np


def gaussian_lattice(shape: tuple[int, int], spacing: float, sigma: float, *,
                     offset: tuple[float, float] = (0.0, 0.0), amplitude: float = 1.0,
                     background: float = 0.0) -> np.ndarray:
    """Square lattice of Gaussian columns (period ``spacing`` px, width ``sigma`` px)."""
    # A square lattice of round Gaussians is separable: an outer product of 1D combs.
    def comb(length: int, start: float) -> np.ndarray:
        axis = np.arange(length, dtype=np.float64)[:, None]
        centres = np.arange(start - spacing, length + spacing, spacing)[None, :]
        return np.exp(-((axis - centres) ** 2) / (2 * sigma**2)).sum(axis=1)

    return background + amplitude * np.outer(comb(shape[0], offset[0]), comb(shape[1], offset[1]))


def noisy_lattice(shape: tuple[int, int] = (64, 72), *, spacing: float = 8.0, sigma: float = 1.5,
                  dose: float = 50.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A Poisson-noisy Gaussian lattice and its clean version (expected counts)."""
    clean = dose * (0.2 + gaussian_lattice(shape, spacing, sigma, offset=(3.0, 2.0)))
    noisy = np.random.default_rng(seed).poisson(clean).astype(np.float64)
    return noisy, clean
