"""Validation of an uploaded image, synchronously, before any job exists.

The upload is copied into a scratch file under ``MEDIA_ROOT/tmp``, its header is checked
for absurd sizes (decompression bombs) where the format allows it without decoding, it is
read with the core's ``read_image``, and the array is checked (2-D, finite, size). Whatever
happens, the scratch file is deleted before returning. A rejection is an
:class:`UploadRejected` carrying a message for a microscopist and an HTTP status.
"""
from __future__ import annotations

import logging
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
from django.conf import settings

from denoiser.reucid import read_image
from denoiser.reucid.errors import InvalidImageError
from denoiser.reucid.io import ImageTooLargeError, check_declared_size, detect_format, inspect_image
from denoiser.reucid.lattice_check import check_lattice

from . import job_files

logger = logging.getLogger(__name__)

#: File names users know the formats by (the picker's filter and the page's list). Only a
#: hint: the server reads the content, so a HyperSpy file named ``.hdf5``, ``.h5`` or even
#: ``.dat`` is read as what it is.
ACCEPTED_FORMATS: dict[str, str] = {
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".png": "PNG",
    ".npy": "NumPy array",
    ".mat": "MATLAB / StatSTEM .mat",
    ".dm3": "Gatan DigitalMicrograph",
    ".dm4": "Gatan DigitalMicrograph",
    ".emd": "EMD (Velox or Berkeley)",
    ".ser": "FEI/TIA SER",
    ".mrc": "MRC",
    ".hspy": "HyperSpy",
    ".hdf5": "HyperSpy",
    ".h5": "HDF5",
}

#: The smallest image side we accept: below this there are too few patches for a PCA.
MIN_IMAGE_SIDE = 16


class UploadRejected(Exception):
    """An upload that cannot be denoised; ``str(error)`` says why, in plain words."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ValidatedImage:
    """An upload that passed every check, ready to be stored for the worker."""

    array: np.ndarray
    original_filename: str
    source_format: str
    pixel_size: tuple[float, float] | None = None
    metadata: dict = field(default_factory=dict)
    #: :meth:`denoiser.reucid.lattice_check.LatticeCheck.to_dict`: whether the image shows
    #: a PSF and a lattice (the job still runs without; its pages warn).
    lattice: dict | None = None


def max_upload_bytes() -> int:
    return int(getattr(settings, "REUCID_MAX_UPLOAD_BYTES", 200 * 1024 * 1024))


def max_image_side() -> int:
    return int(getattr(settings, "REUCID_MAX_IMAGE_SIDE", 8192))


def safe_filename(name: str | None) -> str:
    """The last path component of a client-supplied name, printable, at most 200 chars.

    Examples
    --------
    >>> safe_filename("../../etc/passwd")
    'passwd'
    >>> safe_filename("C:\\\\Users\\\\me\\\\STO 001.dm4")
    'STO 001.dm4'
    >>> safe_filename("")
    'upload'
    """
    name = str(name or "")
    name = PureWindowsPath(PurePosixPath(name).name).name
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name or "upload"


def _extension(filename: str) -> str:
    return Path(filename).suffix.lower()


def _human_bytes(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} bytes"


def _check_declared_shape(path: Path, max_side: int, frame: int | None) -> str:
    """Refuse, from the header alone, images too large to decode safely; return the format.

    The core states the frame's rows, columns, colour bands and bytes per value without
    decoding a pixel (:func:`denoiser.reucid.io.inspect_image`); a frame larger than the
    side limit, or than ``max_side**2`` pixels or values, is refused with 413 before any
    pixel is decompressed (PNG/TIFF/HDF5/MAT bombs cost a header read, not memory).
    """
    try:
        header = inspect_image(path, frame=frame)
    except ImageTooLargeError as error:
        raise UploadRejected(str(error), status=413) from error
    except InvalidImageError:
        return ""  # unreadable headers and stacks without a frame: the full read says why
    rows, cols = header.shape
    if min(rows, cols) < MIN_IMAGE_SIDE:
        # Said here, from the header: the core's own minimum (3x3) would speak first.
        raise too_small(rows, cols)
    if max(rows, cols) > max_side:
        frames = f" ({header.n_frames} frames)" if header.n_frames > 1 else ""
        raise UploadRejected(
            f"This image is {rows} x {cols} pixels{frames}; the largest accepted is "
            f"{max_side} x {max_side}. Crop or bin it first.",
            status=413,
        )
    try:
        check_declared_size(header, max_pixels=max_side * max_side, name="This image")
    except ImageTooLargeError as error:
        raise UploadRejected(str(error).replace("This image: ", "This image is ", 1)
                             + ".", status=413) from error
    return header.source_format


def _read(path: Path, max_side: int, frame: int | None):
    return read_image(path, frame=frame, max_pixels=max_side * max_side)


def _web_advice(message: str) -> str:
    """The core advises Python/CLI users; on the web the choice is the Frame option."""
    if "pick one with frame=N" in message:
        head = message.split("; pick one with frame=N")[0]
        return (
            f"{head}. Choose one with the Frame option (numbered from 0), or upload each "
            "frame separately."
        )
    return message


def too_small(height: int, width: int, min_side: int = MIN_IMAGE_SIDE) -> UploadRejected:
    """The one refusal of an image below the site's minimum, whether the header or the
    pixels showed it (a 1x1 and a 3x3 image are told the same limit)."""
    return UploadRejected(
        f"The image is only {height} x {width} pixels; REUCID needs at least "
        f"{min_side} x {min_side} pixels to learn eigenpatches."
    )


def check_array(array: np.ndarray, *, max_side: int, min_side: int = MIN_IMAGE_SIDE) -> np.ndarray:
    """Return the image as float32 2-D, or raise :class:`UploadRejected` saying why not."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] in (3, 4) or array.ndim == 3 and array.shape[0] in (3, 4):
        raise UploadRejected(
            "This is a colour (RGB) image. REUCID works on one greyscale STEM channel; "
            "save the detector signal as a greyscale image."
        )
    if array.ndim != 2:
        raise UploadRejected(
            f"This file holds a {array.ndim}-D array of shape {array.shape}; REUCID denoises "
            "one 2-D image at a time. For a stack or series, export the frame you want "
            "(or denoise each frame separately)."
        )
    if not (np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array)):
        raise UploadRejected(f"The pixel values are of type {array.dtype}, not real numbers.")
    height, width = array.shape
    if min(height, width) < min_side:
        raise too_small(height, width, min_side)
    if max(height, width) > max_side:
        raise UploadRejected(
            f"The image is {height} x {width} pixels; the largest accepted is "
            f"{max_side} x {max_side}. Crop or bin it first.",
            status=413,
        )
    image = array.astype(np.float32, copy=True)
    bad = ~np.isfinite(image)
    if bad.any():
        raise UploadRejected(
            f"{int(bad.sum())} pixel(s) are NaN or infinite (for example dead or saturated "
            "pixels flagged by the acquisition software). Replace them before denoising."
        )
    if float(image.max()) == float(image.min()):
        raise UploadRejected("Every pixel has the same value; there is nothing to denoise.")
    return image


