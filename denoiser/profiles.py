"""Line profiles across the input and the reconstruction (the paper's Fig. 7)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

MAX_SAMPLES = 2048


@dataclass(frozen=True)
class LineProfile:
    distance: np.ndarray
    values: dict[str, np.ndarray]
    unit: str


def line_profile(
    images: dict[str, np.ndarray],
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    pixel_size: tuple[float, float] | None = None,
) -> LineProfile:
    """Sample each image along a straight line (bilinear), in pixel coordinates (x, y).

    ``start`` and ``end`` are (x, y) = (column, row) of pixel centres; samples are about
    one pixel apart. Distances are in Å when ``pixel_size`` (row, col) is known, else px.

    Examples
    --------
    >>> ramp = np.tile(np.arange(10.0), (4, 1))
    >>> profile = line_profile({"input": ramp}, (0, 1), (9, 1))
    >>> profile.values["input"].tolist() == list(np.arange(10.0)), profile.unit
    (True, 'px')
    """
    x0, y0 = (float(v) for v in start)
    x1, y1 = (float(v) for v in end)
    length_px = float(np.hypot(x1 - x0, y1 - y0))
    count = int(min(MAX_SAMPLES, max(2, np.ceil(length_px) + 1)))
    xs = np.linspace(x0, x1, count)
    ys = np.linspace(y0, y1, count)
    values = {
        name: ndimage.map_coordinates(
            np.asarray(image, dtype=np.float32), [ys, xs], order=1, mode="nearest"
        )
        for name, image in images.items()
    }
    if pixel_size is not None:
        step = np.hypot((ys - y0) * pixel_size[0], (xs - x0) * pixel_size[1])
        return LineProfile(distance=step, values=values, unit="Å")
    return LineProfile(distance=np.hypot(ys - y0, xs - x0), values=values, unit="px")
