"""Reading microscope images and writing denoised float32 TIFFs.

The format comes from the file's content, not its name: TIFF (8/16/32-bit integer and
float; pixel size from REUCID/ImageJ metadata), PNG (greyscale, or RGB with equal
channels), NumPy ``.npy``, MATLAB ``.mat`` (v5 through scipy, v7.3 through h5py; the
StatSTEM layout ``input.obs`` / ``input.dx`` in Å, or the one 2-D numeric variable),
``.mrc`` through mrcfile, and through rosettasciio Gatan ``.dm3``/``.dm4``, Velox and
Berkeley ``.emd``, TIA ``.ser`` and HyperSpy ``.hspy``/``.hdf5``. Pixel sizes are returned
in Å; the image axes as the file states them (scale, offset, units) stay in
``metadata["axes"]``.

Memory stays bounded: every reader states the shape and data type of the frame it will
decode from the file's header (:func:`inspect_image`), and :func:`read_image` refuses
anything larger than ``max_pixels`` pixels, ``max_pixels`` values (pixels x colour bands)
or ``8 * max_pixels`` bytes before a single pixel is decompressed. TIFF, NPY, MRC, DM and
SER stacks decode only the chosen frame; HDF5 files (HyperSpy, EMD, MATLAB 7.3) are read
after the header of every image dataset is bounded, and their handles are closed.
"""
from __future__ import annotations

import json
import struct
import zlib
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InvalidImageError
from .validation import as_grey_float_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMAT_NAMES",
    "SUPPORTED_EXTENSIONS",
    "ImageData",
    "ImageHeader",
    "ImageTooLargeError",
    "check_declared_size",
    "detect_format",
    "inspect_image",
    "read_image",
    "write_tiff",
]

#: Largest image read by default (8192 x 8192).
DEFAULT_MAX_PIXELS = 8192 * 8192

#: Bytes one decoded value may take at most (float64): the byte budget is this x max_pixels.
_MAX_BYTES_PER_VALUE = 8

#: What each detected format is called, for messages and the upload page.
FORMAT_NAMES: dict[str, str] = {
    "tiff": "TIFF",
    "png": "PNG",
    "npy": "NumPy array",
    "mat": "MATLAB / StatSTEM .mat",
    "mrc": "MRC",
    "digitalmicrograph": "Gatan DigitalMicrograph (.dm3, .dm4)",
    "emd": "EMD (Velox or Berkeley)",
    "tia": "FEI/TIA SER",
    "hspy": "HyperSpy HDF5 (.hspy, .hdf5)",
    "hdf5": "HDF5",
}

#: File names the readers are known for. Only a hint: the content decides the reader.
SUPPORTED_EXTENSIONS = (
    ".tif", ".tiff", ".png", ".npy", ".mat", ".mrc", ".dm3", ".dm4", ".emd", ".ser",
    ".hspy", ".hdf5", ".h5",
)

_EXTENSION_FORMATS = {
    ".tif": "tiff", ".tiff": "tiff", ".png": "png", ".npy": "npy", ".mat": "mat",
    ".mrc": "mrc", ".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd",
    ".ser": "tia", ".hspy": "hspy", ".hdf5": "hspy", ".h5": "hdf5",
}

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# Length units microscope files use, in Å (EMD v0.2 spells nm as "n_m").
_UNIT_IN_ANGSTROM = {
    "a": 1.0, "å": 1.0, "angstrom": 1.0, "ångström": 1.0, "\\u00c5": 1.0,
    "pm": 0.01, "nm": 10.0, "um": 1e4, "µm": 1e4, "μm": 1e4, "micron": 1e4,
    "mm": 1e7, "m": 1e10,
}


