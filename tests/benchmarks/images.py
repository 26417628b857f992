"""Test images made by the project itself: lattices of Gaussian atomic columns."""
from __future__ import annotations

import numpy as np


def lattice(shape: tuple[int, int] = (64, 64), *, spacing: float = 8.0, width: float = 1.6,
            peak: float = 60.0, background: float = 5.0) -> np.ndarray:
    """Expected counts of a square lattice of Gaussian atomic columns."""
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype(float)
    dr = (rows % spacing) - spacing / 2
    dc = (cols % spacing) - spacing / 2
    return background + peak * np.exp(-(dr**2 + dc**2) / (2 * width**2))
