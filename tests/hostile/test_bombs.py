"""Decompression bombs: refused from the header, memory bounded, messages true.

A 275 KB PNG that declares 8192 x 8192 RGBA pixels used to be decoded in full (+750 MB in
the web process each) before being refused with "8192x8192 ... is more than the 67108864
allowed" although the two numbers are equal. Every format's size is now checked from its
header (pixels, pixels x bands, bytes) before any pixel is decoded.
"""
from __future__ import annotations

import struct
import threading
import time
import zlib

import h5py
import numpy as np
import psutil
import pytest
import scipy.io
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from denoiser.reucid import InvalidImageError, read_image
from denoiser.reucid.io import check_declared_size, inspect_image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def bomb_png(width: int, height: int, *, colour_type: int = 6) -> bytes:
    """A real, fully valid PNG of zeros (RGBA by default), compressed row by row.

    Built as a stream so that making the bomb never needs the decoded size in memory.
    """
    bands = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\x00" * (1 + width * bands)  # filter byte + samples
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body)
            + _chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def rgba_bomb() -> bytes:
    data = bomb_png(8192, 8192)
    assert len(data) < 400_000  # a few hundred kB that would decode to 256 MB
    return data


def test_rgba_bomb_is_refused_by_the_core_from_its_header(tmp_path, rgba_bomb):
    path = tmp_path / "bomb.png"
    path.write_bytes(rgba_bomb)
    with pytest.raises(InvalidImageError) as refused:
        read_image(path)
    message = str(refused.value)
    # the message is true: 8192 x 8192 pixels is not more than 8192 x 8192 ...
    assert "8192x8192 pixels x 4 colour bands = 268435456 values is more than the 67108864" \
        in message
    assert "8192x8192 pixels is more than" not in message


def test_a_grey_image_exactly_at_the_limit_is_not_refused_for_its_size(tmp_path):
    path = tmp_path / "grey.png"
    path.write_bytes(bomb_png(8192, 8192, colour_type=0))
    header = inspect_image(path)
    assert header.shape == (8192, 8192) and header.bands == 1
    check_declared_size(header, max_pixels=8192 * 8192)  # equal: accepted


@pytest.mark.parametrize("kind, limit", [("tiff", 64), ("npy", 64), ("hdf5", 64), ("mat", 64)])
def test_every_format_is_refused_from_its_header(tmp_path, kind, limit):
    """Oversized compressed frames of each container are refused without decoding them."""
    big = np.zeros((256, 256), np.float32)
    path = tmp_path / f"big.{kind}"
    if kind == "tiff":
        tifffile.imwrite(path, big, compression="zlib")
    elif kind == "npy":
        np.save(path, big)
        path = path.with_suffix(".npy")
    elif kind == "hdf5":
        with h5py.File(path, "w") as handle:
            handle.create_dataset("data", data=big, compression="gzip")
    else:
        scipy.io.savemat(path, {"frame": big.astype(np.float64)}, do_compression=True)
    with pytest.raises(InvalidImageError, match="allowed"):
        read_image(path, max_pixels=limit * limit)


def _rss_bytes() -> int:
    return psutil.Process().memory_info().rss


@pytest.mark.django_db(transaction=True)
def test_eight_bombs_at_once_add_at_most_300_mb_to_the_web_process(client, rgba_bomb):
    """Eight simultaneous uploads of the RGBA bomb through the API: every one is a 413,
    and the process's peak resident memory grows by at most 300 MB (it grew by 5 GB)."""
    # a warm web process: imports and first-request set-up are not the bombs' doing
    assert Client().post("/api/denoise/", {"file": SimpleUploadedFile(
        "bomb.png", rgba_bomb)}).status_code == 413
    baseline = _rss_bytes()
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.005)

    statuses: list[int] = []
    messages: list[str] = []

    def upload() -> None:
        response = Client().post(
            "/api/denoise/", {"file": SimpleUploadedFile("bomb.png", rgba_bomb)})
        statuses.append(response.status_code)
        messages.append(response.json().get("detail", ""))

    sampler = threading.Thread(target=sample)
    sampler.start()
    workers = [threading.Thread(target=upload) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    sampler.join()
    added_mb = (peak[0] - baseline) / 2**20
    print(f"8 RGBA bombs at once: +{added_mb:.0f} MB peak RSS")
    assert statuses == [413] * 8, messages
    assert all("colour bands" in message for message in messages), messages
    assert added_mb <= 300
