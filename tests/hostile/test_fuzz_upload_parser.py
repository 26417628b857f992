"""Fuzzing the upload parser: every file gets a validated image or a clean 4xx refusal.

``denoiser.uploads.validate_upload`` is what both the page and the API call before a job
exists. Whatever bytes arrive, it must return a finite 2-D float32 image or raise
``UploadRejected`` with a 4xx status and a message; it must never crash with another
exception, hang, or leave its scratch file behind.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, example, given, settings

from .strategies import HostileFile, hostile_files, npy_liar, time_limit

# Damaged files make the parsers warn (overflow, odd headers); the verdict is what matters.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


def _check_one(uploads, media_root, file: HostileFile) -> None:
    upload = SimpleUploadedFile(file.name, file.data)
    with time_limit(30):
        try:
            image = uploads.validate_upload(upload)
        except uploads.UploadRejected as refusal:
            assert 400 <= refusal.status < 500, (file, refusal.status)
            assert str(refusal).strip(), file
        else:
            assert image.array.ndim == 2, file
            assert image.array.dtype == np.float32, file
            assert np.isfinite(image.array).all(), file
            assert "/" not in image.original_filename and "\\" not in image.original_filename
    scratch = media_root / "tmp"
    leftovers = sorted(p.name for p in scratch.iterdir()) if scratch.exists() else []
    assert not leftovers, f"{file}: scratch files left behind: {leftovers}"


@FUZZ
@given(file=hostile_files())
@example(file=HostileFile("frame.png", b"\x89PNG\r\n\x1a\n", "bare PNG magic"))
@example(file=HostileFile("frame.tif", b"II*\x00\xff\xff\xff\xff", "IFD offset past EOF"))
@example(file=HostileFile("stack.npy", npy_liar((100_000, 100_000)), "npy declaring 40 GB"))
@example(file=HostileFile("frame.npy", npy_liar((64, 64)), "npy truncated body"))
def test_upload_parser_accepts_or_refuses_cleanly(uploads, _media_root, file):
    _check_one(uploads, _media_root, file)


@pytest.mark.parametrize(
    "name",
    ["../../../../tmp/reucid-escape.npy", "..\\..\\reucid-escape.npy", "/etc/reucid-escape.npy",
     "C:\\Windows\\reucid-escape.npy", "sub/dir/../../reucid-escape.npy", "\x00reucid-escape.npy"],
)
def test_upload_names_with_path_parts_never_leave_media(uploads, _media_root, name):
    image = np.random.default_rng(0).poisson(5.0, size=(32, 32)).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, image)
    targets = _where_a_naive_join_would_write(name, _media_root)
    assert not any(path.exists() for path in targets)
    validated = uploads.validate_upload(SimpleUploadedFile(name, buffer.getvalue()))
    assert validated.original_filename.endswith("reucid-escape.npy")
    assert not any(sep in validated.original_filename for sep in "/\\\x00")
    written = [path for path in targets if path.exists()]
    assert not written, f"the upload escaped to {written}"


def _where_a_naive_join_would_write(name: str, media_root) -> set:
    """Every place ``base / name`` resolves to for the folders an upload could land in."""
    relative = name.replace("\\", "/").replace("\x00", "").lstrip("/")
    relative = relative.split(":", 1)[-1].lstrip("/")
    bases = [media_root, media_root / "tmp", media_root / "denoise", Path.cwd(), Path("/")]
    targets = {(base / relative).resolve() for base in bases}
    targets |= {(base / name.replace("\x00", "")).resolve() for base in bases}
    return {path for path in targets if not str(path).startswith(str(media_root) + "/tmp/")}