class ImageTooLargeError(InvalidImageError):
    """An image refused for its size, before its pixels were decoded."""


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
        What the file carried that may matter, JSON-able: ``axes`` (the two image axes
        as the file states them: name, size, scale, offset, units), ``title``,
        ``original_metadata`` (the file's own tree, when small enough) ...
    source_format : str
        The reader used (``"tiff"``, ``"png"``, ``"npy"``, ``"mat"``, ``"mrc"``,
        ``"tia"``, ``"digitalmicrograph"``, ``"emd"``, ``"hspy"``, ``"hdf5"``).
    """

    array: NDArray[np.float32]
    pixel_size: tuple[float, float] | None
    metadata: dict[str, Any] = field(default_factory=dict)
    source_format: str = ""


@dataclass(frozen=True)
class ImageHeader:
    """What a file declares about the frame :func:`read_image` would decode, unread.

    Attributes
    ----------
    source_format : str
        The detected format (a key of :data:`FORMAT_NAMES`).
    shape : tuple of int
        ``(rows, columns)`` of the frame.
    bands : int
        Values per pixel (3 or 4 for colour, else 1).
    itemsize : int
        Bytes per value as stored.
    n_frames : int
        Frames in the file's image (1 for a single image).
    """

    source_format: str
    shape: tuple[int, int]
    bands: int = 1
    itemsize: int = 1
    n_frames: int = 1

    @property
    def n_pixels(self) -> int:
        return int(self.shape[0]) * int(self.shape[1])

    @property
    def n_bytes(self) -> int:
        """Bytes the frame takes once decoded, as stored (before the float32 copy)."""
        return self.n_pixels * int(self.bands) * int(self.itemsize)


def detect_format(path: str | Path) -> str | None:
    """The format of a file from its first bytes (and, for HDF5, its layout).

    Parameters
    ----------
    path : str or pathlib.Path
        File to look at; only its header is read.

    Returns
    -------
    str or None
        A key of :data:`FORMAT_NAMES`, or None when the content is not recognised.

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "frame.dat")
    >>> np.save(target, np.zeros((4, 4)))  # np.save adds ".npy"
    >>> detect_format(target + ".npy")
    'npy'
    """
    source = Path(path)
    with open(source, "rb") as handle:
        head = handle.read(2048)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"MATLAB 5.0 MAT-file"):
        return "mat"
    if any(head[offset:offset + 8] == _HDF5_SIGNATURE for offset in (0, 512, 1024)):
        return _hdf5_kind(source, head)
    # DM3/DM4: a big-endian version number 3 or 4, then the byte order flag 0 or 1
    if len(head) >= 16 and head[:4] in (b"\x00\x00\x00\x03", b"\x00\x00\x00\x04"):
        order_at = 8 if head[3] == 3 else 12
        if head[order_at:order_at + 4] in (b"\x00\x00\x00\x00", b"\x00\x00\x00\x01"):
            return "digitalmicrograph"
    # TIA SER: little-endian byte order mark "II", series id 0x0197, version 0x210/0x220
    if head[:4] == b"II\x97\x01" and head[4:6] in (b"\x10\x02", b"\x20\x02"):
        return "tia"
    if head[208:211] == b"MAP":  # MRC2000 and later
        return "mrc"
    if source.suffix.lower() == ".mrc" and len(head) >= 1024:
        return "mrc"  # old MRC files have no magic; mrcfile checks the header
    return None


def _hdf5_kind(source: Path, head: bytes) -> str:
    """Which HDF5 layout: MATLAB 7.3, HyperSpy, Velox/Berkeley EMD, or plain HDF5."""
    if head.startswith(b"MATLAB 7.3 MAT-file"):
        return "mat"
    import h5py

    try:
        handle = h5py.File(source, "r")
    except OSError:
        return "hdf5"  # the signature says HDF5; reading it says how it is damaged
    with handle:
        attributes = dict(handle.attrs)
        file_format = attributes.get("file_format")
        if isinstance(file_format, bytes):
            file_format = file_format.decode(errors="replace")
        if str(file_format).lower() == "hyperspy" or "Experiments" in handle:
            return "hspy"
        if "version_major" in attributes and "data" in handle:
            return "emd"  # Berkeley EMD
        if "Data" in handle and "Version" in handle:
            return "emd"  # Velox EMD
    return "hdf5"


def inspect_image(path: str | Path, *, frame: int | None = None) -> ImageHeader:
    """Read only a file's header: the format, and the size of the frame it holds.

    Parameters
    ----------
    path : str or pathlib.Path
        File to inspect.
    frame : int, optional
        For a stack, which frame would be read.

    Returns
    -------
    ImageHeader

    Raises
    ------
    InvalidImageError
        Unrecognised content, or a header that cannot be parsed.

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(target, np.zeros((3, 40, 50), dtype=np.uint16))
    >>> header = inspect_image(target, frame=1)
    >>> header.source_format, header.shape, header.itemsize, header.n_frames
    ('npy', (40, 50), 2, 3)
    """
    source = _existing(path)
    with _Opened(source) as opened:
        shape, dtype = opened.declared(frame)
        return opened.header(shape, dtype)


def read_image(path: str | Path, *, frame: int | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Read one 2D image (float32) and its pixel size (Å) from a file.

    Parameters
    ----------
    path : str or pathlib.Path
        File to read; its content (not its name) picks the reader.
    frame : int, optional
        For a stack of frames, which one to read (0-based).
    max_pixels : int, optional
        Refuse, from the header and before decoding, frames with more pixels than this,
        more values than this (pixels x colour bands), or more than ``8 * max_pixels``
        bytes.

    Returns
    -------
    ImageData

    Raises
    ------
    InvalidImageError
        Missing, unreadable, truncated or non-image files; unknown formats; 3D data
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
    source = _existing(path)
    with _Opened(source, max_pixels) as opened:
        shape, dtype = opened.declared(frame)
        header = opened.header(shape, dtype)
        check_declared_size(header, max_pixels=max_pixels, name=source.name)
        try:
            array = np.asarray(opened.frame(frame))
        except InvalidImageError:
            raise
        except MemoryError as exc:
            raise InvalidImageError(f"{source.name}: too large to read into memory") from exc
        except Exception as exc:
            raise _unreadable(source, opened.fmt, exc) from exc
        pixel_size, metadata = opened.calibration()
    grey = as_grey_float_image(array, name=source.name).astype(np.float32, copy=False)
    metadata = {**metadata, "original_dtype": str(array.dtype)}
    return ImageData(array=grey, pixel_size=pixel_size, metadata=metadata,
                     source_format=opened.fmt)


def check_declared_size(header: ImageHeader, *, max_pixels: int, name: str = "image") -> None:
    """Refuse a frame whose declared size would take too much memory to decode.

    Parameters
    ----------
    header : ImageHeader
        What the file declares (:func:`inspect_image`).
    max_pixels : int
        Largest number of pixels, and of values (pixels x bands); the byte budget is
        ``8 * max_pixels``.
    name : str, optional
        File name for the message.

    Raises
    ------
    InvalidImageError
        Saying which limit is exceeded; never for a size equal to the limit.

    Examples
    --------
    >>> check_declared_size(ImageHeader("png", (8192, 8192)), max_pixels=8192 * 8192)
    >>> check_declared_size(ImageHeader("png", (8192, 8192), bands=4),
    ...                     max_pixels=8192 * 8192)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    denoiser.reucid.io.ImageTooLargeError: image: 8192x8192 pixels x 4 colour bands ...
    """
    rows, cols = header.shape
    if header.n_pixels > max_pixels:
        raise ImageTooLargeError(
            f"{name}: {rows}x{cols} = {header.n_pixels} pixels is more than the "
            f"{max_pixels} allowed; crop or bin it first"
        )
    values = header.n_pixels * header.bands
    if values > max_pixels:
        raise ImageTooLargeError(
            f"{name}: {rows}x{cols} pixels x {header.bands} colour bands = {values} values "
            f"is more than the {max_pixels} allowed (refused before decoding); save the "
            "detector signal as a greyscale image"
        )
    limit = _MAX_BYTES_PER_VALUE * max_pixels
    if header.n_bytes > limit:
        raise ImageTooLargeError(
            f"{name}: {rows}x{cols} pixels of {header.itemsize}-byte values would take "
            f"{_megabytes(header.n_bytes)} to decode, more than the "
            f"{_megabytes(limit)} allowed; crop or bin it first"
        )


def _megabytes(count: int) -> str:
    """``count`` bytes in MB, with enough digits to tell two different sizes apart."""
    value = count / 2**20
    return f"{value:.0f} MB" if value >= 10 else f"{value:.3g} MB"


def _existing(path: str | Path) -> Path:
    source = Path(path)
    if not source.is_file():
        raise InvalidImageError(f"{source}: no such file")
    return source


def _header(fmt: str, shape: tuple[int, ...], dtype: np.dtype) -> ImageHeader:
    """Header of a frame whose (possibly colour) shape is known."""
    shape = tuple(int(s) for s in shape)
    colour = len(shape) == 3 and shape[-1] in (3, 4)
    bands = shape[-1] if colour else 1
    rows_cols = shape[:2] if colour else shape[-2:] if len(shape) >= 2 else (shape + (1,))[:2]
    dtype = np.dtype(dtype)
    # packed RGBA in DM files is one 4-byte "value" with 4 bands of 1 byte
    itemsize = 1 if dtype.names else dtype.itemsize
    bands = len(dtype.names) if dtype.names else bands
    return ImageHeader(source_format=fmt, shape=(int(rows_cols[0]), int(rows_cols[-1])),
                       bands=int(bands), itemsize=int(itemsize))


def _unreadable(source: Path, fmt: str | None, exc: Exception) -> InvalidImageError:
    kind = FORMAT_NAMES.get(fmt or "", (source.suffix[1:] or "an image").upper())
    return InvalidImageError(
        f"{source.name}: could not be read as {kind} ({type(exc).__name__}: {exc}); the "
        "file may be truncated or not an image"
    )


class _Opened:
    """A file opened by its detected reader, its pixels not decoded yet.

    ``declared(frame)`` gives the shape and dtype of the frame from the header,
    ``frame(frame)`` decodes that frame only, ``calibration()`` the pixel size and
    metadata. Used as a context manager so that HDF5/TIFF/MRC handles are closed.
    """

    def __init__(self, source: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.source = source
        self.max_pixels = int(max_pixels)
        self.name = source.name
        self._stack = ExitStack()
        self._pixel_size: tuple[float, float] | None = None
        self._metadata: dict[str, Any] = {}
        self._full: Any = None  # the whole image or stack, lazily indexable
        self._loader = None  # decodes a selected frame (for formats that decode by page)
        try:
            self.fmt = detect_format(source)
        except OSError as exc:
            raise _unreadable(source, None, exc) from exc
        if self.fmt is None:
            raise InvalidImageError(
                f"{source.name}: not a recognised image file; supported: "
                + ", ".join(dict.fromkeys(FORMAT_NAMES.values()))
            )

    def __enter__(self) -> "_Opened":
        try:
            getattr(self, f"_open_{self.fmt}")()
        except InvalidImageError:
            self._stack.close()
            raise
        except MemoryError as exc:
            self._stack.close()
            raise InvalidImageError(f"{self.name}: too large to read into memory") from exc
        except Exception as exc:
            self._stack.close()
            if type(exc).__name__ == "DecompressionBombError":
                raise ImageTooLargeError(
                    f"{self.name}: declares an enormous number of pixels (a decompression "
                    f"bomb: {exc}); refused before decoding"
                ) from exc
            raise _unreadable(self.source, self.fmt, exc) from exc
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.close()

    # -- frame selection (shared) ---------------------------------------------------
    def declared(self, frame: int | None) -> tuple[tuple[int, ...], np.dtype]:
        shape = tuple(int(s) for s in self._full.shape)
        index = _frame_index(shape, frame, self.name)
        self._index = index
        return (shape[1:] if index is not None else shape), np.dtype(self._full.dtype)

    def header(self, shape: tuple[int, ...], dtype: np.dtype) -> ImageHeader:
        n_frames = int(self._full.shape[0]) if getattr(self, "_index", None) is not None else 1
        return replace(_header(self.fmt, shape, dtype), n_frames=n_frames)

    def frame(self, frame: int | None) -> np.ndarray:
        index = getattr(self, "_index", None)
        if self._loader is not None:
            return self._loader(index)
        data = self._full if index is None else self._full[index]
        if hasattr(data, "compute"):
            data = data.compute()
        return np.array(data)

    def calibration(self) -> tuple[tuple[float, float] | None, dict[str, Any]]:
        return self._pixel_size, self._metadata

    # -- readers -----------------------------------------------------------------------
    def _open_npy(self) -> None:
        with open(self.source, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(handle)
        self._full = _Declared(shape, dtype)

        def load(index) -> np.ndarray:
            # mapped, so that one frame of a stack is all that is read
            data = np.load(self.source, mmap_mode="r", allow_pickle=False)
            return np.array(data if index is None else data[index])

        self._loader = load

    def _open_png(self) -> None:
        from PIL import Image

        image = self._stack.enter_context(Image.open(self.source))
        if image.mode == "P":
            raise InvalidImageError(f"{self.name} is a palette PNG; save it as greyscale")
        bands = len(image.getbands())
        itemsize = {"I;16": 2, "I;16B": 2, "I": 4, "F": 4}.get(image.mode, 1)
        shape = (image.size[1], image.size[0]) + ((bands,) if bands in (3, 4) else ())
        if bands == 2:  # grey plus alpha: counted as one value of twice the size
            itemsize *= 2
        self._full = _Declared(shape, np.dtype(f"u{itemsize}") if itemsize < 4 else "f4")
        self._metadata = {"png_mode": image.mode}

        def load(_index) -> np.ndarray:
            image.load()
            array = np.asarray(image)
            if image.mode in ("LA", "La"):  # grey plus alpha: the grey values are the data
                array = array[..., 0]
            return array

        self._loader = load

    def _open_tiff(self) -> None:
        import tifffile

        tif = self._stack.enter_context(tifffile.TiffFile(self.source))
        if not tif.series:
            raise InvalidImageError(f"{self.name} contains no image; the file may be truncated")
        series = tif.series[0]
        self._full = _Declared(tuple(series.shape), series.dtype)
        per_page = len(series.shape) == 3 and len(series.pages) == series.shape[0]

        def load(index) -> np.ndarray:
            if index is not None and per_page:
                return series.pages[index].asarray()  # one frame of a stack
            array = series.asarray()
            return array if index is None else array[index]

        self._loader = load
        shaped = tif.shaped_metadata
        if shaped and isinstance(shaped[0], dict) and "pixel_size_A" in shaped[0]:
            value = shaped[0]["pixel_size_A"]
            if value is not None:
                self._pixel_size = (float(value[0]), float(value[1]))
            self._metadata["reucid"] = shaped[0].get("reucid")
        imagej = tif.imagej_metadata
        if imagej:
            unit = imagej.get("unit")
            page = tif.pages[0]
            x_res, y_res = page.tags.get("XResolution"), page.tags.get("YResolution")
            if unit and x_res is not None and y_res is not None:
                col_scale = _inverse_rational(x_res.value)
                row_scale = _inverse_rational(y_res.value)
                self._metadata["axes"] = [
                    {"name": "y", "scale": row_scale, "offset": 0.0, "units": str(unit)},
                    {"name": "x", "scale": col_scale, "offset": 0.0, "units": str(unit)},
                ]
                if self._pixel_size is None:
                    col, row = _to_angstrom(col_scale, unit), _to_angstrom(row_scale, unit)
                    if col and row:
                        self._pixel_size = (row, col)
            self._metadata["imagej"] = {
                k: v for k, v in imagej.items() if isinstance(v, (str, int, float))}

    def _open_mrc(self) -> None:
        import mrcfile

        mrc = self._stack.enter_context(mrcfile.mmap(self.source, mode="r", permissive=False))
        if mrc.data is None:
            raise InvalidImageError(f"{self.name} contains no image; the file may be truncated")
        self._full = mrc.data
        voxel = mrc.voxel_size
        if float(voxel.x) > 0 and float(voxel.y) > 0:
            self._pixel_size = (float(voxel.y), float(voxel.x))  # MRC stores Å
            self._metadata["axes"] = [
                {"name": "y", "scale": float(voxel.y), "offset": 0.0, "units": "Å"},
                {"name": "x", "scale": float(voxel.x), "offset": 0.0, "units": "Å"},
            ]

    def _open_mat(self) -> None:
        with open(self.source, "rb") as handle:
            head = handle.read(20)
        if head.startswith(b"MATLAB 7.3"):
            self._open_mat73()
        else:
            self._open_mat5()

    def _open_mat5(self) -> None:
        import scipy.io

        _check_mat5_inflated_size(self.source, _MAX_BYTES_PER_VALUE * self.max_pixels)
        variables = scipy.io.whosmat(self.source)
        names = [name for name, _, kind in variables if kind == "struct"]
        chosen = "input" if "input" in names else None
        if chosen is None:
            images = [(int(np.prod(shape)), name) for name, shape, kind in variables
                      if len(shape) == 2 and min(shape) > 1 and kind not in ("struct", "cell",
                                                                              "char", "sparse")]
            if not images:
                raise InvalidImageError(
                    f"{self.name} holds no 2-D image (expected StatSTEM's input.obs or one "
                    "2-D numeric variable)")
            chosen = max(images)[1]
        # the size of every variable was bounded above; only the chosen one is decoded
        content = scipy.io.loadmat(self.source, variable_names=[chosen], squeeze_me=True,
                                   struct_as_record=False)[chosen]
        if hasattr(content, "_fieldnames"):
            if "obs" not in content._fieldnames:
                raise InvalidImageError(f"{self.name}: the struct '{chosen}' has no field 'obs'")
            array = np.asarray(content.obs)
            dx = getattr(content, "dx", None)
            if dx is not None and np.size(dx) == 1 and float(dx) > 0:
                self._pixel_size = (float(dx), float(dx))  # StatSTEM's dx is in Å
                self._metadata["axes"] = [
                    {"name": "y", "scale": float(dx), "offset": 0.0, "units": "Å"},
                    {"name": "x", "scale": float(dx), "offset": 0.0, "units": "Å"},
                ]
            self._metadata["title"] = f"{chosen}.obs"
        else:
            array = np.asarray(content)
            self._metadata["title"] = chosen
        self._full = array

    def _open_mat73(self) -> None:
        import h5py

        handle = self._stack.enter_context(h5py.File(self.source, "r"))
        if "input" in handle and "obs" in handle["input"]:
            dataset = handle["input"]["obs"]
            if "dx" in handle["input"]:
                dx = float(np.asarray(handle["input"]["dx"]).ravel()[0])
                if dx > 0:
                    self._pixel_size = (dx, dx)
        else:
            dataset = _largest_dataset(handle, self.name)
        # MATLAB writes column-major arrays: HDF5 sees them transposed
        self._full = _Transposed(dataset)

    def _open_hdf5(self) -> None:
        import h5py

        handle = self._stack.enter_context(h5py.File(self.source, "r"))
        self._full = _largest_dataset(handle, self.name)

    def _open_hspy(self) -> None:
        self._open_rsciio("hspy")

    def _open_emd(self) -> None:
        self._open_rsciio("emd")

    def _open_tia(self) -> None:
        self._open_rsciio("tia")

    def _open_digitalmicrograph(self) -> None:
        self._open_rsciio("digitalmicrograph")

    def _open_rsciio(self, plugin: str) -> None:
        import importlib

        reader = importlib.import_module(f"rsciio.{plugin}").file_reader
        if plugin in ("emd", "hspy"):
            # HDF5: every image dataset is bounded from its header, then read eagerly, so
            # that no HDF5 handle stays open behind a lazy array (a lazy read also fails on
            # unchunked datasets); Velox spectrum streams are not read at all
            self._check_hdf5_datasets()
            options = {"select_type": "images"} if plugin == "emd" else {}
            signals = reader(str(self.source), lazy=False, **options)
        else:
            # DM and SER: memory maps; only the chosen frame is copied out
            signals = reader(str(self.source), lazy=True)
        images = [s for s in signals if len(getattr(s.get("data"), "shape", ())) >= 2]
        if not images:
            raise InvalidImageError(f"{self.name} contains no image data")
        signal = images[0]
        self._full = signal["data"]
        axes = [
            {key: _jsonable(axis.get(key)) for key in ("name", "size", "scale", "offset", "units",
                                                        "navigate")}
            for axis in (signal.get("axes") or [])
        ]
        image_axes = axes[-2:] if len(axes) >= 2 else []
        if image_axes:
            row = _to_angstrom(image_axes[0].get("scale"), image_axes[0].get("units"))
            col = _to_angstrom(image_axes[1].get("scale"), image_axes[1].get("units"))
            if row and col:
                self._pixel_size = (row, col)
            self._metadata["axes"] = image_axes
        general = (signal.get("metadata") or {}).get("General") or {}
        if general.get("title"):
            self._metadata["title"] = str(general["title"])
        signal_metadata = (signal.get("metadata") or {}).get("Signal") or {}
        if signal_metadata.get("quantity"):
            self._metadata["quantity"] = str(signal_metadata["quantity"])
        original = _jsonable(signal.get("original_metadata") or {})
        if len(json.dumps(original)) <= _MAX_ORIGINAL_METADATA_CHARS:
            self._metadata["original_metadata"] = original
        else:
            self._metadata["original_metadata_dropped"] = "larger than 1 MB as JSON"
        if len(signals) > 1:
            self._metadata["n_signals_in_file"] = len(signals)


    def _check_hdf5_datasets(self) -> None:
        """Refuse an HDF5 file whose image datasets together exceed the byte budget.

        Spectrum groups (Velox ``Spectrum*``) are left out: they are never read here.
        """
        import h5py

        total = 0

        def visit(name, item) -> None:
            nonlocal total
            if "Spectrum" in name:
                return
            if isinstance(item, h5py.Dataset) and len(item.shape) >= 2 and (
                    item.dtype.kind in "iufcV"):
                total += int(np.prod(item.shape, dtype=np.int64)) * item.dtype.itemsize

        with h5py.File(self.source, "r") as handle:
            handle.visititems(visit)
        limit = _MAX_BYTES_PER_VALUE * self.max_pixels
        if total > limit:
            raise ImageTooLargeError(
                f"{self.name}: its datasets would take {_megabytes(total)} to decode, more "
                f"than the {_megabytes(limit)} allowed; crop or bin it first")


#: Original metadata kept with the image (for the .hspy download) up to this JSON size.
_MAX_ORIGINAL_METADATA_CHARS = 1_000_000


class _Declared:
    """Shape and dtype of data that a loader decodes later."""

    def __init__(self, shape: tuple[int, ...], dtype) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)


class _Transposed:
    """An HDF5 dataset seen with its axes reversed (MATLAB 7.3 files), read on demand."""

    def __init__(self, dataset) -> None:
        self._dataset = dataset
        self.shape = tuple(reversed(dataset.shape))
        self.dtype = dataset.dtype

    def __getitem__(self, index: int) -> np.ndarray:
        return np.asarray(self._dataset[..., index]).T

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        array = np.asarray(self._dataset[()]).T
        return array if dtype is None else array.astype(dtype)


def _largest_dataset(handle, name: str):
    import h5py

    datasets: list = []

    def visit(_name, item) -> None:
        if isinstance(item, h5py.Dataset) and len(item.shape) >= 2 and item.dtype.kind in "iuf":
            datasets.append(item)

    handle.visititems(visit)
    if not datasets:
        raise InvalidImageError(f"{name} contains no numeric 2-D dataset")
    return max(datasets, key=lambda item: int(np.prod(item.shape[-2:])))


def _check_mat5_inflated_size(source: Path, limit: int) -> None:
    """Refuse a MATLAB v5 file whose compressed variables inflate beyond ``limit`` bytes.

    A v5 file stores each variable either raw (its size is bounded by the file's) or as one
    zlib stream whose inflated size only shows once inflated. The streams are inflated
    in 1 MB steps and the bytes thrown away, so a compression bomb costs CPU up to
    ``limit`` bytes inflated and never memory.
    """
    with open(source, "rb") as handle:
        header = handle.read(128)
        endian = "<" if header[126:128] == b"IM" else ">"
        inflated = 0
        while True:
            tag = handle.read(8)
            if len(tag) < 8:
                return
            kind, n_bytes = struct.unpack(endian + "II", tag)
            if kind != 15:  # not miCOMPRESSED: raw bytes, skip them
                handle.seek(n_bytes + (-n_bytes % 8), 1)
                continue
            inflater = zlib.decompressobj()
            remaining = n_bytes
            while remaining > 0:
                chunk = handle.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
                data = inflater.decompress(chunk, 1 << 20)
                inflated += len(data)
                while inflater.unconsumed_tail and inflated <= limit:
                    data = inflater.decompress(inflater.unconsumed_tail, 1 << 20)
                    inflated += len(data)
                if inflated > limit:
                    raise ImageTooLargeError(
                        f"{source.name}: its compressed variables inflate to more than the "
                        f"{_megabytes(limit)} allowed (refused while inflating, nothing kept); "
                        "save a smaller image"
                    )


def _frame_index(shape: tuple[int, ...], frame: int | None, name: str) -> int | None:
    """Which leading index to take from data of this shape (None: the data is the image)."""
    colour = len(shape) == 3 and shape[-1] in (3, 4) and shape[0] > 4
    if len(shape) == 3 and not colour:
        if frame is None:
            if shape[0] == 1:
                return 0
            raise InvalidImageError(
                f"{name} is a stack of {shape[0]} frames of {shape[1]}x{shape[2]} pixels; "
                "pick one with frame=N (--frame N) or denoise each frame with denoise_series"
            )
        if not -shape[0] <= frame < shape[0]:
            raise InvalidImageError(f"{name} has {shape[0]} frames; frame {frame} is out of range")
        return int(frame) % shape[0]
    if frame not in (None, 0):
        raise InvalidImageError(f"{name} holds a single image; frame {frame} does not exist")
    if len(shape) > 3:
        raise InvalidImageError(f"{name} holds {len(shape)}-dimensional data {shape}, not an image")
    if len(shape) < 2:
        raise InvalidImageError(f"{name} holds {len(shape)}-dimensional data {shape}, not an image")
    return None


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of a metadata tree (numbers, strings, lists, dicts; arrays summarised)."""
    if depth > 20:
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value[:1000]]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), depth + 1) if value.size <= 64 else (
            f"array {value.shape} {value.dtype}")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


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


def _inverse_rational(value: Any) -> float | None:
    numerator, denominator = value if isinstance(value, tuple) else (value, 1)
    return float(denominator) / float(numerator) if numerator else None


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