def validate_upload(
    uploaded, *, filename: str | None = None, frame: int | None = None
) -> ValidatedImage:
    """Check an uploaded file (a Django ``UploadedFile``) and read it.

    ``frame`` picks one frame (0-based) of a stack or series; without it, a stack is
    refused with a message saying so.

    Raises
    ------
    UploadRejected
        With a message a microscopist understands, and the HTTP status to answer with.
    """
    if uploaded is None:
        raise UploadRejected("No file was uploaded. Choose a STEM image to denoise.")
    original = safe_filename(filename or getattr(uploaded, "name", None))
    # the name is only used for messages and the scratch file's suffix; the content decides
    extension = _extension(original) if _extension(original) in ACCEPTED_FORMATS else ".bin"
    size = int(getattr(uploaded, "size", 0) or 0)
    limit = max_upload_bytes()
    if size > limit:
        raise UploadRejected(
            f"The file is {_human_bytes(size)}; the largest upload accepted is "
            f"{_human_bytes(limit)}.",
            status=413,
        )
    if size == 0:
        raise UploadRejected(f"'{original}' is empty (0 bytes).")

    max_side = max_image_side()
    scratch = job_files.tmp_dir() / f"{uuid.uuid4().hex}{extension}"
    try:
        with open(scratch, "wb") as handle:
            handle.writelines(uploaded.chunks())

        if detect_format(scratch) is None:
            accepted = ", ".join(dict.fromkeys(ACCEPTED_FORMATS.values()))
            raise UploadRejected(
                f"'{original}' is not a supported image file (its content is none of: "
                f"{accepted})."
            )
        _check_declared_shape(scratch, max_side, frame)
        try:
            image_data = _read(scratch, max_side, frame)
        except UploadRejected:
            raise
        except ImageTooLargeError as error:  # e.g. a MATLAB bomb, found while inflating
            raise UploadRejected(str(error), status=413) from error
        except MemoryError as error:
            raise UploadRejected(
                "This image is too large to read on this server.", status=413
            ) from error
        except ValueError as error:
            # The core's InvalidImageError is a ValueError whose text is meant for users.
            message = str(error).replace(str(scratch), original).replace(scratch.name, original)
            if original not in message:
                message = f"{original}: {message or 'unreadable file'}"
            raise UploadRejected(_web_advice(message)) from error
        except Exception as error:
            logger.info("Unreadable upload %r: %r", original, error)
            raise UploadRejected(
                f"'{original}' could not be read as an image. "
                "The file may be truncated, or not an image."
            ) from error
        array = check_array(image_data.array, max_side=max_side)
        pixel_size = getattr(image_data, "pixel_size", None)
        if pixel_size is not None:
            pixel_size = (float(pixel_size[0]), float(pixel_size[1]))
            if not all(np.isfinite(pixel_size)) or min(pixel_size) <= 0:
                pixel_size = None

        return ValidatedImage(
            lattice=check_lattice(array).to_dict(),
            array=array,
            original_filename=original,
            source_format=str(getattr(image_data, "source_format", "") or extension[1:]),
            pixel_size=pixel_size,
            metadata=dict(getattr(image_data, "metadata", None) or {}),
        )
    finally:
        scratch.unlink(missing_ok=True)


