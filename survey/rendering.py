"""Render images to 8-bit PNG on one shared intensity scale (pure numpy + Pillow, no Django).

Candidates are only comparable when they share the intensity scale: every candidate of an
image is mapped with the noisy image's 0.5–99.5 percentile range.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def display_range(
    image: np.ndarray, *, low_percentile: float = 0.5, high_percentile: float = 99.5
) -> tuple[float, float]:
    """The intensity range that maps to black..white.

    Parameters
    ----------
    image : np.ndarray
        A finite 2-D image.
    low_percentile, high_percentile : float
        Percentiles of `image` mapped to 0 and 255.

    Returns
    -------
    tuple of float
        ``(low, high)`` with ``high > low`` even for a constant image.

    Examples
    --------
    >>> display_range(np.arange(1001, dtype=float).reshape(7, 143))
    (5.0, 995.0)
    """
    values = np.asarray(image, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"expected a non-empty 2-D image, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("the image contains NaN or infinite values")
    low, high = np.percentile(values, [low_percentile, high_percentile])
    if high <= low:
        high = low + 1.0
    return float(low), float(high)


def to_uint8(image: np.ndarray, *, low: float, high: float) -> np.ndarray:
    """Map ``[low, high]`` linearly to ``0..255``, clipping outside values.

    Examples
    --------
    >>> to_uint8(np.array([[0.0, 5.0, 10.0, 20.0]]), low=0.0, high=10.0).tolist()
    [[0, 128, 255, 255]]
    """
    if high <= low:
        raise ValueError("high must be greater than low")
    scaled = (np.asarray(image, dtype=np.float64) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def encode_png(image: np.ndarray, *, low: float, high: float) -> bytes:
    """Encode a 2-D float image as an 8-bit greyscale PNG on the scale ``[low, high]``.

    Examples
    --------
    >>> encode_png(np.zeros((4, 4)), low=0.0, high=1.0)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image, low=low, high=high)).save(buffer, format="PNG")
    return buffer.getvalue()
