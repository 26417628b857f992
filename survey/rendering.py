"""Render images to 8-bit PNG on one shared intensity scale (pure numpy + Pillow, no Django).

Candidates are only comparable when they share the intensity scale: every candidate of an
image is mapped with the noisy image's 0.5–99.5 percentile range. Survey candidates are
written by :func:`encode_blinded_png`: every candidate of an image has the same byte length
and the same chunks, so nothing but the picture itself tells them apart.
"""
from __future__ import annotations

import io
import struct
import zlib

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


def dither_to_uint8(image: np.ndarray, *, low: float, high: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Map ``[low, high]`` to ``0..255`` with random (unbiased) rounding.

    Each pixel rounds up with probability equal to its fractional part, so two renderings of
    one image differ by at most one grey level per pixel (invisible) but share no bytes:
    the attention candidate and the reference look the same and cannot be matched by
    comparing files.

    Examples
    --------
    >>> out = dither_to_uint8(np.full((100, 100), 0.5), low=0.0, high=255.0,
    ...                       rng=np.random.default_rng(0))
    >>> sorted(np.unique(out).tolist()), bool(abs(out.mean() - 0.5) < 0.05)
    ([0, 1], True)
    """
    if high <= low:
        raise ValueError("high must be greater than low")
    scaled = (np.asarray(image, dtype=np.float64) - low) * (255.0 / (high - low))
    scaled = np.clip(scaled, 0.0, 255.0)
    rounded = np.floor(scaled + rng.random(scaled.shape))
    return np.clip(rounded, 0, 255).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def fixed_length_png(pixels: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG whose length depends only on the image's shape.

    The pixel data are stored, not compressed (deflate level 0, filter "none"), and the file
    has exactly the chunks IHDR, one IDAT and IEND, no text or time. A compressed PNG's size
    follows how smooth the picture is, i.e. how many eigenpatches it keeps: the issue-16
    probe sorted candidates by size and read k off them. Costs ``height × width`` bytes.

    Examples
    --------
    >>> a = fixed_length_png(np.zeros((5, 7), np.uint8))
    >>> b = fixed_length_png(np.random.default_rng(0).integers(0, 256, (5, 7), np.uint8))
    >>> len(a) == len(b) == fixed_png_length(5, 7), a[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    (True, True)
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim != 2 or pixels.size == 0:
        raise ValueError(f"expected a non-empty 2-D uint8 image, got shape {pixels.shape}")
    height, width = pixels.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # filter byte 0 ("none") per row
    rows[:, 1:] = pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 0))
            + _png_chunk(b"IEND", b""))


def fixed_png_length(height: int, width: int) -> int:
    """The byte length of :func:`fixed_length_png` for this shape (stored deflate blocks of
    at most 65535 bytes, 5 bytes of header each, plus zlib's 2-byte header and checksum)."""
    raw = height * (width + 1)
    blocks = max(1, -(-raw // 65535))
    return 8 + (12 + 13) + (12 + 2 + raw + 5 * blocks + 4) + 12


def encode_blinded_png(image: np.ndarray, *, low: float, high: float,
                       rng: np.random.Generator) -> bytes:
    """A survey candidate or reference: dithered to 8 bits, fixed-length PNG (see above)."""
    return fixed_length_png(dither_to_uint8(image, low=low, high=high, rng=rng))
