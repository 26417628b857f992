"""Reading microscope images and writing denoised float32 TIFFs.

Formats: TIFF (8/16/32-bit integer and float; pixel size from REUCID/ImageJ metadata),
PNG (greyscale, or RGB with equal channels), NumPy ``.npy``, and through rosettasciio
Gatan ``.dm3``/``.dm4``, Velox/Berkeley ``.emd``, TIA ``.ser``, HyperSpy
``.hspy``/``.hdf5``; ``.mrc`` through mrcfile. Pixel sizes are returned in Å.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InvalidImageError
from .validation import as_grey_float_image

__all__ = ["DEFAULT_MAX_PIXELS", "SUPPORTED_EXTENSIONS", "ImageData", "read_image", "write_tiff"]

#: Largest image read by default (8192 x 8192).
DEFAULT_MAX_PIXELS = 8192 * 8192

_RSCIIO_READERS = {
    ".dm3": "digitalmicrograph",
    ".dm4": "digitalmicrograph",
    ".emd": "emd",
    ".ser": "tia",
    ".hspy": "hspy",
    ".hdf5": "hspy",
}
SUPPORTED_EXTENSIONS = (".tif", ".tiff", ".png", ".npy", ".mrc", *_RSCIIO_READERS)

# Length units microscope files use, in Å (EMD v0.2 spells nm as "n_m").
_UNIT_IN_ANGSTROM = {
    "a": 1.0, "å": 1.0, "angstrom": 1.0, "ångström": 1.0, "\\u00c5": 1.0,
    "pm": 0.01, "nm": 10.0, "um": 1e4, "µm": 1e4, "μm": 1e4, "micron": 1e4,
    "mm": 1e7, "m": 1e10,
}


@dataclass
class ImageData:
    """An image read from disk.

    Attributes
    ----------
    array : numpy.ndarray
        ``(m, n)`` float32 pixel values.
    pixel_size : tuple of float or None
        ``(row, column)`` pixel size in Å, when the file says.
    metadata : dict
        What the file carried that may matter (JSON-able where possible).
    source_format : str
        The reader used (``"tiff"``, ``"png"``, ``"npy"``, ``"mrc"``, ``"tia"``...).
    """

    array: NDArray[np.float32]
    pixel_size: tuple[float, float] | None
    metadata: dict[str, Any] = field(default_factory=dict)
    source_format: str = ""


def read_image(path: str | Path, *, frame: int | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Read one 2D image (float32) and its pixel size (Å) from a file.

    Parameters
    ----------
    path : str or pathlib.Path
        File to read; the extension picks the reader.
    frame : int, optional
        For a stack of frames, which one to read (0-based).
    max_pixels : int, optional
        Refuse images with more pixels than this.

    Returns
    -------
    ImageData

    Raises
    ------
    InvalidImageError
        Missing, unreadable, truncated or non-image files; unknown extensions; 3D data
        without ``frame``; images too large.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> write_tiff(os.path.join(folder, "a.tif"), np.ones((4, 5)), pixel_size=(0.5, 0.5))
    >>> data = read_image(os.path.join(folder, "a.tif"))
    >>> data.array.shape, data.pixel_size
    ((4, 5), (0.5, 0.5))
    """
    source = Path(path)
    extension = source.suffix.lower()
    if extension not in SUPPORTED_EXTENSIONS:
        raise InvalidImageError(
            f"{source.name}: unsupported file type {extension or '(none)'}; supported: "
            + ", ".join(SUPPORTED_EXTENSIONS)
        )
    if not source.is_file():
        raise InvalidImageError(f"{source}: no such file")
    _refuse_if_declared_too_large(source, extension, max_pixels)
    try:
        if extension in (".tif", ".tiff"):
            array, pixel_size, metadata, fmt = _read_tiff(source)
        elif extension == ".png":
            array, pixel_size, metadata, fmt = _read_png(source)
        elif extension == ".npy":
            array, pixel_size, metadata, fmt = np.load(source, allow_pickle=False), None, {}, "npy"
        elif extension == ".mrc":
            array, pixel_size, metadata, fmt = _read_mrc(source)
        else:
            array, pixel_size, metadata, fmt = _read_rsciio(source, _RSCIIO_READERS[extension])
    except InvalidImageError:
        raise
    except MemoryError as exc:
        raise InvalidImageError(f"{source.name}: too large to read into memory") from exc
    except Exception as exc:
        raise InvalidImageError(
            f"{source.name}: could not be read as {extension[1:].upper()} ({type(exc).__name__}: "
            f"{exc}); the file may be truncated or not an image"
        ) from exc
    array = np.asarray(array)
    array = _pick_frame(array, frame, source.name)
    if array.size > max_pixels:
        raise InvalidImageError(
            f"{source.name}: {array.shape[0]}x{array.shape[1]} pixels is more than the "
            f"{max_pixels} allowed; crop or bin it first"
        )
    grey = as_grey_float_image(array, name=source.name).astype(np.float32)
    metadata = {**metadata, "original_dtype": str(array.dtype)}
    return ImageData(array=grey, pixel_size=pixel_size, metadata=metadata, source_format=fmt)


