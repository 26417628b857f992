"""Hypothesis strategies for hostile images: odd arrays, broken files, lying headers.

Everything here is generated; no test depends on data outside the repository.
"""
from __future__ import annotations

import io
import signal
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import tifffile
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

# dtypes a microscope file can plausibly carry, plus a few it should not.
NUMERIC_DTYPES = [
    np.uint8, np.uint16, np.uint32, np.int8, np.int16, np.int32, np.int64,
    np.float16, np.float32, np.float64,
]
ODD_DTYPES = [np.bool_, np.complex64]

SPECIAL_FLOATS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-300, 1e300, -1e300]


class Hang(BaseException):
    """Raised when a call overruns its time limit.

    A BaseException so that library code catching ``Exception`` cannot turn a hang
    into a polite error and hide it.
    """


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail loudly if the body runs longer than ``seconds`` (main thread, POSIX only)."""

    def on_alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def hostile_arrays(draw, *, max_side: int = 48) -> np.ndarray:
    """Arrays of any rank 0-3, tiny to modest sides, any dtype, with NaN/Inf/constants."""
    kind = draw(st.sampled_from(["random", "constant", "special", "tiny", "rank"]))
    dtype = np.dtype(draw(st.sampled_from(NUMERIC_DTYPES + ODD_DTYPES)))
    if kind == "rank":
        shape = draw(
            st.sampled_from([(), (7,), (1, 1, 1), (2, 16, 16), (16, 16, 3), (16, 16, 4)])
        )
    elif kind == "tiny":
        shape = draw(st.tuples(st.integers(0, 4), st.integers(0, 4)))
    else:
        shape = draw(st.tuples(st.integers(1, max_side), st.integers(1, max_side)))
    if kind == "constant":
        value = draw(st.sampled_from([0, 1, 127]))  # fits every numeric dtype, int8 too
        return np.full(shape, value, dtype=dtype)
    elements = None
    if dtype.kind == "f":
        elements = st.floats(
            allow_nan=True, allow_infinity=True, width=min(dtype.itemsize * 8, 64)
        )
    array = draw(hnp.arrays(dtype, shape, elements=elements))
    if kind == "special" and array.size and dtype.kind == "f":
        flat = array.reshape(-1).copy()
        index = draw(st.integers(0, flat.size - 1))
        flat[index] = draw(st.sampled_from(SPECIAL_FLOATS))
        array = flat.reshape(shape)
    return array


@st.composite
def finite_images(draw, *, min_side: int = 1, max_side: int = 48) -> np.ndarray:
    """2-D finite images of modest size: what ``denoise`` must always accept or refuse."""
    rows = draw(st.integers(min_side, max_side))
    cols = draw(st.integers(min_side, max_side))
    seed = draw(st.integers(0, 2**32 - 1))
    style = draw(st.sampled_from(["noise", "lattice", "constant", "spike", "ramp"]))
    rng = np.random.default_rng(seed)
    if style == "noise":
        image = rng.poisson(draw(st.sampled_from([0.1, 3.0, 50.0])), size=(rows, cols))
    elif style == "lattice":
        y, x = np.mgrid[0:rows, 0:cols]
        period = draw(st.integers(3, 9))
        image = np.cos(2 * np.pi * y / period) * np.cos(2 * np.pi * x / period) + 1.0
        image = image + rng.normal(0, 0.3, size=image.shape)
    elif style == "constant":
        image = np.full((rows, cols), draw(st.sampled_from([0.0, 1.0, 1e6])))
    elif style == "spike":
        image = np.zeros((rows, cols))
        image[rng.integers(rows), rng.integers(cols)] = 1e30
    else:
        image = np.add.outer(np.arange(rows), np.arange(cols)) * 1e-12
    dtype = draw(st.sampled_from([np.float32, np.float64, np.uint16, np.int32]))
    if np.dtype(dtype).kind != "f":
        image = np.clip(image, 0, np.iinfo(dtype).max)
    return image.astype(dtype)


# --- files --------------------------------------------------------------------------

@dataclass(frozen=True)
class HostileFile:
    """Bytes that claim to be an image, and the file name they arrive under."""

    name: str
    data: bytes
    how: str  # what kind of damage, for failure messages

    def __repr__(self) -> str:  # hypothesis prints this on failure; keep it short
        return f"HostileFile({self.name!r}, {len(self.data)} bytes, {self.how})"


def _tiff_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array)
    return buffer.getvalue()


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _mrc_bytes(array: np.ndarray) -> bytes:
    header = bytearray(1024)
    rows, cols = (array.shape + (1, 1))[:2] if array.ndim >= 2 else (1, array.size)
    mode = {np.dtype(np.int8): 0, np.dtype(np.int16): 1, np.dtype(np.float32): 2,
            np.dtype(np.uint16): 6}.get(array.dtype, 2)
    struct.pack_into("<3i", header, 0, cols, rows, 1)
    struct.pack_into("<i", header, 12, mode)
    header[208:212] = b"MAP "
    header[212:214] = b"\x44\x44"
    body = array.astype({0: np.int8, 1: np.int16, 2: np.float32, 6: np.uint16}[mode])
    return bytes(header) + body.tobytes()


WRITERS = {".tif": _tiff_bytes, ".png": _png_bytes, ".npy": _npy_bytes, ".mrc": _mrc_bytes}

# Magic numbers of every format the upload page accepts.
MAGIC = {
    ".tif": [b"II*\x00", b"MM\x00*", b"II+\x00\x08\x00\x00\x00"],
    ".png": [b"\x89PNG\r\n\x1a\n"],
    ".npy": [b"\x93NUMPY\x01\x00"],
    ".emd": [b"\x89HDF\r\n\x1a\n"],
    ".hspy": [b"\x89HDF\r\n\x1a\n"],
    ".dm3": [struct.pack(">3i", 3, 1_000_000, 1)],
    ".dm4": [struct.pack(">iqi", 4, 1_000_000_000, 1)],
    ".ser": [struct.pack("<HHH", 0x4949, 0x0197, 0x0220)],
    ".mrc": [b"\x00" * 208 + b"MAP \x44\x44"],
}
SUFFIXES = sorted(set(MAGIC) | set(WRITERS)) + [".txt", "", ".TIF", ".exe"]


def _png_bomb(side: int) -> bytes:
    """A tiny PNG whose header declares a ``side`` x ``side`` image."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    # One compressed row of zeros; the rest is missing, as in a bomb or a truncation.
    rows = zlib.compress(b"\x00" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(
        b"IEND", b""
    )


def npy_liar(shape: tuple[int, ...]) -> bytes:
    """A valid .npy header declaring ``shape`` float32, followed by almost no data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f4", "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + b"\x00" * 64


def _tiff_liar(side: int) -> bytes:
    """A TIFF header whose single strip claims ``side`` x ``side`` pixels it lacks."""
    entries = [
        (256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, 16), (259, 3, 1, 1),
        (262, 3, 1, 1), (273, 4, 1, 8), (278, 4, 1, side), (279, 4, 1, min(side * side * 2, 2**32 - 1)),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8 + 16) + b"\x00" * 16 + ifd


@st.composite
def hostile_files(draw) -> HostileFile:
    """Files an attacker or an unlucky microscopist could upload."""
    how = draw(
        st.sampled_from(
            ["header+random", "truncated", "bitflip", "valid-odd-array", "wrong-suffix",
             "bomb", "empty", "text"]
        )
    )
    stem = draw(st.sampled_from(["frame", "scan 01", "ü-ß", "a" * 200, ".hidden", "x"]))
    if how == "empty":
        return HostileFile(stem + draw(st.sampled_from(SUFFIXES)), b"", how)
    if how == "text":
        text = draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
        return HostileFile(stem + draw(st.sampled_from(SUFFIXES)), text, how)
    if how == "bomb":
        side = draw(st.sampled_from([70_000, 2**16 - 1, 2**31 - 1]))
        container = draw(st.sampled_from([".png", ".tif", ".npy"]))
        if container == ".png":
            return HostileFile(stem + ".png", _png_bomb(side), how)
        if container == ".npy":
            return HostileFile(stem + ".npy", npy_liar((side, side)), how)
        return HostileFile(stem + ".tif", _tiff_liar(side), how)
    if how == "header+random":
        suffix = draw(st.sampled_from(sorted(MAGIC)))
        magic = draw(st.sampled_from(MAGIC[suffix]))
        tail = draw(st.binary(max_size=2048))
        return HostileFile(stem + suffix, magic + tail, how)

    suffix = draw(st.sampled_from(sorted(WRITERS)))
    array = draw(hostile_arrays(max_side=24))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = WRITERS[suffix](array)
    except Exception:  # noqa: BLE001 - the writer refused this array; npy takes any
        suffix, data = ".npy", _npy_bytes(array)
    if how == "truncated" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "bitflip" and data:
        mutable = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            position = draw(st.integers(0, len(mutable) - 1))
            mutable[position] = draw(st.integers(0, 255))
        data = bytes(mutable)
    elif how == "wrong-suffix":
        suffix = draw(st.sampled_from([s for s in SUFFIXES if s != suffix]))
    return HostileFile(stem + suffix, data, f"{how} {array.dtype}{array.shape}")
