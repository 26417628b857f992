"""Turning whatever the caller hands in into a clean 2D float image, or a clear error."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InvalidImageError, PatchSizeError

__all__ = ["MIN_IMAGE_SIDE", "OUTPUT_MAGNITUDE", "as_grey_float_image",
           "check_output_range", "check_patch_fits"]

#: The smallest side an image may have: a 3x3 patch is the smallest useful patch.
MIN_IMAGE_SIDE = 3
#: Largest magnitudes of an image whose denoised values float32 (the output's type)
#: holds with its full precision.
OUTPUT_MAGNITUDE = (1e-30, 1e38)


def check_output_range(data: NDArray[np.floating], *, name: str = "image") -> float:
    """Refuse an image whose values the float32 output cannot hold (it would come back
    as infinities, NaNs or zeros); return its largest magnitude.

    Raises
    ------
    InvalidImageError
        If the largest magnitude lies above 1e38, or above zero but below 1e-30.

    Examples
    --------
    >>> check_output_range(np.array([[0.0, -1e20]]))
    1e+20
    >>> check_output_range(np.array([[1e40]]))
    Traceback (most recent call last):
    ...
    denoiser.reucid.errors.InvalidImageError: image's values reach 1e+40: the output is float32, which holds magnitudes from 1e-30 to 1e+38; rescale the image (to counts, or to a normalised scale)
    """
    peak = float(np.max(np.abs(data))) if np.size(data) else 0.0
    if peak > OUTPUT_MAGNITUDE[1] or 0.0 < peak < OUTPUT_MAGNITUDE[0]:
        raise InvalidImageError(
            f"{name}'s values reach {peak:.3g}: the output is float32, which holds "
            f"magnitudes from {OUTPUT_MAGNITUDE[0]:.0e} to {OUTPUT_MAGNITUDE[1]:.0e}; "
            "rescale the image (to counts, or to a normalised scale)")
    return peak


def as_grey_float_image(image: ArrayLike, *, name: str = "image") -> NDArray[np.float64]:
    """Return a validated 2D float64 copy of ``image``; the input is never modified.

    Integer data are converted before any arithmetic, so uint16 counts cannot overflow.
    Colour images are accepted only when all colour channels are equal (a grey image
    saved as RGB or RGBA); a 3D stack of frames is refused with a message that says how
    to pick a frame.

    Parameters
    ----------
    image : array_like
        A 2D array, or an ``(m, n, 3|4)`` array whose colour channels are equal.
    name : str, optional
        What to call the input in error messages.

    Returns
    -------
    numpy.ndarray
        ``(m, n)`` float64 array, a new copy.

    Raises
    ------
    InvalidImageError
        For non-numeric data, NaN or infinite values, colour, stacks or a side < 3.

    Examples
    --------
    >>> float(as_grey_float_image(np.full((4, 5), 65535, dtype=np.uint16)).sum())
    1310700.0
    """
    try:
        array = np.asarray(image)
    except Exception as exc:
        raise InvalidImageError(f"{name} cannot be read as an array: {exc}") from exc
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    ):
        raise InvalidImageError(f"{name} must hold numbers, not {array.dtype}")
    if np.iscomplexobj(array):
        raise InvalidImageError(f"{name} holds complex numbers; pass its modulus or real part")
    if array.ndim == 3 and array.shape[-1] in (3, 4) and array.shape[0] > 4:
        array = _grey_from_colour(array, name=name)
    if array.ndim == 3:
        raise InvalidImageError(
            f"{name} is a stack of {array.shape[0]} frames of {array.shape[1]}x{array.shape[2]} "
            "pixels; pick one frame (frame=N, or --frame N on the command line) or denoise "
            "each frame with denoise_series"
        )
    if array.size == 0:
        raise InvalidImageError(f"{name} holds no image data (it is empty or truncated)")
    if array.ndim != 2:
        raise InvalidImageError(
            f"{name} must be a 2D image; it holds {array.ndim}-dimensional data of shape "
            f"{array.shape}"
        )
    m, n = array.shape
    if m < MIN_IMAGE_SIDE or n < MIN_IMAGE_SIDE:
        raise InvalidImageError(
            f"{name} is {m}x{n} pixels; it must be at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
        )
    result = array.astype(np.float64, copy=True)
    finite = np.isfinite(result)
    if not finite.all():
        n_bad = int(result.size - np.count_nonzero(finite))
        raise InvalidImageError(
            f"{name} has {n_bad} NaN or infinite pixel(s); replace them (e.g. with the local "
            "median) before denoising"
        )
    return result


def _grey_from_colour(array: np.ndarray, *, name: str) -> np.ndarray:
    colour = array[..., :3]
    if not (np.array_equal(colour[..., 0], colour[..., 1])
            and np.array_equal(colour[..., 0], colour[..., 2])):
        raise InvalidImageError(
            f"{name} is a colour (RGB) image; STEM images are single-channel. Convert it to "
            "the original greyscale data first"
        )
    return colour[..., 0]


def check_patch_fits(shape: tuple[int, int], patch_size: int) -> int:
    """Check that an odd-or-even integer patch size fits an image of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(m, n)``.
    patch_size : int
        Requested patch side ``p``.

    Returns
    -------
    int
        ``patch_size`` as a Python int.

    Raises
    ------
    PatchSizeError
        If ``p < 2`` or ``p`` exceeds the smaller image side.

    Examples
    --------
    >>> check_patch_fits((64, 80), 9)
    9
    """
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)):
        raise PatchSizeError(f"patch size must be an integer, got {patch_size!r}")
    p = int(patch_size)
    m, n = shape
    if p < 2:
        raise PatchSizeError(f"patch size must be at least 2 pixels, got {p}")
    if p > min(m, n):
        raise PatchSizeError(
            f"the image ({m}x{n} pixels) is smaller than one {p}x{p} patch; use a smaller "
            "patch size or a larger image"
        )
    return p