def _refuse_if_declared_too_large(source: Path, extension: str, max_pixels: int) -> None:
    """Check the declared size of TIFF and NPY files before loading their pixels."""
    shape: tuple[int, ...] | None = None
    try:
        if extension in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(source) as tif:
                shape = tuple(tif.series[0].shape) if tif.series else None
        elif extension == ".npy":
            shape = tuple(np.load(source, mmap_mode="r", allow_pickle=False).shape)
    except Exception:  # noqa: BLE001 - unreadable headers are reported by the full read
        return
    if shape and len(shape) >= 2 and shape[-1] * shape[-2] > max_pixels:
        raise InvalidImageError(
            f"{source.name}: {shape[-2]}x{shape[-1]} pixels is more than the {max_pixels} "
            "allowed; crop or bin it first"
        )


def _pick_frame(array: np.ndarray, frame: int | None, name: str) -> np.ndarray:
    colour = array.ndim == 3 and array.shape[-1] in (3, 4) and array.shape[0] > 4
    if array.ndim == 3 and not colour:
        if frame is None:
            if array.shape[0] == 1:
                return array[0]
            raise InvalidImageError(
                f"{name} is a stack of {array.shape[0]} frames of {array.shape[1]}x"
                f"{array.shape[2]} pixels; pick one with frame=N (--frame N) or denoise each "
                "frame with denoise_series"
            )
        if not -array.shape[0] <= frame < array.shape[0]:
            raise InvalidImageError(f"{name} has {array.shape[0]} frames; frame {frame} is out of range")
        return array[frame]
    if frame not in (None, 0):
        raise InvalidImageError(f"{name} holds a single image; frame {frame} does not exist")
    if array.ndim > 3:
        raise InvalidImageError(f"{name} holds {array.ndim}-dimensional data {array.shape}, not an image")
    return array


def _to_angstrom(scale: Any, unit: Any) -> float | None:
    if scale is None or unit is None:
        return None
    key = str(unit).strip().lower().replace("_", "")
    factor = _UNIT_IN_ANGSTROM.get(key)
    try:
        value = float(scale) * factor if factor is not None else None
    except (TypeError, ValueError):
        return None
    if value is None or not np.isfinite(value) or value <= 0:
        return None
    return value


def _read_tiff(source: Path) -> tuple[np.ndarray, tuple[float, float] | None, dict, str]:
    import tifffile

    with tifffile.TiffFile(source) as tif:
        array = tif.asarray()
        metadata: dict[str, Any] = {}
        pixel_size = None
        shaped = tif.shaped_metadata
        if shaped and isinstance(shaped[0], dict) and "pixel_size_A" in shaped[0]:
            value = shaped[0]["pixel_size_A"]
            if value is not None:
                pixel_size = (float(value[0]), float(value[1]))
            metadata["reucid"] = shaped[0].get("reucid")
        imagej = tif.imagej_metadata
        if pixel_size is None and imagej:
            unit = imagej.get("unit")
            page = tif.pages[0]
            x_res, y_res = page.tags.get("XResolution"), page.tags.get("YResolution")
            if unit and x_res is not None and y_res is not None:
                col = _to_angstrom(_inverse_rational(x_res.value), unit)
                row = _to_angstrom(_inverse_rational(y_res.value), unit)
                if col and row:
                    pixel_size = (row, col)
            metadata["imagej"] = {k: v for k, v in imagej.items() if isinstance(v, (str, int, float))}
    return array, pixel_size, metadata, "tiff"


