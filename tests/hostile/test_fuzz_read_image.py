"""Fuzzing ``read_image``: any bytes under any image name give an image or InvalidImageError.

The core's reader is the first thing an upload, the CLI and a notebook user touch. Lying
headers, truncations, bit flips, odd dtypes and decompression bombs must end in
``InvalidImageError`` (a ``ValueError`` with a readable message) or a 2-D float32 array;
never another exception, never a hang.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings

from .strategies import HostileFile, hostile_files, npy_liar, time_limit

# Damaged files make the parsers warn (overflow, odd headers); the verdict is what matters.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)


@FUZZ
@given(file=hostile_files())
@example(file=HostileFile("stack.npy", npy_liar((100_000, 100_000)), "npy declaring 40 GB"))
@example(file=HostileFile("frame.emd", b"\x89HDF\r\n\x1a\n", "bare HDF5 magic"))
@example(file=HostileFile("frame.ser", b"II\x97\x01", "bare SER magic"))
def test_read_image_returns_an_image_or_a_clean_error(core, core_errors, file):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / file.name.replace("/", "_")
        path.write_bytes(file.data)
        with time_limit(30):
            try:
                result = core.read_image(path)
            except core_errors.InvalidImageError as error:
                assert isinstance(error, ValueError)
                assert str(error).strip(), file
                return
    assert isinstance(result.array, np.ndarray), file
    assert result.array.ndim == 2 and result.array.size > 0, (file, result.array.shape)
    assert result.array.dtype == np.float32, (file, result.array.dtype)
    if result.pixel_size is not None:
        assert len(result.pixel_size) == 2, file
