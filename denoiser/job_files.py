"""Where a job's files live and how they are written (atomically, inside MEDIA_ROOT).

Every job owns one folder, ``MEDIA_ROOT/denoise/<uuid>/``, with fixed file names, so a
job's files can never collide with another's, a user-supplied name never reaches the
file system, and deleting the folder deletes everything the job made.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings

INPUT_NPY = "input.npy"
#: What the upload said about itself (lattice check, axes, metadata): denoiser.input_record.
INPUT_RECORD = "input.json"
#: The result as HyperSpy HDF5, written on first download (denoiser.hspy_export).
RESULT_HSPY = "result.hspy"
RESULT_NPY = "result.npy"
INPUT_PREVIEW = "input_preview.png"
INTERIM_PREVIEW = "interim_preview.png"
RESULT_PREVIEW = "result_preview.png"
RESIDUAL_PREVIEW = "residual_preview.png"
RESULT_TIFF = "result.tif"
RESULT_PNG = "result.png"
RESIDUAL_TIFF = "residual.tif"
RESIDUAL_PNG = "residual.png"
#: The residual over the noise model's sigma, and its std (denoiser.residuals).
RESIDUAL_NORMALISED_PREVIEW = "residual_normalised_preview.png"
RESIDUAL_NORMALISED_JSON = "residual_normalised.json"
GALLERY_TEMPLATE = "gallery_{stack}.png"

#: Downloads offered to users: name -> (file name, content type, what it is).
DOWNLOADS: dict[str, tuple[str, str, str]] = {
    "result.tif": (RESULT_TIFF, "image/tiff", "Reconstruction, float32 TIFF with metadata"),
    "result.png": (
        RESULT_PNG, "image/png", "Reconstruction, 8-bit PNG for slides (scale bar if calibrated)"
    ),
    "result.hspy": (
        RESULT_HSPY, "application/x-hdf5",
        "Reconstruction for HyperSpy (.hspy): the input's axes, calibration and metadata",
    ),
    "residual.tif": (RESIDUAL_TIFF, "image/tiff", "Residual (input − output), float32 TIFF"),
    "residual.png": (RESIDUAL_PNG, "image/png", "Residual, diverging colour map PNG"),
}

#: Pictures shown on the job page: name -> file name.
PREVIEWS: dict[str, str] = {
    "input": INPUT_PREVIEW,
    "interim": INTERIM_PREVIEW,
    "result": RESULT_PREVIEW,
    "residual": RESIDUAL_PREVIEW,
    "residual-normalised": RESIDUAL_NORMALISED_PREVIEW,
}


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def job_path(job, name: str = "") -> Path:
    """Absolute path of a job's folder, or of one file in it."""
    folder = media_root() / job.job_dir
    return folder / name if name else folder


def storage_name(job, name: str) -> str:
    """One of a job's files as a storage name (relative to MEDIA_ROOT, "/"-separated): what
    reucid_site.files.send_file serves once a view has checked that the client may."""
    return (Path(job.job_dir) / name).as_posix()


def gallery_name(stack: int) -> str:
    return GALLERY_TEMPLATE.format(stack=int(stack))


def tmp_dir() -> Path:
    """Scratch folder for uploads being validated (purged by the retention command)."""
    folder = media_root() / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def atomic_write(path: Path, writer) -> None:
    """Call ``writer(tmp_path)`` then rename into ``path``.

    A reader (the polling page) never sees a half-written picture, and a worker that
    dies mid-write leaves at most a ``.part`` file inside the job folder.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part" + path.suffix)
    os.close(fd)
    try:
        writer(Path(tmp_name))
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def delete_job_files(job) -> None:
    shutil.rmtree(job_path(job), ignore_errors=True)


def delete_outputs(job) -> None:
    """Delete everything a run made, keeping the validated input so it can be retried."""
    folder = job_path(job)
    if not folder.is_dir():
        return
    for child in folder.iterdir():
        if child.name not in (INPUT_NPY, INPUT_PREVIEW, INPUT_RECORD):
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