def _inverse_rational(value: Any) -> float | None:
    numerator, denominator = value if isinstance(value, tuple) else (value, 1)
    return float(denominator) / float(numerator) if numerator else None


def _read_png(source: Path) -> tuple[np.ndarray, None, dict, str]:
    from PIL import Image

    with Image.open(source) as png:
        png.load()
        mode = png.mode
        array = np.asarray(png)
    if mode == "P":
        raise InvalidImageError(f"{source.name} is a palette PNG; save it as greyscale")
    if mode in ("LA", "La"):  # grey plus an alpha channel: the grey values are the data
        array = array[..., 0]
    return array, None, {"png_mode": mode}, "png"


def _read_mrc(source: Path) -> tuple[np.ndarray, tuple[float, float] | None, dict, str]:
    import mrcfile

    with mrcfile.open(source, permissive=False) as mrc:
        array = np.array(mrc.data)
        voxel = mrc.voxel_size
        pixel_size = None
        if float(voxel.x) > 0 and float(voxel.y) > 0:
            pixel_size = (float(voxel.y), float(voxel.x))  # MRC stores Å
    return array, pixel_size, {}, "mrc"


def _read_rsciio(source: Path, plugin: str) -> tuple[np.ndarray, tuple[float, float] | None,
                                                      dict, str]:
    import importlib

    reader = importlib.import_module(f"rsciio.{plugin}").file_reader
    signals = reader(str(source), lazy=False)
    images = [s for s in signals if np.ndim(s.get("data")) >= 2]
    if not images:
        raise InvalidImageError(f"{source.name} contains no image data")
    signal = images[0]
    array = np.asarray(signal["data"])
    axes = signal.get("axes") or []
    pixel_size = None
    if len(axes) >= 2:
        row = _to_angstrom(axes[-2].get("scale"), axes[-2].get("units"))
        col = _to_angstrom(axes[-1].get("scale"), axes[-1].get("units"))
        if row and col:
            pixel_size = (row, col)
    title = ((signal.get("metadata") or {}).get("General") or {}).get("title")
    metadata = {"title": str(title)} if title else {}
    if len(signals) > 1:
        metadata["n_signals_in_file"] = len(signals)
    return array, pixel_size, metadata, plugin


def write_tiff(path: str | Path, image: ArrayLike, pixel_size: tuple[float, float] | None = None,
               metadata: dict[str, Any] | None = None) -> None:
    """Write a float32 TIFF with the pixel size and the REUCID diagnostics in its metadata.

    The pixel size goes into the resolution tags (pixels per cm) and, with the
    diagnostics, into a JSON image description that :func:`read_image` reads back.

    Parameters
    ----------
    path : str or pathlib.Path
        Output file.
    image : array_like
        2D image.
    pixel_size : tuple of float, optional
        ``(row, column)`` pixel size in Å.
    metadata : dict, optional
        JSON-able diagnostics (e.g. ``DenoiseResult.to_metadata()``).

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "out.tif")
    >>> write_tiff(target, np.zeros((3, 3)), metadata={"patch_size": 3})
    >>> read_image(target).metadata["reucid"]
    {'patch_size': 3}
    """
    import tifffile

    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 2:
        raise InvalidImageError(f"write_tiff expects a 2D image, got shape {array.shape}")
    description: dict[str, Any] = {
        "pixel_size_A": None if pixel_size is None else [float(v) for v in pixel_size],
        "reucid": metadata if metadata is not None else {},
    }
    try:
        json.dumps(description)
    except TypeError as exc:
        raise ValueError(f"metadata must be JSON-serialisable: {exc}") from exc
    options: dict[str, Any] = {}
    if pixel_size is not None:
        per_cm = (1e8 / float(pixel_size[1]), 1e8 / float(pixel_size[0]))
        options = {"resolution": per_cm, "resolutionunit": "CENTIMETER"}
    tifffile.imwrite(Path(path), array, metadata=description, **options)
